"""Security keys and passkeys through the real endpoints, answered by a software authenticator.

Registration and sign-in ceremonies, every refusal (origin, challenge, replay, someone else's key,
a removed key, a cloned key, malformed JSON, CSRF), managing keys, and passwordless sign-in.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.factors import has_mfa
from app.extensions import db
from app.mfa.webauthn import ERRORS, relying_party
from app.models import AuditEvent, User, UserSession, WebAuthnChallenge, WebAuthnCredential
from app.models.base import utcnow
from tests.conftest import AuthActions, audit_types, csrf_from
from tests.integration.mfa.conftest import NEW_CODES_URL, first_codes_then
from tests.integration.mfa.soft_authenticator import SoftAuthenticator

REGISTER_OPTIONS = "/mfa/webauthn/register/options"
REGISTER_VERIFY = "/mfa/webauthn/register/verify"
AUTH_OPTIONS = "/mfa/webauthn/authenticate/options"
AUTH_VERIFY = "/mfa/webauthn/authenticate/verify"
PASSKEY_OPTIONS = "/mfa/passkey/options"
PASSKEY_VERIFY = "/mfa/passkey/verify"


class Browser:
    """One browser: the test client's cookies, the CSRF token of the page it shows, a software key."""

    def __init__(self, client, authenticator: SoftAuthenticator) -> None:
        self.client = client
        self.key = authenticator
        self.auth = AuthActions(client)
        self.token = ""

    def open(self, path: str) -> str:
        page = self.client.get(path)
        assert page.status_code == 200, page.status_code
        html = page.get_data(as_text=True)
        self.token = csrf_from(html)
        return html

    def post(self, path: str, body: object, *, csrf: bool = True):
        headers = {"X-CSRFToken": self.token} if csrf else {}
        return self.client.post(path, data=json.dumps(body), content_type="application/json", headers=headers)

    def register(self, *, passkey: bool = False, name: str = "", **bend):
        """Add a key from the security page; `bend` changes what the authenticator signs (origin, challenge)."""
        self.open("/mfa/")
        options = self.post(REGISTER_OPTIONS, {"passkey": passkey})
        assert options.status_code == 200, options.get_json()
        return self.post(REGISTER_VERIFY, {"credential": self.key.create(options.get_json(), **bend), "name": name})

    def challenge_options(self) -> dict:
        self.open("/mfa/challenge")
        options = self.post(AUTH_OPTIONS, {})
        assert options.status_code == 200, options.get_json()
        return options.get_json()

    def answer_challenge(self, credential=None, **bend):
        options = self.challenge_options()
        return self.post(AUTH_VERIFY, {"credential": self.key.get(options, credential, **bend)})

    def passkey_sign_in(self, credential=None, next_url: str = "", **bend):
        self.open("/login")
        options = self.post(PASSKEY_OPTIONS, {})
        assert options.status_code == 200, options.get_json()
        return self.post(PASSKEY_VERIFY, {"credential": self.key.get(options.get_json(), credential, **bend), "next": next_url})


@pytest.fixture
def new_person(app):
    origin = relying_party().origin
    return lambda: Browser(app.test_client(), SoftAuthenticator(origin=origin))


@pytest.fixture
def person(new_person):
    return new_person()


@pytest.fixture
def ada(create_user):
    return create_user(email="ada@example.com")


def credentials_of(user: User) -> list[WebAuthnCredential]:
    return list(db.session.scalars(select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id)))


def live_sessions(user: User) -> list[UserSession]:
    query = select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    return list(db.session.scalars(query.order_by(UserSession.created_at)))


def events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type).order_by(AuditEvent.id)))


def enrolled(person: Browser, user: User, *, passkey: bool = False, name: str = "") -> WebAuthnCredential:
    """Sign in with the password, add a key, sign out: the person now has that key as a factor."""
    person.auth.login(user.email)
    assert person.register(passkey=passkey, name=name).status_code == 200
    person.client.post("/logout", data={"csrf_token": person.token})
    [credential] = [c for c in credentials_of(user) if c.credential_id == person.key.credentials[-1].id]
    return credential


def age_sessions(user: User, minutes: int = 10) -> None:
    for user_session in live_sessions(user):
        user_session.auth_time = utcnow() - timedelta(minutes=minutes)
    db.session.commit()


# --- registration -----------------------------------------------------------------------------


