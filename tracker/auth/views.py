"""Log in and out, the profile page, and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from tracker.auth import agents, tokens
from tracker.auth import calendar as feeds
from tracker.auth import services as auth
from tracker.auth.forms import LoginForm, PasswordForm, PreferencesForm, TokenForm
from tracker.auth.models import ApiToken
from tracker.clock import request_clock, utcnow
from tracker.errors import ServiceError, ValidationFailed
from tracker.extensions import MAX_ID, db, limiter
from tracker.i18n import SUPPORTED
from tracker.i18n import lazy_gettext as _l
from tracker.org import services as org
from tracker.viewutils import form_errors

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("tasks.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config.get("LOGIN_RATE_LIMIT", "10/minute"), methods=["POST"])
def login():
    """Username and password; inactive users and wrong passwords get the same answer."""
    if current_user.is_authenticated:
        return redirect(url_for("tasks.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = auth.authenticate(form.username.data, form.password.data)
        if user is None:
            form.password.errors.append(_l("Wrong username or password."))
        else:
            _restart_session()  # nothing set before the login (by whoever) carries over into it
            user.login_id = auth.start_login(user, utcnow(), remember=form.remember.data,
                                             address=request.remote_addr,
                                             user_agent=request.user_agent.string)
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


def _restart_session() -> None:
    """An empty session (new CSRF token too) that keeps only the language chosen."""
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End this login: its session and remember cookies stop working, wherever they were copied."""
    auth.end_login(g.get("login_session_id"))
    db.session.commit()
    _restart_session()
    logout_user()  # after the restart: it asks for the remember cookie's removal in the session
    flash(_l("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/language/<code>", methods=["POST"])
def set_language(code: str):
    """Header switch: stored on the user when logged in, in the session otherwise."""
    if code not in SUPPORTED:
        code = "zh_CN"
    if current_user.is_authenticated:
        org.set_preferences(current_user, request_clock(), language=code)
        db.session.commit()
    session["language"] = code
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Language, which emails to get, and password."""
    prefs = PreferencesForm(prefix="prefs", obj=current_user)
    password = PasswordForm(prefix="pw")
    if request.method == "POST" and request.form.get("which") == "prefs" and prefs.validate_on_submit():
        org.set_preferences(current_user, request_clock(), language=prefs.language.data,
                            weekly_digest=prefs.weekly_digest.data,
                            notify_transitions=prefs.notify_transitions.data)
        db.session.commit()
        session["language"] = current_user.language
        flash(_l("Your preferences are saved."), "success")
        return redirect(url_for("auth.profile"))
    if request.method == "POST" and request.form.get("which") == "password" and password.validate_on_submit():
        try:
            org.change_password(current_user, request_clock(), current=password.current.data,
                                new=password.new.data, confirm=password.confirm.data,
                                keep_login=g.get("login_session_id"))
        except ValidationFailed as exc:
            db.session.rollback()
            form_errors(password, exc)
        else:
            db.session.commit()
            flash(_l("Your password is changed."), "success")
            return redirect(url_for("auth.profile"))
    return _profile_page(prefs=prefs, password=password)


def _profile_page(status: int = 200, **forms):
    """The profile page; forms not given start blank."""
    forms.setdefault("prefs", PreferencesForm(prefix="prefs", obj=current_user))
    forms.setdefault("password", PasswordForm(prefix="pw"))
    forms.setdefault("token_form", TokenForm(prefix="token", formdata=None))
    forms.setdefault("new_token", None)
    forms.setdefault("calendar_url", None)
    this_login = g.get("login_session_id")
    logins = sorted(auth.active_logins(current_user.id, utcnow()), key=lambda login: login.id != this_login)
    return render_template("auth/profile.html", tokens=tokens.user_tokens(current_user),
                           logins=[(login, agents.describe(login.user_agent)) for login in logins],
                           this_login=this_login, has_calendar=feeds.has_feed(current_user), **forms), status


@bp.route("/profile/logins/end-others", methods=["POST"])
@login_required
def end_other_logins():
    """Log out everywhere else: every other login of the user ends; this browser stays."""
    ended = auth.end_other_logins(current_user, request_clock(), keep=g.get("login_session_id"))
    db.session.commit()
    flash(_l("You are logged out everywhere else.") if ended else _l("You were logged in nowhere else."),
          "success")
    return redirect(url_for("auth.profile") + "#logins")


@bp.route("/profile/tokens", methods=["POST"])
@login_required
def create_token():
    """A new personal API token, shown on the page once (never stored, never flashed into the cookie)."""
    form = TokenForm(prefix="token")
    if not form.validate_on_submit():
        return _profile_page(422, token_form=form)
    try:
        _, raw = tokens.create_token(current_user, request_clock(), name=form.name.data, actor=current_user)
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        return _profile_page(422, token_form=form)
    db.session.commit()
    return _profile_page(token_form=TokenForm(prefix="token", formdata=None), new_token=raw)


@bp.route("/profile/calendar", methods=["POST"])
@login_required
def renew_calendar():
    """A new secret link to the user's calendar feed, shown once; any earlier link stops working."""
    raw = feeds.renew(current_user, request_clock())
    db.session.commit()
    return _profile_page(calendar_url=url_for("reminders.calendar_feed", secret=raw, _external=True))


@bp.route("/profile/calendar/revoke", methods=["POST"])
@login_required
def revoke_calendar():
    revoked = feeds.revoke(current_user, request_clock())
    db.session.commit()
    flash(_l("Your calendar link is revoked.") if revoked else _l("You had no calendar link."), "success")
    return redirect(url_for("auth.profile") + "#calendar")


@bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's own tokens; it stops working at once."""
    token = db.session.get(ApiToken, token_id) if token_id <= MAX_ID else None
    if token is None or token.user_id != current_user.id:
        abort(404)
    try:
        tokens.revoke_token(token, current_user, request_clock())
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "warning")
    else:
        db.session.commit()
        flash(_l("The token %(name)s is revoked.", name=token.name), "success")
    return redirect(url_for("auth.profile") + "#api-tokens")
