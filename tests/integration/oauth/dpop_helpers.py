"""Hand-built DPoP proofs (RFC 9449 4.2) for the tests: joserfc directly, never the server's own helpers."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, OctKey

ISSUER = "http://localhost:5000"
TOKEN_URL = f"{ISSUER}/oauth/token"
USERINFO_URL = f"{ISSUER}/oauth/userinfo"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def ath(access_token: str) -> str:
    return b64(hashlib.sha256(access_token.encode("ascii")).digest())


class DpopKey:
    """A client's DPoP key pair; ``proof()`` signs one proof, overrides change any header member or claim."""

    def __init__(self, key=None) -> None:
        self.key = key or ECKey.generate_key("P-256")

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def proof(self, htu: str = TOKEN_URL, htm: str = "POST", *, header: dict | None = None, **claims: Any) -> str:
        body: dict[str, Any] = {"jti": secrets.token_urlsafe(12), "htm": htm, "htu": htu, "iat": int(time.time())}
        body.update(claims)
        protected = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False), **(header or {})}
        payload = json.dumps({k: v for k, v in body.items() if v is not None})
        return jws.serialize_compact(protected, payload, self.key, algorithms=[protected["alg"]])


def forged(header: dict, claims: dict, signature: bytes = b"sig") -> str:
    """A compact JWS with any header (alg none, ...) and a made-up signature."""
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), signature]
    return ".".join(b64(part) for part in parts)


def hmac_proof(claims: dict) -> str:
    key = OctKey.generate_key(256)
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(claims), key, algorithms=["HS256"])
