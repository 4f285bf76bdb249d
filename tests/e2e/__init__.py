"""Browser journeys in headless Chromium against a live gunicorn."""
