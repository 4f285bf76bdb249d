"""The guard for sensitive changes: a proof within FRESH_AUTH_SECONDS, else prove yourself again first."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import redirect, request, url_for
from flask_login import current_user

from app.core.factors import has_mfa
from app.core.sign_in import is_fresh
from app.web.next_url import remember_next


def fresh_auth_required(view: Callable | None = None, *, back_to: str | None = None) -> Callable:
    """A factor proven within FRESH_AUTH_SECONDS, else step up first (docs/security.md: ASVS 7.5.1).

    A person without any factor proves themselves with the password again instead. Afterwards
    they come back to `back_to` (an endpoint), or to this URL when it answers GET, or else to
    the security page. Use as `@fresh_auth_required` or `@fresh_auth_required(back_to=...)`.
    """
    if view is None:
        return lambda inner: fresh_auth_required(inner, back_to=back_to)

    @wraps(view)
    def guarded(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        user, user_session = current_user.user, current_user.session
        has_factor = has_mfa(user)
        if not is_fresh(user_session, need_mfa=has_factor):
            back = _way_back(back_to)
            if has_factor:
                remember_next(back)
                return redirect(url_for("mfa.challenge"))
            return redirect(url_for("auth.login", next=back, reauth="1"))
        return view(*args, **kwargs)

    return guarded


def _way_back(back_to: str | None) -> str:
    if back_to is not None:
        return url_for(back_to)
    if request.method == "GET":
        return request.full_path
    if request.url_rule is not None and "GET" in request.url_rule.methods:
        return request.path  # the form this POST came from
    return url_for("mfa.security")
