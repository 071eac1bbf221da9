"""Wiring: extensions, blueprints, error handlers, template helpers, commands."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache, wraps
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import (
    Flask,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_date, format_datetime
from flask_login import current_user, user_loaded_from_cookie
from flask_login.utils import decode_cookie
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from tracker import cli, i18n, refdata, security, transactions, widgets
from tracker import models as _models  # noqa: F401  (every table known to Alembic)
from tracker import sqlite as tracker_sqlite
from tracker.admin.views import bp as admin_bp
from tracker.api import errors as api_errors
from tracker.api.views import bp as api_bp
from tracker.auth import services as logins
from tracker.auth.models import LoginSession
from tracker.auth.views import bp as auth_bp
from tracker.channels.views import bp as channels_bp
from tracker.clock import request_clock, utcnow
from tracker.dashboard.views import bp as dashboard_bp
from tracker.enums import ExtensionState, Light, ProblemState, Role, SourceKind, TaskState, TaskType
from tracker.errors import ServiceError
from tracker.extensions import MAX_ID, babel, csrf, db, limiter, login_manager, migrate
from tracker.followup.views import bp as rechecks_bp
from tracker.i18n import lazy_gettext as _l
from tracker.ledger.views import bp as ledger_bp
from tracker.ops import logging as ops_logging
from tracker.ops.views import bp as ops_bp
from tracker.org.models import User, indented, unit_indent
from tracker.pickers.views import bp as pick_bp
from tracker.problems.views import bp as problems_bp
from tracker.refdata import PickList
from tracker.reminders import scheduler
from tracker.reminders.services import UNREAD, unread_count_of
from tracker.reminders.views import bp as reminders_bp
from tracker.reports.views import bp as reports_bp
from tracker.review.views import bp as review_bp
from tracker.supervision.views import bp as notices_bp
from tracker.tasks import evidence
from tracker.tasks.views import bp as tasks_bp


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` in every route: ids beyond a 32-bit INTEGER cannot exist, so they answer 404
    (raised while routing) instead of overflowing the database driver."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number


def init_app(app: Flask) -> None:
    root = Path(__file__).resolve().parent.parent
    app.url_map.converters["int"] = BoundedIntConverter
    if app.config.get("PROXY_FIX_X_FOR"):
        # Behind a reverse proxy: client addresses (rate limits, logs) come from X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"], x_proto=1, x_host=1)
    ops_logging.init_app(app)  # first: request ids and log format for everything after
    db.init_app(app)
    transactions.init_app(app, db)
    with app.app_context():
        tracker_sqlite.init_app(app, db.engine)
    migrate.init_app(app, db, directory=str(root / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.babel_locale, timezone_selector=i18n.select_timezone)
    i18n.install_jinja(app)
    _init_login(app)
    # Rate limits (login attempts, API calls) are off in tests unless a test turns them on.
    app.config.setdefault("RATELIMIT_ENABLED", not app.testing)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")  # per process; set a shared store to share
    # A shared store (Redis) that goes down: count in each process until it is back, never a 500.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)

    for blueprint in (auth_bp, tasks_bp, problems_bp, admin_bp, reports_bp, ledger_bp, reminders_bp,
                      dashboard_bp, ops_bp, notices_bp, review_bp, rechecks_bp, channels_bp, pick_bp):
        app.register_blueprint(blueprint)
    # The API authenticates with bearer tokens, not cookies, so CSRF does not apply to it.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    cli.init_app(app)
    scheduler.init_app(app)
    _register_error_handlers(app)
    _register_template_helpers(app)

    @app.teardown_appcontext
    def discard_uncommitted_files(exc):
        # Evidence written by a request whose transaction never committed is removed.
        names = db.session.info.pop("written_files", None) if db.session.registry.has() else None
        if names:
            evidence.discard(names)

    app.after_request(security.add_headers)


@sa.event.listens_for(Session, "after_commit")
def _files_committed(session: Session) -> None:
    """Evidence files of a committed transaction stay (see discard_uncommitted_files). Registered
    once, here: inside init_app every create_app would add another listener to every Session."""
    session.info.pop("written_files", None)


def _init_login(app: Flask) -> None:
    """Flask-Login over recorded logins (tracker.auth.services): the cookies carry a login's key,
    cookies are flagged (tracker.security), and last_seen_at is written after the view."""
    app.session_interface = security.SessionInterface()
    # The remember cookie lives exactly as long as a remembered login's row (is_expired).
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=app.config["REMEMBER_DAYS"])
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "warning"
    login_manager.id_attribute = "get_login_id"  # "<user id>:<key>" of the login, not the user id

    @user_loaded_from_cookie.connect_via(app)
    def restored_from_cookie(sender, user):
        # Flask-Login leaves the restored session without the client identifier that "strong"
        # protection compares on the next request, which would then drop it and the cookie.
        session["_id"] = login_manager._session_identifier_generator()

    app.after_request(_note_login_seen)


@cache
def _user_statement() -> sa.Select:
    """The user with their unit and their login (one recorded LoginSession, by its key), and what
    every page's frame needs besides, in one round trip: the reference stamp of the filter bars'
    pick lists and the unread count of the bell. Built once: constructing it cost a tenth of a
    list page."""
    return (sa.select(User, refdata.stamp_subquery(), unread_count_of(User.id), LoginSession.id,
                      LoginSession.remember, LoginSession.created_at, LoginSession.last_seen_at)
            .join(LoginSession, sa.and_(LoginSession.user_id == User.id,
                                        LoginSession.key_hash == sa.bindparam("key_hash")))
            .options(joinedload(User.unit)).where(User.id == sa.bindparam("user_id")))


@login_manager.user_loader
def load_user(login_id: str):
    """The user of a recorded, unexpired login of an active user, else None (log in again)."""
    g.pop("login_session_id", None)
    parsed, row = logins.parse_login_id(login_id), None
    if parsed is not None:  # not a plain user id from before logins were recorded
        row = db.session.execute(_user_statement(), {"user_id": parsed[0], "key_hash": parsed[1]}).first()
    now = utcnow()
    if row is None or not row[0].active or logins.is_expired(*row[4:7], now):
        _forget_login(login_id)
        return None
    user, stamp, unread, login, _, _, last_seen_at = row
    g.login_session_id = login
    if logins.touch_due(last_seen_at, now):
        g.login_seen_due = login
    db.session.info.update({refdata.STAMP: stamp, UNREAD: unread})  # what the page's frame reads
    return user


def _forget_login(login_id: str) -> None:
    """Drop an ended login from the session and have the browser delete its remember cookie, so
    that later requests do not look it up again."""
    if session.get("_user_id") == login_id:
        session.pop("_user_id")
        session.pop("_fresh", None)
    cookie = request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token"))
    if cookie and decode_cookie(cookie) == login_id:
        session["_remember"] = "clear"  # Flask-Login deletes the cookie after the request


def _note_login_seen(response):
    """Write last_seen_at (at most every few minutes) once the view's work is done, in a transaction
    of its own: never inside changes the view left uncommitted, nor under a streamed answer still
    reading from the database (the next request does it then)."""
    login = g.pop("login_seen_due", None)
    if login is None or response.is_streamed:
        return response
    s = db.session()
    if s.new or s.dirty or s.deleted or (s.in_transaction() and s.connection().info.get(transactions.WROTE)):
        return response
    try:
        logins.touch(login, utcnow())
        s.commit()
    except sa.exc.SQLAlchemyError:  # a hint only: a busy database must not fail the answer
        s.rollback()
    return response


def _register_error_handlers(app: Flask) -> None:
    def back():
        target = request.referrer
        if target and target.startswith(request.host_url):
            return redirect(target)
        return redirect(url_for("tasks.home"))

    def api_aware(handler):
        # Under /api/ every error is the API's JSON error body, never a page or a redirect.
        @wraps(handler)
        def wrapped(exc):
            if api_errors.is_api_request():
                return api_errors.from_exception(exc)
            return handler(exc)

        return wrapped

    @app.errorhandler(CSRFError)
    @api_aware
    def csrf_error(exc):
        flash(_l("The form expired or was sent from elsewhere. Please try again."), "danger")
        return back()

    @app.errorhandler(RequestEntityTooLarge)
    @api_aware
    def too_large(exc):
        flash(_l("The upload is too large (at most %(mb)s MB per file).", mb=app.config["UPLOAD_MAX_MB"]),
              "danger")
        return back()

    @app.errorhandler(StaleDataError)
    @api_aware
    def stale(exc):
        db.session.rollback()
        flash(_l("Someone else changed this item after you opened it. Reload the page and try again."),
              "danger")
        return back()

    @app.errorhandler(ServiceError)
    @api_aware
    def service_error(exc):
        db.session.rollback()
        flash(exc.message, "danger")
        return back()

    @app.errorhandler(429)
    @api_aware
    def too_many(exc):
        flash(_l("Too many attempts. Wait a minute and try again."), "danger")
        return render_template("errors.html", code=429), 429

    @app.errorhandler(HTTPException)
    @api_aware
    def other_http_error(exc):
        return exc  # Werkzeug's own response outside the API

    for code in (403, 404, 405, 500):
        app.register_error_handler(code, api_aware(lambda exc, code=code: (
            render_template("errors.html", code=code), code)))


def _date_filter(d, fmt: str = "yyyy-MM-dd") -> str:
    if not d:
        return ""
    if fmt == "yyyy-MM-dd" and type(d) is date:  # the lists' default, without Babel's pattern engine
        return d.isoformat()
    return format_date(d, fmt)


def select_options(choices, selected, blank=None) -> Markup:
    """The <option>s of (value, label) pairs or of a refdata.PickList, after a first blank
    option labelled `blank` if given; the one whose value reads as `selected` is marked.

    In Python, not a Jinja loop: the filter bars' thousand options took ~2 ms that way, more than
    the list's own queries. Values and labels are escaped like any template output."""
    current = "" if selected is None else str(selected)
    parts = []
    if blank is not None:
        parts.append(f'<option value=""{" selected" if current == "" else ""}>{escape(blank)}</option>')
    if isinstance(choices, PickList):
        html = choices.options_html
        if current:
            mark = f'<option value="{escape(current)}">'
            html = html.replace(mark, mark[:-1] + " selected>", 1)
        return Markup("".join(parts) + html)
    for value, label in choices:
        value = "" if value is None else str(value)
        mark = " selected" if value == current else ""
        parts.append(f'<option value="{escape(value)}"{mark}>{escape(label)}</option>')
    return Markup("".join(parts))


