"""The audit log page: filter every security event, page through them, download the filtered set."""

from __future__ import annotations

from flask import abort, render_template, request, stream_with_context
from flask_babel import gettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Email, IPAddress, Length, Optional, Regexp

from app.admin import audit_log as service
from app.admin import bp
from app.admin.dashboard_views import page_number
from app.admin.sorting import sort_context
from app.core.audit import describe_event
from app.core.text import lazy_gettext
from app.models.base import utcnow

_EMAIL = [Optional(), Length(max=254), Email(check_deliverability=False)]
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class AuditFilterForm(FlaskForm):
    """A GET form (bookmarkable, shareable between operators), so no CSRF: it only reads."""

    class Meta:
        csrf = False

    event_type = SelectField(lazy_gettext("Event"), validators=[Optional()], validate_choice=True)
    actor = StringField(lazy_gettext("Actor (email)"), validators=_EMAIL)
    subject = StringField(lazy_gettext("Subject (email)"), validators=_EMAIL)
    client = StringField(lazy_gettext("Client ID"), validators=[Optional(), Length(max=128), Regexp(r"^[\x21-\x7e]+$")])
    ip = StringField(lazy_gettext("IP address"), validators=[Optional(), IPAddress(ipv4=True, ipv6=True)])
    date_from = DateField(lazy_gettext("From"), validators=[Optional()])
    date_to = DateField(lazy_gettext("To"), validators=[Optional()])

    def __init__(self, *args, event_types: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.event_type.choices = [("", gettext("Any event"))] + [(t, f"{describe_event(t)} ({t})") for t in event_types]

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if self.date_from.data and self.date_to.data and self.date_from.data > self.date_to.data:
            self.date_to.errors.append(gettext("The end date is before the start date."))
            return False
        return True

    def to_filter(self) -> service.AuditFilter:
        return service.AuditFilter(
            event_type=self.event_type.data or None,
            actor_email=self.actor.data or None,
            subject_email=self.subject.data or None,
            client_id=self.client.data or None,
            ip_address=self.ip.data or None,
            date_from=self.date_from.data,
            date_to=self.date_to.data,
        )


def _filter_form() -> AuditFilterForm:
    """The filter in the query string; bad input is a 400 page (never a 500, never a silent "no filter")."""
    form = AuditFilterForm(request.args, event_types=service.known_event_types())
    if not form.validate():
        abort(400)
    return form


@bp.get("/audit")
def audit():
    form = _filter_form()
    sort = service.AUDIT_SORTS.parse(request.args.get("sort"))
    page = service.audit_page(form.to_filter(), page_number(request.args.get("page")), sort)
    if page is None:
        abort(404)
    # Only the filter's own fields ride along to the other pages: any other name (next=, label=) would
    # collide with the pager macro's arguments, a 500 that the property tests found.
    query = {key: value for key, value in request.args.items() if key in form._fields and value}
    context = sort_context(service.AUDIT_SORTS, sort)
    return render_template("admin/audit.html", form=form, page=page, query=query, **context)


@bp.get("/audit/export.<fmt>")
def audit_export(fmt: str) -> Response:
    """The whole filtered set as a download; a GET, as it only reads (and is guarded like every console page)."""
    if fmt not in EXPORT_TYPES:
        abort(404)
    rows = service.export_rows(_filter_form().to_filter())
    pieces = service.to_csv(rows) if fmt == "csv" else service.to_json(rows)
    # Streamed: the request's app context (and its database session) stays open until the last row is out.
    response = Response(stream_with_context(pieces), mimetype=None)
    response.headers["Content-Type"] = EXPORT_TYPES[fmt]
    response.headers["Content-Disposition"] = f'attachment; filename="{service.export_filename(fmt, utcnow())}"'
    response.headers["Cache-Control"] = "no-store"  # a copy of the audit trail must not sit in a cache
    return response
