"""`flask channels list|add|test|remove` and what `flask reminders run` shows of channels."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from robot_receivers import DING_SECRET, DING_TOKEN, WECOM_BAD_KEY, WECOM_KEY
from test_channels import MORNING, overdue_in_a  # noqa: F401  (the overdue measures' fixture)

from tracker.audit.models import AuditEvent
from tracker.channels.models import UnitChannel
from tracker.extensions import db
from tracker.reminders.models import Notification

NEVER_SHOWN = (WECOM_KEY, DING_TOKEN, DING_SECRET)


def run(runner, *args):
    result = runner.invoke(args=list(args))
    assert not [s for s in NEVER_SHOWN if s in result.output], result.output
    return result


def refused(result, words: str = "") -> None:
    """An error exit with a readable message (holding `words`), not a traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.output.strip() and words in result.output, result.output


def channels() -> list[UnitChannel]:
    db.session.expire_all()
    return db.session.scalars(sa.select(UnitChannel).order_by(UnitChannel.id)).all()


def add(runner, receivers, kind="dingtalk", *extra, name="支部群", unit="A"):
    args = ["channels", "add", "--unit", unit, "--kind", kind, "--name", name, "--url", receivers.url(kind)]
    if kind == "dingtalk":
        args += ["--secret", DING_SECRET]
    return run(runner, *args, *extra)


def test_add_list_test_and_remove(org, receivers, runner):
    added = add(runner, receivers, "dingtalk", "--no-daily", "--language", "en")
    assert added.exit_code == 0, added.output
    (channel,) = channels()
    assert (channel.unit_id, channel.name, channel.language) == (org.a.id, "支部群", "en")
    assert (channel.daily, channel.weekly, channel.escalations, channel.notices) == (False, True, True, True)
    assert channel.created_by_id == org.admin.id and channel.has_secret
    assert f"Added channel {channel.id} 支部群 (dingtalk, A)" in added.output
    assert channel.url_hint in added.output

    listed = run(runner, "channels", "list")
    assert listed.exit_code == 0, listed.output
    line = [row for row in listed.output.splitlines() if row.startswith(f"{channel.id}\t")][0]
    assert line.split("\t") == [str(channel.id), "A", "支部群", "dingtalk", channel.url_hint, "yes",
                                "weekly,escalations,notices"]

    tested = run(runner, "channels", "test", str(channel.id))
    assert tested.exit_code == 0, tested.output
    assert "dingtalk ok" in tested.output and len(receivers.of("dingtalk")) == 1  # signed with the secret
    assert channels()[0].last_test_ok is True

    refused(run(runner, "channels", "remove", str(channel.id)), "--yes")
    assert len(channels()) == 1
    removed = run(runner, "channels", "remove", str(channel.id), "--yes")
    assert removed.exit_code == 0, removed.output
    assert channels() == [] and "Removed channel" in removed.output
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("channel.%"))
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["channel.create", "channel.test", "channel.delete"]
    assert run(runner, "channels", "list").output.strip() == "No channels."


def test_a_robots_error_on_the_test_exits_non_zero_with_its_answer(org, receivers, runner):
    assert add(runner, receivers, "wecom").exit_code == 0
    receivers.script(1, (200, WECOM_BAD_KEY))
    refused(run(runner, "channels", "test", str(channels()[0].id)), "93000")
    assert channels()[0].last_test_ok is False
    refused(run(runner, "channels", "test", "999999"), "999999")


@pytest.mark.parametrize("args, words", [
    (["--kind", "wecom", "--url", "https://evil.example/cgi-bin/webhook/send?key=k"], "url:"),
    (["--kind", "wecom", "--url", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"], "url:"),
    (["--kind", "dingtalk", "--url", "https://oapi.dingtalk.com/robot/send?access_token=t"], "secret:"),
    (["--kind", "feishu", "--url", "https://open.feishu.cn/open-apis/bot/v2/hook/x"], "secret:"),
    (["--kind", "wecom", "--url", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "--name", ""],
     "name:"),
    (["--kind", "sms", "--url", "https://x.example/"], "sms"),
    (["--kind", "wecom", "--url", "https://[qyapi"], "--url"),
])
def test_wrong_values_name_their_field_and_add_nothing(org, runner, args, words):
    if "--name" not in args:
        args = [*args, "--name", "群"]
    result = runner.invoke(args=["channels", "add", "--unit", "A", *args])
    refused(result, words)
    assert channels() == []


def test_who_acts(org, receivers, runner):
    refused(add(runner, receivers, "wecom", "--unit", "NOPE"), "NOPE")
    refused(add(runner, receivers, "wecom", "--user", "nobody"), "nobody")
    refused(add(runner, receivers, "wecom", "--user", "staff_a"))  # not a manager: the service refuses
    refused(add(runner, receivers, "wecom", "--user", "mgr_b"))  # B's manager, not A's
    assert channels() == []
    assert add(runner, receivers, "wecom", "--user", "mgr_a").exit_code == 0
    assert channels()[0].created_by_id == org.mgr_a.id
    refused(run(runner, "channels", "remove", str(channels()[0].id), "--yes", "--user", "mgr_b"))
    assert len(channels()) == 1


def test_without_an_administrator_the_actor_must_be_given(app, make, runner, receivers):
    make.unit("A", "第一党支部")
    db.session.commit()
    refused(add(runner, receivers, "wecom"), "--user")


# --- flask reminders run --------------------------------------------------------------------------


def robot_rows():
    db.session.expire_all()
    return db.session.scalars(sa.select(Notification).where(Notification.channel_id.is_not(None))).all()


def test_the_dry_run_shows_what_each_channel_would_get_and_sends_nothing(org, receivers, overdue_in_a,  # noqa: F811
                                                                         runner):
    in_a, in_a1, in_b = overdue_in_a
    assert add(runner, receivers, "wecom", name="支部群").exit_code == 0
    notifications = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    result = run(runner, "reminders", "run", "--now", MORNING, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "#支部群 (wecom, A)\tunit_daily\t" in out and "#支部群 (wecom, A)\tescalation\t" in out
    lines = out.splitlines()
    daily = next(n for n, line in enumerate(lines) if line.startswith("#支部群 (wecom, A)\tunit_daily"))
    summary = []
    for line in lines[daily + 1:]:
        if not line.startswith("  ") and line:
            break
        summary.append(line)
    text = "\n".join(summary)
    assert in_a.measure in text and in_a1.measure in text and in_b.measure not in text
    assert "  **" in text  # the Markdown as the robot gets it, indented under its line
    people = [n for n, line in enumerate(lines) if line.startswith("staff_a\t")]
    assert people and max(people) < daily  # people first, then the channels
    assert "message(s) to channels would be queued; nothing was written." in lines[-1]
    assert " 2 message(s) to channels" in lines[-1]
    assert receivers.received == [] and robot_rows() == []
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == notifications


def test_a_real_run_lists_channel_rows_and_sends_them(org, receivers, overdue_in_a, runner):  # noqa: F811
    assert add(runner, receivers, "wecom", name="支部群").exit_code == 0
    result = run(runner, "reminders", "run", "--now", MORNING)
    assert result.exit_code == 0, result.output
    assert "#支部群 (wecom, A)\tunit_daily\t" in result.output
    assert "and 2 message(s) to channels; sent" in result.output
    assert len(receivers.of("wecom")) == 2 and len(robot_rows()) == 2
