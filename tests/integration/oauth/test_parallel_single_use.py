"""20-way races on single-use artefacts, five rounds each (issue 13): one winner, every loser a clean answer.

PostgreSQL only, like test_parallel_redemption (real concurrent transactions). Each round asserts no 5xx,
exactly one success and the final state: what is revoked, what is alive, no duplicate rows.
"""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, AuthorizationCode, OAuthConsent, RefreshToken, RevokedAccessToken
from app.security import token_digest
from tests.conftest import csrf_from
from tests.integration.oauth.test_parallel_redemption import in_parallel, outcome, pytestmark  # noqa: F401

WIDE = 20
ROUNDS = 5


def copies_of(http: FlaskClient, count: int) -> list[FlaskClient]:
    """`count` test clients holding the same cookies as `http`: one browser sending the same request many times."""
    clients = []
    for _ in range(count):
        copy = http.application.test_client()
        for cookie in http._cookies.values():
            copy.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
        clients.append(copy)
    return clients


def audit_count(event_type: str) -> int:
    return db.session.scalar(select(func.count()).where(AuditEvent.event_type == event_type))


def test_twenty_parallel_redemptions_of_one_code(app, rp, user, first_party):
    client, secret = first_party
    rp.auth.login(user.email)
    for _ in range(ROUNDS):
        issued = rp.code(client)
        data = {"grant_type": "authorization_code", "code": issued.code, "redirect_uri": issued.redirect_uri}
        data["code_verifier"] = issued.verifier
        clients = [app.test_client() for _ in range(WIDE)]

        responses = in_parallel(clients, lambda c, data=data: c.post("/oauth/token", data=data, auth=(client.client_id, secret)))

        outcomes = sorted(outcome(r) for r in responses)
        assert outcomes == [(200, None)] + [(400, "invalid_grant")] * (WIDE - 1), outcomes
        db.session.expire_all()
        code = db.session.scalar(select(AuthorizationCode).where(AuthorizationCode.code_digest == token_digest(issued.code)))
        family = list(db.session.scalars(select(RefreshToken).where(RefreshToken.authorization_code_id == code.id)))
        # One redemption's tokens, and the losers' replays ended them: one family, revoked, its access token denied once.
        assert len(family) == 1 and family[0].revoked_at is not None
        assert family[0].access_token_jti == code.access_token_jti
        denied = select(func.count()).where(RevokedAccessToken.jti == code.access_token_jti)
        assert db.session.scalar(denied) == 1
    assert audit_count("oauth.token_issued") == ROUNDS
    assert audit_count("oauth.code_replayed") == ROUNDS * (WIDE - 1)


def test_twenty_parallel_refreshes_of_one_token(app, rp, user, first_party):
    client, secret = first_party
    rp.auth.login(user.email)
    for _ in range(ROUNDS):
        tokens = rp.redeem(client, secret, rp.code(client)).get_json()
        data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        clients = [app.test_client() for _ in range(WIDE)]

        responses = in_parallel(clients, lambda c, data=data: c.post("/oauth/token", data=data, auth=(client.client_id, secret)))

        outcomes = sorted(outcome(r) for r in responses)
        assert outcomes == [(200, None)] + [(400, "invalid_grant")] * (WIDE - 1), outcomes
        db.session.expire_all()
        first = db.session.scalar(select(RefreshToken).where(RefreshToken.token_digest == token_digest(tokens["refresh_token"])))
        family = list(db.session.scalars(select(RefreshToken).where(RefreshToken.family_id == first.family_id)))
        # The original and exactly one rotation; the losers replayed a rotated token, so the family is revoked.
        assert len(family) == 2 and all(row.revoked_at is not None for row in family)
        jtis = [row.access_token_jti for row in family]
        denied = db.session.scalars(select(RevokedAccessToken.jti).where(RevokedAccessToken.jti.in_(jtis)))
        assert sorted(denied) == sorted(jtis)
    assert audit_count("oauth.token_issued") == ROUNDS * 2  # each round: the code's tokens, one rotation


