"""JWKS and signing keys: public halves only, rotation keeps old keys until their tokens expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select

from app.core.keys import keyring
from app.extensions import db
from app.models import SigningKey
from app.models.base import utcnow
from tests.integration.oauth.conftest import published_keys, verify_jwt

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture
def client_and_secret(create_oauth_client):
    return create_oauth_client()


def jwks(http) -> list[dict]:
    response = http.get("/oauth/jwks")
    assert response.status_code == 200
    return response.get_json()["keys"]


def rotate(app):
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    return result


def kid_of(token: str) -> str:
    from joserfc import jws

    return jws.extract_compact(token.encode()).headers()["kid"]


def test_jwks_publishes_public_keys_only_with_kid_use_and_alg(test_client):
    keys = jwks(test_client)

    assert {key["alg"] for key in keys} == {"RS256", "ES256"}
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key), key
        assert key["use"] == "sig"
        assert key["kid"]
        assert key["kty"] == {"RS256": "RSA", "ES256": "EC"}[key["alg"]]
    assert len({key["kid"] for key in keys}) == len(keys)


def test_jwks_is_public_cacheable_json(test_client):
    response = test_client.get("/oauth/jwks")

    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"].startswith("public")
    assert "max-age=" in response.headers["Cache-Control"]


def test_first_use_generates_and_stores_one_active_key_per_algorithm_encrypted(test_client, real_key_generation):
    keys = jwks(test_client)

    rows = db.session.scalars(select(SigningKey)).all()
    assert sorted(row.algorithm for row in rows) == ["ES256", "RS256"]
    assert {row.kid for row in rows} == {key["kid"] for key in keys}
    for row in rows:
        assert row.retired_at is None
        assert "PRIVATE KEY" not in row.private_key_encrypted and row.private_key_encrypted.startswith("v1:")


def test_id_and_access_tokens_verify_against_the_published_jwks(rp, user, client_and_secret):
    client, secret = client_and_secret
    tokens = rp.tokens(client, secret, user)

    id_token = verify_jwt(rp.http, tokens["id_token"], ["RS256"])
    access = verify_jwt(rp.http, tokens["access_token"], ["ES256"])

    assert id_token.header["alg"] == "RS256" and id_token.header["kid"]
    assert access.header["typ"] == "at+jwt" and access.header["alg"] == "ES256"
    with pytest.raises(BadSignatureError):
        jwt.decode(tokens["id_token"], KeySet([RSAKey.generate_key(2048, parameters={"kid": kid_of(tokens["id_token"])})]))


def test_keys_rotate_publishes_new_keys_and_keeps_the_old_ones(app, rp, user, client_and_secret, resource_server):
    client, secret = client_and_secret
    before = rp.tokens(client, secret, user)
    old_kids = {key["kid"] for key in jwks(rp.http)}

    result = rotate(app)

    assert result.output.count("new ") == 2
    keys = jwks(rp.http)
    kids = {key["kid"] for key in keys}
    assert old_kids < kids and len(kids) == 4
    assert not any(PRIVATE_MEMBERS & set(key) for key in keys)
    rows = db.session.scalars(select(SigningKey)).all()
    assert {row.kid for row in rows if row.retired_at is not None} == old_kids
    # Tokens signed before the rotation still verify and are still live.
    verify_jwt(rp.http, before["id_token"], ["RS256"])
    assert rp.introspect(*resource_server, before["access_token"]).get_json()["active"] is True
    assert rp.userinfo(before["access_token"]).status_code == 200
    # The first keys of a new install were younger than the activation time, so the new ones sign at once.
    after = rp.tokens(client, secret)
    assert kid_of(after["id_token"]) in kids - old_kids
    assert kid_of(after["access_token"]) in kids - old_kids
    verify_jwt(rp.http, after["id_token"], ["RS256"])


def age_keys(seconds: int, kids: set[str] | None = None) -> None:
    """Move keys' creation (and retirement) back in time, then make this process reload them."""
    for row in db.session.scalars(select(SigningKey)):
        if kids is None or row.kid in kids:
            row.created_at -= timedelta(seconds=seconds)
            if row.retired_at is not None:
                row.retired_at -= timedelta(seconds=seconds)
    db.session.commit()
    keyring().invalidate()


