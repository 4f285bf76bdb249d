"""Branding by configuration: logo, accent colour, name and footer links on every page and email; bad values stop start-up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import ConfigError
from app.web.branding import accent_colors, contrast
from tests.integration.auth.helpers import post_form
from tests.integration.web.helpers import add_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
LINKS = {
    "BRAND_PRIVACY_URL": "https://example.com/privacy",
    "BRAND_TERMS_URL": "https://example.com/terms",
    "BRAND_HELP_URL": "mailto:help@example.com",
}


def write(tmp_path: Path, name: str, body: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(body)
    return str(path)


@pytest.fixture
def branded(app_factory, tmp_path):
    app = app_factory(SERVICE_NAME="Acme Login", BRAND_LOGO=write(tmp_path, "logo.png", PNG), BRAND_COLOR="#7A1F5C", **LINKS)
    with app.app_context():
        yield app


def logo_path(html: str) -> str:
    match = re.search(r'<img class="brand-logo" src="([^"]+)" alt="Acme Login">', html)
    assert match, "no logo with the service name as alt text"
    return match.group(1).replace("&amp;", "&")


def test_pages_show_the_logo_name_colour_and_footer(branded):
    client = branded.test_client()
    html = client.get("/login").get_data(as_text=True)
    assert "<title>" in html and "Acme Login</title>" in html
    logo = client.get(logo_path(html))
    assert logo.status_code == 200 and logo.data == PNG
    assert logo.mimetype == "image/png"
    assert "max-age=31536000" in logo.headers["Cache-Control"]
    style_url = re.search(r'<link rel="stylesheet" href="(/brand/style.css[^"]*)">', html).group(1).replace("&amp;", "&")
    style = client.get(style_url)
    assert style.mimetype == "text/css" and "--accent: #7a1f5c" in style.get_data(as_text=True)
    assert "--accent-ink: #ffffff" in style.get_data(as_text=True)
    footer = html[html.index('<footer class="site-footer">') :]
    for url in LINKS.values():
        assert f'href="{url}"' in footer


def test_emails_carry_the_brand_in_html_and_the_links_in_text(branded, mailbox):
    add_user(branded, "ada@example.com")
    post_form(branded.test_client(), "/forgot-password", {"email": "ada@example.com"}, token_from="/forgot-password")
    mail = mailbox.wait_for("ada@example.com")
    issuer = branded.config["ISSUER"]
    assert re.search(rf'<img src="{re.escape(issuer)}/brand/logo\?v=[0-9a-f]+" alt="Acme Login"', mail.html)
    assert "#7a1f5c" in mail.html
    for url in LINKS.values():
        assert f'href="{url}"' in mail.html
    assert "Privacy: https://example.com/privacy" in mail.text
    assert "Help: mailto:help@example.com" in mail.text
    assert "— Acme Login" in mail.text


def test_without_branding_pages_show_the_name_and_no_footer_links(app):
    html = app.test_client().get("/login").get_data(as_text=True)
    assert '<a class="brand" href="/">Identity</a>' in html
    assert "brand-logo" not in html and "/brand/style.css" not in html
    footer = html[html.index('<footer class="site-footer">') :]
    assert '<nav aria-label="Identity">' not in footer  # only the language switch is left in it
    assert app.test_client().get("/brand/logo").status_code == 404


def test_an_svg_logo_is_served_as_an_image_only(app_factory, tmp_path):
    app = app_factory(BRAND_LOGO=write(tmp_path, "logo.svg", SVG))
    response = app.test_client().get("/brand/logo")
    assert response.mimetype == "image/svg+xml"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("BRAND_LOGO", "/nonexistent/logo.png", "can't read"),
        ("BRAND_LOGO", "GIF", "not a PNG, JPEG, WebP or SVG"),
        ("BRAND_LOGO", "HUGE", "at most"),
        ("BRAND_COLOR", "blue", "#rrggbb"),
        ("BRAND_COLOR", "#ffdd00", "too light"),
        ("BRAND_PRIVACY_URL", "http://example.com/privacy", "https://"),
        ("BRAND_TERMS_URL", "javascript:alert(1)", "https://"),
        ("BRAND_HELP_URL", "mailto:nobody", "mailto:"),
    ],
)
def test_bad_values_stop_start_up(app_factory, tmp_path, setting, value, says):
    files = {"GIF": b"GIF89a" + b"\x00" * 20, "HUGE": PNG + b"\x00" * (256 * 1024)}
    if value in files:
        value = write(tmp_path, "logo.bin", files[value])
    with pytest.raises(ConfigError, match=re.escape(says)):
        app_factory(**{setting: value})


@pytest.mark.parametrize("color", ["#000000", "#2456c7", "#7a1f5c", "#b42318", "#595959"])
def test_text_on_an_accepted_accent_meets_aa(color):
    accent, ink = accent_colors(color)
    assert contrast(accent, ink) >= 4.5
    assert contrast(accent, "#f5f7fa") >= 4.5
