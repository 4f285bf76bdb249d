"""Routes for sign-up, sign-in, sign-out, email verification and password reset."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from app.auth import bp
from app.auth.forms import ForgotPasswordForm, LoginForm, RegisterForm, ResetPasswordForm
from app.core import accounts as service
from app.core import email_tokens
from app.core.providers import configured_providers
from app.core.sessions import revoke_session
from app.core.sign_in import skip_challenge_in_trusted_browser
from app.core.trusted_browsers import is_trusted
from app.extensions import db, limiter
from app.models import EmailTokenPurpose, SignInStage
from app.net import client_ip
from app.web.browser_session import attach_to_browser, detach_from_browser, pending_session
from app.web.forms import ConfirmForm
from app.web.limits import configured
from app.web.messages import message
from app.web.next_url import landing, remember_next
from app.web.notices import send_account_exists, send_password_changed, send_password_reset, send_verification
from app.web.signed_in import after_sign_in, trusted_browser_cookie
from app.web.views import request_origin, see_other


def _account_key() -> str:
    """Rate-limit key for the account named in the form, so one account cannot be hammered from many IPs."""
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


def _failed_login(_response) -> bool:
    return bool(g.get("login_failed"))


def _mail_sent(response) -> bool:
    """Only a registration that sent mail counts against the address; a refused password or typo does not."""
    return response.status_code == 200


def _resend_key() -> str:
    return f"resend:{current_user.id}" if current_user.is_authenticated else f"resend-anonymous:{client_ip()}"


@bp.get("/")
def home():
    return redirect(url_for("account.overview" if current_user.is_authenticated else "auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(configured("LIMIT_LOGIN_IP"), methods=["POST"])
@limiter.limit(configured("LIMIT_LOGIN_ACCOUNT"), key_func=_account_key, methods=["POST"], deduct_when=_failed_login)
def login():
    form = LoginForm(next=request.args.get("next"), email=request.args.get("login_hint", "")[:254] or None)
    # reauth=1: an app asked for a fresh sign-in (prompt=login, max_age), so show the form anyway.
    if request.method == "GET" and current_user.is_authenticated and not request.args.get("reauth"):
        return redirect(landing(form.next.data))
    pending = pending_session()
    if request.method == "GET" and pending is not None and not request.args.get("reauth"):
        remember_next(form.next.data)
        return redirect(_pending_page(pending))
    if not form.validate_on_submit():
        return _login_page(form, 400 if request.method == "POST" else 200)
    sign_in = service.authenticate(
        form.email.data, form.password.data, origin=request_origin(), keep_signed_in=form.keep_signed_in.data
    )
    if sign_in is None:
        db.session.commit()  # the failure counter and audit event are kept
        g.login_failed = True
        form.password.data = ""
        return _login_page(form, 401, error=message("login_failed"))
    if sign_in.user_session.pending == SignInStage.MFA and is_trusted(sign_in.user, trusted_browser_cookie()):
        skip_challenge_in_trusted_browser(sign_in.user_session, origin=request_origin())
    return finish_sign_in(sign_in, form.next.data)


def _login_page(form: LoginForm, status: int, **context):
    page = render_template(
        "auth/login.html",
        form=form,
        social_providers=list(configured_providers().values()),
        reauth=bool(request.args.get("reauth")),
        **context,
    )
    return page, status


def finish_sign_in(sign_in: service.SignIn, next_url: str | None):
    """A proven sign-in (password or provider) replaces whatever session this browser held, then goes on:
    to the second factor when one is owed, else to where the person was going."""
    for held in (current_user.session, pending_session()):
        if held is not None:
            revoke_session(held, reason="replaced")  # ASVS 7.2.4: the session this browser held ends with its cookie
    db.session.commit()
    attach_to_browser(sign_in.user, sign_in.user_session, sign_in.cookie_value)
    if sign_in.user_session.pending is not None:
        remember_next(next_url)
        return see_other(_pending_page(sign_in.user_session))
    after_sign_in(sign_in.user_session)  # after attach_to_browser, which clears the flashed messages
    db.session.commit()
    return see_other(landing(next_url))


def _pending_page(user_session) -> str:
    """The challenge for a person with a factor; the security page for one who must enrol first."""
    return url_for("mfa.challenge" if user_session.pending == SignInStage.MFA else "mfa.security")


@bp.post("/logout")
def logout():
    held = current_user.session if current_user.is_authenticated else pending_session()
    if ConfirmForm().validate_on_submit() and held is not None:
        service.sign_out(held, origin=request_origin())
        db.session.commit()
    detach_from_browser()
    flash(message("logout"), "info")
    return see_other(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(configured("LIMIT_REGISTER_IP"), methods=["POST"])
@limiter.limit(configured("LIMIT_REGISTER_ACCOUNT"), key_func=_account_key, methods=["POST"], deduct_when=_mail_sent)
def register():
    if not current_app.config["REGISTRATION_OPEN"]:
        page = render_template(
            "auth/check_email.html", heading=gettext("Registration is closed"), text=message("registration_closed")
        )
        return page, 403
    form = RegisterForm()
    if not form.validate_on_submit():
        return render_template("auth/register.html", form=form), 400 if request.method == "POST" else 200
    try:
        user, created = service.register_user(
            form.email.data, form.password.data, origin=request_origin(), display_name=form.display_name.data or ""
        )
    except service.PasswordRejected as rejected:
        form.password.errors = list(rejected.problems)
        return render_template("auth/register.html", form=form), 400
    if not created:
        db.session.commit()
        send_account_exists(user)
    else:
        token = email_tokens.issue_email_token(user, EmailTokenPurpose.VERIFY)
        db.session.commit()
        send_verification(user, token)
    # The same page whether or not the address was free: registration reveals no accounts.
    return render_template("auth/check_email.html", heading=gettext("Check your email"), text=message("register_success"))


@bp.get("/verify-email/<token>")
def verify_email_page(token: str):
    row = email_tokens.find_email_token(token, EmailTokenPurpose.VERIFY)
    if row is None:
        return render_template("auth/link_invalid.html", text=message("verify_invalid"), retry="verify"), 400
    # A button, not a GET side effect: mail scanners that prefetch links must not confirm addresses.
    return render_template("auth/verify_email.html", form=ConfirmForm(), token=token, email=row.email)


@bp.post("/verify-email/<token>")
def verify_email(token: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if service.verify_email(token, origin=request_origin()) is None:
        return render_template("auth/link_invalid.html", text=message("verify_invalid"), retry="verify"), 400
    db.session.commit()
    flash(message("verify_success"), "success")
    return see_other(url_for("account.overview" if current_user.is_authenticated else "auth.login"))


@bp.post("/verify-email/resend")
@limiter.limit("3 per hour", key_func=_resend_key)
def resend_verification():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not current_user.is_authenticated:
        # Not login_required: its next= would send the person back to this POST-only URL by GET.
        return see_other(url_for("auth.login"))
    user = current_user.user
    if not user.is_email_verified:
        token = email_tokens.issue_email_token(user, EmailTokenPurpose.VERIFY)
        db.session.commit()
        send_verification(user, token)
    flash(message("verify_sent"), "info")
    return see_other(url_for("account.overview"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(configured("LIMIT_RESET_IP"), methods=["POST"])
@limiter.limit(configured("LIMIT_RESET_ACCOUNT"), key_func=_account_key, methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot_password.html", form=form), 400 if request.method == "POST" else 200
    issued = service.request_password_reset(form.email.data, origin=request_origin())
    db.session.commit()
    if issued is not None:
        send_password_reset(*issued)
    return render_template("auth/check_email.html", heading=gettext("Check your email"), text=message("reset_requested"))


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    if email_tokens.find_email_token(token, EmailTokenPurpose.RESET) is None:
        return render_template("auth/link_invalid.html", text=message("reset_invalid"), retry="reset"), 400
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/reset_password.html", form=form, token=token), 400 if request.method == "POST" else 200
    try:
        user = service.reset_password(token, form.password.data, origin=request_origin())
    except service.PasswordRejected as rejected:
        form.password.errors = list(rejected.problems)
        return render_template("auth/reset_password.html", form=form, token=token), 400
    if user is None:
        return render_template("auth/link_invalid.html", text=message("reset_invalid"), retry="reset"), 400
    db.session.commit()
    send_password_changed(user)
    detach_from_browser()  # the reset ended every session, this browser's too; it never signs in
    flash(message("reset_success"), "success")
    return see_other(url_for("auth.login"))
