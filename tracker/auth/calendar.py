"""The secret of a user's calendar feed: created or replaced (the old link stops working at once),
revoked, and resolved to its user (an unknown secret or a deactivated user finds nobody)."""

from __future__ import annotations

import secrets
from datetime import UTC, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tracker.audit import services as audit
from tracker.auth.models import CalendarFeed
from tracker.auth.tokens import hash_token
from tracker.clock import Clock
from tracker.extensions import db
from tracker.org.models import User

MAX_SECRET = 100
TOUCH_INTERVAL = timedelta(hours=1)


def has_feed(user: User) -> bool:
    return db.session.get(CalendarFeed, user.id) is not None


def renew(user: User, clock: Clock) -> str:
    """A new secret for the user's feed (replacing any earlier one); returned once, stored hashed.

    Two renewals at once (a double click, two tabs): the primary key lets one insert in; the other
    replaces that row's secret instead, so the later secret is the one that works."""
    raw = secrets.token_urlsafe(24)
    values = {"token_hash": hash_token(raw), "created_at": clock.now(), "last_used_at": None}
    try:
        with db.session.begin_nested():
            db.session.add(CalendarFeed(user_id=user.id, **values))
    except IntegrityError:
        db.session.execute(sa.update(CalendarFeed).where(CalendarFeed.user_id == user.id).values(**values))
    audit.record(user, clock, "calendar.renew", user)
    return raw


def revoke(user: User, clock: Clock) -> bool:
    deleted = db.session.execute(sa.delete(CalendarFeed).where(CalendarFeed.user_id == user.id)).rowcount
    if deleted:
        audit.record(user, clock, "calendar.revoke", user)
    return bool(deleted)


def user_for(raw: str, clock: Clock) -> User | None:
    """The active user whose feed the secret opens, or None."""
    if not raw or len(raw) > MAX_SECRET:
        return None
    feed = db.session.scalar(sa.select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(raw)))
    if feed is None or not feed.user.active:
        return None
    last = feed.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC
        last = last.replace(tzinfo=UTC)
    if last is None or clock.now() - last > TOUCH_INTERVAL:  # calendar apps poll; write rarely
        feed.last_used_at = clock.now()
    return feed.user
