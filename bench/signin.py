"""Password sign-in under load: each sign-in GETs the form and POSTs it, as a browser does.

Used by bench/run.py (scenario ``signin``). Each simulated person keeps their device cookie between
sign-ins (a returning browser, so no "new sign-in" email per request) but starts every sign-in without a
session, so each one verifies the password with argon2id and writes a session row.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie

import requests

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)" name="csrf_token"')
SESSION_COOKIES = ("idp_session", "idp_state")  # with or without the __Host- prefix


@dataclass
class SignInRun:
    sign_ins: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.sign_ins / self.seconds

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


class Browser:
    """A person's browser: its cookies carried by hand, since the server's are Secure (__Host-, an https issuer)
    and a client library would not send those over the benchmark's plain-http loopback connection."""

    def __init__(self) -> None:
        self.http = requests.Session()
        self.http.trust_env = False
        self.cookies: dict[str, str] = {}

    def send(self, method: str, url: str, **kwargs) -> requests.Response:
        self.http.cookies.clear()
        headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())}
        response = self.http.request(method, url, headers=headers, allow_redirects=False, timeout=10, **kwargs)
        for header in response.raw.headers.getlist("Set-Cookie"):
            parsed = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def forget_session(self) -> None:
        """Keep the device cookie (a returning browser), drop the sign-in session and the form state."""
        self.cookies = {name: value for name, value in self.cookies.items() if not name.endswith(SESSION_COOKIES)}


def sign_in_once(browser: Browser, url: str, email: str, password: str) -> bool:
    browser.forget_session()
    form = browser.send("GET", f"{url}/login")
    match = CSRF.search(form.text)
    if form.status_code != 200 or match is None:
        return False
    token = match.group(1) or match.group(2)
    answer = browser.send("POST", f"{url}/login", data={"csrf_token": token, "email": email, "password": password})
    return answer.status_code == 303 and "/login" not in answer.headers.get("Location", "/login")


def run(url: str, people: list[tuple[str, str]], concurrency: int, seconds: float) -> SignInRun:
    """`concurrency` people signing in again and again for `seconds`; each thread is one person."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def person(email: str, password: str) -> None:
        browser = Browser()
        while time.monotonic() < deadline:
            started = time.monotonic()
            ok = sign_in_once(browser, url, email, password)
            took = (time.monotonic() - started) * 1000
            with lock:
                if ok:
                    latencies.append(took)
                else:
                    errors[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=person, args=people[i % len(people)]) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return SignInRun(len(latencies), time.monotonic() - started, latencies, errors[0])
