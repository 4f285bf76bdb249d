"""Which language and time zone a page is shown in, the language switch, and times as people read them.

The language is, in order: the signed-in person's profile locale; the language they picked with the
switch on a page (a cookie); the relying party's OIDC ``ui_locales`` for the sign-in it started;
the browser's Accept-Language; ``IDP_DEFAULT_LANGUAGE``. A person's own choice beats an app's hint.
Times are shown in the profile's time zone, else UTC, with the zone always named.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import pytz
from babel.dates import format_date, get_datetime_format
from babel.dates import format_datetime as babel_datetime
from babel.dates import format_time as babel_time
from flask import Flask, current_app, g, has_request_context, request, session
from flask.wrappers import Response
from flask_babel import get_locale, get_timezone
from flask_login import current_user

from app.config import PROJECT_ROOT
from app.core.languages import LANGUAGES, default_language, first_offered, offered_language
from app.extensions import babel
from app.settings import ConfigError

LANGUAGE_COOKIE = "idp_lang"
LANGUAGE_PARAMETER = "lang"  # the switch's links: the same page with ?lang=de
UI_LOCALES_KEY = "ui_locales"  # session: the language an app asked for, for the rest of that sign-in
ONE_YEAR = 365 * 24 * 3600


def _profile_language() -> str | None:
    if current_user and current_user.is_authenticated:
        return offered_language(current_user.locale)
    return None


def _switched_language() -> str | None:
    """A choice made on this page (remembered in a cookie after the response), else one made earlier."""
    chosen = offered_language(request.args.get(LANGUAGE_PARAMETER))
    if chosen:
        g.language_chosen = chosen
        session.pop(UI_LOCALES_KEY, None)  # the person's own choice outranks the app's hint from now on
        return chosen
    return offered_language(request.cookies.get(LANGUAGE_COOKIE))


def _requested_ui_locales() -> str | None:
    """ui_locales on the authorization request itself, or inside the `next` of the sign-in page it sent us to."""
    if UI_LOCALES_KEY in request.args:
        return request.args.get(UI_LOCALES_KEY)
    next_url = request.args.get("next")
    if next_url:
        values = parse_qs(urlsplit(next_url[:4096]).query).get(UI_LOCALES_KEY)
        if values:
            return values[0]
    return None


def _app_language() -> str | None:
    """The relying party's ui_locales (OIDC Core 3.1.2.1), kept for the sign-in, MFA and consent pages that follow."""
    requested = _requested_ui_locales()
    if requested is not None:
        language = first_offered(requested)
        if language:
            session[UI_LOCALES_KEY] = language
        else:
            session.pop(UI_LOCALES_KEY, None)
        return language
    return offered_language(session.get(UI_LOCALES_KEY))


def select_language() -> str:
    if not has_request_context():  # a CLI command or a background job: the default, unless force_locale says
        return default_language()
    return (
        _profile_language()
        or _switched_language()
        or _app_language()
        or request.accept_languages.best_match(LANGUAGES)
        or default_language()
    )


def select_time_zone() -> str:
    if has_request_context() and current_user and current_user.is_authenticated and current_user.zoneinfo:
        return current_user.zoneinfo
    return "UTC"


def _remember_choice(response: Response) -> Response:
    chosen = g.get("language_chosen")
    if chosen:
        secure = current_app.config["ISSUER"].startswith("https://")
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=ONE_YEAR, secure=secure, httponly=True, samesite="Lax")
    return response


def format_time(value: datetime | None, zone_name: str | None = None) -> str:
    """Dec 7, 2026, 2:05 PM UTC / 7 déc. 2026, 15:05 UTC+1: the page's (or the given) zone, named, in the language's order."""
    if value is None:
        return ""
    locale, zone = get_locale(), _zone(zone_name) or get_timezone()
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value  # the database keeps naive UTC
    day = format_date(moment.astimezone(zone), "medium", locale=locale)
    hour = babel_time(moment, "short", tzinfo=zone, locale=locale)
    # No seconds: the locale's date-time pattern ("{1}, {0}") around a short time.
    joined = get_datetime_format("medium", locale=locale).replace("{1}", day).replace("{0}", hour)
    return f"{joined} {_zone_label(moment, zone, locale)}"


def _zone_label(moment: datetime, zone, locale) -> str:
    """The zone's abbreviation where the language has one (EST, MEZ), else its offset from UTC (UTC+9, UTC+5:30)."""
    offset = moment.astimezone(zone).utcoffset()
    if not offset:
        return "UTC"
    label = babel_datetime(moment, "z", tzinfo=zone, locale=locale)
    if label[:1] not in "+-":
        return label
    hours, minutes = label[1:3].lstrip("0") or "0", label[3:5]
    return f"UTC{label[0]}{hours}{'' if minutes == '00' else ':' + minutes}"


def _zone(name: str | None):
    try:
        return pytz.timezone(name) if name else None
    except pytz.UnknownTimeZoneError:
        return None


def language_links() -> list[dict[str, object]]:
    """The switch: this same page in each offered language, the current one marked."""
    current = str(get_locale() or default_language())
    arguments = [(key, value) for key, value in request.args.items(multi=True) if key != LANGUAGE_PARAMETER]
    return [
        {
            "code": code,
            "name": name,
            "current": code == current,
            "href": f"{request.path}?{urlencode([*arguments, (LANGUAGE_PARAMETER, code)])}",
        }
        for code, name in LANGUAGES.items()
    ]


def _language_globals() -> dict[str, object]:
    return {"current_language": str(get_locale() or default_language()), "language_links": language_links}


def init_i18n(app: Flask) -> None:
    if app.config["DEFAULT_LANGUAGE"] not in LANGUAGES:
        raise ConfigError(f"IDP_DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(PROJECT_ROOT / "translations")
    babel.init_app(app, locale_selector=select_language, timezone_selector=select_time_zone)
    # {% trans %} blocks collapse their whitespace, as `pybabel extract` does with babel.cfg's trimmed option.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.after_request(_remember_choice)
    app.context_processor(_language_globals)
    app.add_template_filter(format_time, "datetime")