def test_a_security_key_is_registered_listed_audited_and_announced(person, ada, mailbox):
    person.auth.login("ada@example.com")

    response = person.register(name="  Blue   key ")

    assert response.status_code == 200 and response.get_json() == {"redirect": NEW_CODES_URL}  # the first factor: codes
    [credential] = credentials_of(ada)
    assert credential.name == "Blue key" and not credential.is_passkey
    assert credential.credential_id == person.key.credentials[0].id and credential.transports == ["usb"]
    assert has_mfa(ada)
    [enrolled_event] = events("mfa.enrolled")
    assert enrolled_event.details["kind"] == "webauthn" and enrolled_event.subject_user_id == ada.id
    assert "A security key was added" in mailbox.wait_for("ada@example.com", "security key").subject
    page = person.open("/mfa/")
    assert "Blue key" in page and "not used yet" in page and "security key</span>" in page
    first_codes_then(person.client, "/mfa/")  # then where it was going


def test_a_key_without_a_name_is_named_after_the_day(person, ada):
    person.auth.login("ada@example.com")

    person.register()

    [credential] = credentials_of(ada)
    assert credential.name == f"Security key added {utcnow():%Y-%m-%d}"


def test_a_passkey_is_discoverable_and_verifies_the_person(person, ada, mailbox):
    person.auth.login("ada@example.com")
    person.open("/mfa/")

    options = person.post(REGISTER_OPTIONS, {"passkey": True}).get_json()
    response = person.post(REGISTER_VERIFY, {"credential": person.key.create(options)})

    selection = options["authenticatorSelection"]
    assert selection["residentKey"] == "required" and selection["userVerification"] == "required"
    assert response.status_code == 200
    [credential] = credentials_of(ada)
    assert credential.is_passkey and credential.name.startswith("Passkey added")
    assert events("mfa.enrolled")[0].details["kind"] == "passkey"
    assert "A passkey was added" in mailbox.wait_for("ada@example.com", "passkey").subject
    assert "passkey</span>" in person.open("/mfa/")


def test_a_passkey_needs_an_authenticator_that_verifies_the_person(person, ada):
    person.key.user_verifying = False
    person.auth.login("ada@example.com")

    response = person.register(passkey=True)

    assert response.status_code == 400 and response.get_json()["error"] == ERRORS["not_verified"]
    assert credentials_of(ada) == []


def test_a_security_key_asks_for_no_pin(person, ada):
    person.auth.login("ada@example.com")
    person.open("/mfa/")

    options = person.post(REGISTER_OPTIONS, {}).get_json()

    assert options["authenticatorSelection"]["residentKey"] == "discouraged"
    assert options["authenticatorSelection"]["userVerification"] == "discouraged"


def test_registration_options_exclude_the_keys_already_registered(person, ada):
    person.auth.login("ada@example.com")
    person.register()
    person.answer_challenge()  # with a factor, adding another needs a proof with it

    person.open("/mfa/")
    options = person.post(REGISTER_OPTIONS, {}).get_json()

    assert [c["id"] for c in options["excludeCredentials"]] == [person.key.credentials[0].id]


def test_the_same_key_cannot_be_registered_twice(person, ada):
    person.auth.login("ada@example.com")
    person.register()
    person.answer_challenge()
    person.open("/mfa/")
    options = person.post(REGISTER_OPTIONS, {}).get_json()
    again = person.key.create(options, reuse=person.key.credentials[0])  # it ignored the exclude list

    response = person.post(REGISTER_VERIFY, {"credential": again})

    assert response.status_code == 400 and response.get_json()["error"] == ERRORS["already_registered"]
    assert len(credentials_of(ada)) == 1


def test_the_relying_party_comes_from_the_issuer_not_the_host_header(person, ada, app):
    person.auth.login("ada@example.com")
    person.open("/mfa/")

    for name in (app.config["AUTH_COOKIE_NAME"], app.config["SESSION_COOKIE_NAME"]):
        person.client.set_cookie(name, person.client.get_cookie(name).value, domain="evil.example")

    options = person.client.post(
        REGISTER_OPTIONS, json={}, headers={"X-CSRFToken": person.token}, base_url="http://evil.example"
    ).get_json()

    assert options["rp"] == {"id": "localhost", "name": app.config["SERVICE_NAME"]}
    assert app.config["ISSUER"] == "http://localhost:5000"


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:5001", "https://localhost:5000"])
def test_registration_from_another_origin_is_refused(person, ada, origin):
    person.auth.login("ada@example.com")

    response = person.register(origin=origin)

    assert response.status_code == 400 and credentials_of(ada) == []


def test_registration_for_another_relying_party_is_refused(person, ada):
    person.auth.login("ada@example.com")

    response = person.register(rp_id="evil.example")

    assert response.status_code == 400 and credentials_of(ada) == []


