"""Values every template may use."""

from __future__ import annotations

from flask import Flask, current_app

from app.core.audit import describe_event
from app.core.providers import configured_providers
from app.web.branding import brand_globals, init_branding
from app.web.i18n import init_i18n


def _template_globals() -> dict[str, object]:
    config = current_app.config
    return {
        "service_name": config["SERVICE_NAME"],
        "registration_open": config["REGISTRATION_OPEN"],
        # The account navigation offers "Linked accounts" only where there is something to link.
        "social_sign_in_offered": bool(configured_providers()),
        **brand_globals(),
    }


def init_templating(app: Flask) -> None:
    init_branding(app)  # first: a wrong IDP_BRAND_* or IDP_DEFAULT_LANGUAGE setting stops start-up here
    init_i18n(app)
    app.context_processor(_template_globals)
    app.add_template_filter(describe_event, "event_label")
