"""Every email about a person's account, each built from a .txt/.html template pair in templates/email/.

Links are the configured issuer plus the page's url_for path, never the request's Host header
(host-header poisoning). A notice goes out after the change it reports is committed.

Each mail is written in its recipient's language (`mail_language`): their profile's; else, when
the mail answers their own request (sign-up, forgotten password, email change), the language of
the page they are looking at; else IDP_DEFAULT_LANGUAGE. Subject, text and HTML are all rendered
inside `force_locale`, so an operator's page language never leaks into someone else's mail.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app, has_request_context, render_template, url_for
from flask_babel import force_locale, get_locale, gettext, lazy_gettext
from flask_babel.speaklater import LazyString
from flask_login import current_user

from app.core.email_tokens import EMAIL_CHANGE_TTL
from app.core.languages import default_language, offered_language
from app.core.live_sessions import Device
from app.core.mail import Mail, send_mail
from app.models import User
from app.web.branding import FOOTER_SETTINGS

# One whole sentence per (factor kind, action): the subject and the headline of the notice.
FACTOR_CHANGES = {
    ("totp", "added"): lazy_gettext("An authenticator app was added to your account"),
    ("totp", "removed"): lazy_gettext("An authenticator app was removed from your account"),
    ("totp", "regenerated"): lazy_gettext("An authenticator app was set up again for your account"),
    ("recovery", "added"): lazy_gettext("A new set of recovery codes was added to your account"),
    ("recovery", "removed"): lazy_gettext("Your recovery codes were removed from your account"),
    ("recovery", "regenerated"): lazy_gettext("A new set of recovery codes was created for your account"),
    ("webauthn", "added"): lazy_gettext("A security key was added to your account"),
    ("webauthn", "removed"): lazy_gettext("A security key was removed from your account"),
    ("webauthn", "regenerated"): lazy_gettext("A security key was registered again for your account"),
    ("passkey", "added"): lazy_gettext("A passkey was added to your account"),
    ("passkey", "removed"): lazy_gettext("A passkey was removed from your account"),
    ("passkey", "regenerated"): lazy_gettext("A passkey was registered again for your account"),
    ("sms", "added"): lazy_gettext("A phone number for text-message codes was added to your account"),
    ("sms", "removed"): lazy_gettext("A phone number for text-message codes was removed from your account"),
    ("sms", "regenerated"): lazy_gettext("A phone number for text-message codes was set up again for your account"),
}
# The brand's footer links (IDP_BRAND_*_URL), labelled in the mail's language.
FOOTER_LABELS = {
    "BRAND_PRIVACY_URL": lazy_gettext("Privacy"),
    "BRAND_TERMS_URL": lazy_gettext("Terms"),
    "BRAND_HELP_URL": lazy_gettext("Help"),
}


def external_url(endpoint: str, **values: object) -> str:
    """The page's address as a person's mail client must open it: the issuer, then the route's path."""
    return current_app.config["ISSUER"] + url_for(endpoint, **values)


def _acting_for_themselves(user: User | None) -> bool:
    """Nobody is signed in (sign-up, forgotten password), or the recipient is: not an operator acting on someone."""
    acting = getattr(current_user, "user", None)
    return acting is None or user is None or acting.id == user.id


def mail_language(user: User | None, *, from_page: bool = True) -> str:
    """The profile's language; else the page's, if this request is the recipient's own; else the default.

    `from_page=False`: the mail never follows the request's language (an operator's invitation).
    """
    profile = offered_language(getattr(user, "locale", None))
    if profile:
        return profile
    if from_page and has_request_context() and _acting_for_themselves(user):
        page = offered_language(str(get_locale() or ""))
        if page:
            return page
    return default_language()


def _greeting(name: str | None) -> str:
    return gettext("Hello %(name)s,", name=name) if name else gettext("Hello,")


def _footer_links() -> list[tuple[str, str]]:
    config = current_app.config
    return [(str(FOOTER_LABELS.get(name, label)), config[name]) for name, label in FOOTER_SETTINGS if config.get(name)]


def render_mail(template: str, *, to: str, subject: str, language: str | None = None, **context: object) -> Mail:
    """Render templates/email/<template>.txt and .html into one message, in `language` (default: `mail_language`)."""
    user = context.get("user")
    language = language or mail_language(user if isinstance(user, User) else None)
    with force_locale(language):
        # Lazy strings become text here, in the mail's language (and a LazyString would skip HTML escaping).
        context = {key: str(value) if isinstance(value, LazyString) else value for key, value in context.items()}
        context.setdefault("service_name", current_app.config["SERVICE_NAME"])
        name = getattr(user, "display_name", None) if user is not None else context.get("display_name")
        context.setdefault("greeting", _greeting(name))
        context.update(language=language, brand_links=_footer_links())
        return Mail(
            to=to,
            subject=str(subject),
            text=render_template(f"email/{template}.txt", **context),
            html=render_template(f"email/{template}.html", **context),
        )


