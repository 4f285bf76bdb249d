"""The deployment's brand (IDP_BRAND_*): a logo the app serves itself, an accent colour, footer links.

Everything is checked when the app starts: an unreadable logo, a file of another type, a colour that
can't carry readable text or links, or a link that isn't https stops start-up with a ConfigError
instead of showing a broken page. The logo and the colour's stylesheet are served from fixed paths
with a content version in the query string, so browsers may keep them for a year.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, url_for

from app.core.text import lazy_gettext
from app.settings import ConfigError

MAX_LOGO_BYTES = 256 * 1024
LONG_CACHE = "public, max-age=31536000, immutable"
# An SVG is shown as an image only: opened on its own it may run no script and load nothing.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
# The light scheme's page background (static/app.css --bg): links in the accent colour sit on it.
PAGE_BACKGROUND = "#f5f7fa"
INKS = ("#ffffff", "#0b1220")  # white or near-black text on the accent, whichever reads better
AA_CONTRAST = 4.5
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
FOOTER_SETTINGS = (
    ("BRAND_PRIVACY_URL", lazy_gettext("Privacy")),
    ("BRAND_TERMS_URL", lazy_gettext("Terms")),
    ("BRAND_HELP_URL", lazy_gettext("Help")),
)


@dataclass(frozen=True)
class Logo:
    body: bytes
    mimetype: str
    version: str


@dataclass(frozen=True)
class Brand:
    logo: Logo | None = None
    color: str | None = None
    ink: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url); the label is lazy, in the page's language

    @property
    def style(self) -> str:
        # Light scheme only: the dark scheme keeps its own accent, which was chosen for dark backgrounds.
        return (
            "@media not (prefers-color-scheme: dark) {\n"
            f"  :root {{ --accent: {self.color}; --accent-ink: {self.ink}; --focus: {self.color}; }}\n}}\n"
        )


def logo_type(body: bytes) -> str | None:
    """The image type from the file's first bytes (never its name): PNG, JPEG, WebP or SVG."""
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    head = body[:1024].lstrip().lower()
    if (head.startswith(b"<?xml") or head.startswith(b"<svg")) and b"<svg" in head:
        return "image/svg+xml"
    return None


def load_logo(path: str) -> Logo:
    try:
        body = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"IDP_BRAND_LOGO: can't read {path!r} ({error.strerror})") from error
    if len(body) > MAX_LOGO_BYTES:
        raise ConfigError(f"IDP_BRAND_LOGO: {path!r} is {len(body)} bytes; a logo may be at most {MAX_LOGO_BYTES}")
    mimetype = logo_type(body)
    if mimetype is None:
        raise ConfigError(f"IDP_BRAND_LOGO: {path!r} is not a PNG, JPEG, WebP or SVG image")
    return Logo(body, mimetype, hashlib.sha256(body).hexdigest()[:16])


def _luminance(color: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def accent_colors(value: str) -> tuple[str, str]:
    """The accent and the text colour on it, or a ConfigError when either would fail WCAG AA (4.5:1)."""
    if not COLOR.fullmatch(value):
        raise ConfigError(f"IDP_BRAND_COLOR must be a colour written #rrggbb, not {value!r}")
    color = value.lower()
    ink = max(INKS, key=lambda candidate: contrast(color, candidate))
    on_page = contrast(color, PAGE_BACKGROUND)
    if on_page < AA_CONTRAST:
        raise ConfigError(
            f"IDP_BRAND_COLOR {color} is too light for links on the page ({on_page:.1f}:1 against {PAGE_BACKGROUND}; "
            f"WCAG AA needs {AA_CONTRAST}:1): choose a darker shade"
        )
    return color, ink


def footer_link(setting: str, value: str) -> str:
    """An https URL with a host (or, for help, a mailto: address), or a ConfigError saying what is wrong."""
    parts = urlsplit(value)
    https = parts.scheme == "https" and bool(parts.hostname)
    mailto = setting == "BRAND_HELP_URL" and parts.scheme == "mailto" and "@" in parts.path
    if not (https or mailto) or any(c.isspace() for c in value):
        allowed = "https:// or mailto:" if setting == "BRAND_HELP_URL" else "https://"
        raise ConfigError(f"IDP_{setting} must be an {allowed} address, not {value!r}")
    return value


def load_brand(config: dict) -> Brand:
    logo = load_logo(config["BRAND_LOGO"]) if config.get("BRAND_LOGO") else None
    color, ink = accent_colors(config["BRAND_COLOR"]) if config.get("BRAND_COLOR") else (None, None)
    links = [(label, footer_link(name, config[name])) for name, label in FOOTER_SETTINGS if config.get(name)]
    return Brand(logo, color, ink, links)


def _brand() -> Brand:
    return current_app.extensions["brand"]


def _serve_logo() -> Response:
    logo = _brand().logo
    if logo is None:
        return Response(status=404)
    response = Response(logo.body, mimetype=logo.mimetype)
    response.headers["Cache-Control"] = LONG_CACHE
    if logo.mimetype == "image/svg+xml":
        response.headers["Content-Security-Policy"] = SVG_POLICY
    return response


def _serve_style() -> Response:
    brand = _brand()
    response = Response(brand.style if brand.color else "", mimetype="text/css")
    response.headers["Cache-Control"] = LONG_CACHE
    return response


def brand_globals() -> dict[str, object]:
    """What pages and emails show: logo addresses (path and absolute), colours, the footer links."""
    brand = _brand()
    logo_path = url_for("brand_logo", v=brand.logo.version) if brand.logo else None
    return {
        "brand_logo_url": logo_path,
        "brand_logo_absolute_url": current_app.config["ISSUER"] + logo_path if logo_path else None,
        "brand_style_url": url_for("brand_style", v=hashlib.sha256(brand.style.encode()).hexdigest()[:16])
        if brand.color
        else None,
        "brand_color": brand.color,
        "brand_ink": brand.ink,
        "brand_links": brand.links,
    }


def init_branding(app: Flask) -> None:
    app.extensions["brand"] = load_brand(app.config)
    app.add_url_rule("/brand/logo", "brand_logo", _serve_logo)
    app.add_url_rule("/brand/style.css", "brand_style", _serve_style)
