"""The login ``next`` parameter: only same-origin relative paths (ASVS 3.7.2, no open redirect)."""

from __future__ import annotations

import pytest

from app.web.redirects import MAX_NEXT_LENGTH, safe_next


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/account/",
        "/oauth/authorize?client_id=abc&redirect_uri=https%3A%2F%2Frp.example%2Fcb&state=x",
        "/account/?tab=sessions#top",
        "/path/with/évidence",
        "/%2F%2Fevil.example",  # encoded slashes stay inside this site's path
        "/" + "a" * (MAX_NEXT_LENGTH - 1),
    ],
)
def test_local_paths_are_kept_unchanged(target):
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "http://evil.example",
        "HTTPS://evil.example",
        "//evil.example",  # scheme-relative: another host
        "///evil.example",
        "/\\evil.example",  # browsers read "\" as "/"
        "\\\\evil.example",
        "\\/evil.example",
        "/\t/evil.example",  # browsers drop tabs and newlines
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/\x00",
        " //evil.example",  # leading space is stripped by browsers
        "evil.example",
        "account",  # relative, resolves against the current path
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https:evil.example",
        "/" + "a" * MAX_NEXT_LENGTH,  # over the length cap
    ],
)
def test_anything_that_could_leave_the_site_is_refused(target):
    assert safe_next(target) is None
