"""`flask --app tracker create-user …` (DESIGN §4 "Command line")."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tracker.audit.models import AuditEvent
from tracker.enums import Role
from tracker.extensions import db
from tracker.org.models import User

PASSWORD = "s3cret-enough"


@pytest.fixture
def units(make):
    root = make.unit("ROOT", "某局党委")
    a = make.unit("A", "第一党支部", parent=root)
    db.session.commit()
    return {"ROOT": root, "A": a}


def create_user(runner, *args):
    return runner.invoke(args=["create-user", *args])


def users() -> dict[str, User]:
    return {u.username: u for u in db.session.scalars(sa.select(User))}


def refused(result, words: str) -> None:
    """An error exit with a readable message, not a traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert words in result.output


def test_admin_needs_no_unit(runner, units):
    result = create_user(runner, "boss", "--password", PASSWORD, "--role", "admin",
                         "--email", "boss@example.org", "--name", "局长")
    assert result.exit_code == 0, result.output
    assert "boss" in result.output
    boss = users()["boss"]
    assert (boss.role, boss.unit_id, boss.name, boss.email) == (Role.ADMIN, None, "局长", "boss@example.org")
    assert boss.check_password(PASSWORD)
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "user.create")).one()
    assert event.actor_id is None and event.object_id == boss.id


def test_staff_with_a_unit(runner, units):
    result = create_user(runner, "zhangsan", "--password", PASSWORD, "--role", "staff", "--unit", "A")
    assert result.exit_code == 0, result.output
    user = users()["zhangsan"]
    assert (user.role, user.unit_id, user.name) == (Role.STAFF, units["A"].id, "zhangsan")


def test_unknown_unit_creates_nothing(runner, units):
    result = create_user(runner, "lisi", "--password", PASSWORD, "--role", "staff", "--unit", "NOPE")
    refused(result, "NOPE")
    assert "lisi" not in users()


def test_staff_without_a_unit_is_refused(runner, units):
    refused(create_user(runner, "lisi", "--password", PASSWORD, "--role", "staff"), "unit")
    assert "lisi" not in users()


def test_duplicate_username_is_refused(runner, units):
    first = create_user(runner, "wangwu", "--password", PASSWORD, "--role", "viewer", "--unit", "ROOT")
    assert first.exit_code == 0, first.output
    result = create_user(runner, "wangwu", "--password", "another-password", "--role", "staff", "--unit", "A")
    refused(result, "wangwu")
    assert users()["wangwu"].role == Role.VIEWER and users()["wangwu"].check_password(PASSWORD)


def test_short_password_is_refused(runner, units):
    refused(create_user(runner, "zhao", "--password", "short", "--role", "admin"), "8")
    assert "zhao" not in users()


def test_unknown_role_is_refused(runner, units):
    result = create_user(runner, "qian", "--password", PASSWORD, "--role", "boss")
    assert result.exit_code == 2 and "boss" in result.output
    assert "qian" not in users()


def test_created_user_can_log_in(runner, client, units):
    created = create_user(runner, "sunqi", "--password", PASSWORD, "--role", "manager", "--unit", "A")
    assert created.exit_code == 0, created.output
    response = client.post("/login", data={"username": "sunqi", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/profile").status_code == 200
    client.post("/logout")
    wrong = client.post("/login", data={"username": "sunqi", "password": PASSWORD + "x"})
    assert wrong.status_code == 200