def test_registration_signed_over_another_challenge_is_refused(person, ada):
    person.auth.login("ada@example.com")

    response = person.register(challenge="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

    assert response.status_code == 400 and credentials_of(ada) == []


def test_a_registration_answer_cannot_be_replayed(person, ada):
    person.auth.login("ada@example.com")
    person.open("/mfa/")
    options = person.post(REGISTER_OPTIONS, {}).get_json()
    answer = {"credential": person.key.create(options)}
    assert person.post(REGISTER_VERIFY, answer).status_code == 200
    db.session.query(WebAuthnCredential).delete()  # even with the first key gone, the challenge is spent
    db.session.commit()

    replay = person.post(REGISTER_VERIFY, answer)

    assert replay.status_code == 400 and replay.get_json()["error"] == ERRORS["expired"]
    assert credentials_of(ada) == []


def test_a_refused_registration_still_spends_its_challenge(person, ada):
    person.auth.login("ada@example.com")
    person.open("/mfa/")
    options = person.post(REGISTER_OPTIONS, {}).get_json()
    assert (
        person.post(REGISTER_VERIFY, {"credential": person.key.create(options, origin="http://evil.example")}).status_code == 400
    )

    retry = person.post(REGISTER_VERIFY, {"credential": person.key.create(options)})

    assert retry.status_code == 400 and retry.get_json()["error"] == ERRORS["expired"]
    [row] = db.session.scalars(select(WebAuthnChallenge))
    assert row.consumed_at is not None


def test_a_registration_with_a_challenge_past_five_minutes_is_refused(person, ada):
    person.auth.login("ada@example.com")
    person.open("/mfa/")
    options = person.post(REGISTER_OPTIONS, {}).get_json()
    row = db.session.scalars(select(WebAuthnChallenge)).one()
    assert row.expires_at - row.created_at == timedelta(minutes=5) and len(row.challenge) == 32
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    response = person.post(REGISTER_VERIFY, {"credential": person.key.create(options)})

    assert response.status_code == 400 and response.get_json()["error"] == ERRORS["expired"]


def test_a_pending_challenge_cannot_add_a_key(person, ada, with_totp):
    with_totp(ada)
    person.auth.login("ada@example.com")
    person.open("/mfa/challenge")

    response = person.post(REGISTER_OPTIONS, {})

    assert response.status_code == 401 and response.get_json()["redirect"] == "/login"
    assert db.session.scalars(select(WebAuthnChallenge)).all() == []


def test_adding_a_key_to_a_stale_session_asks_to_confirm_first(person, ada):
    person.auth.login("ada@example.com")
    person.open("/mfa/")
    age_sessions(ada)

    response = person.post(REGISTER_OPTIONS, {})

    assert response.status_code == 401 and response.get_json()["redirect"].startswith("/login?")
    assert "reauth=1" in response.get_json()["redirect"]


def test_an_admin_who_must_enrol_is_signed_in_by_their_first_key(person, create_user):
    admin = create_user(email="root@example.com", is_admin=True)
    person.auth.login("root@example.com")
    assert live_sessions(admin)[0].pending == "enrol"

    response = person.register()

    assert response.status_code == 200 and response.get_json() == {"redirect": NEW_CODES_URL}  # the first factor: codes
    [signed_in] = live_sessions(admin)
    assert signed_in.pending is None and signed_in.amr == ["pwd", "hwk", "mfa"]
    assert person.client.get("/account/").status_code == 200
    first_codes_then(person.client, "/account/")  # then where it was going


# --- the second factor after the password -----------------------------------------------------


def test_password_then_security_key_signs_in(new_person, ada):
    person = new_person()
    enrolled(person, ada)
    response = person.auth.login("ada@example.com", next_url="/account/?from=key")
    assert response.headers["Location"].endswith("/mfa/challenge")
    assert 'id="webauthn-challenge-button"' in person.open("/mfa/challenge")

    options = person.challenge_options()
    response = person.post(AUTH_VERIFY, {"credential": person.key.get(options)})

    assert [c["id"] for c in options["allowCredentials"]] == [person.key.credentials[0].id]
    assert options["rpId"] == "localhost"
    assert response.status_code == 200 and response.get_json() == {"redirect": "/account/?from=key"}
    [signed_in] = live_sessions(ada)
    assert signed_in.pending is None and signed_in.amr == ["pwd", "hwk", "mfa"]
    [credential] = credentials_of(ada)
    assert credential.sign_count == 1 and credential.last_used_at is not None
    assert person.client.get("/account/").status_code == 200
    assert "auth.login" in audit_types(ada)


def test_challenge_options_name_only_that_persons_keys(new_person, ada, create_user):
    grace = create_user(email="grace@example.com")
    enrolled(new_person(), grace)
    person = new_person()
    enrolled(person, ada)
    person.auth.login("ada@example.com")

    options = person.challenge_options()

    assert [c["id"] for c in options["allowCredentials"]] == [credentials_of(ada)[0].credential_id]


def test_another_persons_key_does_not_answer_my_challenge(new_person, ada, create_user):
    grace = create_user(email="grace@example.com")
    graces = new_person()
    enrolled(graces, grace)
    person = new_person()
    enrolled(person, ada)
    person.auth.login("ada@example.com")
    options = person.challenge_options()

    # Grace's key signs Ada's challenge correctly: still not Ada's factor.
    response = person.post(AUTH_VERIFY, {"credential": graces.key.get(options)})

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["unknown_credential"]
    assert live_sessions(ada)[0].pending == "mfa"
    assert "auth.login_failed" in audit_types(ada)


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:5001"])
def test_an_assertion_from_another_origin_is_refused(person, ada, origin):
    enrolled(person, ada)
    person.auth.login("ada@example.com")

    response = person.answer_challenge(origin=origin)

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["not_verified"]
    assert live_sessions(ada)[0].pending == "mfa"


def test_an_assertion_over_another_challenge_is_refused(person, ada):
    enrolled(person, ada)
    person.auth.login("ada@example.com")

    response = person.answer_challenge(challenge="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

    assert response.status_code == 401
    assert live_sessions(ada)[0].pending == "mfa"


def test_a_replayed_assertion_is_refused(person, ada):
    enrolled(person, ada)
    person.auth.login("ada@example.com")
    options = person.challenge_options()
    answer = {"credential": person.key.get(options)}
    assert person.post(AUTH_VERIFY, answer).status_code == 200
    person.auth.logout()
    person.auth.login("ada@example.com")
    person.open("/mfa/challenge")
    person.post(AUTH_OPTIONS, {})  # a fresh challenge is waiting; the old answer is not for it

    replay = person.post(AUTH_VERIFY, answer)

    assert replay.status_code == 401
    assert live_sessions(ada)[-1].pending == "mfa"


def test_an_answer_without_asking_for_options_is_refused(person, ada):
    enrolled(person, ada)
    person.auth.login("ada@example.com")
    options = person.challenge_options()
    answer = {"credential": person.key.get(options)}
    with person.client.session_transaction() as flask_session:
        flask_session.pop("webauthn_authenticate")

    response = person.post(AUTH_VERIFY, answer)

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["expired"]


def test_a_challenge_issued_for_registration_does_not_sign_in(person, ada):
    enrolled(person, ada)
    person.auth.login("ada@example.com")
    person.open("/mfa/challenge")
    options = person.post(AUTH_OPTIONS, {}).get_json()
    row = db.session.scalars(select(WebAuthnChallenge).where(WebAuthnChallenge.consumed_at.is_(None))).one()
    row.purpose = "register"
    db.session.commit()

    response = person.post(AUTH_VERIFY, {"credential": person.key.get(options)})

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["expired"]


def test_a_removed_key_no_longer_answers(person, ada, with_totp):
    credential = enrolled(person, ada)
    with_totp(ada)
    person.auth.login("ada@example.com")
    options = person.challenge_options()
    db.session.delete(credential)
    db.session.commit()

    response = person.post(AUTH_VERIFY, {"credential": person.key.get(options)})

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["unknown_credential"]


def test_a_counter_that_does_not_grow_is_refused_as_a_clone(person, ada):
    credential = enrolled(person, ada)
    credential.sign_count = 7
    db.session.commit()
    person.auth.login("ada@example.com")

    response = person.answer_challenge(sign_count=7)

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["possible_clone"]
    [alarm] = events("mfa.webauthn_clone_suspected")
    assert alarm.subject_user_id == ada.id
    assert alarm.details == {"credential": credential.id, "stored_sign_count": 7, "presented_sign_count": 7}
    db.session.refresh(credential)
    assert credential.sign_count == 7 and live_sessions(ada)[0].pending == "mfa"
    assert person.answer_challenge(sign_count=8).status_code == 200


def test_a_wrong_answer_counts_toward_the_lockout(app, person, ada):
    enrolled(person, ada)
    person.auth.login("ada@example.com")

    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        person.answer_challenge(origin="http://evil.example")

    db.session.refresh(ada)
    assert ada.locked_until is not None
    person.open("/mfa/challenge")
    locked = person.post(AUTH_OPTIONS, {})
    assert locked.status_code == 429
    assert person.post(AUTH_VERIFY, {"credential": {}}).status_code == 429


@pytest.mark.parametrize(
    ("credential", "status"),
    [
        (None, 400),
        ("not an object", 400),
        ([], 400),
        ({}, 400),
        ({"id": "x" * 5000, "rawId": "x", "type": "public-key", "response": {"clientDataJSON": "e30"}}, 400),
        # Readable, but no key of this person: a wrong answer, counted toward the lockout.
        ({"id": "x", "rawId": "x", "type": "public-key", "response": {}}, 401),
        ({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"clientDataJSON": "%%%", "signature": "?"}}, 401),
    ],
)
def test_malformed_assertions_are_refused_without_a_server_error(person, ada, credential, status):
    enrolled(person, ada)
    person.auth.login("ada@example.com")
    person.challenge_options()

    response = person.post(AUTH_VERIFY, {"credential": credential})

    assert response.status_code == status and "error" in response.get_json()
    db.session.refresh(ada)
    assert ada.failed_login_count == (1 if status == 401 else 0)
    [spent] = db.session.scalars(select(WebAuthnChallenge.consumed_at).where(WebAuthnChallenge.purpose == "authenticate"))
    assert spent is not None


@pytest.mark.parametrize("credential", [None, {"id": 3, "response": {}}, {"id": "AAAA", "response": "x"}])
def test_malformed_passkey_answers_are_refused_without_a_server_error(person, credential):
    person.open("/login")
    person.post(PASSKEY_OPTIONS, {})

    response = person.post(PASSKEY_VERIFY, {"credential": credential})

    assert response.status_code == 400 and response.get_json()["error"] == ERRORS["malformed"]


def test_a_known_key_with_garbage_data_is_refused_without_a_server_error(person, ada):
    enrolled(person, ada)
    person.auth.login("ada@example.com")
    answer = person.key.get(person.challenge_options())
    answer["response"]["authenticatorData"] = "AAAA"
    answer["response"]["clientDataJSON"] = "bm90IGpzb24"

    response = person.post(AUTH_VERIFY, {"credential": answer})

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["not_verified"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"credential": {"id": "a", "rawId": "a", "type": "public-key", '
        '"response": {"clientDataJSON": "e30", "attestationObject": "oA"}}}',
    ],
)
def test_malformed_registrations_are_refused_without_a_server_error(person, ada, body):
    person.auth.login("ada@example.com")
    person.open("/mfa/")
    person.post(REGISTER_OPTIONS, {})

    response = person.client.post(
        REGISTER_VERIFY, data=body, content_type="application/json", headers={"X-CSRFToken": person.token}
    )

    assert response.status_code == 400 and "error" in response.get_json()
    assert credentials_of(ada) == []


@pytest.mark.parametrize("path", [REGISTER_OPTIONS, REGISTER_VERIFY, AUTH_OPTIONS, AUTH_VERIFY, PASSKEY_OPTIONS, PASSKEY_VERIFY])
def test_every_endpoint_needs_the_csrf_token(person, ada, path):
    person.auth.login("ada@example.com")
    person.open("/mfa/")

    missing = person.post(path, {}, csrf=False)
    wrong = person.client.post(path, json={}, headers={"X-CSRFToken": "forged"})

    assert missing.status_code == 400 and wrong.status_code == 400
    assert db.session.scalars(select(WebAuthnChallenge)).all() == []


@pytest.mark.parametrize("path", [REGISTER_OPTIONS, AUTH_OPTIONS, PASSKEY_OPTIONS])
def test_options_are_post_only(test_client, path):
    assert test_client.get(path).status_code == 405


# --- passwordless sign-in with a passkey ------------------------------------------------------


def test_a_passkey_signs_in_without_a_password(new_person, ada):
    person = new_person()
    enrolled(person, ada, passkey=True)
    login_page = person.open("/login")
    assert 'data-webauthn="passkey"' in login_page and "/static/webauthn.js" in login_page

    options = person.post(PASSKEY_OPTIONS, {}).get_json()
    response = person.post(PASSKEY_VERIFY, {"credential": person.key.get(options), "next": "/oauth/authorize?x=1"})

    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    assert response.status_code == 200 and response.get_json() == {"redirect": "/oauth/authorize?x=1"}
    [signed_in] = live_sessions(ada)
    assert signed_in.pending is None and signed_in.amr == ["hwk", "user", "mfa"]
    login = events("auth.login")[-1]
    assert login.subject_user_id == ada.id and login.details["amr"] == ["hwk", "user", "mfa"]
    assert person.client.get("/account/").status_code == 200


def test_the_sign_in_page_offers_passkeys_in_the_email_fields_autofill(person):
    login_page = person.open("/login")

    assert 'autocomplete="username webauthn"' in login_page
    assert 'data-autofill="1"' in login_page  # static/webauthn.js starts the conditional request


def test_an_autofill_request_the_button_replaced_can_no_longer_sign_in(person, ada):
    """The autofill's options and the button's share this browser's one passkey challenge: the newest wins."""
    enrolled(person, ada, passkey=True)
    person.open("/login")
    autofill = person.post(PASSKEY_OPTIONS, {}).get_json()
    button = person.post(PASSKEY_OPTIONS, {}).get_json()

    late = person.post(PASSKEY_VERIFY, {"credential": person.key.get(autofill)})
    again = person.post(PASSKEY_VERIFY, {"credential": person.key.get(button)})

    assert autofill["challenge"] != button["challenge"]
    assert late.status_code == 401 and again.status_code == 401  # the button's challenge went with the refusal
    assert live_sessions(ada) == []


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", 42])
def test_passkey_sign_in_ignores_an_unsafe_next(person, ada, next_url):
    enrolled(person, ada, passkey=True)

    response = person.passkey_sign_in(next_url=next_url)

    assert response.get_json() == {"redirect": "/account/"}


def test_passkey_sign_in_replaces_the_session_this_browser_held(person, ada):
    enrolled(person, ada, passkey=True)
    person.auth.login("ada@example.com")  # a pending challenge
    [pending] = live_sessions(ada)
    person.open("/mfa/challenge")  # its page gives the CSRF token (the sign-in page would redirect here)
    options = person.post(PASSKEY_OPTIONS, {}).get_json()

    assert person.post(PASSKEY_VERIFY, {"credential": person.key.get(options)}).status_code == 200

    db.session.refresh(pending)
    assert pending.revoked_at is not None
    [signed_in] = live_sessions(ada)
    assert signed_in.pending is None


def test_a_security_key_alone_does_not_sign_in(person, ada):
    enrolled(person, ada, passkey=False)

    response = person.passkey_sign_in()

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["unknown_passkey"]
    assert live_sessions(ada) == []


def test_a_passkey_without_user_verification_does_not_sign_in(person, ada):
    enrolled(person, ada, passkey=True)

    response = person.passkey_sign_in(user_verified=False)

    assert response.status_code == 401 and live_sessions(ada) == []


def test_a_passkey_answering_for_another_account_is_refused(person, ada):
    enrolled(person, ada, passkey=True)
    person.key.credentials[0].user_handle = b"999"

    response = person.passkey_sign_in()

    assert response.status_code == 401 and live_sessions(ada) == []


def test_a_passkey_assertion_cannot_be_replayed(person, new_person, ada):
    enrolled(person, ada, passkey=True)
    person.open("/login")
    options = person.post(PASSKEY_OPTIONS, {}).get_json()
    answer = {"credential": person.key.get(options)}
    assert person.post(PASSKEY_VERIFY, answer).status_code == 200
    thief = new_person()
    thief.open("/login")
    thief.post(PASSKEY_OPTIONS, {})

    replay = thief.post(PASSKEY_VERIFY, answer)

    assert replay.status_code == 401 and len(live_sessions(ada)) == 1


@pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="parallel transactions need PostgreSQL (in-memory SQLite shares one connection)",
)
def test_parallel_uses_of_one_passkey_answer_sign_in_once(app, person, ada):
    enrolled(person, ada, passkey=True)
    person.open("/login")
    options = person.post(PASSKEY_OPTIONS, {}).get_json()
    body = json.dumps({"credential": person.key.get(options)})
    clients = [app.test_client() for _ in range(8)]
    for client in clients:  # the same browser state (its challenge cookie, its CSRF token) sent eight times at once
        for name in (app.config["SESSION_COOKIE_NAME"], "idp_passkey"):
            client.set_cookie(name, person.client.get_cookie(name).value)
    barrier = threading.Barrier(len(clients))

    def send(client) -> int:
        barrier.wait(timeout=10)
        headers = {"X-CSRFToken": person.token}
        return client.post(PASSKEY_VERIFY, data=body, content_type="application/json", headers=headers).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = list(pool.map(send, clients))

    assert sorted(statuses) == [200] + [401] * 7
    assert len(live_sessions(ada)) == 1


