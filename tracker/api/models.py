"""Personal API tokens: only a hash is stored; the token itself is shown once."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.extensions import db
from tracker.org.models import User


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