def _send(template: str, *, to: str, subject: str, **context: object) -> None:
    send_mail(render_mail(template, to=to, subject=subject, **context))


def _send_change_notice(template: str, user: User, what: str, **links: str) -> None:
    """A way into the account changed: say what, where to look, and how to take the account back."""
    _send(template, to=user.email, subject=what, user=user, what=what, reset_link=external_url("auth.forgot_password"), **links)


def send_verification(user: User, token: str) -> None:
    link = external_url("auth.verify_email_page", token=token)
    _send("verify_email", to=user.email, subject=lazy_gettext("Confirm your email address"), user=user, link=link)


def send_account_exists(user: User) -> None:
    _send(
        "account_exists",
        to=user.email,
        subject=lazy_gettext("Someone tried to register with your address"),
        user=user,
        login_link=external_url("auth.login"),
        reset_link=external_url("auth.forgot_password"),
    )


def send_password_reset(user: User, token: str) -> None:
    link = external_url("auth.reset_password", token=token)
    _send("reset_password", to=user.email, subject=lazy_gettext("Choose a new password"), user=user, link=link)


def send_invitation(user: User, token: str) -> None:
    """An operator created the account: the reset link is how the person chooses a first password."""
    link = external_url("auth.reset_password", token=token)
    language = mail_language(user, from_page=False)  # never the operator's page language
    _send("invitation", to=user.email, subject=lazy_gettext("Your new account"), user=user, link=link, language=language)


def send_password_changed(user: User, *, this_device_kept: bool = False) -> None:
    """`this_device_kept`: changed from the account page, where the device that changed it stays signed in."""
    _send(
        "password_changed",
        to=user.email,
        subject=lazy_gettext("Your password was changed"),
        user=user,
        this_device_kept=this_device_kept,
        reset_link=external_url("auth.forgot_password"),
    )


def send_sign_in_method_notice(user: User, provider_name: str, action: str) -> None:
    """A notice for a linked or unlinked provider account: a new way into the account must not go unnoticed."""
    if action == "linked":
        what = lazy_gettext("A %(provider)s account was linked to your account", provider=provider_name)
    else:
        what = lazy_gettext("A %(provider)s account was unlinked from your account", provider=provider_name)
    _send_change_notice("sign_in_method_changed", user, what, linked_link=external_url("account.linked"))


def send_factor_notice(user: User, kind: str, action: str) -> None:
    """A second factor changed (docs/security.md: ASVS 6.3.7). kind: a factor kind; action: added, removed, regenerated."""
    _send_change_notice("factor_changed", user, FACTOR_CHANGES[kind, action], security_link=external_url("mfa.security"))


def send_new_sign_in(user: User, when: datetime, device: Device, network: str) -> None:
    """A sign-in from a browser and a network this person never used (app/core/devices.py decides).

    The time is shown in the person's zone (else UTC), named, in the mail's language (the `datetime` filter).
    """
    _send(
        "new_sign_in",
        to=user.email,
        subject=lazy_gettext("New sign-in to your account"),
        user=user,
        when=when,
        zone=user.zoneinfo or "UTC",
        browser=device.browser,
        system=device.system,
        network=network,
        sessions_link=external_url("account.sessions"),
        reset_link=external_url("auth.forgot_password"),
    )


def mask_email(email: str) -> str:
    """j…@example.com: enough for the owner to recognise an address, little for whoever else reads the old mailbox."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}…@{domain}"


def send_email_change_link(user: User, new_email: str, token: str) -> None:
    link = external_url("account.confirm_email_change_page", token=token)
    minutes = int(EMAIL_CHANGE_TTL.total_seconds() // 60)
    subject = lazy_gettext("Confirm your new email address")
    send_mail(render_mail("email_change_verify", to=new_email, subject=subject, user=user, link=link, minutes=minutes))


def send_email_change_notice(user: User, old_email: str, new_email: str, *, done: bool) -> None:
    """Tell the old address: a change was asked for (done=False), or it has happened (done=True)."""
    if done:
        subject = lazy_gettext("Your email address was changed")
    else:
        subject = lazy_gettext("A change of your email address was requested")
    send_mail(
        render_mail(
            "email_changed_notice",
            to=old_email,
            subject=subject,
            user=user,
            new_email=mask_email(new_email),
            done=done,
            reset_link=external_url("auth.forgot_password"),
        )
    )


def send_account_deleted(address: str, display_name: str, account_ref: str, *, locale: str | None = None) -> None:
    """A last notice to the address, after the commit: if the deletion was not theirs, they learn of it.

    The account is gone: `locale` is its profile's, if the caller kept it; else the page's (the person deleted it).
    """
    language = offered_language(locale) or mail_language(None)
    send_mail(
        render_mail(
            "account_deleted",
            to=address,
            subject=lazy_gettext("Your account was deleted"),
            language=language,
            display_name=display_name,
            email=address,
            account_ref=account_ref,
        )
    )
