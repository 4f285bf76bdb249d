"""Values every template may use."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app

from app.core.audit import describe_event
from app.core.providers import configured_providers
from app.web.branding import brand_globals, init_branding


def _template_globals() -> dict[str, object]:
    config = current_app.config
    return {
        "service_name": config["SERVICE_NAME"],
        "registration_open": config["REGISTRATION_OPEN"],
        # The account navigation offers "Linked accounts" only where there is something to link.
        "social_sign_in_offered": bool(configured_providers()),
        **brand_globals(),
    }


def _format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def init_templating(app: Flask) -> None:
    init_branding(app)  # first: a wrong IDP_BRAND_* setting stops start-up here
    app.context_processor(_template_globals)
    app.add_template_filter(_format_time, "datetime")
    app.add_template_filter(describe_event, "event_label")
