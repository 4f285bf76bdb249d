"""The profile page: names, locale and time zone with their validation; the email change confirmed by a link."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.account.forms import LOCALE_INVALID, NAME_INVALID, SAME_EMAIL, ZONE_INVALID
from app.account.profile_views import EMAIL_UNAVAILABLE, LINK_INVALID
from app.core.claims import user_claims
from app.extensions import db
from app.models import AuditEvent, EmailToken, EmailTokenPurpose
from app.models.base import utcnow
from app.security import token_digest
from tests.conftest import DEFAULT_PASSWORD, audit_types, csrf_from
from tests.integration.auth.helpers import (
    BAD_REQUEST_TEXT,
    JUNK_TOKENS,
    expire_token,
    path_of,
    reload,
    sessions_of,
    text,
    tokens_of,
)
from tests.integration.mfa.conftest import add_totp

EMAIL = "ada@example.com"
NEW_EMAIL = "ada.lovelace@example.org"
PROFILE = {"display_name": "Ada", "given_name": "Ada", "family_name": "Lovelace", "locale": "en-GB", "zoneinfo": "Europe/London"}
CHANGE = EmailTokenPurpose.CHANGE_EMAIL


@pytest.fixture
def ada(create_user, auth):
    user = create_user(email=EMAIL, display_name="Countess")
    assert auth.login(EMAIL).status_code == 303
    return user


def post_profile(client, **values):
    token = csrf_from(client.get("/account/profile").get_data(as_text=True))
    return client.post("/account/profile", data={"csrf_token": token, **PROFILE, **values})


def ask_email_change(client, new_email: str = NEW_EMAIL):
    token = csrf_from(client.get("/account/profile").get_data(as_text=True))
    return client.post("/account/email", data={"csrf_token": token, "new_email": new_email})


def make_stale(app, user) -> None:
    for user_session in sessions_of(user):
        user_session.auth_time = utcnow() - timedelta(seconds=app.config["FRESH_AUTH_SECONDS"] + 1)
    db.session.commit()


def reauthenticate(client, login_url: str, password: str = DEFAULT_PASSWORD):
    """Answer the sign-in page a stale session was sent to, with the `next` it carries."""
    page = client.get(login_url)
    assert page.status_code == 200, page.status_code
    next_url = parse_qs(urlsplit(login_url).query)["next"][0]
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": EMAIL, "password": password, "next": next_url}
    return client.post("/login", data=data)


def link_path(mailbox, app, to: str = NEW_EMAIL) -> str:
    return path_of(mailbox.wait_for(to, "Confirm your new email address").link("/account/email/confirm/"), app.config["ISSUER"])


def confirm(client, path: str):
    page = client.get(path)
    assert page.status_code == 200, text(page)
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def event(event_type: str) -> AuditEvent:
    db.session.rollback()
    return db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)).one()


# --- profile ----------------------------------------------------------------------------------


def test_the_profile_page_needs_a_signed_in_person(test_client):
    response = test_client.get("/account/profile")

    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_the_page_shows_the_stored_profile_and_every_time_zone(ada, auth):
    page = text(auth.client.get("/account/profile"))

    assert 'value="Countess"' in page and EMAIL in page
    assert '<option value="Europe/Paris">' in page and 'list="zoneinfo-options"' in page
    assert '<option value="localtime">' not in page


def test_saving_the_profile_stores_it_audits_field_names_and_feeds_the_claims(ada, auth):
    response = post_profile(auth.client, display_name="  Ada L.  ", locale="pt-br", zoneinfo="America/Sao_Paulo")

    assert response.status_code == 303 and response.headers["Location"] == "/account/profile"
    reload(ada)
    assert (ada.display_name, ada.given_name, ada.family_name) == ("Ada L.", "Ada", "Lovelace")
    assert (ada.locale, ada.zoneinfo) == ("pt-BR", "America/Sao_Paulo")  # trimmed, tag in its usual case
    assert event("account.profile_updated").details == {"fields": list(PROFILE)}  # names, never values
    claims = user_claims(ada, "openid profile")
    assert claims["given_name"] == "Ada" and claims["locale"] == "pt-BR" and claims["zoneinfo"] == "America/Sao_Paulo"
    assert "Your profile is saved." in text(auth.client.get("/account/profile"))


def test_only_the_changed_fields_are_audited_and_an_unchanged_save_is_not(ada, auth):
    post_profile(auth.client)
    post_profile(auth.client, zoneinfo="Asia/Tokyo")
    post_profile(auth.client, zoneinfo="Asia/Tokyo")

    updates = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "account.profile_updated").order_by(AuditEvent.id)
    )
    assert [e.details["fields"] for e in updates] == [list(PROFILE), ["zoneinfo"]]


def test_locale_and_time_zone_may_be_cleared(ada, auth):
    post_profile(auth.client)

    assert post_profile(auth.client, locale="", zoneinfo="  ").status_code == 303

    assert (reload(ada).locale, ada.zoneinfo) == ("", "")
    assert "locale" not in user_claims(ada, "profile") and "zoneinfo" not in user_claims(ada, "profile")


@pytest.mark.parametrize("locale", ["en-GB", "en", "es-419", "zh-Hant-TW", "sr-Latn", "fil"])
def test_language_tags_of_the_usual_shapes_are_accepted(ada, auth, locale):
    assert post_profile(auth.client, locale=locale).status_code == 303
    assert reload(ada).locale == locale


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"locale": "english"}, LOCALE_INVALID),
        ({"locale": "en_GB"}, LOCALE_INVALID),
        ({"locale": "e"}, LOCALE_INVALID),
        ({"locale": "en-GB-oxendict"}, LOCALE_INVALID),
        ({"locale": "en-<b>"}, LOCALE_INVALID),
        ({"locale": "x" * 40}, LOCALE_INVALID),
        ({"zoneinfo": "Mars/Olympus_Mons"}, ZONE_INVALID),
        ({"zoneinfo": "europe/paris"}, ZONE_INVALID),
        ({"zoneinfo": "localtime"}, ZONE_INVALID),
        ({"zoneinfo": "../../etc/passwd"}, ZONE_INVALID),
        ({"given_name": "A" * 101}, "Use at most 100 characters."),
        ({"family_name": "Love\x00lace"}, NAME_INVALID),
        ({"display_name": "Ada\nAdmin"}, NAME_INVALID),
        ({"display_name": "Ada\u202eecalevol"}, NAME_INVALID),
    ],
)
def test_bad_input_is_refused_at_the_field_and_changes_nothing(ada, auth, values, error):
    response = post_profile(auth.client, **values)

    assert response.status_code == 400
    assert str(error) in text(response)
    assert 'aria-invalid="true"' in text(response)
    reload(ada)
    assert (ada.display_name, ada.given_name, ada.locale, ada.zoneinfo) == ("Countess", "", "", "")
    assert "account.profile_updated" not in audit_types(ada)


def test_a_hundred_characters_with_spaces_around_are_fine(ada, auth):
    assert post_profile(auth.client, given_name=f"  {'A' * 100}  ").status_code == 303
    assert reload(ada).given_name == "A" * 100


def test_saving_the_profile_needs_the_csrf_token(ada, auth):
    auth.client.get("/account/profile")

    response = auth.client.post("/account/profile", data=PROFILE)

    assert response.status_code == 400 and BAD_REQUEST_TEXT in text(response)
    assert reload(ada).given_name == "" and "account.profile_updated" not in audit_types(ada)


# --- email change: asking -----------------------------------------------------------------------


def test_asking_for_a_change_mails_the_new_address_a_link_and_the_old_one_a_notice(ada, auth, mailbox, app):
    response = ask_email_change(auth.client)

    assert response.status_code == 303 and response.headers["Location"] == "/account/profile"
    assert reload(ada).email == EMAIL  # nothing changes before the link is used
    [row] = tokens_of(ada, CHANGE)
    assert row.email == NEW_EMAIL and row.used_at is None
    assert timedelta(minutes=59) < row.expires_at - row.created_at <= timedelta(hours=1)
    assert link_path(mailbox, app).startswith("/account/email/confirm/change_email_")
    notice = mailbox.wait_for(EMAIL, "change of your email address was requested")
    assert "a…@example.org" in notice.text and NEW_EMAIL not in notice.text
    assert audit_types(ada)[-1] == "account.email_change_requested"
    assert event("account.email_change_requested").details == {}
    page = text(auth.client.get("/account/profile"))
    assert f"We sent a link to {NEW_EMAIL}" in page and 'id="pending-email"' in page


def test_an_address_another_account_uses_cannot_be_asked_for_in_any_case(ada, auth, create_user, mailbox):
    create_user(email="grace@example.com")

    response = ask_email_change(auth.client, "Grace@Example.COM")

    assert response.status_code == 400 and str(EMAIL_UNAVAILABLE) in text(response)
    assert tokens_of(ada, CHANGE) == [] and mailbox.messages == []
    assert "account.email_change_requested" not in audit_types(ada)


@pytest.mark.parametrize(
    ("new_email", "error"),
    [("ADA@example.com", SAME_EMAIL), ("not-an-address", "Enter a valid email address."), ("", "Enter the new email address.")],
)
def test_the_new_address_must_be_valid_and_new(ada, auth, mailbox, new_email, error):
    response = ask_email_change(auth.client, new_email)

    assert response.status_code == 400 and str(error) in text(response)
    assert tokens_of(ada, CHANGE) == [] and mailbox.messages == []


def test_asking_needs_the_csrf_token(ada, auth, mailbox):
    auth.client.get("/account/profile")

    response = auth.client.post("/account/email", data={"new_email": NEW_EMAIL})

    assert response.status_code == 400 and BAD_REQUEST_TEXT in text(response)
    assert tokens_of(ada, CHANGE) == [] and mailbox.messages == []


def test_a_stale_sign_in_confirms_the_password_first_then_returns_to_the_profile(ada, auth, app, mailbox):
    make_stale(app, ada)

    response = ask_email_change(auth.client)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?") and "reauth=1" in response.headers["Location"]
    assert tokens_of(ada, CHANGE) == [] and mailbox.messages == []
    again = reauthenticate(auth.client, response.headers["Location"])
    assert again.status_code == 303 and again.headers["Location"] == "/account/profile"
    assert ask_email_change(auth.client).status_code == 303
    assert len(tokens_of(ada, CHANGE)) == 1


def test_a_stale_sign_in_with_a_factor_asks_for_a_code_then_returns_to_the_profile(create_user, auth, app):
    user = create_user(email=EMAIL)
    totp = add_totp(app, user)
    auth.login(EMAIL)
    answer = {"csrf_token": auth.csrf("/mfa/challenge"), "totp_code": totp.now()}
    assert auth.client.post("/mfa/challenge/totp", data=answer).status_code == 303
    make_stale(app, user)

    response = ask_email_change(auth.client)

    assert response.status_code == 302 and response.headers["Location"] == "/mfa/challenge"
    assert tokens_of(user, CHANGE) == []
    # The next step's code (accepted with drift): the current one was just spent.
    answer = {"csrf_token": auth.csrf("/mfa/challenge"), "totp_code": totp.at(time.time() + 30)}
    stepped = auth.client.post("/mfa/challenge/totp", data=answer)
    assert stepped.status_code == 303 and stepped.headers["Location"] == "/account/profile"


# --- email change: the link -------------------------------------------------------------------


def test_the_link_asks_for_a_button_press_then_changes_and_verifies_the_address(create_user, auth, mailbox, app):
    user = create_user(email=EMAIL, verified=False)
    auth.login(EMAIL)
    ask_email_change(auth.client)
    path = link_path(mailbox, app)

    page = auth.client.get(path)  # what a mail scanner does: nothing changes
    assert page.status_code == 200 and NEW_EMAIL in text(page)
    assert reload(user).email == EMAIL
    response = auth.client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})

    assert response.status_code == 303 and response.headers["Location"] == "/account/profile"
    reload(user)
    assert user.email == NEW_EMAIL and user.email_verified_at is not None
    assert event("account.email_changed").details == {"verified": True}
    assert "a…@example.org" in mailbox.wait_for(EMAIL, "Your email address was changed").text
    assert f"Your email address is now {NEW_EMAIL}." in text(auth.client.get("/account/profile"))
    auth.logout()
    assert auth.login(NEW_EMAIL).status_code == 303
    auth.logout()
    assert auth.login(EMAIL).status_code == 401


def test_a_link_works_once(ada, auth, mailbox, app):
    ask_email_change(auth.client)
    path = link_path(mailbox, app)
    page = auth.client.get(path)
    token = csrf_from(page.get_data(as_text=True))
    assert auth.client.post(path, data={"csrf_token": token}).status_code == 303

    again = auth.client.post(path, data={"csrf_token": token})

    assert again.status_code == 400 and str(LINK_INVALID) in text(again)
    assert auth.client.get(path).status_code == 400
    assert audit_types(ada).count("account.email_changed") == 1


def test_an_expired_link_changes_nothing(ada, auth, mailbox, app):
    ask_email_change(auth.client)
    path = link_path(mailbox, app)
    page = auth.client.get(path)
    expire_token(path.rsplit("/", 1)[1])

    assert auth.client.get(path).status_code == 400
    response = auth.client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})

    assert response.status_code == 400 and str(LINK_INVALID) in text(response)
    assert reload(ada).email == EMAIL and "account.email_changed" not in audit_types(ada)


def test_a_newer_request_retires_the_earlier_link(ada, auth, mailbox, app):
    ask_email_change(auth.client, "first@example.org")
    first = link_path(mailbox, app, "first@example.org")
    ask_email_change(auth.client, "second@example.org")

    assert auth.client.get(first).status_code == 400
    assert confirm(auth.client, link_path(mailbox, app, "second@example.org")).status_code == 303
    assert reload(ada).email == "second@example.org"


@pytest.mark.parametrize("token", ["change_email_" + "A" * 43, *JUNK_TOKENS])
def test_unknown_and_junk_links_get_the_friendly_page(ada, auth, token):
    response = auth.client.get(f"/account/email/confirm/{token}")

    assert response.status_code == 400 and str(LINK_INVALID) in text(response)


def test_another_persons_link_does_nothing_for_me_and_stays_theirs(ada, auth, create_user, mailbox, app):
    ask_email_change(auth.client)
    path = link_path(mailbox, app)
    auth.logout()
    grace = create_user(email="grace@example.com")
    auth.login("grace@example.com")

    assert auth.client.get(path).status_code == 400
    forged = auth.client.post(path, data={"csrf_token": auth.csrf("/account/profile")})

    assert forged.status_code == 400 and str(LINK_INVALID) in text(forged)
    assert reload(grace).email == "grace@example.com" and reload(ada).email == EMAIL
    assert tokens_of(ada, CHANGE)[0].used_at is None
    auth.logout()
    auth.login(EMAIL)
    assert confirm(auth.client, path).status_code == 303
    assert reload(ada).email == NEW_EMAIL


def test_the_link_needs_a_signed_in_person_and_comes_back_after_sign_in(ada, auth, mailbox, app):
    ask_email_change(auth.client)
    path = link_path(mailbox, app)
    auth.logout()

    response = auth.client.get(path)

    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    signed_in = auth.login(EMAIL, next_url=path)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == path
    assert confirm(auth.client, path).status_code == 303


def test_an_address_taken_meanwhile_is_refused_and_the_link_kept(ada, auth, create_user, mailbox, app):
    ask_email_change(auth.client)
    path = link_path(mailbox, app)
    page = auth.client.get(path)
    create_user(email=NEW_EMAIL.upper())

    response = auth.client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})

    assert response.status_code == 400 and str(EMAIL_UNAVAILABLE) in text(response)
    assert reload(ada).email == EMAIL and tokens_of(ada, CHANGE)[0].used_at is None


def test_confirming_needs_the_csrf_token(ada, auth, mailbox, app):
    ask_email_change(auth.client)
    path = link_path(mailbox, app)
    auth.client.get(path)

    response = auth.client.post(path, data={})

    assert response.status_code == 400 and BAD_REQUEST_TEXT in text(response)
    assert reload(ada).email == EMAIL
    token = path.rsplit("/", 1)[1]
    assert db.session.scalar(select(EmailToken.used_at).where(EmailToken.token_digest == token_digest(token))) is None
