"""Rules for personal API tokens: create (shown once), revoke, authenticate a bearer token."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from tracker.audit import services as audit
from tracker.auth.models import ApiToken
from tracker.clock import Clock
from tracker.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User

PREFIX = "rt_"  # recognisable in logs and by secret scanners
HINT_LENGTH = 7
MAX_NAME = 80
MAX_TOKEN = 200  # longer "tokens" are not ours; refuse them before hashing
# last_used_at is written at most this often, so reading the API does not write on every request.
TOUCH_INTERVAL = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    """sha256 hex of a token; what the database stores and looks up."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(user: User, clock: Clock, *, name: str | None,
                 actor: User | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the token text, which is never stored."""
    if actor is not None and actor.id != user.id:
        raise PermissionDenied(_l("You may only create tokens for yourself."))
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_l("Give the token a name."), {"name": [_l("Give the token a name.")]})
    if len(name) > MAX_NAME:
        raise ValidationFailed(_l("At most %(n)s characters.", n=MAX_NAME),
                               {"name": [_l("At most %(n)s characters.", n=MAX_NAME)]})
    if not user.active:
        raise ValidationFailed(_l("%(name)s is deactivated.", name=user.name))
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(raw), hint=raw[:HINT_LENGTH],
                     created_at=clock.now())
    db.session.add(token)
    db.session.flush()
    audit.record(actor, clock, "token.create", token, after={"name": name, "user_id": user.id})
    return token, raw


def revoke_token(token: ApiToken, actor: User, clock: Clock) -> ApiToken:
    """Revoke a token for good (its owner or an admin); it stays listed as revoked."""
    if token.user_id != actor.id and not actor.is_admin:
        raise PermissionDenied(_l("You may only revoke your own tokens."))
    if token.revoked_at is not None:
        raise InvalidTransition(_l("This token is already revoked."))
    token.revoked_at = clock.now()
    db.session.flush()
    audit.record(actor, clock, "token.revoke", token, after={"revoked": True})
    return token


def user_tokens(user: User) -> list[ApiToken]:
    """A user's tokens, newest first, revoked ones included."""
    return list(db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc(),
                                                                         ApiToken.id.desc())
    ))


def authenticate(raw: str | None, clock: Clock) -> User | None:
    """The active user a bearer token belongs to, or None (unknown, revoked, inactive user).

    One query; last_used_at is updated (and flushed) at most once per TOUCH_INTERVAL.
    """
    if not raw or len(raw) > MAX_TOKEN or not raw.startswith(PREFIX):
        return None
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(raw), ApiToken.revoked_at.is_(None))
        .options(joinedload(ApiToken.user).joinedload(User.unit))
    )
    if token is None or not token.user.active:
        return None
    now = clock.now()
    last = token.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite returns naive UTC datetimes
        last = last.replace(tzinfo=now.tzinfo)
    if last is None or now - last >= TOUCH_INTERVAL or now < last:
        token.last_used_at = now
        db.session.flush()
        db.session.info["api_token_touched"] = True
    return token.user
