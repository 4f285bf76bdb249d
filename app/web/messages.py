"""Every message the sign-in pages show, keyed, so views and tests share one wording.

The texts are lazy: `message(key)` gives the text in the page's language (English in tests, which send
no Accept-Language).
"""

from app.core.text import lazy_gettext

MESSAGES = {
    "login_failed": lazy_gettext(
        "That email and password don't match an account that can sign in now. "
        "Check them and try again; after repeated failures, wait a few minutes."
    ),
    "login_success": lazy_gettext("You are signed in."),
    "logout": lazy_gettext("You are signed out."),
    "session_ended": lazy_gettext("Your session has ended. Please sign in again."),
    "register_success": lazy_gettext("Your account is ready. We sent a link to confirm your email address."),
    "register_exists": lazy_gettext("If that address can be registered, we have sent it a link. Check your inbox."),
    "verify_sent": lazy_gettext("We sent a new confirmation link to your email address."),
    "verify_success": lazy_gettext("Your email address is confirmed."),
    "verify_invalid": lazy_gettext("That confirmation link is invalid, used or expired. Request a new one below."),
    "reset_requested": lazy_gettext(
        "If an account uses that address, we have sent it a link to choose a new password. The link works once, for one hour."
    ),
    "reset_invalid": lazy_gettext("That reset link is invalid, used or expired. Request a new one."),
    "reset_success": lazy_gettext("Your password is changed and every other session has been signed out. Sign in with it now."),
    "email_unverified": lazy_gettext("Confirm your email address to connect apps to your account."),
    "registration_closed": lazy_gettext("New accounts are by invitation only here. If you have an account, sign in."),
    "rate_limited": lazy_gettext("Too many attempts. Wait a little and try again."),
}


def message(key: str) -> str:
    """The message as text in the current language."""
    return str(MESSAGES[key])
