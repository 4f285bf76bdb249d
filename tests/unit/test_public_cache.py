"""The in-process cache in front of Flask for public metadata: what it keeps, reuses and refuses."""

from __future__ import annotations

import pytest
from flask import Flask, make_response, request
from werkzeug.http import generate_etag
from werkzeug.test import Client

from app.web.public_cache import PublicResponseCache


@pytest.fixture
def served():
    """A Flask app whose views count their calls, behind the cache; `served.calls[path]`."""
    app = Flask(__name__)
    calls: dict[str, int] = {}

    def counted(path: str) -> None:
        calls[path] = calls.get(path, 0) + 1

    @app.route("/public", methods=["GET", "POST"])
    def public():
        counted("/public")
        response = make_response(f"body {calls['/public']}")
        response.headers["Cache-Control"] = "public, max-age=60"
        response.headers["X-Request-ID"] = f"req-{calls['/public']}"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.add_etag()
        return response.make_conditional(request)

    @app.get("/stable")
    def stable():
        counted("/stable")
        response = make_response("same every time")
        response.headers["Cache-Control"] = "public, max-age=60"
        response.add_etag()
        return response.make_conditional(request)

    @app.get("/private")
    def private():
        counted("/private")
        response = make_response("secret")
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/cookie")
    def cookie():
        counted("/cookie")
        response = make_response("with cookie")
        response.headers["Cache-Control"] = "public, max-age=60"
        response.set_cookie("x", "y")
        return response

    @app.get("/varies")
    def varies():
        counted("/varies")
        response = make_response("depends")
        response.headers["Cache-Control"] = "public, max-age=60"
        response.headers["Vary"] = "Cookie"
        return response

    @app.get("/failing")
    def failing():
        counted("/failing")
        return "down", 503, {"Cache-Control": "public, max-age=60"}

    @app.get("/uncached")
    def uncached():
        counted("/uncached")
        return "public but not registered", 200, {"Cache-Control": "public"}

    lifetimes = dict.fromkeys(["/public", "/stable", "/private", "/cookie", "/varies", "/failing"], 60.0)
    cache = PublicResponseCache(app.wsgi_app, lifetimes)
    app.wsgi_app = cache
    served = Client(app)
    served.calls, served.cache = calls, cache
    return served


def test_a_public_response_is_built_once_and_then_answered_from_memory(served):
    first = served.get("/public")
    second = served.get("/public")

    assert served.calls["/public"] == 1
    assert first.status_code == second.status_code == 200
    assert second.data == first.data == b"body 1"
    assert second.headers["X-Content-Type-Options"] == "nosniff"  # the view's headers come along
    assert second.headers["Cache-Control"] == "public, max-age=60"
    assert second.headers["ETag"] == first.headers["ETag"]


def test_the_fill_request_id_is_not_repeated_to_later_callers(served):
    assert served.get("/public").headers["X-Request-ID"] == "req-1"

    assert "X-Request-ID" not in served.get("/public").headers


def test_head_gets_the_headers_without_a_body(served):
    served.get("/public")

    response = served.head("/public")

    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Length"] == str(len(b"body 1"))
    assert served.calls["/public"] == 1


def test_a_matching_if_none_match_gets_304_from_memory(served):
    etag = served.get("/public").headers["ETag"]

    response = served.get("/public", headers={"If-None-Match": f'"other", {etag}'})

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag
    assert served.calls["/public"] == 1


def test_a_stale_if_none_match_gets_the_full_body(served):
    served.get("/public")

    response = served.get("/public", headers={"If-None-Match": '"not-it"'})

    assert response.status_code == 200
    assert response.data == b"body 1"


def test_an_expired_entry_is_rebuilt(served, monkeypatch):
    served.get("/public")
    import app.web.public_cache as module

    later = module.time.monotonic() + 61
    monkeypatch.setattr(module.time, "monotonic", lambda: later)

    assert served.get("/public").data == b"body 2"
    assert served.calls["/public"] == 2


def test_clear_forgets_every_entry(served):
    served.get("/public")

    served.cache.clear()

    assert served.get("/public").data == b"body 2"


def test_other_methods_always_reach_the_app(served):
    served.get("/public")

    served.post("/public")

    assert served.calls["/public"] == 2


@pytest.mark.parametrize("path", ["/private", "/cookie", "/varies", "/failing", "/uncached"])
def test_responses_that_are_not_the_same_for_everyone_are_never_reused(served, path):
    first = served.get(path)
    second = served.get(path)

    assert served.calls[path] == 2
    assert second.status_code == first.status_code


def test_a_conditional_fill_that_answers_304_stores_nothing(served):
    etag = f'"{generate_etag(b"same every time")}"'

    assert served.get("/stable", headers={"If-None-Match": etag}).status_code == 304
    assert served.get("/stable").data == b"same every time"
    assert served.calls["/stable"] == 2  # built again: the 304 had no body to keep