def test_a_passkey_with_a_counter_that_went_back_is_refused(person, ada):
    credential = enrolled(person, ada, passkey=True)
    credential.sign_count = 3
    db.session.commit()

    response = person.passkey_sign_in(sign_count=2)

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["possible_clone"]
    assert events("mfa.webauthn_clone_suspected") and live_sessions(ada) == []


@pytest.mark.parametrize("state", [{"is_disabled": True}, {"locked_until": "soon"}])
def test_a_disabled_or_locked_account_is_not_signed_in_by_its_passkey(person, ada, state):
    enrolled(person, ada, passkey=True)
    for column, value in state.items():
        setattr(ada, column, utcnow() + timedelta(minutes=5) if value == "soon" else value)
    db.session.commit()

    response = person.passkey_sign_in()

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["sign_in_refused"]
    assert live_sessions(ada) == []
    assert events("auth.login_failed")[-1].details["factor"] == "passkey"


def test_a_passkey_also_answers_the_second_factor_challenge(person, ada):
    enrolled(person, ada, passkey=True)
    person.auth.login("ada@example.com")

    response = person.answer_challenge()

    assert response.status_code == 200 and live_sessions(ada)[0].amr == ["pwd", "hwk", "mfa"]


# --- "Trust this browser" with a key (the same path as the other factors: app/mfa/flow.py) ---------


