"""Protocol words: grant types, client authentication methods, prompts, authentication context classes."""

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
CLIENT_CREDENTIALS = "client_credentials"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS, DEVICE_CODE)

CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
AUTH_METHODS = (*CONFIDENTIAL_AUTH_METHODS, "none")
CLIENT_ASSERTION_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
PKCE_METHODS = ("S256",)
RESPONSE_TYPES = ("code",)

PROMPT_NONE = "none"
PROMPT_LOGIN = "login"
PROMPT_CONSENT = "consent"
# Authentication context classes this IdP asserts in `acr` (and accepts in `acr_values`).
ACR_PASSWORD = "urn:idp:acr:pwd"
ACR_MFA = "urn:idp:acr:mfa"
# One factor, proven by another provider (social sign-in): no password was checked here.
ACR_FEDERATED = "urn:idp:acr:fed"


def acr_for(amr: list[str]) -> str:
    """The context class a sign-in's methods (RFC 8176 amr) amount to."""
    if "mfa" in amr:
        return ACR_MFA
    return ACR_FEDERATED if "fed" in amr else ACR_PASSWORD


CLAIMS_SUPPORTED = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "at_hash",
    "sid",
    "name",
    "given_name",
    "family_name",
    "locale",
    "zoneinfo",
    "updated_at",
    "email",
    "email_verified",
    "roles",
    "groups",
)


# Endpoints called by programs, not people: their failures are JSON, never an HTML page.
MACHINE_PATH_PREFIXES = (
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/userinfo",
    "/oauth/register",
    "/oauth/device_authorization",
    "/oauth/jwks",
    "/.well-known/",
)
