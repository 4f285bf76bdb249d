"""Integration tests through the Flask test client, one folder per blueprint plus web."""
