"""Cookie flags, HSTS and caching headers, and the per-address limit on failed API
authentications (issue 11, "Hardening")."""

from __future__ import annotations

import os

import pytest
from conftest import NOW, PASSWORD
from flask import g

from tracker import create_app
from tracker.auth import tokens
from tracker.clock import Clock
from tracker.enums import Role
from tracker.extensions import db
from tracker.org import services as org_services

STRONG = "violet-harbour-73"


def cookie_attributes(response) -> dict[str, set[str]]:
    """Set-Cookie headers by cookie name: the set of lower-cased attributes (secure, httponly, …)."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        name = header.split("=", 1)[0]
        found[name] = {a.strip().lower() for a in header.split(";")[1:]}
    return found


def remember_login(client, **kw):
    data = {"username": "staff_a", "password": PASSWORD, "remember": "y"}
    response = client.post("/login", data=data, **kw)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


@pytest.fixture
def own_app(tmp_path):
    """An app of its own (SQLite) for settings the shared test app does not have; an admin `boss`."""
    made = []

    def make(**config):
        os.environ["TRACKER_INSTANCE_PATH"] = str(tmp_path / "instance")
        try:
            app = create_app({"TESTING": True, "SECRET_KEY": "t", "WTF_CSRF_ENABLED": False, "NOW": NOW,
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'own.sqlite3'}",
                              "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", **config})
        finally:
            del os.environ["TRACKER_INSTANCE_PATH"]
        @app.before_request
        def fresh_request_globals():  # one app context stays open across requests, as in conftest
            for name in ("_login_user", "login_session_id", "login_seen_due"):
                g.pop(name, None)

        ctx = app.app_context()
        ctx.push()
        made.append(ctx)
        db.create_all()
        boss = org_services.save_user(None, Clock.parse(NOW), username="boss", name="局长", role=Role.ADMIN,
                                      unit=None, password=STRONG)
        _, raw = tokens.create_token(boss, Clock.parse(NOW), name="script")
        db.session.commit()
        app.boss_token = raw
        return app

    yield make
    for ctx in reversed(made):
        db.session.remove()
        db.engine.dispose()
        ctx.pop()


# --- cookies and HSTS -----------------------------------------------------------------------------


def test_session_and_remember_cookies_are_http_only_and_same_site_lax(client, org):
    cookies = cookie_attributes(remember_login(client))
    for name in ("session", "remember_token"):
        assert {"httponly", "samesite=lax"} <= cookies[name], cookies
        assert "secure" not in cookies[name]  # plain http: a Secure cookie would never come back
    assert "Strict-Transport-Security" not in client.get("/profile").headers


def test_over_tls_cookies_are_secure_and_hsts_is_sent(client, org):
    response = remember_login(client, base_url="https://localhost")
    cookies = cookie_attributes(response)
    for name in ("session", "remember_token"):
        assert {"secure", "httponly", "samesite=lax"} <= cookies[name], cookies
    page = client.get("/profile", base_url="https://localhost")
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(page.headers["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 180 * 86400
    logout = client.post("/logout", base_url="https://localhost")
    assert all("secure" in attrs for attrs in cookie_attributes(logout).values())


def test_behind_a_trusted_proxy_forwarded_https_counts_as_tls(own_app):
    app = own_app(PROXY_FIX_X_FOR=1)
    client = app.test_client()
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.9"}
    response = client.post("/login", data={"username": "boss", "password": STRONG, "remember": "y"},
                           headers=https)
    assert response.status_code == 302
    cookies = cookie_attributes(response)
    assert "secure" in cookies["session"] and "secure" in cookies["remember_token"]
    assert "Strict-Transport-Security" in client.get("/profile", headers=https).headers


def test_without_proxy_fix_a_forwarded_proto_header_is_not_trusted(client, org):
    response = remember_login(client, headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in cookie_attributes(response)["session"]
    page = client.get("/profile", headers={"X-Forwarded-Proto": "https"})
    assert page.status_code == 200 and "Strict-Transport-Security" not in page.headers


# --- caching ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/tasks", "/problems", "/responsibilities", "/dashboard", "/profile",
                                  "/notifications", "/admin/users", "/tasks.csv", "/ledger/export.xlsx",
                                  "/reports/rectification"])
def test_every_authenticated_page_says_no_store(org, login_as, path):
    response = login_as(org.admin).get(path)
    response.get_data()  # streamed answers run to their end inside the request
    assert response.status_code == 200, path
    assert response.headers["Cache-Control"] == "no-store"


def test_every_api_answer_says_no_store_but_static_files_stay_cacheable(org, client, clock):
    _, raw = tokens.create_token(org.mgr_a, clock, name="t")
    db.session.commit()
    bearer = {"Authorization": f"Bearer {raw}"}
    for response in (client.get("/api/v1/units", headers=bearer),
                     client.get("/api/v1/tasks/999999", headers=bearer),
                     client.get("/api/v1/units"),
                     client.get("/api/v1/openapi.json"),
                     client.post("/api/v1/units", json={}, headers=bearer)):
        assert response.headers["Cache-Control"] == "no-store", response.status_code
    static = client.get("/static/app.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")


# --- failed API authentications per address -------------------------------------------------------


def _wrong(client, n, **kw):
    return client.get("/api/v1/units", headers={"Authorization": f"Bearer rt_not-a-token-{n}"}, **kw)


def test_failed_api_authentications_from_one_address_answer_429_past_the_limit(own_app):
    app = own_app(RATELIMIT_ENABLED=True, API_AUTH_FAIL_LIMIT="5/minute")
    client = app.test_client()
    assert [_wrong(client, n).status_code for n in range(5)] == [401] * 5
    refused = _wrong(client, 5)
    assert refused.status_code == 429 and refused.mimetype == "application/json"
    assert refused.get_json()["error"] == "too_many_requests" and int(refused.headers["Retry-After"]) > 0
    assert client.get("/api/v1/units").status_code == 429  # no token at all is a failure too
    good = {"Authorization": f"Bearer {app.boss_token}"}
    assert [client.get("/api/v1/units", headers=good).status_code for _ in range(3)] == [200] * 3
    other_address = {"REMOTE_ADDR": "127.0.0.2"}
    assert _wrong(client, 6, environ_base=other_address).status_code == 401


def test_the_default_limit_stops_a_burst_of_wrong_tokens(own_app):
    app = own_app(RATELIMIT_ENABLED=True)
    assert app.config["API_AUTH_FAIL_LIMIT"] == "20/minute"
    client = app.test_client()
    statuses = [_wrong(client, n).status_code for n in range(25)]
    assert statuses == [401] * 20 + [429] * 5


def test_an_unreachable_limit_store_falls_back_to_counting_in_the_process_never_a_500(own_app):
    """RATELIMIT_STORAGE_URI's Redis is down: logins and the API keep answering, limited per process
    until the store is back (Flask-Limiter's in-memory fallback), rather than failing every request."""
    app = own_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0",
                  LOGIN_RATE_LIMIT="3/minute", API_AUTH_FAIL_LIMIT="3/minute")
    client = app.test_client()
    good = {"Authorization": f"Bearer {app.boss_token}"}
    assert client.get("/api/v1/units", headers=good).status_code == 200
    assert [_wrong(client, n).status_code for n in range(4)] == [401] * 3 + [429]
    logins = [client.post("/login", data={"username": "boss", "password": "wrong"}).status_code
              for _ in range(4)]
    assert 500 not in logins and logins[-1] == 429