def picker_select(name: str, picker, selected, blank=None, *, id: str | None = None,  # noqa: A002
                  cls: str = "form-select form-select-sm", attrs: str = "",
                  label: str | None = None) -> Markup:
    """A filter bar's picker (tracker.pickers.widgets.Picker): its <select> and, for a long list, the
    search box of browsers without JavaScript. `attrs` are more attributes, written as given; `label`
    is the aria-label of a select without a <label>."""
    if label is not None:
        attrs = f' aria-label="{escape(label)}"{attrs}'
    return Markup(f'<select class="{escape(cls)}" id="{escape(id or name)}" name="{escape(name)}"'
                  f'{picker.attributes()}{attrs}>{select_options(picker.choices, selected, blank)}</select>'
                  f'{picker.noscript(name)}')


def filter_select(field, blank=None) -> Markup:
    """A filter bar's <select> of a WTForms select field: its picker's when the view attached one
    (tracker.pickers), else its choices through select_options. A function, not a macro: the 整改清单's
    bar has nine of them."""
    picker = getattr(field, "picker", None)
    if picker is not None:
        return picker_select(field.name, picker, field.data, blank, id=field.id)
    return Markup(f'<select class="form-select form-select-sm" id="{escape(field.id)}" '
                  f'name="{escape(field.name)}">{select_options(field.choices, field.data, blank)}</select>')


