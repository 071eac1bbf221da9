"""Logging in, and the logins it starts: one LoginSession row per login, whose random key the
session and remember cookies carry ("<user id>:<key>"). Ending a login deletes its row, and its
cookies then open nothing, wherever they were copied to.

Logins run on wall-clock time (as the cookies' lifetimes do), never on the configured NOW.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from tracker.audit import services as audit
from tracker.auth.models import LoginSession
from tracker.clock import Clock
from tracker.extensions import MAX_ID, db
from tracker.org.models import User, verify_no_password

KEY_BYTES = 32
# last_seen_at is written at most this often: reading pages must not write on every request.
TOUCH_INTERVAL = timedelta(minutes=5)


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None.

    Every answer verifies exactly one password hash (a dummy one for an unknown username), so the
    time it takes tells nobody which usernames exist or which users are deactivated.
    """
    user = db.session.scalar(sa.select(User).where(User.username == (username or "").strip()))
    if user is None:
        verify_no_password(password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


def hash_key(key: str) -> str:
    """sha256 hex of a login key: what the database stores and looks up."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse_login_id(value: str | None) -> tuple[int, str] | None:
    """(user id, key hash) of what a cookie carries, or None for anything else, such as the plain
    user id that cookies carried before logins were recorded."""
    user_id, sep, key = (value or "").partition(":")
    if not sep or not user_id.isdigit() or not 0 < int(user_id) <= MAX_ID or not 20 <= len(key) <= 100:
        return None
    return int(user_id), hash_key(key)


def lifetimes() -> tuple[timedelta, timedelta]:
    """(idle limit of a login without "remember me", lifetime of one with it)."""
    config = current_app.config
    return timedelta(hours=config["SESSION_IDLE_HOURS"]), timedelta(days=config["REMEMBER_DAYS"])


def _utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back naive; they are stored in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def is_expired(remember: bool, created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    """A remembered login ends with its cookie's lifetime, any other after the idle limit."""
    idle, lifetime = lifetimes()
    if remember:
        return now - _utc(created_at) >= lifetime
    return now - _utc(last_seen_at) >= idle


def touch_due(last_seen_at: datetime, now: datetime) -> bool:
    return not timedelta(0) <= now - _utc(last_seen_at) < TOUCH_INTERVAL


def _expired_clause(now: datetime):
    idle, lifetime = lifetimes()
    return sa.or_(sa.and_(LoginSession.remember.is_(True), LoginSession.created_at <= now - lifetime),
                  sa.and_(LoginSession.remember.is_(False), LoginSession.last_seen_at <= now - idle))


def start_login(user: User, now: datetime, *, remember: bool, address: str | None,
                user_agent: str | None) -> str:
    """Record a new login of `user` (dropping their expired ones); returns what its cookies carry."""
    db.session.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id, _expired_clause(now)))
    key = secrets.token_urlsafe(KEY_BYTES)
    db.session.add(LoginSession(user_id=user.id, key_hash=hash_key(key), remember=bool(remember),
                                created_at=now, last_seen_at=now, address=(address or "")[:64] or None,
                                user_agent=(user_agent or "")[:200] or None))
    db.session.flush()
    return f"{user.id}:{key}"


def end_login(login_id: int) -> None:
    """End one login (logout): its session and remember cookies stop working at once."""
    db.session.execute(sa.delete(LoginSession).where(LoginSession.id == login_id))


def end_logins(user_id: int, *, keep: int | None = None) -> int:
    """End every login of a user but `keep` (a new password, a reset, deactivation); how many."""
    stmt = sa.delete(LoginSession).where(LoginSession.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(LoginSession.id != keep)
    return db.session.execute(stmt).rowcount or 0


def end_other_logins(user: User, clock: Clock, *, keep: int | None) -> int:
    """The user's "log out everywhere else": every login but this browser's ends; audited."""
    ended = end_logins(user.id, keep=keep)
    audit.record(user, clock, "user.logout_elsewhere", user, after={"logins_ended": ended})
    return ended


def active_logins(user_id: int, now: datetime) -> list[LoginSession]:
    """A user's logins that still open pages, the most recently seen first."""
    return list(db.session.scalars(
        sa.select(LoginSession).where(LoginSession.user_id == user_id, sa.not_(_expired_clause(now)))
        .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc())
    ))


def touch(login_id: int, now: datetime) -> None:
    """Note that the login was seen (callers do it at most every TOUCH_INTERVAL)."""
    db.session.execute(sa.update(LoginSession).where(LoginSession.id == login_id).values(last_seen_at=now))
