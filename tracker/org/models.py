"""Organisation: the unit tree, the people in it, and the stamp of the pick lists made of them."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from functools import cache
from typing import Optional

import sqlalchemy as sa
from flask import current_app
from flask_login import UserMixin
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from tracker.clock import utcnow
from tracker.enums import Role, enum_column
from tracker.extensions import db


def child_path(parent_path: str | None, unit_id: int) -> str:
    """The path of unit `unit_id` under a parent's path ("/" for a root).

    Ids are zero-padded so that sorting by path gives the tree with siblings in id order: with
    plain ids "/1/10/" sorted before "/1/9/"."""
    return f"{parent_path or '/'}{unit_id:010d}/"


def _hash_method() -> str:
    # Tests configure a cheap method; production keeps werkzeug's default (scrypt).
    return current_app.config.get("PASSWORD_HASH_METHOD") or "scrypt"


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def verify_no_password(password: str) -> bool:
    """Spend what checking a real user's password costs (one hash of the configured method) and
    fail: a login with an unknown username must take as long as one with a wrong password."""
    check_password_hash(_dummy_hash(_hash_method()), password or "")
    return False


class Unit(db.Model):
    """An organisational unit. `path` ("/0000000001/0000000004/", see child_path) makes a subtree
    one indexed prefix match and a sort by path the tree's order."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    parent_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("units.id"), index=True)
    path: Mapped[str] = mapped_column(sa.String(255), default="/", index=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    parent: Mapped[Optional[Unit]] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent", order_by="Unit.sort_order")

    __table_args__ = (sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),)

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"

    def __str__(self) -> str:
        return self.name


# A full-width space: pick lists and the units table show the tree by indentation (no inline styles
# under the CSP, and a <select> takes none anyway).
INDENT = "\u3000"


def unit_indent(unit, top: int = 0, step: int = 1) -> str:
    """The indentation of a unit (a Unit or any row with `path`'s `depth`) below depth `top`."""
    return INDENT * (max(unit.depth - top, 0) * step)


def indented(unit, top: int = 0) -> str:
    """A unit's name indented by its depth below `top`, as pick lists show the tree."""
    return unit_indent(unit, top) + unit.name


def person_label(user) -> str:
    """A person as pick lists name them: "name（unit）", or the bare name without a unit (admins)."""
    return f"{user.name}（{user.unit.name}）" if user.unit else user.name


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role), index=True)
    unit_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("units.id"), index=True)
    language: Mapped[str] = mapped_column(sa.String(8), default="zh_CN")
    active: Mapped[bool] = mapped_column(default=True)
    weekly_digest: Mapped[bool] = mapped_column(default=True)
    # Email for the notices of a measure's transitions (submitted, returned, closed out); in-app always.
    notify_transitions: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    unit: Mapped[Optional[Unit]] = relationship()

    __table_args__ = (
        # Everyone but an admin belongs to a unit: scope is computed from it.
        sa.CheckConstraint("role = 'admin' OR unit_id IS NOT NULL", name="unit_unless_admin"),
        sa.CheckConstraint("language IN ('zh_CN', 'en')", name="language"),
        # 整改清单 by owner: people walked in name order, each person's measures off their index.
        sa.Index("ix_users_name", "name", "id"),
    )

    # What the cookies of the login being started carry (tracker.auth.services.start_login);
    # Flask-Login reads it through get_login_id (its id_attribute) in login_user, and only there.
    login_id = None

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=_hash_method())

    def get_login_id(self) -> str | None:
        return self.login_id

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    def __repr__(self) -> str:
        return f"<User {self.username}>"

    def __str__(self) -> str:
        return self.name


class ReferenceStamp(db.Model):
    """One row: a random token renewed whenever units, people, sources or categories change
    (tracker.refdata keeps the filter bars' pick lists behind it)."""

    __tablename__ = "reference_stamp"

    id: Mapped[int] = mapped_column(primary_key=True)
    stamp: Mapped[str] = mapped_column(sa.String(32))


def new_stamp() -> str:
    # Random, not a counter: a fresh database (each test's, a restored one) never repeats the
    # stamp of another that a long-lived process may still hold entries for.
    return uuid.uuid4().hex


@event.listens_for(ReferenceStamp.__table__, "after_create")
def _first_stamp(table, connection, **kw) -> None:
    connection.execute(table.insert().values(id=1, stamp=new_stamp()))