TRUSTED_COOKIE = "idp_trusted"


def answer_trusting(person: Browser, trust: object):
    options = person.challenge_options()
    return person.post(AUTH_VERIFY, {"credential": person.key.get(options), "trust_browser": trust})


def test_the_key_challenge_offers_the_box_at_sign_in_not_at_a_step_up(person, ada):
    enrolled(person, ada)
    person.auth.login("ada@example.com")
    page = person.open("/mfa/challenge")
    assert 'id="trust_browser-webauthn"' in page and 'data-trust="trust_browser-webauthn"' in page
    person.answer_challenge()

    stepping_up = person.open("/mfa/challenge")

    assert 'id="webauthn-challenge-button"' in stepping_up and "trust_browser" not in stepping_up


def test_a_key_with_the_box_ticked_trusts_the_browser_and_its_next_sign_in_skips_the_challenge(person, ada):
    enrolled(person, ada)
    person.auth.login("ada@example.com")

    response = answer_trusting(person, True)

    assert response.status_code == 200 and live_sessions(ada)[-1].amr == ["pwd", "hwk", "mfa"]
    assert person.client.get_cookie(TRUSTED_COOKIE) is not None
    assert audit_types(ada).count("mfa.browser_trusted") == 1
    person.open("/account/")
    person.client.post("/logout", data={"csrf_token": person.token})
    again = person.auth.login("ada@example.com")
    assert again.status_code == 303 and again.headers["Location"] == "/account/"
    assert live_sessions(ada)[-1].pending is None and live_sessions(ada)[-1].amr == ["pwd"]  # no factor proven


