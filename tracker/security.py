"""What every answer carries for safety: browser policy headers, Strict-Transport-Security and
Secure cookies over TLS, and no caching of anything but static files.

TLS is `request.is_secure`: the request's own scheme, or X-Forwarded-Proto from a proxy trusted
through PROXY_FIX_X_FOR (tracker.web applies werkzeug's ProxyFix then, and only then).
"""

from __future__ import annotations

from flask import current_app, request
from flask.sessions import SecureCookieSessionInterface

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "object-src 'none'; frame-ancestors 'none'")


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session; over TLS every cookie the answer sets is marked Secure.

    Done here because saving the session is the last step of every answer: the session cookie and
    Flask-Login's remember cookie (set by an after_request hook) both exist by then, and a fixed
    SESSION_COOKIE_SECURE would break plain-http set-ups such as `make run`.
    """

    def save_session(self, app, session, response) -> None:
        super().save_session(app, session, response)
        if request.is_secure:
            _mark_cookies_secure(response)


def _mark_cookies_secure(response) -> None:
    cookies = response.headers.getlist("Set-Cookie")
    if not cookies:
        return
    response.headers.remove("Set-Cookie")
    for cookie in cookies:
        if "secure" not in {part.strip().lower() for part in cookie.split(";")[1:]}:
            cookie += "; Secure"
        response.headers.add("Set-Cookie", cookie)


def add_headers(response):
    """after_request: policy headers on every answer; HSTS over TLS; no-store unless static."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    hsts = current_app.config.get("HSTS_SECONDS", 0)
    if hsts and request.is_secure:
        headers.setdefault("Strict-Transport-Security", f"max-age={int(hsts)}")
    if request.endpoint != "static":
        # Pages, downloads and API answers hold one person's view of the data: no browser or proxy
        # cache may keep them (send_file's "no-cache" still lets a shared computer store them).
        headers["Cache-Control"] = "no-store"
    return response