def test_twenty_parallel_allows_of_one_consent_page_issue_one_code(app, rp, user, create_oauth_client):
    client, _ = create_oauth_client()  # not first party: the consent page is shown
    rp.auth.login(user.email)
    for round_number in range(ROUNDS):
        if round_number:  # the consent is remembered: ask for a new scope each round so the page is shown again
            db.session.execute(OAuthConsent.__table__.delete())
            db.session.commit()
        page = rp.authorize(rp.request(client))
        assert page.status_code == 200
        action, form = rp.consent_action(page), {"csrf_token": csrf_from(page.get_data(as_text=True)), "decision": "approve"}

        responses = in_parallel(copies_of(rp.http, WIDE), lambda c, action=action, form=form: c.post(action, data=form))

        statuses = sorted(r.status_code for r in responses)
        assert all(status < 500 for status in statuses), statuses
        with_code = [r for r in responses if r.status_code == 303 and "code=" in r.headers.get("Location", "")]
        assert len(with_code) == 1, statuses
        assert statuses.count(409) == WIDE - 1, statuses
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(OAuthConsent)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuthorizationCode)) == ROUNDS


def test_twenty_parallel_refreshes_and_revocations_of_one_token(app, rp, user, first_party):
    """Rotation, replay detection and revocation of one family at once: they queue on the family's lock, none fails."""
    client, secret = first_party
    rp.auth.login(user.email)
    for _ in range(ROUNDS):
        tokens = rp.redeem(client, secret, rp.code(client)).get_json()
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        revoke = {"token": tokens["refresh_token"]}
        clients = [app.test_client() for _ in range(WIDE)]
        paths = {id(c): ("/oauth/token", refresh) if i % 2 else ("/oauth/revoke", revoke) for i, c in enumerate(clients)}

        def send(c, paths=paths):
            path, data = paths[id(c)]
            return path, c.post(path, data=data, auth=(client.client_id, secret))

        results = in_parallel(clients, send)

        assert all(r.status_code < 500 for _, r in results), [r.status_code for _, r in results]
        assert all(r.status_code == 200 for path, r in results if path == "/oauth/revoke")
        refreshed = [r for path, r in results if path == "/oauth/token" and r.status_code == 200]
        assert len(refreshed) <= 1
        assert all(outcome(r) == (400, "invalid_grant") for path, r in results if path == "/oauth/token" and r.status_code != 200)
        db.session.expire_all()
        first = db.session.scalar(select(RefreshToken).where(RefreshToken.token_digest == token_digest(tokens["refresh_token"])))
        family = list(db.session.scalars(select(RefreshToken).where(RefreshToken.family_id == first.family_id)))
        assert len(family) == 1 + len(refreshed) and all(row.revoked_at is not None for row in family)
        jtis = [row.access_token_jti for row in family]
        assert sorted(db.session.scalars(select(RevokedAccessToken.jti).where(RevokedAccessToken.jti.in_(jtis)))) == sorted(jtis)


def test_twenty_parallel_polls_of_one_approved_device_code(app, rp, auth, user, create_oauth_client):
    from app.core.protocol import DEVICE_CODE
    from tests.integration.oauth.conftest import ALL_SCOPES
    from tests.integration.oauth.test_device_flow import decide, enter, started

    tv, _ = create_oauth_client(
        name="TV", is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"], scope=ALL_SCOPES
    )
    auth.login(user.email)
    for round_number in range(ROUNDS):
        issued = started(rp, tv)
        assert decide(auth.client, enter(auth.client, issued["user_code"]), "approve").status_code == 303
        data = {"grant_type": DEVICE_CODE, "device_code": issued["device_code"], "client_id": tv.client_id}

        responses = in_parallel([app.test_client() for _ in range(WIDE)], lambda c, data=data: c.post("/oauth/token", data=data))

        outcomes = sorted(outcome(r) for r in responses)
        assert outcomes == [(200, None)] + [(400, "invalid_grant")] * (WIDE - 1), outcomes
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(RefreshToken)) == round_number + 1
