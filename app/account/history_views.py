"""The security history page: the signed-in person's own audit events, 25 to a page."""

from __future__ import annotations

from flask import abort, render_template, request
from flask_login import current_user, login_required

from app.account import bp
from app.account.history import history_page
from app.web.numbers import bounded_int


def _page_number(raw: str | None) -> int:
    """?page=N as a positive number; anything else is a page that does not exist (404, never a 500)."""
    if raw is None:
        return 1
    number = bounded_int(raw, low=1, high=999_999)  # refuses "-1", "1.5", "²" and absurd lengths
    if number is None:
        abort(404)
    return number


@bp.get("/history")
@login_required
def history():
    page = history_page(current_user.user, _page_number(request.args.get("page")))
    if page is None:
        abort(404)
    return render_template("account/history.html", history=page)
