"""The console's users pages: who may see them, the list, one person's page, and every action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.admin import users as users_service
from app.extensions import db
from app.models import (
    AuditEvent,
    EmailToken,
    Group,
    LinkedIdentity,
    OAuthClient,
    OAuthConsent,
    RecoveryCode,
    RefreshToken,
    Role,
    TotpFactor,
    User,
    UserSession,
    WebAuthnCredential,
)
from app.models.base import utcnow
from tests.conftest import DEFAULT_PASSWORD, AuthActions, csrf_from
from tests.integration.mfa.conftest import add_totp
from tests.integration.mfa.test_totp import answer_challenge

USER_ID_ROUTES = [
    ("get", "/admin/users/{id}"),
    ("get", "/admin/users/{id}/disable"),
    ("post", "/admin/users/{id}/disable"),
    ("post", "/admin/users/{id}/enable"),
    ("post", "/admin/users/{id}/unlock"),
    ("post", "/admin/users/{id}/verify-email"),
    ("post", "/admin/users/{id}/send-reset"),
    ("get", "/admin/users/{id}/reset-mfa"),
    ("post", "/admin/users/{id}/reset-mfa"),
    ("get", "/admin/users/{id}/end-sessions"),
    ("post", "/admin/users/{id}/end-sessions"),
    ("get", "/admin/users/{id}/revoke-tokens"),
    ("post", "/admin/users/{id}/revoke-tokens"),
    ("post", "/admin/users/{id}/roles"),
    ("get", "/admin/users/{id}/roles/1/remove"),
    ("post", "/admin/users/{id}/roles/1/remove"),
    ("get", "/admin/users/{id}/links/1/unlink"),
    ("post", "/admin/users/{id}/links/1/unlink"),
]
ROUTES = [("get", "/admin/users/"), ("get", "/admin/users/new"), ("post", "/admin/users/new"), *USER_ID_ROUTES]


@pytest.fixture
def admin(app, create_user, auth):
    """An administrator signed in with a second factor just now."""
    user = create_user(email="root@example.com", is_admin=True, display_name="Root")
    totp = add_totp(app, user)
    auth.login("root@example.com")
    answer_challenge(auth.client, totp.now())
    return user


@pytest.fixture
def bob(create_user):
    return create_user(email="bob@example.com", display_name="Bob Builder")


def csrf(client, path="/admin/users/"):
    return csrf_from(client.get(path).get_data(as_text=True))


def act(client, user, action, confirmed=True):
    data = {"csrf_token": csrf(client)}
    if confirmed:
        data["confirmed"] = "yes"
    return client.post(f"/admin/users/{user.id}/{action}", data=data)


def fresh(user):
    db.session.expire_all()
    return db.session.get(User, user.id)


def events_of(kind):
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == kind)))


def sign_in_elsewhere(app, email):
    """Another browser, signed in as `email` (no second factor): returns its client."""
    other = AuthActions(app.test_client())
    other.login(email)
    return other.client


# --- Authorization ---


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_people_are_sent_to_sign_in(test_client, auth, bob, method, path):
    # With a valid CSRF token, so it is the console's guard that answers (CSRF alone would give 400).
    data = {"csrf_token": auth.csrf(), "confirmed": "yes", "email": "x@example.com"}

    response = getattr(test_client, method)(path.format(id=bob.id), data=data)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert fresh(bob).is_disabled is False
    assert db.session.scalar(select(User.id).where(User.email == "x@example.com")) is None


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_signed_in_non_admins_get_403_and_no_data(app, create_user, auth, bob, method, path):
    create_user(email="eve@example.com")
    auth.login("eve@example.com")

    response = getattr(auth.client, method)(
        path.format(id=bob.id), data={"csrf_token": auth.csrf("/account/"), "confirmed": "yes"}
    )

    assert response.status_code == 403
    assert b"bob@example.com" not in response.data
    assert fresh(bob).is_disabled is False


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_admins_without_recent_mfa_are_sent_to_the_challenge(admin, auth, bob, app, method, path):
    token = auth.csrf("/account/")
    stale = utcnow() - timedelta(seconds=app.config["ADMIN_MFA_MAX_AGE_SECONDS"] + 60)
    db.session.execute(update(UserSession).where(UserSession.user_id == admin.id).values(auth_time=stale))
    db.session.commit()

    response = getattr(auth.client, method)(path.format(id=bob.id), data={"csrf_token": token, "confirmed": "yes"})

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/mfa/challenge")
    assert fresh(bob).is_disabled is False


# --- The list ---


def test_the_list_shows_each_account_with_its_state(admin, auth, create_user, app):
    locked = create_user(email="locked@example.com", locked_until=utcnow() + timedelta(minutes=5))
    create_user(email="gone@example.com", is_disabled=True, verified=False)

    page = auth.client.get("/admin/users/").get_data(as_text=True)

    assert "root@example.com" in page and "locked@example.com" in page and "gone@example.com" in page
    assert "3 accounts" in page
    row = page.split(f'id="user-{locked.id}"')[1].split("</tr>")[0]
    assert "locked" in row and "disabled" not in row
    admin_row = page.split(f'id="user-{admin.id}"')[1].split("</tr>")[0]
    assert "<td>on</td>" in admin_row and "admin" in admin_row


def test_search_matches_email_or_name_case_insensitively(admin, auth, bob, create_user):
    create_user(email="carol@example.com", display_name="Carol")

    by_name = auth.client.get("/admin/users/?q=bUILDer").get_data(as_text=True)
    by_email = auth.client.get("/admin/users/?q=CAROL@").get_data(as_text=True)
    wildcard = auth.client.get("/admin/users/?q=%25").get_data(as_text=True)

    assert "bob@example.com" in by_name and "carol@example.com" not in by_name
    assert "carol@example.com" in by_email and "bob@example.com" not in by_email
    assert "0 accounts" in wildcard  # a typed % matches itself, not everything


@pytest.mark.parametrize(
    ("flag", "expected"),
    [("disabled", "gone@"), ("locked", "locked@"), ("unverified", "new@"), ("no_mfa", "bob@")],
)
def test_filters_narrow_the_list(admin, auth, bob, create_user, flag, expected):
    create_user(email="gone@example.com", is_disabled=True)
    create_user(email="locked@example.com", locked_until=utcnow() + timedelta(minutes=5))
    create_user(email="unlocked@example.com", locked_until=utcnow() - timedelta(minutes=5))
    create_user(email="new@example.com", verified=False)

    page = auth.client.get(f"/admin/users/?filter={flag}").get_data(as_text=True).split('id="users"')[1]
    listed = [email for email in ("root@", "bob@", "gone@", "locked@", "unlocked@", "new@") if f">{email}example.com<" in page]

    if flag == "no_mfa":
        assert "root@" not in listed and set(listed) == {"bob@", "gone@", "locked@", "unlocked@", "new@"}
    else:
        assert listed == [expected]


def test_the_list_is_paginated_by_25_and_a_missing_page_is_404(admin, auth):
    db.session.add_all(User(email=f"p{n:02}@example.com") for n in range(30))
    db.session.commit()

    first = auth.client.get("/admin/users/").get_data(as_text=True)
    second = auth.client.get("/admin/users/?page=2").get_data(as_text=True)

    assert first.count('<tr id="user-') == 25 and "Page 1 of 2" in first
    assert second.count('<tr id="user-') == 6
    for bad in ("3", "0", "-1", "x", "99999999999999"):
        assert auth.client.get(f"/admin/users/?page={bad}").status_code == 404


# --- One person's page ---


def test_the_user_page_shows_roles_groups_factors_sessions_consents_and_events(admin, auth, app, bob):
    staff, auditor = Role(name="staff"), Role(name="auditor")
    group = Group(name="finance", roles=[auditor], members=[bob])
    db.session.add_all([staff, group])
    db.session.flush()
    staff.users.append(bob)
    client = OAuthClient(client_id="wiki", name="The Wiki", redirect_uris=[], grant_types=[], response_types=[])
    db.session.add(client)
    db.session.flush()
    db.session.add(OAuthConsent(user_id=bob.id, client_id=client.id, scope="openid profile"))
    sign_in_elsewhere(app, "bob@example.com")
    db.session.add(WebAuthnCredential(user_id=bob.id, credential_id="abc", public_key=b"key-bytes", name="Blue key"))
    db.session.add(
        LinkedIdentity(user_id=bob.id, provider="github", subject="583231", email="bob@gh.example", username="bobthebuilder")
    )
    db.session.commit()

    page = auth.client.get(f"/admin/users/{bob.id}").get_data(as_text=True)

    assert "Bob Builder" in page
    assert "auditor, staff" in page  # effective: own plus the group's
    assert "finance" in page
    assert "Security key “Blue key”" in page and "key-bytes" not in page
    assert "The Wiki" in page
    methods = page.split('id="sign-in-methods"')[1].split("</ul>")[0]
    assert "A password" in methods and "github account bobthebuilder (bob@gh.example)" in methods
    sessions = page.split('id="sessions"')[1].split("</ul>")[0]
    assert sessions.count("<li>") == 1 and "from 127.0.0.1" in sessions
    assert "Signed in" in page.split('id="events"')[1]


def test_roles_are_given_and_removed_from_the_user_page(admin, auth, bob):
    staff, auditor = Role(name="staff"), Role(name="auditor")
    db.session.add_all([staff, auditor])
    db.session.commit()
    page = auth.client.get(f"/admin/users/{bob.id}").get_data(as_text=True)
    assert f'<option value="{staff.id}">staff</option>' in page

    response = auth.client.post(f"/admin/users/{bob.id}/roles", data={"csrf_token": csrf_from(page), "role_id": staff.id})

    assert response.status_code == 303 and response.headers["Location"] == f"/admin/users/{bob.id}"
    page = auth.client.get(f"/admin/users/{bob.id}").get_data(as_text=True)
    assert "Remove the role staff" in page and f'<option value="{staff.id}">staff</option>' not in page
    assert events_of("admin.role_assigned")[0].details == {"role": "staff"}

    confirmed = {"csrf_token": csrf_from(page), "confirmed": "yes"}
    response = auth.client.post(f"/admin/users/{bob.id}/roles/{staff.id}/remove", data=confirmed)
    assert response.status_code == 303
    db.session.rollback()
    assert bob not in db.session.get(Role, staff.id).users
    assert events_of("admin.role_unassigned")[0].details == {"role": "staff"}


def test_giving_a_role_refuses_bad_input(admin, auth, bob):
    staff = Role(name="staff", users=[bob])
    db.session.add(staff)
    db.session.commit()
    token = csrf(auth.client, f"/admin/users/{bob.id}")
    for data in ({"role_id": staff.id}, {"role_id": 99999}, {"role_id": "x"}, {}):  # held, unknown, junk, missing
        assert auth.client.post(f"/admin/users/{bob.id}/roles", data={"csrf_token": token, **data}).status_code == 400
    assert auth.client.post(f"/admin/users/{bob.id}/roles", data={"role_id": staff.id}).status_code == 400  # no CSRF
    assert auth.client.post(f"/admin/users/{bob.id}/roles/{staff.id}/remove", data={}).status_code == 400
    assert auth.client.post(f"/admin/users/{bob.id}/roles/99999/remove", data={"csrf_token": token}).status_code == 404
    assert auth.client.post("/admin/users/99999/roles", data={"csrf_token": token, "role_id": staff.id}).status_code == 404
    assert events_of("admin.role_assigned") == [] and events_of("admin.role_unassigned") == []


def test_an_admin_unlinks_a_person_s_linked_account_even_the_last_way_in(admin, auth, create_user, mailbox):
    dora = create_user(email="dora@example.com", password=None)
    dora_id, admin_id = dora.id, admin.id
    link = LinkedIdentity(user_id=dora.id, provider="github", subject="7", email="dora@gh.example", username="dora-gh")
    other = LinkedIdentity(user_id=admin.id, provider="github", subject="8", email="root@gh.example", username="root-gh")
    db.session.add_all([link, other])
    db.session.commit()
    link_id, other_id = link.id, other.id
    page = auth.client.get(f"/admin/users/{dora.id}").get_data(as_text=True)
    assert "Unlink the github account dora-gh" in page
    token = csrf_from(page)

    assert auth.client.post(f"/admin/users/{dora.id}/links/{link_id}/unlink", data={}).status_code == 400  # no CSRF
    assert auth.client.post(f"/admin/users/{dora.id}/links/{other_id}/unlink", data={"csrf_token": token}).status_code == 404
    response = auth.client.post(f"/admin/users/{dora.id}/links/{link_id}/unlink", data={"csrf_token": token, "confirmed": "yes"})

    assert response.status_code == 303
    db.session.expunge_all()
    assert db.session.get(LinkedIdentity, link_id) is None and db.session.get(LinkedIdentity, other_id) is not None
    (event,) = events_of("admin.identity_unlinked")
    assert (event.actor_user_id, event.subject_user_id, event.details["provider"]) == (admin_id, dora_id, "github")
    assert mailbox.to("dora@example.com")[-1].subject == "A github account was unlinked from your account"


def test_an_unknown_user_is_404(admin, auth):
    assert auth.client.get("/admin/users/9999").status_code == 404
    assert auth.client.post("/admin/users/9999/unlock", data={"csrf_token": csrf(auth.client)}).status_code == 404
    assert auth.client.get("/admin/users/9999/reset-mfa").status_code == 404


def test_an_unknown_action_is_404_and_safe_actions_have_no_confirm_page(admin, auth, bob):
    assert auth.client.post(f"/admin/users/{bob.id}/delete", data={"csrf_token": csrf(auth.client)}).status_code == 404
    assert auth.client.get(f"/admin/users/{bob.id}/unlock").status_code == 404


# --- Actions ---


@pytest.mark.parametrize(
    "action", ["disable", "enable", "unlock", "verify-email", "send-reset", "reset-mfa", "end-sessions", "revoke-tokens"]
)
def test_every_action_needs_its_csrf_token(admin, auth, bob, action):
    bob_before = (bob.is_disabled, bob.failed_login_count)

    response = auth.client.post(f"/admin/users/{bob.id}/{action}", data={"confirmed": "yes"})

    assert response.status_code == 400
    assert (fresh(bob).is_disabled, fresh(bob).failed_login_count) == bob_before
    assert not [t for t in (e.event_type for e in db.session.scalars(select(AuditEvent))) if t.startswith("admin.")]


@pytest.mark.parametrize("action", ["disable", "reset-mfa", "end-sessions", "revoke-tokens"])
def test_destructive_actions_need_the_confirm_page(admin, auth, app, bob, action):
    other = sign_in_elsewhere(app, "bob@example.com")

    page = auth.client.get(f"/admin/users/{bob.id}/{action}")
    refused = act(auth.client, bob, action, confirmed=False)

    assert page.status_code == 200 and 'name="confirmed"' in page.get_data(as_text=True)
    assert refused.status_code == 400
    assert fresh(bob).is_disabled is False
    assert other.get("/account/").status_code == 200


def test_disabling_ends_sessions_and_tokens_and_is_audited(admin, auth, app, bob):
    other = sign_in_elsewhere(app, "bob@example.com")
    client = OAuthClient(client_id="wiki", name="Wiki", redirect_uris=[], grant_types=[], response_types=[])
    db.session.add(client)
    db.session.flush()
    db.session.add(
        RefreshToken(
            token_digest="d" * 64,
            family_id="fam",
            client_id=client.id,
            user_id=bob.id,
            scope="openid",
            auth_time=utcnow(),
            issued_at=utcnow(),
            expires_at=utcnow() + timedelta(days=1),
        )
    )
    db.session.commit()

    response = act(auth.client, bob, "disable")

    assert response.status_code == 303 and response.headers["Location"] == f"/admin/users/{bob.id}"
    assert fresh(bob).is_disabled is True
    assert other.get("/account/").headers["Location"].startswith("/login")
    assert db.session.scalar(select(RefreshToken.revoked_at)) is not None
    (event,) = events_of("admin.user_disabled")
    assert (event.actor_user_id, event.subject_user_id) == (admin.id, bob.id)
    assert event.details["sessions_ended"] == 1 and event.details["app_grants_ended"] == 1


def test_enabling_lets_the_person_sign_in_again(admin, auth, app, create_user):
    carol = create_user(email="carol@example.com", is_disabled=True)

    act(auth.client, carol, "enable")

    assert fresh(carol).is_disabled is False
    assert sign_in_elsewhere(app, "carol@example.com").get("/account/").status_code == 200
    assert events_of("admin.user_enabled")[0].actor_user_id == admin.id


def test_the_last_enabled_admin_cannot_be_disabled(admin, auth, create_user):
    create_user(email="old-admin@example.com", is_admin=True, is_disabled=True)  # a disabled admin does not count

    response = act(auth.client, admin, "disable")

    assert response.status_code == 400
    assert "last enabled administrator" in response.get_data(as_text=True)
    assert fresh(admin).is_disabled is False
    assert not events_of("admin.user_disabled")
    assert auth.client.get("/admin/users/").status_code == 200  # still signed in


def test_another_admin_can_be_disabled_while_one_remains(admin, auth, create_user):
    other_admin = create_user(email="ops@example.com", is_admin=True)

    assert act(auth.client, other_admin, "disable").status_code == 303
    assert fresh(other_admin).is_disabled is True


def test_unlocking_clears_the_lockout(admin, auth, create_user):
    carol = create_user(email="carol@example.com", failed_login_count=12, locked_until=utcnow() + timedelta(minutes=9))

    act(auth.client, carol, "unlock")

    carol = fresh(carol)
    assert (carol.failed_login_count, carol.locked_until) == (0, None)
    assert events_of("admin.user_unlocked")[0].subject_user_id == carol.id


def test_marking_the_email_verified(admin, auth, create_user):
    carol = create_user(email="carol@example.com", verified=False)

    act(auth.client, carol, "verify-email")

    assert fresh(carol).email_verified_at is not None
    assert events_of("admin.email_verified")[0].actor_user_id == admin.id


def test_sending_a_password_reset_mails_a_working_link(admin, auth, app, bob, mailbox):
    act(auth.client, bob, "send-reset")

    mail = mailbox.wait_for("bob@example.com", "Choose a new password")
    path = mail.link("/reset-password/").removeprefix(app.config["ISSUER"])
    other = app.test_client()
    page = other.get(path)
    done = other.post(
        path, data={"csrf_token": csrf_from(page.get_data(as_text=True)), "password": "a brand new long passphrase"}
    )
    assert done.status_code == 303
    assert events_of("admin.password_reset_sent")[0].actor_user_id == admin.id
    assert "token" not in str(events_of("admin.password_reset_sent")[0].details)


def test_a_disabled_account_gets_no_reset_link(admin, auth, create_user, mailbox):
    carol = create_user(email="carol@example.com", is_disabled=True)

    response = act(auth.client, carol, "send-reset")

    assert response.status_code == 400
    assert db.session.scalar(select(EmailToken.id)) is None


def test_resetting_mfa_removes_factors_and_codes_and_ends_sessions(admin, auth, app, create_user):
    carol = create_user(email="carol@example.com")
    totp = add_totp(app, carol)
    db.session.add(RecoveryCode(user_id=carol.id, code_digest="c" * 64))
    db.session.add(WebAuthnCredential(user_id=carol.id, credential_id="k1", public_key=b"k"))
    db.session.commit()
    other = AuthActions(app.test_client())
    other.login("carol@example.com")
    answer_challenge(other.client, totp.now())
    assert other.client.get("/account/").status_code == 200

    act(auth.client, carol, "reset-mfa")

    for model in (TotpFactor, RecoveryCode, WebAuthnCredential):
        assert db.session.scalar(select(model.id).where(model.user_id == carol.id)) is None
    assert other.client.get("/account/").headers["Location"].startswith("/login")
    assert events_of("admin.mfa_reset")[0].subject_user_id == carol.id


def test_ending_sessions_signs_every_browser_out(admin, auth, app, bob):
    first, second = sign_in_elsewhere(app, "bob@example.com"), sign_in_elsewhere(app, "bob@example.com")

    act(auth.client, bob, "end-sessions")

    assert first.get("/account/").status_code == 302 and second.get("/account/").status_code == 302
    assert events_of("admin.sessions_ended")[0].details["sessions_ended"] == 2


def test_ending_your_own_sessions_keeps_the_console_open(admin, auth, app):
    elsewhere = AuthActions(app.test_client())
    elsewhere.login("root@example.com")

    act(auth.client, admin, "end-sessions")

    assert auth.client.get("/admin/users/").status_code == 200
    assert elsewhere.client.get("/account/").status_code == 302


def test_revoking_tokens_keeps_the_sessions(admin, auth, app, bob):
    other = sign_in_elsewhere(app, "bob@example.com")
    client = OAuthClient(client_id="wiki", name="Wiki", redirect_uris=[], grant_types=[], response_types=[])
    db.session.add(client)
    db.session.flush()
    db.session.add(
        RefreshToken(
            token_digest="e" * 64,
            family_id="fam2",
            client_id=client.id,
            user_id=bob.id,
            scope="openid",
            auth_time=utcnow(),
            issued_at=utcnow(),
            expires_at=utcnow() + timedelta(days=1),
        )
    )
    db.session.commit()

    act(auth.client, bob, "revoke-tokens")

    assert db.session.scalar(select(RefreshToken.revoked_at)) is not None
    assert other.get("/account/").status_code == 200
    assert events_of("admin.tokens_revoked")[0].details["app_grants_ended"] == 1


# --- Invitations ---


def invite(client, **fields):
    data = {"csrf_token": csrf(client, "/admin/users/new"), **fields}
    return client.post("/admin/users/new", data=data)


def test_an_invited_person_chooses_their_own_password(admin, auth, app, mailbox):
    response = invite(auth.client, email="  New.Person@example.com ", display_name="New Person")

    invited = db.session.scalar(select(User).where(User.email == "New.Person@example.com"))
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/users/{invited.id}"
    assert invited.password_hash is None and invited.is_admin is False and invited.email_verified_at is None
    mail = mailbox.wait_for("New.Person@example.com", "Your new account")
    path = mail.link("/reset-password/").removeprefix(app.config["ISSUER"])
    browser = AuthActions(app.test_client())
    page = browser.client.get(path).get_data(as_text=True)
    browser.client.post(path, data={"csrf_token": csrf_from(page), "password": "my own long passphrase here"})
    browser.login("new.person@example.com", "my own long passphrase here")
    assert browser.client.get("/account/").status_code == 200
    assert fresh(invited).email_verified_at is not None
    (event,) = events_of("admin.user_invited")
    assert (event.actor_user_id, event.details) == (admin.id, {"admin": False})


def test_an_invited_account_cannot_sign_in_before_choosing_a_password(admin, auth, app):
    invite(auth.client, email="new@example.com")

    browser = AuthActions(app.test_client())
    browser.login("new@example.com", "")
    browser.login("new@example.com", DEFAULT_PASSWORD)
    assert browser.client.get("/account/").status_code == 302


def test_an_invitation_racing_another_for_the_same_address_is_refused_not_a_500(admin, auth, bob, monkeypatch):
    """The second of two parallel invitations passes the lookup before the first commits; the index stops it."""
    monkeypatch.setattr(users_service, "find_user_by_email", lambda email: None)

    response = invite(auth.client, email="bob@example.com")

    assert response.status_code == 400 and "already exists" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "bob@example.com")) == 1


def test_inviting_an_admin(admin, auth):
    invite(auth.client, email="ops@example.com", is_admin="y")

    assert db.session.scalar(select(User.is_admin).where(User.email == "ops@example.com")) is True


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "BOB@example.com"}, "already exists"),
        ({"email": "not-an-address"}, "valid email"),
        ({"email": ""}, "Enter your email"),
        ({"email": "x@example.com", "display_name": "a\x00b"}, "letters"),
        ({"email": "x@example.com", "display_name": "n" * 101}, "100"),
    ],
)
def test_bad_invitations_are_refused(admin, auth, bob, mailbox, fields, error):
    response = invite(auth.client, **fields)

    assert response.status_code == 400
    assert error in response.get_data(as_text=True)
    assert db.session.scalar(select(User.id).where(User.email == "x@example.com")) is None
    assert not events_of("admin.user_invited") and not mailbox.messages


def test_an_invitation_needs_its_csrf_token(admin, auth):
    response = auth.client.post("/admin/users/new", data={"email": "x@example.com"})

    assert response.status_code == 400
    assert db.session.scalar(select(User.id).where(User.email == "x@example.com")) is None
