"""The test suite: unit, integration (Flask test client) and e2e (Playwright in Chromium)."""
