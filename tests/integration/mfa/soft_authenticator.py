"""A software WebAuthn authenticator for the Flask test client: real keys, real signatures, no browser.

It builds what a browser's `credential.toJSON()` sends: attestation "none" registrations and ES256
(P-256) assertions, with authenticator data (RP ID hash, flags, counter), client data (type,
challenge, origin) and CBOR from `cbor2`. Every field can be bent to test a refusal.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified
FLAG_AT = 0x40  # attested credential data included
AAGUID = bytes(16)


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        # RFC 9053: EC2 key (kty 2), ES256 (alg -7), P-256 (crv 1), x and y coordinates.
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


@dataclass
class SoftAuthenticator:
    """Holds credentials like a security key; `user_verifying` says whether it reports UV (a PIN, a fingerprint)."""

    origin: str = "http://localhost:5000"
    user_verifying: bool = True
    credentials: list[SoftCredential] = field(default_factory=list)

    def create(
        self,
        options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        reuse: SoftCredential | None = None,
    ) -> dict:
        """Answer navigator.credentials.create(options) (the server's options JSON, parsed).

        `reuse`: attest an existing credential again, as an authenticator ignoring excludeCredentials would.
        """
        rp_id = rp_id or options["rp"]["id"]
        credential = reuse or SoftCredential(
            credential_id=secrets.token_bytes(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=from_b64url(options["user"]["id"]),
        )
        if reuse is None:
            self.credentials.append(credential)
        attested = AAGUID + struct.pack(">H", len(credential.credential_id)) + credential.credential_id
        auth_data = self._auth_data(rp_id, FLAG_AT, 0) + attested + credential.cose_public_key()
        client_data = self._client_data("webauthn.create", challenge or options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation), "transports": ["usb"]},
            "clientExtensionResults": {},
            "authenticatorAttachment": "cross-platform",
        }

    def get(
        self,
        options: dict,
        credential: SoftCredential | None = None,
        *,
        origin: str | None = None,
        challenge: str | None = None,
        sign_count: int | None = None,
        user_verified: bool | None = None,
    ) -> dict:
        """Answer navigator.credentials.get(options) with `credential` (default: the newest one)."""
        credential = credential or self.credentials[-1]
        credential.sign_count = credential.sign_count + 1 if sign_count is None else sign_count
        verified = self.user_verifying if user_verified is None else user_verified
        auth_data = self._auth_data(credential.rp_id, FLAG_UV if verified else 0, credential.sign_count)
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = credential.private_key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "cross-platform",
        }

    def _auth_data(self, rp_id: str, extra_flags: int, sign_count: int) -> bytes:
        flags = FLAG_UP | extra_flags
        if self.user_verifying and extra_flags & FLAG_AT:
            flags |= FLAG_UV
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)

    def _client_data(self, ceremony: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": ceremony, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data, separators=(",", ":")).encode()