@pytest.mark.parametrize("trust", [False, None, "1", 1])
def test_a_key_without_the_box_ticked_trusts_nothing(person, ada, trust):
    enrolled(person, ada)
    person.auth.login("ada@example.com")

    assert answer_trusting(person, trust).status_code == 200

    assert person.client.get_cookie(TRUSTED_COOKIE) is None and "mfa.browser_trusted" not in audit_types(ada)


def test_a_step_up_with_a_key_never_trusts_the_browser(person, ada):
    enrolled(person, ada)
    person.auth.login("ada@example.com")
    person.answer_challenge()

    assert answer_trusting(person, True).status_code == 200  # signed in already: a step-up

    assert person.client.get_cookie(TRUSTED_COOKIE) is None and "mfa.browser_trusted" not in audit_types(ada)


# --- managing keys ----------------------------------------------------------------------------


def test_removing_a_key_needs_a_fresh_proof(person, ada):
    credential = enrolled(person, ada)
    person.auth.login("ada@example.com")
    person.answer_challenge()
    person.open("/mfa/")
    age_sessions(ada)

    response = person.client.post(f"/mfa/webauthn/{credential.id}/delete", data={"csrf_token": person.token})

    assert response.status_code == 302 and response.headers["Location"].endswith("/mfa/challenge")
    assert credentials_of(ada) == [credential]


