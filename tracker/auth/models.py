"""Server-side login sessions (a signed cookie alone could not be ended by logout or a new password)
and personal API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.extensions import db
from tracker.org.models import User


class LoginSession(db.Model):
    """One login of one user (a browser); the session and remember cookies carry its key.

    Only a hash of the key is stored. Deleting the row ends that login at once, wherever its
    cookies were copied to: logout deletes one, a password change every other of the user's.
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # sha256 hex of the random key the cookies carry.
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    remember: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    address: Mapped[Optional[str]] = mapped_column(sa.String(64))
    user_agent: Mapped[Optional[str]] = mapped_column(sa.String(200))

    user: Mapped[User] = relationship()


class ApiToken(db.Model):
    """A bearer token of one user; revoked tokens are kept so the profile shows their history."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    # sha256 hex of the whole token: a stolen database does not yield usable tokens.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The first characters ("rt_AbCd"), so people can tell their tokens apart.
    hint: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))

    user: Mapped[User] = relationship()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def __str__(self) -> str:
        return self.name


class CalendarFeed(db.Model):
    """A user's personal calendar feed (ICS) behind a secret URL; deleting the row revokes it."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # sha256 hex of the URL's secret: the database alone does not yield working links.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))

    user: Mapped[User] = relationship()