def this_url(**changes) -> str:
    """This page with some query arguments changed (None drops one), encoded as url_for would:
    the sort headers and the pager link a dozen variants of the page, each a routing build."""
    args = request.args.to_dict()
    args.update(changes)
    query = urlencode([(k, v) for k, v in args.items() if v is not None], safe="!$'()*,/:;?@")
    path = request.script_root + request.path
    return f"{path}?{query}" if query else path


def _memo_url_for(app: Flask):
    """url_for for templates, remembering the links that take no arguments (the menu, the static
    files: twenty per page) per script root; anything else is built as usual."""
    known: dict[tuple, str] = {}

    def template_url_for(endpoint: str, **values) -> str:
        if endpoint.startswith(".") or not has_request_context() or (
                values and (endpoint != "static" or len(values) != 1 or "filename" not in values)):
            return app.url_for(endpoint, **values)
        key = (request.script_root, endpoint, values.get("filename"))
        found = known.get(key)
        if found is None:
            if len(known) > 1000:  # the prefix may come from a proxy header: stay bounded
                known.clear()
            found = known[key] = app.url_for(endpoint, **values)
        return found

    return template_url_for


def _register_template_helpers(app: Flask) -> None:
    @app.context_processor
    def inject():
        clock = request_clock()
        return {
            "today": clock.today(),
            "due_soon_days": app.config["DUE_SOON_DAYS"],
            "languages": app.config["LANGUAGES"],
            "current_locale": i18n.select_locale(),
            "Role": Role,
            "TaskState": TaskState,
            "TaskType": TaskType,
            "ProblemState": ProblemState,
            "ExtensionState": ExtensionState,
            "SourceKind": SourceKind,
            "Light": Light,
        }

    app.jinja_env.globals["select_options"] = select_options
    app.jinja_env.globals["picker_select"] = picker_select
    app.jinja_env.globals["filter_select"] = filter_select
    widgets.install(app)
    app.jinja_env.globals["this_url"] = this_url
    app.jinja_env.globals["url_for"] = _memo_url_for(app)
    app.jinja_env.filters["indented"] = indented
    app.jinja_env.globals["unit_indent"] = unit_indent
    app.jinja_env.filters["date"] = _date_filter
    app.jinja_env.filters["datetime"] = (
        lambda d, fmt="yyyy-MM-dd HH:mm": format_datetime(d, fmt) if d else ""
    )
    app.jinja_env.globals["current_user"] = current_user