def test_removing_a_key_deletes_audits_and_announces_it(person, ada, with_totp, mailbox):
    credential = enrolled(person, ada, name="Old key")
    with_totp(ada)
    person.auth.login("ada@example.com")
    person.answer_challenge()
    person.open("/mfa/")

    response = person.client.post(f"/mfa/webauthn/{credential.id}/delete", data={"csrf_token": person.token})

    assert response.status_code == 303 and response.headers["Location"].endswith("/mfa/")
    assert credentials_of(ada) == []
    assert events("mfa.removed")[0].details == {"kind": "webauthn", "credential": credential.id}
    assert "A security key was removed" in mailbox.wait_for("ada@example.com", "removed").subject


def test_someone_elses_key_cannot_be_removed_or_renamed(new_person, ada, create_user):
    grace = create_user(email="grace@example.com")
    graces = enrolled(new_person(), grace)
    person = new_person()
    enrolled(person, ada)
    person.auth.login("ada@example.com")
    person.answer_challenge()
    person.open("/mfa/")

    removed = person.client.post(f"/mfa/webauthn/{graces.id}/delete", data={"csrf_token": person.token})
    renamed = person.client.post(f"/mfa/webauthn/{graces.id}/rename", data={"csrf_token": person.token, "name": "mine"})

    assert removed.status_code == 404 and renamed.status_code == 404
    db.session.refresh(graces)
    assert credentials_of(grace) == [graces] and graces.name != "mine"


