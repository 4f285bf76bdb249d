"""The OAuth 2.1 / OpenID Connect protocol endpoints and pages."""