def test_a_new_key_is_published_before_it_signs(app, rp, user, client_and_secret):
    """Publish before use: after a rotation the retired keys sign until the new ones have been in the JWKS
    for KEY_ACTIVATION_SECONDS, so an app that cached the JWKS, or another worker's, never meets an unknown kid."""
    client, secret = client_and_secret
    activation = app.config["KEY_ACTIVATION_SECONDS"]
    old_kids = {key["kid"] for key in jwks(rp.http)}
    age_keys(activation + 60)  # an install that has run for a while

    rotate(app)

    new_kids = {key["kid"] for key in jwks(rp.http)} - old_kids
    assert len(new_kids) == 2  # published at once …
    during = rp.tokens(client, secret, user)
    assert {kid_of(during["id_token"]), kid_of(during["access_token"])} <= old_kids  # … but not signing yet
    age_keys(activation - 5, new_kids)
    assert kid_of(rp.tokens(client, secret)["id_token"]) in old_kids  # still five seconds short

    age_keys(10, new_kids)
    after = rp.tokens(client, secret)
    assert {kid_of(after["id_token"]), kid_of(after["access_token"])} <= new_kids
    verify_jwt(rp.http, during["id_token"], ["RS256"])  # what the old keys signed meanwhile still verifies


def test_a_key_retired_longer_ago_than_the_retention_disappears_and_its_tokens_die(app_factory, create_oauth_client, create_user):
    app = app_factory(KEY_CACHE_SECONDS=0)  # every request reloads keys, as after the cache TTL
    with app.app_context():
        from tests.conftest import AuthActions
        from tests.integration.oauth.conftest import RelyingParty

        user = create_user(email="ada@example.com")
        http = app.test_client()
        party = RelyingParty(app, http, AuthActions(http))
        client, secret = create_oauth_client()
        api = create_oauth_client(name="API", grant_types=["client_credentials"], redirect_uris=[], scope="api")
        tokens = party.tokens(client, secret, user)
        old_kids = {key["kid"] for key in jwks(http)}
        rotate(app)
        assert old_kids < {key["kid"] for key in jwks(http)}

        retention = app.config["KEY_RETENTION_SECONDS"]
        for row in db.session.scalars(select(SigningKey).where(SigningKey.kid.in_(old_kids))):
            row.retired_at = utcnow() - timedelta(seconds=retention + 1)
        db.session.commit()

        remaining = {key["kid"] for key in jwks(http)}
        assert remaining.isdisjoint(old_kids) and len(remaining) == 2
        assert party.introspect(*api, tokens["access_token"]).get_json() == {"active": False}
        assert party.userinfo(tokens["access_token"]).status_code == 401
        with pytest.raises(InvalidKeyIdError):
            published_keys(http).get_by_kid(kid_of(tokens["id_token"]))


def test_a_key_retired_within_the_retention_stays_published(app_factory):
    app = app_factory(KEY_CACHE_SECONDS=0)
    with app.app_context():
        http = app.test_client()
        old_kids = {key["kid"] for key in jwks(http)}
        rotate(app)
        retention = app.config["KEY_RETENTION_SECONDS"]
        for row in db.session.scalars(select(SigningKey).where(SigningKey.kid.in_(old_kids))):
            row.retired_at = utcnow() - timedelta(seconds=retention - 60)
        db.session.commit()

        assert old_kids < {key["kid"] for key in jwks(http)}


def test_retention_outlasts_the_longest_token_lifetime(app):
    config = app.config
    assert config["KEY_RETENTION_SECONDS"] >= max(config["ACCESS_TOKEN_TTL"], config["ID_TOKEN_TTL"])


def test_keys_list_shows_active_and_retired_keys_without_private_material(app, test_client):
    jwks(test_client)
    rotate(app)

    result = app.test_cli_runner().invoke(args=["keys", "list"])

    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 4
    assert sum("active" in line for line in lines) == 2 and sum("retired" in line for line in lines) == 2
    assert "PRIVATE" not in result.output and "v1:" not in result.output


def test_keys_ensure_creates_missing_keys_once(app):
    from sqlalchemy import func, select

    from app.models import SigningKey

    runner = app.test_cli_runner()
    first = runner.invoke(args=["keys", "ensure"])
    second = runner.invoke(args=["keys", "ensure"])
    assert first.exit_code == 0 and second.exit_code == 0
    assert "signing keys present" in second.output
    active = select(SigningKey.algorithm, func.count()).where(SigningKey.retired_at.is_(None)).group_by(SigningKey.algorithm)
    assert dict(db.session.execute(active).all()) == {"RS256": 1, "ES256": 1}
