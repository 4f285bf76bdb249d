"""Sign-up: the verification mail, the password policy, bad fields and taken addresses that reveal nothing."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, EmailToken, EmailTokenPurpose, User
from app.security import token_digest
from app.web.messages import message
from tests.conftest import DEFAULT_PASSWORD, audit_types
from tests.integration.auth.helpers import auth_set_cookie, count, is_signed_in, path_of, post_form, reload, text

GOOD_PASSWORD = "tangerine harmonica lighthouse velvet"
EMAIL = "ada.lovelace@example.com"
PASSPHRASE_64 = "quiet-lantern-mosaic-river-thimble-copper-orchid-fable-sparrow-1"
LONG_UNICODE_PASSPHRASE = (
    "Ünïcödé pässphräse: 日本語のパスフレーズ、καλημέρα κόσμε, Привет мир 🐙🦑🌊 — ¿dónde está la biblioteca? "
    "שלום עולם، مرحبا بالعالم, नमस्ते दुनिया, 안녕하세요 세계, ça va très bien, merci beaucoup, tschüß!"
)


def register(client, email: str = EMAIL, password: str = GOOD_PASSWORD, **fields: str):
    data = {"email": email, "password": password, "display_name": "", **fields}
    return post_form(client, "/register", data, token_from="/register")


def users() -> list[User]:
    db.session.rollback()
    return list(db.session.scalars(select(User).order_by(User.id)))


def test_register_page_shows_the_form(test_client):
    response = test_client.get("/register")

    assert response.status_code == 200
    page = text(response)
    assert 'name="email"' in page and 'name="password"' in page and 'name="csrf_token"' in page
    assert 'autocomplete="new-password"' in page


def test_registration_creates_an_unverified_user_and_mails_a_verification_link(app, test_client, mailbox):
    response = register(test_client, display_name="Ada Lovelace")

    assert response.status_code == 200
    assert message("register_success") in text(response)
    [user] = users()
    assert user.email == EMAIL
    assert user.display_name == "Ada Lovelace"
    assert user.email_verified_at is None
    assert user.password_hash.startswith("$argon2id$") and GOOD_PASSWORD not in user.password_hash
    assert audit_types(user) == ["auth.registered"]
    mail = mailbox.wait_for(EMAIL, "Confirm your email address")
    link = mail.link("/verify-email/")
    token = path_of(link, app.config["ISSUER"]).removeprefix("/verify-email/")
    row = db.session.scalar(select(EmailToken).where(EmailToken.token_digest == token_digest(token)))
    assert row is not None and row.purpose == EmailTokenPurpose.VERIFY and row.user_id == user.id
    assert row.used_at is None


def test_registration_does_not_sign_in(test_client):
    response = register(test_client)

    assert response.status_code == 200
    assert auth_set_cookie(response) is None
    assert not is_signed_in(test_client)


def test_the_new_account_can_sign_in_with_its_password(test_client):
    register(test_client)

    response = post_form(test_client, "/login", {"email": EMAIL, "password": GOOD_PASSWORD})

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        pytest.param("tangerine sky", "Use at least 15 characters (you have 13).", id="too-short"),
        pytest.param("fourteen chars", "Use at least 15 characters (you have 14).", id="one-under-minimum"),
        pytest.param(
            "日本語のパスフレーズですよね", "Use at least 15 characters (you have 14).", id="length-counts-code-points-not-bytes"
        ),
        pytest.param("1qaz2wsx3edc4rfv", "This password is on a list of commonly used passwords.", id="common-password"),
        pytest.param(
            "Password1234567!",
            "This is a common password (“password”) with digits or symbols added.",
            id="common-word-plus-digits",
        ),
        pytest.param("ada.lovelace harmonica tangerine", "(it contains “ada.lovelace”)", id="email-local-part"),
        pytest.param("harmonica Lovelace tangerine", "(it contains “lovelace”)", id="part-of-local-part"),
        pytest.param("marmalade IDENTITY velocity", "(it contains “identity”)", id="service-name"),
        pytest.param("example harmonica tangerine", "(it contains “example”)", id="email-domain"),
        pytest.param("a" * 20, "Choose something less predictable", id="guessable-pattern"),
        pytest.param("tangerine harmonica " * 13, "Use at most 256 characters.", id="over-policy-maximum"),
    ],
)
def test_password_policy_rejection_is_shown_with_400_and_creates_nothing(test_client, mailbox, password, reason):
    response = register(test_client, password=password)

    assert response.status_code == 400
    page = text(response)
    assert reason in page
    assert password not in page  # the refused password is never echoed back into the page
    assert users() == []
    assert count(AuditEvent) == 0
    assert mailbox.messages == []


def test_fifteen_characters_are_enough(test_client):
    password = "vR7#kq2!Lm9$xT4"
    assert len(password) == 15

    response = register(test_client, password=password)

    assert response.status_code == 200
    assert len(users()) == 1


def test_64_character_passphrase_is_accepted_and_signs_in(test_client):
    assert len(PASSPHRASE_64) == 64

    assert register(test_client, password=PASSPHRASE_64).status_code == 200

    assert post_form(test_client, "/login", {"email": EMAIL, "password": PASSPHRASE_64}).status_code == 303


def test_long_unicode_passphrase_is_accepted_and_signs_in(test_client):
    assert 150 < len(LONG_UNICODE_PASSPHRASE) <= 256 < len(LONG_UNICODE_PASSPHRASE.encode())

    assert register(test_client, password=LONG_UNICODE_PASSPHRASE).status_code == 200

    assert post_form(test_client, "/login", {"email": EMAIL, "password": LONG_UNICODE_PASSPHRASE}).status_code == 303


def test_password_is_normalized_so_composed_and_decomposed_forms_both_sign_in(test_client):
    composed = unicodedata.normalize("NFC", "café crème brûlée sous la tonnelle")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed

    assert register(test_client, password=composed).status_code == 200

    assert post_form(test_client, "/login", {"email": EMAIL, "password": decomposed}).status_code == 303


def test_password_is_never_truncated(test_client):
    password = "lantern mosaic river thimble copper orchid fable sparrow walrus plum cathedral orbit meadow"
    assert len(password) > 72  # where bcrypt would silently cut

    register(test_client, password=password)

    assert post_form(test_client, "/login", {"email": EMAIL, "password": password[:72]}).status_code == 401
    assert post_form(test_client, "/login", {"email": EMAIL, "password": password + "x"}).status_code == 401
    assert post_form(test_client, "/login", {"email": EMAIL, "password": password}).status_code == 303


def test_display_name_may_be_left_out_of_the_form(test_client):
    data = {"email": EMAIL, "password": GOOD_PASSWORD}  # no display_name field at all, as a script might post

    response = post_form(test_client, "/register", data, token_from="/register")

    assert response.status_code == 200
    [user] = users()
    assert user.display_name == ""


LONG_LOCAL = "a" * 64
LONG_DOMAIN = "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
EMAIL_254 = f"{LONG_LOCAL}@{LONG_DOMAIN}"
EMAIL_255 = f"{LONG_LOCAL}@e{LONG_DOMAIN}"


def test_email_of_254_characters_is_accepted(test_client):
    assert len(EMAIL_254) == 254

    assert register(test_client, email=EMAIL_254).status_code == 200
    assert [user.email for user in users()] == [EMAIL_254]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param({"password": GOOD_PASSWORD}, "Enter your email address.", id="email-missing"),
        pytest.param({"email": "", "password": GOOD_PASSWORD}, "Enter your email address.", id="email-empty"),
        pytest.param({"email": EMAIL}, "Choose a password.", id="password-missing"),
        pytest.param({"email": EMAIL, "password": ""}, "Choose a password.", id="password-empty"),
        pytest.param({"email": EMAIL, "password": " " * 20}, "Choose a password.", id="password-blank"),
        pytest.param({"email": EMAIL_255, "password": GOOD_PASSWORD}, "", id="email-over-254"),
        pytest.param({"email": EMAIL, "password": "x" * 1025}, "", id="password-over-1024"),
        pytest.param({"email": "not-an-email", "password": GOOD_PASSWORD}, "Enter a valid email address.", id="no-at"),
        pytest.param({"email": "ada@", "password": GOOD_PASSWORD}, "Enter a valid email address.", id="no-domain"),
        pytest.param({"email": "@example.com", "password": GOOD_PASSWORD}, "Enter a valid email address.", id="no-local"),
        pytest.param({"email": "ada@@example.com", "password": GOOD_PASSWORD}, "Enter a valid email address.", id="two-ats"),
        pytest.param({"email": "ada lace@example.com", "password": GOOD_PASSWORD}, "Enter a valid email address.", id="space"),
        pytest.param({"email": "ada@example.com\x00", "password": GOOD_PASSWORD}, "Enter a valid email address.", id="nul"),
        pytest.param(
            {"email": "ada@example.com\r\nBcc: victim@example.org", "password": GOOD_PASSWORD},
            "Enter a valid email address.",
            id="header-injection",
        ),
        pytest.param(
            {"email": EMAIL, "password": GOOD_PASSWORD, "display_name": "Ada\x07"},
            "Use letters, spaces and punctuation only.",
            id="display-name-control-character",
        ),
        pytest.param({"email": EMAIL, "password": GOOD_PASSWORD, "display_name": "A" * 101}, "", id="display-name-over-100"),
    ],
)
def test_bad_fields_are_refused_with_400_and_create_nothing(test_client, mailbox, data, error):
    response = post_form(test_client, "/register", data, token_from="/register")

    assert response.status_code == 400
    assert error in text(response)
    assert 'class="errors"' in text(response)  # the field error is shown next to the field
    assert users() == []
    assert count(EmailToken) == 0
    assert mailbox.messages == []


def test_taken_address_in_another_case_answers_like_a_free_one(test_client, create_user, mailbox):
    owner = create_user(email="ada@example.com")
    owner_hash = owner.password_hash

    free = register(test_client, email="grace@example.com")
    taken = register(test_client, email="ADA@Example.com")

    assert taken.status_code == free.status_code == 200
    assert text(taken) == text(free)
    assert sorted(user.email for user in users()) == ["ada@example.com", "grace@example.com"]
    owner = reload(owner)
    assert owner.password_hash == owner_hash
    assert owner.email == "ada@example.com"
    assert audit_types(owner) == ["auth.register_existing"]


def test_taken_address_mails_its_owner_and_no_verification_link(app, test_client, create_user, mailbox):
    create_user(email="ada@example.com")

    register(test_client, email="ADA@Example.com")

    [mail] = mailbox.to("ada@example.com")
    assert mail.subject == "Someone tried to register with your address"
    assert "already exists" in mail.text
    assert path_of(mail.link("/forgot-password"), app.config["ISSUER"]) == "/forgot-password"
    assert "/verify-email/" not in mail.text
    assert mailbox.to("ADA@Example.com") == []
    assert count(EmailToken) == 0


def test_registering_a_taken_address_does_not_change_its_password(test_client, create_user):
    create_user(email="ada@example.com", password=DEFAULT_PASSWORD)

    register(test_client, email="ada@example.com", password=GOOD_PASSWORD)

    assert post_form(test_client, "/login", {"email": "ada@example.com", "password": GOOD_PASSWORD}).status_code == 401
    assert post_form(test_client, "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}).status_code == 303
