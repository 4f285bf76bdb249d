"""Deleting an account: fresh auth and the typed address, one transaction, an anonymised audit trail."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from app.core.audit import Origin, record_event
from app.core.clients import ClientSpec, create_client
from app.core.deletion import LAST_ADMIN, WRONG_CONFIRMATION
from app.extensions import db
from app.models import AuditEvent, OAuthConsent, User, UserSession
from app.models.base import utcnow
from app.models.mfa import RecoveryCode, TotpFactor
from tests.conftest import AuthActions, audit_types, csrf_from

NEW_PASSWORD = "violet tractor sunrise marble"
REF = re.compile(r'<code id="deletion-ref">([^<]+)</code>')


@pytest.fixture
def ada(create_user):
    return create_user(email="Ada@Example.com", display_name="Ada")


def delete_form(auth) -> str:
    response = auth.client.get("/account/delete")
    assert response.status_code == 200
    return csrf_from(response.get_data(as_text=True))


def post_delete(auth, confirm: str | None, token: str | None = None):
    data = {"confirm_email": confirm} if confirm is not None else {}
    data["csrf_token"] = token if token is not None else delete_form(auth)
    return auth.client.post("/account/delete", data=data)


def rows_of(user_id: int) -> dict[str, int]:
    """How many rows in each table (other than the audit trail) still name the user."""
    counts = {}
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "user" and table.name != "audit_event":
                query = select(func.count()).select_from(table).where(fk.parent == user_id)
                counts[table.name] = db.session.scalar(query)
    counts["user"] = db.session.scalar(select(func.count()).select_from(User).where(User.id == user_id))
    return counts


def still_there(user_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(User, user_id) is not None


def test_the_page_explains_what_happens_and_asks_for_the_address(ada, auth):
    auth.login(ada.email)

    html = auth.client.get("/account/delete").get_data(as_text=True)

    assert "can't be undone" in html and "signed out everywhere" in html
    assert "Type your email address to confirm" in html and 'name="confirm_email"' in html
    assert "Download your data" in html


@pytest.mark.parametrize("typed", ["", "ada@example.org", "Ada", "ada@example.com.", "someone@example.com"])
def test_a_wrong_confirmation_is_a_400_and_changes_nothing(ada, auth, typed):
    auth.login(ada.email)
    before = rows_of(ada.id)

    response = post_delete(auth, typed)

    assert response.status_code == 400
    assert str(WRONG_CONFIRMATION) in response.get_data(as_text=True)
    assert still_there(ada.id) and rows_of(ada.id) == before
    assert "account.deleted" not in audit_types()
    assert auth.client.get("/account/").status_code == 200  # still signed in


def test_a_missing_csrf_token_is_a_400_and_changes_nothing(ada, auth):
    auth.login(ada.email)

    response = post_delete(auth, ada.email, token="")

    assert response.status_code == 400
    assert still_there(ada.id) and "account.deleted" not in audit_types()


def test_without_a_fresh_authentication_it_asks_for_the_password_again(ada, auth, app):
    auth.login(ada.email)
    token = delete_form(auth)
    user_session = db.session.scalar(select(UserSession).where(UserSession.user_id == ada.id))
    user_session.auth_time = utcnow() - timedelta(seconds=app.config["FRESH_AUTH_SECONDS"] + 1)
    db.session.commit()

    response = post_delete(auth, ada.email, token=token)

    assert response.status_code == 302 and "reauth=1" in response.headers["Location"]
    assert "next=/account/delete" in unquote(response.headers["Location"])
    assert still_there(ada.id)


def test_signed_out_people_cannot_reach_the_page(test_client):
    response = test_client.get("/account/delete")

    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_last_enabled_admin_cannot_delete_themselves(create_user, auth):
    admin = create_user(email="root@example.com", is_admin=True)
    create_user(email="old-admin@example.com", is_admin=True, is_disabled=True)  # disabled: does not count
    auth.login(admin.email)
    session = db.session.scalar(select(UserSession).where(UserSession.user_id == admin.id))
    session.pending, session.amr = None, ["pwd", "otp", "mfa"]  # admins need MFA: pretend it was passed
    db.session.add(TotpFactor(user_id=admin.id, secret_encrypted="x", confirmed_at=utcnow()))
    db.session.commit()

    response = post_delete(auth, admin.email)

    assert response.status_code == 400
    assert LAST_ADMIN.replace("'", "&#39;") in response.get_data(as_text=True)
    assert still_there(admin.id) and "account.deleted" not in audit_types()


def test_an_admin_may_go_when_another_enabled_admin_remains(create_user, auth):
    admin = create_user(email="root@example.com", is_admin=True)
    create_user(email="second@example.com", is_admin=True)
    auth.login(admin.email)
    session = db.session.scalar(select(UserSession).where(UserSession.user_id == admin.id))
    session.pending, session.amr = None, ["pwd", "otp", "mfa"]
    db.session.add(TotpFactor(user_id=admin.id, secret_encrypted="x", confirmed_at=utcnow()))
    db.session.commit()

    admin_id = admin.id

    response = post_delete(auth, admin.email)

    assert response.status_code == 200 and not still_there(admin_id)


def test_deletion_removes_the_person_s_rows_and_signs_the_browser_out(ada, auth, create_user, mailbox):
    bob = create_user(email="bob@example.com")
    spec = ClientSpec(
        name="Printer",
        is_confidential=True,
        redirect_uris=["https://rp.example/cb"],
        grant_types=["authorization_code"],
        scope="openid",
    )
    client, _ = create_client(spec)
    db.session.add_all(
        [
            OAuthConsent(user_id=ada.id, client_id=client.id, scope="openid"),
            OAuthConsent(user_id=bob.id, client_id=client.id, scope="openid"),
            RecoveryCode(user_id=ada.id, code_digest="d" * 64),
        ]
    )
    db.session.commit()
    auth.login(ada.email)
    other_browser = AuthActions(auth.client.application.test_client())
    other_browser.login(ada.email)
    bob_browser = AuthActions(auth.client.application.test_client())
    bob_browser.login(bob.email)
    ada_id, bob_rows = ada.id, rows_of(bob.id)

    response = post_delete(auth, "  ADA@example.COM ")  # case and stray spaces aside, the address

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Your account was deleted" in html
    assert "idp_session=;" in response.headers["Set-Cookie"]  # the browser's cookie is dropped
    assert "Ada@Example.com" not in html  # the signed-out page no longer shows the address
    assert set(rows_of(ada_id).values()) == {0}
    assert rows_of(bob.id) == bob_rows  # nobody else's rows moved
    # This browser and the person's other browser are signed out; Bob is not.
    assert auth.client.get("/account/").status_code == 302
    assert other_browser.client.get("/account/").status_code == 302
    assert bob_browser.client.get("/account/").status_code == 200
    # A last notice went to the address, quoting the same reference as the page.
    [notice] = [mail for mail in mailbox.to("Ada@Example.com") if "deleted" in mail.subject]
    assert REF.search(html).group(1) in notice.text


def test_the_audit_trail_stays_but_no_longer_points_to_the_person(ada, auth, create_user):
    bob = create_user(email="bob@example.com")
    ada_origin = Origin("192.0.2.1", "UA/ada")
    record_event("mfa.sms_sent", origin=ada_origin, subject=ada, purpose="signin", phone="+44*****123")
    record_event("auth.login", origin=Origin("192.0.2.2", "UA/bob"), subject=bob)
    db.session.commit()
    auth.login(ada.email)
    ada_event_ids = list(db.session.scalars(select(AuditEvent.id).where(AuditEvent.subject_user_id == ada.id)))

    html = post_delete(auth, ada.email).get_data(as_text=True)

    db.session.expire_all()
    earlier = list(db.session.scalars(select(AuditEvent).where(AuditEvent.id.in_(ada_event_ids))))
    assert len(earlier) == len(ada_event_ids) >= 2  # rows kept ...
    for event in earlier:  # ... without anything that leads to the person
        assert event.subject_user_id is None and event.actor_user_id is None
        assert event.ip_address is None and event.user_agent is None
        assert "phone" not in event.details
    [deleted] = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "account.deleted"))
    assert deleted.subject_user_id is None and deleted.actor_user_id is None
    assert deleted.details == {"account_ref": REF.search(html).group(1)}
    assert deleted.ip_address is not None and deleted.user_agent is None
    every_event = json.dumps([[e.details, e.ip_address, e.user_agent] for e in db.session.scalars(select(AuditEvent))])
    assert "example.com" not in every_event.lower().replace("bob@example.com", "")
    # Bob's events are untouched.
    assert audit_types(bob) == ["auth.login"]
    assert db.session.scalar(select(AuditEvent.ip_address).where(AuditEvent.subject_user_id == bob.id)) == "192.0.2.2"


def test_the_old_password_no_longer_signs_in(ada, auth):
    auth.login(ada.email)
    post_delete(auth, ada.email)

    response = auth.login(ada.email)

    assert response.status_code == 401


def test_the_address_can_register_again_as_a_new_account(ada, auth, mailbox):
    auth.login(ada.email)
    post_delete(auth, ada.email)
    token = csrf_from(auth.client.get("/register").get_data(as_text=True))
    form = {"csrf_token": token, "email": "ada@example.com", "password": NEW_PASSWORD}

    response = auth.client.post("/register", data=form)

    assert response.status_code == 200
    db.session.expire_all()
    new = db.session.scalar(select(User).where(func.lower(User.email) == "ada@example.com"))
    assert new is not None and new.email_verified_at is None and new.display_name == ""
    assert audit_types(new) == ["auth.registered"]  # a new account: none of the old one's history
    assert any("Confirm" in mail.subject for mail in mailbox.to("ada@example.com"))


def test_a_new_account_never_gets_the_deleted_account_s_subject(ada, auth):
    # `sub` is the user id, and OIDC Core 5.7 says a subject is never reassigned: an app would take
    # the newcomer for the deleted person.
    old_id = ada.id
    auth.login(ada.email)
    post_delete(auth, ada.email)
    token = csrf_from(auth.client.get("/register").get_data(as_text=True))
    auth.client.post("/register", data={"csrf_token": token, "email": "new@example.com", "password": NEW_PASSWORD})

    db.session.expire_all()
    new = db.session.scalar(select(User).where(User.email == "new@example.com"))
    assert new.id != old_id
