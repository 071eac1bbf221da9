"""Logins that can be ended: logout, a new password, an admin's reset or deactivation end the
session and remember cookies wherever they were copied to (issue 11, "Hardening")."""

from __future__ import annotations

import http.client
import re
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
from conftest import PASSWORD
from flask_login.utils import encode_cookie

from tracker.auth.models import LoginSession
from tracker.clock import utcnow
from tracker.extensions import db
from tracker.org.models import User

NEW_PASSWORD = "violet-harbour-73"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/126.0.0.0 Safari/537.36")


def browser(app, user_agent: str | None = None):
    client = app.test_client()
    if user_agent:
        client.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def log_in(app, user, remember=False, user_agent=None):
    """A new browser (test client) logged in as `user` through the login form."""
    client = browser(app, user_agent)
    data = {"username": user.username, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def saved_cookies(client) -> dict[str, str]:
    """The cookies a thief (or a backup of the browser profile) would copy."""
    found = {}
    for name in ("session", "remember_token"):
        cookie = client.get_cookie(name)
        if cookie is not None:
            found[name] = cookie.value
    return found


def opens_profile(app, user_agent=None, **cookies) -> bool:
    """Replay the given cookies alone in a fresh browser: does /profile open?"""
    client = browser(app, user_agent)
    for name, value in cookies.items():
        client.set_cookie(name, value)
    response = client.get("/profile")
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def assert_ended(app, saved: dict[str, str], user_agent=None) -> None:
    """Neither saved cookie opens a page any more, replayed from the browser they came from."""
    assert not opens_profile(app, user_agent, session=saved["session"]), "the session cookie still works"
    assert not opens_profile(app, user_agent, remember_token=saved["remember_token"]), "the remember cookie"


def assert_working(app, saved: dict[str, str], user_agent=None) -> None:
    assert opens_profile(app, user_agent, session=saved["session"])
    assert opens_profile(app, user_agent, remember_token=saved["remember_token"])


def logins_of(user) -> list[LoginSession]:
    db.session.expire_all()
    return db.session.scalars(sa.select(LoginSession).where(LoginSession.user_id == user.id)
                              .order_by(LoginSession.id)).all()


# --- logout, password change, admin reset, deactivation ---------------------------------------


def test_logout_ends_the_session_and_its_remember_cookie(app, org):
    client = log_in(app, org.staff_a, remember=True)
    saved = saved_cookies(client)
    assert_working(app, saved)  # before logout both cookies open pages on their own

    assert client.post("/logout").status_code == 302
    assert client.get("/profile").status_code == 302
    assert_ended(app, saved)
    assert logins_of(org.staff_a) == []


def test_a_password_change_ends_the_other_browsers_but_not_this_one(app, org):
    mine = log_in(app, org.staff_a, remember=True, user_agent=FIREFOX)
    other = log_in(app, org.staff_a, remember=True, user_agent=CHROME)
    mine_saved, other_saved = saved_cookies(mine), saved_cookies(other)
    assert_working(app, other_saved, CHROME)

    response = mine.post("/profile", data={"which": "password", "pw-current": PASSWORD,
                                           "pw-new": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert mine.get("/profile").status_code == 200  # the browser that changed it stays logged in
    other_page = other.get("/profile")
    assert other_page.status_code == 302 and "/login" in other_page.headers["Location"]
    assert other.get_cookie("remember_token") is None  # the dead cookie is deleted, not kept
    with other.session_transaction() as session:
        assert "_user_id" not in session
    assert_ended(app, other_saved, CHROME)
    assert_working(app, mine_saved, FIREFOX)
    assert len(logins_of(org.staff_a)) == 1


def test_an_admin_password_reset_ends_every_login_of_that_user(app, org):
    victim = log_in(app, org.staff_a, remember=True)
    saved = saved_cookies(victim)
    admin = log_in(app, org.admin)
    form = {"username": "staff_a", "name": "张三", "role": "staff", "unit": str(org.a.id),
            "language": "zh_CN", "active": "y"}

    # an edit that leaves the password alone ends nothing
    assert admin.post(f"/admin/users/{org.staff_a.id}/edit", data=form).status_code == 302
    assert_working(app, saved)

    response = admin.post(f"/admin/users/{org.staff_a.id}/edit", data={**form, "password": NEW_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert_ended(app, saved)
    assert victim.get("/profile").status_code == 302
    assert admin.get("/admin/users").status_code == 200  # the admin's own login is untouched


def test_deactivation_ends_every_login_and_reactivation_does_not_revive_them(app, org):
    victim = log_in(app, org.staff_a, remember=True)
    saved = saved_cookies(victim)
    admin = log_in(app, org.admin)
    url = f"/admin/users/{org.staff_a.id}/active"

    assert admin.post(url, data={"active": "0"}).status_code == 302
    assert_ended(app, saved)
    assert admin.post(url, data={"active": "1"}).status_code == 302
    assert_ended(app, saved)  # the old cookies stay dead: reactivated users log in again
    assert opens_profile(app, **saved_cookies(log_in(app, org.staff_a)))


def test_cookies_from_before_the_upgrade_carrying_a_plain_user_id_are_refused(app, org):
    client = log_in(app, org.staff_a)
    serializer = app.session_interface.get_signing_serializer(app)
    session = serializer.loads(client.get_cookie("session").value)
    assert opens_profile(app, session=serializer.dumps(session))  # re-signing alone changes nothing

    session["_user_id"] = str(org.staff_a.id)  # what Flask-Login stored before the upgrade
    assert not opens_profile(app, session=serializer.dumps(session))
    assert not opens_profile(app, remember_token=encode_cookie(str(org.staff_a.id)))
    stale = browser(app)
    stale.set_cookie("remember_token", encode_cookie(str(org.staff_a.id)))
    assert stale.get("/profile").status_code == 302
    assert stale.get_cookie("remember_token") is None  # deleted at its first refusal


def test_a_login_key_of_another_user_opens_nothing(app, org):
    client = log_in(app, org.staff_a, remember=True)
    serializer = app.session_interface.get_signing_serializer(app)
    session = serializer.loads(client.get_cookie("session").value)
    _, key = session["_user_id"].split(":", 1)
    session["_user_id"] = f"{org.admin.id}:{key}"
    assert not opens_profile(app, session=serializer.dumps(session))
    assert not opens_profile(app, remember_token=encode_cookie(f"{org.admin.id}:{key}"))


# --- lifetimes and last seen ---------------------------------------------------------------------


def _age(user, **columns) -> None:
    db.session.execute(sa.update(LoginSession).where(LoginSession.user_id == user.id).values(**columns))
    db.session.commit()


def test_a_login_without_remember_ends_after_the_idle_period(app, org):
    saved = saved_cookies(log_in(app, org.staff_a))
    idle = timedelta(hours=app.config["SESSION_IDLE_HOURS"])
    _age(org.staff_a, last_seen_at=utcnow() - idle + timedelta(minutes=10))
    assert opens_profile(app, session=saved["session"])
    _age(org.staff_a, last_seen_at=utcnow() - idle - timedelta(minutes=1))
    assert not opens_profile(app, session=saved["session"])


def test_a_remembered_login_lasts_its_cookie_lifetime_whatever_the_idle_time(app, org):
    client = log_in(app, org.staff_a, remember=True)
    saved = saved_cookies(client)
    lifetime = timedelta(days=app.config["REMEMBER_DAYS"])
    remember = next(c for c in client._cookies.values() if c.key == "remember_token")
    assert abs(remember.expires - (utcnow() + lifetime)).total_seconds() < 60  # cookie and row agree

    _age(org.staff_a, last_seen_at=utcnow() - timedelta(days=3),
         created_at=utcnow() - lifetime + timedelta(hours=1))
    assert opens_profile(app, remember_token=saved["remember_token"])
    _age(org.staff_a, created_at=utcnow() - lifetime - timedelta(minutes=1))
    assert not opens_profile(app, remember_token=saved["remember_token"])
    assert not opens_profile(app, session=saved["session"])


def test_the_user_loader_is_one_statement_and_last_seen_is_written_at_most_every_few_minutes(
        app, org, queries):
    client = log_in(app, org.staff_a)
    client.get("/")

    def login_statements():
        with queries() as seen:
            assert client.get("/").status_code == 200
        return [s for s in seen if "login_sessions" in s]

    fresh = login_statements()
    assert len(fresh) == 1 and "FROM users" in fresh[0] and not fresh[0].lstrip().startswith("UPDATE")

    _age(org.staff_a, last_seen_at=utcnow() - timedelta(minutes=30))
    stale = login_statements()
    assert len(stale) == 2 and stale[1].lstrip().startswith("UPDATE"), stale
    (login,) = logins_of(org.staff_a)
    assert utcnow() - login.last_seen_at.replace(tzinfo=utcnow().tzinfo) < timedelta(minutes=1)
    assert len(login_statements()) == 1  # written once, not on every request


# --- the profile page ----------------------------------------------------------------------------


def test_profile_lists_the_active_logins_and_logs_out_everywhere_else(app, org):
    mine = log_in(app, org.staff_a, user_agent=FIREFOX)
    other = log_in(app, org.staff_a, remember=True, user_agent=CHROME)
    other_saved = saved_cookies(other)
    log_in(app, org.staff_b)  # someone else's login is neither listed nor ended

    page = mine.get("/profile").get_data(as_text=True)
    rows = re.findall(r'<tr data-login="(\d+)"[^>]*>(.*?)</tr>', page, re.S)
    assert len(rows) == 2
    this = [html for _, html in rows if 'data-this-browser' in html]
    assert len(this) == 1 and "Firefox" in this[0]
    assert any("Chrome" in html for _, html in rows)
    assert 'action="/profile/logins/end-others"' in page and "data-confirm=" in page

    assert_working(app, other_saved, CHROME)
    assert mine.post("/profile/logins/end-others").status_code == 302
    assert mine.get("/profile").status_code == 200
    assert other.get("/profile").status_code == 302
    assert_ended(app, other_saved, CHROME)
    assert [login.user_agent for login in logins_of(org.staff_a)] == [FIREFOX]
    assert len(logins_of(org.staff_b)) == 1


# --- session fixation and protection ------------------------------------------------------------


def test_login_starts_a_new_session_keeping_nothing_planted_before_it(app, org):
    client = browser(app)
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
        session["language"] = "en"
    log_in_response = client.post("/login", data={"username": "staff_a", "password": PASSWORD})
    assert log_in_response.status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["language"] == "en"  # the language chosen before logging in is kept


def test_a_session_cookie_replayed_from_another_browser_is_refused(app, org):
    saved = saved_cookies(log_in(app, org.staff_a, user_agent=FIREFOX))
    assert opens_profile(app, user_agent=FIREFOX, session=saved["session"])
    assert not opens_profile(app, user_agent=CHROME, session=saved["session"])


def test_a_login_restored_from_the_remember_cookie_stays_logged_in(app, org):
    saved = saved_cookies(log_in(app, org.staff_a, remember=True))
    client = browser(app)
    client.set_cookie("remember_token", saved["remember_token"])
    for _ in range(3):  # the restored session must pass session protection on later requests
        assert client.get("/profile").status_code == 200
    assert client.get_cookie("remember_token") is not None


# --- a real HTTP server and raw cookies -----------------------------------------------------------


class Raw:
    """HTTP/1.1 to the live server with hand-written Cookie headers and no cookie jar."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port

    def send(self, method, path, cookies: dict[str, str], form: dict | None = None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        headers = {"User-Agent": "raw-replay/1.0"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        html = response.read().decode("utf-8", "replace")
        set_cookies = response.msg.get_all("Set-Cookie") or []
        conn.close()
        return response.status, response.getheader("Location") or "", html, set_cookies


def _cookie_values(headers: list[str]) -> dict[str, str]:
    return {h.split("=", 1)[0]: h.split("=", 1)[1].split(";", 1)[0] for h in headers}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_logout_ends_raw_cookies_replayed_against_a_real_server(live_server, org):
    raw = Raw(live_server.url)
    status, _, html, headers = raw.send("GET", "/login", {})
    jar = _cookie_values(headers)
    status, location, _, headers = raw.send("POST", "/login", jar, {
        "csrf_token": _csrf(html), "username": "staff_a", "password": PASSWORD, "remember": "y"})
    assert status == 302 and "/login" not in location
    saved = _cookie_values(headers)
    assert {"session", "remember_token"} <= set(saved)
    for header in headers:
        attributes = {a.strip().lower() for a in header.split(";")[1:]}
        assert "httponly" in attributes and "samesite=lax" in attributes and "secure" not in attributes

    def opens(**cookies) -> bool:
        status, location, _, _ = raw.send("GET", "/profile", cookies)
        assert status in (200, 302)
        return status == 200

    assert opens(session=saved["session"]) and opens(remember_token=saved["remember_token"])
    _, _, profile, headers = raw.send("GET", "/profile", {"session": saved["session"]})
    current = {**saved, **_cookie_values(headers)}  # the form's CSRF token lives in the session
    status, location, _, _ = raw.send("POST", "/logout", current, {"csrf_token": _csrf(profile)})
    assert status == 302 and location.endswith("/login")
    assert not opens(session=saved["session"])
    assert not opens(remember_token=saved["remember_token"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)
                             .join(User).where(User.username == "staff_a")) == 0


@pytest.mark.browser
def test_log_out_everywhere_else_in_real_browsers(browser, live_server, org):
    """Two Chromium profiles log in as the same user; the first ends the second from its profile
    page (a CSRF form with a confirmation), and the second finds itself at the login page."""
    from browser_support import shot

    contexts = [browser.new_context(locale=locale) for locale in ("zh-CN", "en-US")]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.set_default_timeout(15000)
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{live_server.url}/login")
            page.fill("input[name=username]", "staff_a")
            page.fill("input[name=password]", PASSWORD)
            page.check("input[name=remember]")
            page.click("#login-submit")
            page.wait_for_url(re.compile(r".*/$"))
        mine, other = pages
        mine.goto(f"{live_server.url}/profile#logins")
        assert mine.locator("#logins tr[data-login]").count() == 2
        assert mine.locator("#logins [data-this-browser]").count() == 1
        shot(mine, "sessions-profile-logins")
        mine.click("#end-other-logins")
        mine.wait_for_url(re.compile(r".*/profile#logins$"))
        assert mine.locator("#logins tr[data-login]").count() == 1
        other.goto(f"{live_server.url}/profile")
        assert re.search(r"/login\?next=", other.url), other.url
    finally:
        for context in contexts:
            context.close()


@pytest.mark.parametrize("remember", [False, True])
def test_every_login_is_recorded_with_its_address_and_browser(app, org, remember):
    log_in(app, org.staff_a, remember=remember, user_agent=FIREFOX)
    (login,) = logins_of(org.staff_a)
    assert (login.remember, login.address, login.user_agent) == (remember, "127.0.0.1", FIREFOX)
    assert len(login.key_hash) == 64


def test_a_streamed_export_is_not_cut_by_writing_last_seen(app, org, make, monkeypatch):
    from tracker.tasks import export

    monkeypatch.setattr(export, "CHUNK", 2)  # several fetches from the export's open cursor
    for _ in range(5):
        make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    client = log_in(app, org.mgr_a)
    _age(org.mgr_a, last_seen_at=utcnow() - timedelta(minutes=30))
    response = client.get("/tasks.csv")
    assert response.status_code == 200
    assert len(response.get_data(as_text=True).strip().splitlines()) == 6  # header and five measures
    assert client.get("/profile").status_code == 200  # the next ordinary request notes the login
    (login,) = logins_of(org.mgr_a)
    assert utcnow() - login.last_seen_at.replace(tzinfo=utcnow().tzinfo) < timedelta(minutes=1)
