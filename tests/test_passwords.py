"""The password policy (length, common and context-specific passwords) on every path that sets a
password, and login answers that cost the same whether or not the user exists (issue 11)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import NOW, PASSWORD
from flask import g

from tracker.auth import tokens
from tracker.clock import Clock
from tracker.demo import data as demo_data
from tracker.enums import Role
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.org import models as org_models
from tracker.org import services as org_services
from tracker.org.models import User

COMMON = ["password1", "12345678", "qwertyui", "abc12345", "password123", "1qaz2wsx", "Admin@123", "aaaaaaaa"]
STRONG = "violet-harbour-73"
EN_COMMON, ZH_COMMON = "too common or too easy to guess", "过于常见"
EN_CONTEXT, ZH_CONTEXT = "too close to your username, name or unit", "过于相近"


@pytest.fixture(autouse=True)
def locale_per_request(app):
    @app.before_request
    def forget_locale():
        g.pop("_flask_babel", None)


@pytest.fixture
def zhangsan(org, make):
    unit = make.unit("DANGJIAN", "机关党建办公室", parent=org.root)
    user = make.user("zhangsan", Role.STAFF, unit, name="张三", email="zs.office@example.org")
    db.session.commit()
    return user


def refusal(password, user=None) -> str | None:
    """The password field's message when the service refuses `password` for `user` (or for a new
    user zhangsan), else None."""
    values = dict(username="zhangsan", name="张三", role=Role.STAFF, unit=user.unit if user else None,
                  email="zs.office@example.org", user=user)
    try:
        with db.session.begin_nested():
            org_services.save_user(None, Clock.parse(NOW), password=password, **values)
    except ValidationFailed as exc:
        return str(exc.fields["password"][0]) if "password" in exc.fields else None
    return None


# --- the policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("password", COMMON)
def test_common_and_easily_guessed_passwords_are_refused(zhangsan, password):
    message = refusal(password, zhangsan)
    assert message is not None and ZH_COMMON in message


@pytest.mark.parametrize("password", [
    "zhangsan123",        # the username and a sequence
    "Zhangsan!2026",      # capitalised, with a year
    "nasgnahz2026",       # reversed
    "zs.office2026",      # the e-mail address's name
    "dangjian@2026",      # the unit's code
    "机关党建办公室2026",     # the unit's name
    "zhenggaitaizhang1",  # the product's name (整改台账)
    "Tracker2026!",
])
def test_passwords_built_from_the_user_the_unit_or_the_product_are_refused(zhangsan, password):
    message = refusal(password, zhangsan)
    assert message is not None and ZH_CONTEXT in message, message


def test_length_limits_and_a_strong_password(zhangsan):
    assert "8" in refusal("Xq7#kL2", zhangsan)
    assert "200" in refusal("violet-harbour-" * 14, zhangsan)  # 210 characters: the login form takes 200
    assert refusal(STRONG, zhangsan) is None
    assert refusal("冬日暖阳照在青石板路上", zhangsan) is None  # a Chinese phrase of eleven characters


def test_the_demo_and_the_test_factories_keep_passwords_the_policy_refuses_on_purpose(app, org):
    # Documented demo logins (demo1234) and the bench seeders skip the policy; every real path applies it.
    assert refusal(demo_data.PASSWORD) is not None
    assert refusal(PASSWORD) is None  # the suite's own password passes


# --- every path that sets a password ------------------------------------------------------------


def _change_own(client, new):
    return client.post("/profile", data={"which": "password", "pw-current": PASSWORD, "pw-new": new,
                                         "pw-confirm": new})


@pytest.mark.parametrize("language, common, context", [("zh_CN", ZH_COMMON, ZH_CONTEXT),
                                                       ("en", EN_COMMON, EN_CONTEXT)])
def test_self_service_change_is_checked_in_the_users_language(zhangsan, login_as, language, common, context):
    zhangsan.language = language
    db.session.commit()
    client = login_as(zhangsan)
    for new, words in (("qwertyui", common), ("zhangsan123", context)):
        page = _change_own(client, new).get_data(as_text=True)
        assert words in page and 'data-error-for="pw-new"' in page
    db.session.expire_all()
    assert db.session.get(User, zhangsan.id).check_password(PASSWORD)
    assert _change_own(client, STRONG).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, zhangsan.id).check_password(STRONG)


def _user_form(org, **overrides):
    data = {"username": "newbie", "name": "新同志", "email": "newbie@example.org", "role": "staff",
            "unit": str(org.a.id), "language": "zh_CN", "active": "y", "password": STRONG}
    data.update(overrides)
    return data


def test_admin_create_and_reset_are_checked(org, login_as):
    org.admin.language = "en"
    db.session.commit()
    admin = login_as(org.admin)
    response = admin.post("/admin/users/new", data=_user_form(org, password="newbie2026"))
    assert response.status_code == 422 and EN_CONTEXT in response.get_data(as_text=True)
    response = admin.post("/admin/users/new", data=_user_form(org, password="abc12345"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and EN_COMMON in page and 'data-error-for="password"' in page
    assert db.session.scalar(sa.select(User).where(User.username == "newbie")) is None

    reset = _user_form(org, username="staff_a", name="张三", password="staff_a123")
    response = admin.post(f"/admin/users/{org.staff_a.id}/edit", data=reset)
    assert response.status_code == 422 and EN_CONTEXT in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, org.staff_a.id).check_password(PASSWORD)
    assert admin.post("/admin/users/new", data=_user_form(org)).status_code == 302


def test_command_line_create_user_is_checked(app, runner, org):
    result = runner.invoke(args=["create-user", "lisi", "--password", "password1", "--role", "admin"])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert ZH_COMMON in result.output or EN_COMMON in result.output
    assert db.session.scalar(sa.select(User).where(User.username == "lisi")) is None
    ok = runner.invoke(args=["create-user", "lisi", "--password", STRONG, "--role", "admin"])
    assert ok.exit_code == 0, ok.output


def test_api_user_create_is_checked(org, client, clock):
    org.admin.language = "en"
    db.session.commit()
    _, raw = tokens.create_token(org.admin, clock, name="t")
    db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    body = {"username": "wangwu", "name": "王五", "role": "staff", "unit_id": org.a.id,
            "password": "wangwu2026"}
    response = client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == 422 and EN_CONTEXT in response.get_json()["fields"]["password"][0]
    response = client.post("/api/v1/users", json={**body, "password": "12345678"}, headers=headers)
    assert response.status_code == 422 and EN_COMMON in response.get_json()["fields"]["password"][0]
    assert client.post("/api/v1/users", json={**body, "password": STRONG}, headers=headers).status_code == 201


# --- login answers cost the same ------------------------------------------------------------------


@pytest.fixture
def hash_checks(monkeypatch):
    """Every password hash verification, by the method of the hash verified (observation only)."""
    seen: list[str] = []
    real = org_models.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        seen.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(org_models, "check_password_hash", counting)
    return seen


@pytest.mark.parametrize("username, password, logged_in", [
    ("nobody", "whatever-they-typed", False),   # no such user
    ("staff_a", "wrong-password", False),       # wrong password
    ("inactive", PASSWORD, False),              # right password of a deactivated user
    ("staff_a", PASSWORD, True),
])
def test_every_login_answer_verifies_one_hash_of_the_configured_method(
        app, org, make, client, hash_checks, username, password, logged_in):
    make.user("inactive", Role.STAFF, org.a, active=False)
    db.session.commit()
    response = client.post("/login", data={"username": username, "password": password})
    assert (response.status_code == 302) is logged_in
    assert hash_checks == [app.config["PASSWORD_HASH_METHOD"]]