def test_removing_without_the_csrf_token_is_refused(person, ada):
    credential = enrolled(person, ada)
    person.auth.login("ada@example.com")
    person.answer_challenge()

    response = person.client.post(f"/mfa/webauthn/{credential.id}/delete")

    assert response.status_code == 400 and credentials_of(ada) == [credential]


def test_an_admins_last_factor_cannot_be_removed(person, create_user):
    admin = create_user(email="root@example.com", is_admin=True)
    person.auth.login("root@example.com")
    person.register()
    person.open("/mfa/")
    [credential] = credentials_of(admin)

    response = person.client.post(f"/mfa/webauthn/{credential.id}/delete", data={"csrf_token": person.token})

    assert response.status_code == 400 and b'id="webauthn-manage-error"' in response.data
    assert credentials_of(admin) == [credential]


def test_a_key_can_be_renamed(person, ada):
    person.auth.login("ada@example.com")
    person.register(name="Old")
    person.open("/mfa/")
    [credential] = credentials_of(ada)

    response = person.client.post(f"/mfa/webauthn/{credential.id}/rename", data={"csrf_token": person.token, "name": " Keyring "})

    assert response.status_code == 303
    db.session.refresh(credential)
    assert credential.name == "Keyring"


@pytest.mark.parametrize("name", ["x" * 101, "bell\x07"])
def test_a_bad_name_is_refused(person, ada, name):
    person.auth.login("ada@example.com")
    person.register(name="Old")
    person.answer_challenge()
    person.open("/mfa/")
    [credential] = credentials_of(ada)

    renamed = person.client.post(f"/mfa/webauthn/{credential.id}/rename", data={"csrf_token": person.token, "name": name})
    options = person.post(REGISTER_OPTIONS, {}).get_json()
    added = person.post(REGISTER_VERIFY, {"credential": person.key.create(options), "name": name})

    assert renamed.status_code == 400 and b'id="webauthn-manage-error"' in renamed.data
    assert added.status_code == 400 and added.get_json()["error"] == ERRORS["bad_name"]
    db.session.refresh(credential)
    assert credential.name == "Old" and len(credentials_of(ada)) == 1


def test_the_challenge_page_offers_the_key_only_to_people_who_have_one(person, ada, with_totp):
    with_totp(ada)
    person.auth.login("ada@example.com")

    assert 'id="webauthn-challenge-button"' not in person.open("/mfa/challenge")


def test_the_sign_in_pages_passkey_options_never_rewrite_the_session_cookie(app, person):
    """Every sign-in page load asks for passkey options. Had that answer rewritten the session cookie, it
    could land after a "Sign in with GitHub" press and wipe that journey (CI saw it happen)."""
    person.open("/login")

    answer = person.post(PASSKEY_OPTIONS, {})

    cookies = [header.split("=", 1)[0] for header in answer.headers.getlist("Set-Cookie")]
    assert answer.status_code == 200 and cookies == ["idp_passkey"]
    assert app.config["SESSION_COOKIE_NAME"] not in cookies


def test_a_passkey_challenge_cookie_from_elsewhere_is_refused(new_person, ada):
    person = new_person()
    enrolled(person, ada, passkey=True)
    person.open("/login")
    options = person.post(PASSKEY_OPTIONS, {}).get_json()
    person.client.set_cookie("idp_passkey", "forged.value.here", domain="localhost")

    response = person.post(PASSKEY_VERIFY, {"credential": person.key.get(options)})

    assert response.status_code == 401 and response.get_json()["error"] == ERRORS["expired"]
