"""Every message the sign-in pages show, keyed, so views and tests share one wording."""

MESSAGES = {
    "login_failed": "That email and password don't match an account that can sign in now. "
    "Check them and try again; after repeated failures, wait a few minutes.",
    "login_success": "You are signed in.",
    "logout": "You are signed out.",
    "session_ended": "Your session has ended. Please sign in again.",
    "register_success": "Your account is ready. We sent a link to confirm your email address.",
    "register_exists": "If that address can be registered, we have sent it a link. Check your inbox.",
    "verify_sent": "We sent a new confirmation link to your email address.",
    "verify_success": "Your email address is confirmed.",
    "verify_invalid": "That confirmation link is invalid, used or expired. Request a new one below.",
    "reset_requested": "If an account uses that address, we have sent it a link to choose a new password. "
    "The link works once, for one hour.",
    "reset_invalid": "That reset link is invalid, used or expired. Request a new one.",
    "reset_success": "Your password is changed and every other session has been signed out. Sign in with it now.",
    "email_unverified": "Confirm your email address to connect apps to your account.",
    "registration_closed": "New accounts are by invitation only here. If you have an account, sign in.",
    "rate_limited": "Too many attempts. Wait a little and try again.",
}


def message(key: str) -> str:
    return MESSAGES[key]
