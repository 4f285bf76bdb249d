"""Single-use credentials for the benchmark's code-exchange and refresh scenarios, written straight to its database.

    python bench/seed.py COUNT OUTDIR        (run by bench/run.py with the server's IDP_* environment)

A code or a refresh token works once, so wrk needs one per request: this creates a person, a signed-in
session, a confidential code-flow client, COUNT authorization codes (PKCE S256, scope
"openid profile offline_access", as a browser's sign-in leaves them) and COUNT refresh tokens, each its
own family. It writes one form body per line to OUTDIR/code.txt and OUTDIR/refresh.txt and prints the
client's Basic credentials as JSON. Codes get an hour instead of 60 seconds, so a whole run can use them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from app.core.clients import ClientSpec, create_client  # noqa: E402
from app.core.issuance import REFRESH_TOKEN_PREFIX  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import AuthorizationCode, RefreshToken, User, UserSession  # noqa: E402
from app.models.base import utcnow  # noqa: E402
from app.oauth.grants import CODE_PREFIX  # noqa: E402
from app.security import hash_password, new_public_id, new_token, token_digest  # noqa: E402

REDIRECT_URI = "https://app.bench.invalid/callback"
SCOPE = "openid profile offline_access"
VERIFIER = "bench-verifier-" + "v" * 50
BATCH = 2000


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def seed(count: int, outdir: Path) -> dict[str, str]:
    now = utcnow()
    user = User(email=f"bench-{new_public_id()}@bench.invalid", password_hash=hash_password(new_token()))
    db.session.add(user)
    db.session.flush()
    session = UserSession(id=new_public_id(), token_digest=token_digest(new_token()), user_id=user.id, amr=["pwd"])
    db.session.add(session)
    spec = ClientSpec("bench-code-flow", True, [REDIRECT_URI], ["authorization_code", "refresh_token"], SCOPE)
    client, secret = create_client(spec)
    db.session.commit()
    common = {"client_id": client.id, "user_id": user.id, "session_id": session.id, "auth_time": now, "amr": ["pwd"]}
    codes, refreshes = [], []
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        batch_codes = [new_token(CODE_PREFIX) for _ in range(size)]
        batch_refresh = [new_token(REFRESH_TOKEN_PREFIX) for _ in range(size)]
        db.session.execute(
            AuthorizationCode.__table__.insert(),
            [
                {
                    **common,
                    "code_digest": token_digest(code),
                    "redirect_uri": REDIRECT_URI,
                    "scope": SCOPE,
                    "code_challenge": challenge(VERIFIER),
                    "code_challenge_method": "S256",
                    "resources": [],
                    "created_at": now,
                    "expires_at": now + timedelta(hours=1),
                }
                for code in batch_codes
            ],
        )
        db.session.execute(
            RefreshToken.__table__.insert(),
            [
                {
                    **common,
                    "token_digest": token_digest(value),
                    "family_id": new_public_id(),
                    "scope": SCOPE,
                    "resources": [],
                    "issued_at": now,
                    "expires_at": now + timedelta(days=1),
                }
                for value in batch_refresh
            ],
        )
        db.session.commit()
        codes += batch_codes
        refreshes += batch_refresh
    exchange = {"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI, "code_verifier": VERIFIER}
    (outdir / "code.txt").write_text("".join(urlencode({**exchange, "code": code}) + "\n" for code in codes))
    refresh = {"grant_type": "refresh_token"}
    (outdir / "refresh.txt").write_text("".join(urlencode({**refresh, "refresh_token": value}) + "\n" for value in refreshes))
    return {"client_id": client.client_id, "client_secret": secret or ""}


if __name__ == "__main__":
    app = create_app()
    with app.app_context():
        print(json.dumps(seed(int(sys.argv[1]), Path(sys.argv[2]))))
