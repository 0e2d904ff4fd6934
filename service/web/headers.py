"""Security headers on every response, and ``no-store`` on every page that is not a static file.

The Content-Security-Policy allows scripts and styles from our own origin only (no inline
script; inline ``style`` attributes only, for the fill bars), no framing, no plugins and forms
that post back here. HSTS is sent when the public URL is https. Everything but static files
may carry personal data (names, numbers, texts), so browsers and proxies must not keep it.
Imports Flask and ``service.config``.
"""

from __future__ import annotations

from flask import Flask, Response, request

from service.config import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000; includeSubDomains"
CACHEABLE_ENDPOINTS = frozenset({"static"})


def init_app(app: Flask, settings: Settings) -> None:
    https = (settings.public_base_url or "").lower().startswith("https://")

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            headers["Cache-Control"] = "no-store"
        return response
