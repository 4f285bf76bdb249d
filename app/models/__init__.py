"""All models, imported here so Alembic and the app see one metadata."""

from app.models.audit import AuditEvent
from app.models.base import Base
from app.models.device_code import DeviceCode, DeviceCodeStatus
from app.models.devices import SeenDevice, TrustedBrowser
from app.models.dpop import UsedDpopProof
from app.models.email_token import EmailToken, EmailTokenPurpose
from app.models.federation import LinkedIdentity
from app.models.keys import SigningKey
from app.models.logout import PendingLogout, SessionApp
from app.models.mfa import PhoneFactor, RecoveryCode, SmsCode, TotpFactor, WebAuthnChallenge, WebAuthnCredential
from app.models.oauth import (
    AuthorizationCode,
    ClientCredentialsUsage,
    LiveAccessToken,
    OAuthClient,
    OAuthConsent,
    RefreshToken,
    RevokedAccessToken,
    UsedClientAssertion,
)
from app.models.par import PushedAuthorizationRequest
from app.models.rbac import CustomScope, Group, Role, group_members, group_roles, user_roles
from app.models.resources import ApiResource, client_resources
from app.models.session import SignInStage, UserSession
from app.models.user import User

__all__ = [
    "ApiResource",
    "client_resources",
    "CustomScope",
    "Group",
    "Role",
    "group_members",
    "group_roles",
    "user_roles",
    "PendingLogout",
    "PhoneFactor",
    "SessionApp",
    "PushedAuthorizationRequest",
    "RecoveryCode",
    "SmsCode",
    "TotpFactor",
    "WebAuthnChallenge",
    "WebAuthnCredential",
    "AuditEvent",
    "AuthorizationCode",
    "Base",
    "ClientCredentialsUsage",
    "DeviceCode",
    "DeviceCodeStatus",
    "EmailToken",
    "EmailTokenPurpose",
    "LinkedIdentity",
    "LiveAccessToken",
    "OAuthClient",
    "OAuthConsent",
    "RefreshToken",
    "RevokedAccessToken",
    "SeenDevice",
    "SignInStage",
    "SigningKey",
    "UsedClientAssertion",
    "UsedDpopProof",
    "TrustedBrowser",
    "User",
    "UserSession",
]
