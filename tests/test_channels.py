"""Unit channels (推送渠道): robots and the webhook through the outbox, against the local receivers.

Every test runs on both databases. The receivers (robot_receivers.py) check each signature as the
vendor documents it, so a message the app signed wrongly is refused there, not here.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY, when
from robot_receivers import (
    DING_SECRET,
    DING_TOO_FAST,
    FEISHU_SECRET,
    HOOK_SECRET,
    WECOM_BAD_KEY,
    WECOM_KEY,
    WECOM_TOO_FAST,
)

from tracker.audit.models import AuditEvent
from tracker.channels import services, summaries
from tracker.channels.models import UnitChannel
from tracker.channels.services import Values
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.reminders import outbox
from tracker.reminders import services as reminders
from tracker.reminders.models import Notification
from tracker.reminders.models import NotificationKind as Kind
from tracker.reminders.models import NotificationStatus as St
from tracker.tasks.services.acknowledgement import acknowledge

SECRETS = {"wecom": None, "dingtalk": DING_SECRET, "feishu": FEISHU_SECRET, "webhook": HOOK_SECRET}
WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
MORNING = "2026-06-16T09:30:00"  # a Tuesday: daily summaries, no weekly


def add_channel(actor, unit, receivers, kind, clock, **flags):
    values = Values(name=f"{unit.name}{kind}群", kind=kind, url=receivers.url(kind), secret=SECRETS[kind],
                    **flags)
    channel = services.create(actor, unit, values, clock)
    db.session.commit()
    return channel


@pytest.fixture
def overdue_in_a(org, make):
    """A's measure 10 days overdue (escalation age), A1's due in 2 days, and B's overdue one (not A's)."""
    early = make.__class__(when("2026-04-01T09:00:00"))
    p_a = early.problem(org.mgr_a, org.a, found_on=date(2026, 3, 20))
    p_b = early.problem(org.mgr_b, org.b, found_on=date(2026, 3, 20))
    in_a = early.task(org.mgr_a, p_a, owner=org.staff_a, deadline=TODAY - timedelta(days=10))
    in_a1 = make.task(org.mgr_a, p_a, owner=org.staff_a1, unit=org.a1, deadline=TODAY + timedelta(days=2))
    in_b = early.task(org.mgr_b, p_b, owner=org.staff_b, deadline=TODAY - timedelta(days=9))
    db.session.commit()
    return in_a, in_a1, in_b


def robot_rows():
    return db.session.scalars(sa.select(Notification).where(Notification.channel_id.is_not(None))
                              .order_by(Notification.id)).all()


# --- delivery, signatures, scope ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wecom", "dingtalk", "feishu", "webhook"])
def test_daily_summary_reaches_each_robot_signed_once_and_only_with_the_units_items(
        org, receivers, overdue_in_a, clock, kind):
    in_a, in_a1, in_b = overdue_in_a
    add_channel(org.mgr_a, org.a, receivers, kind, clock, escalations=False)
    morning = when(MORNING)
    reminders.run_once(morning)
    reminders.run_once(morning)  # a second pass the same morning sends nothing again
    got = receivers.of(kind)
    assert len(got) == 1, receivers.refused
    text = got[0].text
    assert in_a.measure in text and in_a1.measure in text
    assert in_b.measure not in text  # B is not in A's subtree
    assert f"/tasks/{in_a.id}" in text
    assert "第一党支部" in got[0].title
    row = robot_rows()[0]
    assert row.status == St.SENT and row.kind == Kind.UNIT_DAILY and row.user_id is None
    if kind == "webhook":
        payload = got[0].payload
        assert payload["kind"] == "unit_daily" and payload["unit"]["code"] == "A"
        assert payload["counts"]["overdue"] == 1 and payload["counts"]["due_soon"] == 1
        assert {i["id"] for i in payload["items"]} == {in_a.id, in_a1.id}
        assert got[0].headers["x-tracker-delivery"] == f"tracker-{row.id}"


def test_before_the_daily_hour_nothing_and_an_empty_summary_is_never_sent(org, receivers, clock, make):
    add_channel(org.mgr_b, org.b, receivers, "wecom", clock)
    quiet = make.task(org.mgr_b, owner=org.staff_b, deadline=TODAY + timedelta(days=30))
    acknowledge(quiet, org.staff_b, clock)  # signed for, not due: nothing to say about it
    db.session.commit()
    reminders.run_once(when("2026-06-17T08:50:00"))
    reminders.run_once(when("2026-06-17T09:30:00"))
    assert receivers.received == [] and robot_rows() == []


def test_summary_in_the_channels_language(org, receivers, overdue_in_a, clock):
    add_channel(org.mgr_a, org.a, receivers, "wecom", clock, language="en", escalations=False)
    reminders.run_once(when(MORNING))
    text = receivers.of("wecom")[0].text
    assert "Daily rectification summary" in text and "Overdue" in text and "逾期" not in text


def test_weekly_summary_replaces_the_daily_one_on_its_day(org, receivers, overdue_in_a, clock):
    add_channel(org.mgr_a, org.a, receivers, "feishu", clock, escalations=False)
    monday = when("2026-06-15T09:05:00")  # WEEKLY_DIGEST_CRON: Monday 09:00
    reminders.run_once(monday)
    reminders.run_once(when("2026-06-15T15:00:00"))
    kinds = [r.kind for r in robot_rows()]
    assert kinds == [Kind.UNIT_WEEKLY]
    assert "2026-W25" in receivers.of("feishu")[0].title
    reminders.run_once(when(MORNING))  # Tuesday: the daily one again
    assert [r.kind for r in robot_rows()] == [Kind.UNIT_WEEKLY, Kind.UNIT_DAILY]


def test_escalations_go_to_every_channel_above_the_measure_once_combined(org, receivers, overdue_in_a, clock):
    in_a, _in_a1, in_b = overdue_in_a
    a = add_channel(org.mgr_a, org.a, receivers, "dingtalk", clock, daily=False, weekly=False)
    root = add_channel(org.mgr_root, org.root, receivers, "webhook", clock, daily=False, weekly=False)
    reminders.run_once(when(MORNING))
    reminders.run_once(when("2026-06-17T09:30:00"))
    rows = {(r.channel_id, r.task_id) for r in robot_rows() if r.kind == Kind.ESCALATION}
    assert rows == {(a.id, in_a.id), (root.id, in_a.id), (root.id, in_b.id)}
    assert len(receivers.of("dingtalk")) == 1
    hooks = receivers.of("webhook")
    assert len(hooks) == 1  # both of the root's escalations in one message
    assert {i["id"] for i in hooks[0].payload["items"]} == {in_a.id, in_b.id}
    assert in_b.measure not in receivers.of("dingtalk")[0].text


def test_a_notice_goes_to_the_addressee_units_channel(org, receivers, measures, clock):
    from notice_support import issue

    from tracker.supervision.models import NoticeKind

    add_channel(org.mgr_a, org.a, receivers, "wecom", clock, daily=False, weekly=False, escalations=False)
    add_channel(org.mgr_b, org.b, receivers, "webhook", clock, daily=False, weekly=False, escalations=False)
    notice = issue(org.mgr_root, clock, NoticeKind.SUPERVISION, measures.overdue)
    outbox.flush(clock)
    got = receivers.of("wecom")
    assert len(got) == 1 and "督办单" in got[0].text and f"/notices/{notice.id}" in got[0].text
    assert measures.overdue.measure in got[0].text
    assert receivers.of("webhook") == []  # B is not the addressee


# --- failures, retries, limits ---------------------------------------------------------------------


def test_a_rate_limit_answer_is_retried_later_never_counted_as_sent(org, receivers, overdue_in_a, clock):
    add_channel(org.mgr_a, org.a, receivers, "wecom", clock, escalations=False)
    receivers.script(1, (200, WECOM_TOO_FAST))
    morning = when(MORNING)
    result = reminders.run_once(morning)
    row = robot_rows()[0]
    assert result.flushed.retried == [row.id] and receivers.received == []
    assert row.status == St.PENDING and row.attempts == 1 and "45009" in row.last_error
    outbox.flush(when("2026-06-16T09:31:30"))
    db.session.refresh(row)
    assert row.status == St.SENT and len(receivers.of("wecom")) == 1


def test_server_trouble_is_retried_and_a_permanent_error_fails_and_shows(org, receivers, overdue_in_a, clock,
                                                                           login_as, client):
    channel = add_channel(org.mgr_a, org.a, receivers, "wecom", clock, escalations=False)
    receivers.script(1, (502, {"error": "bad gateway"}))
    reminders.run_once(when(MORNING))
    row = robot_rows()[0]
    assert row.status == St.PENDING and "HTTP 502" in row.last_error
    receivers.script(1, (200, WECOM_BAD_KEY))
    outbox.flush(when("2026-06-16T09:32:00"))
    db.session.refresh(row)
    assert row.status == St.FAILED and "93000" in row.last_error
    assert WECOM_KEY not in row.last_error
    login_as(org.admin)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert f'data-notification="{row.id}"' in page and channel.name in page
    assert WECOM_KEY not in page


def test_dingtalk_refuses_a_wrong_secret_and_the_row_fails(org, receivers, overdue_in_a, clock):
    values = Values(name="钉钉", kind="dingtalk", url=receivers.url("dingtalk"),
                    secret="SEC-not-the-right-one", escalations=False)
    channel = services.create(org.mgr_a, org.a, values, clock)
    db.session.commit()
    reminders.run_once(when(MORNING))
    row = robot_rows()[0]
    assert row.status == St.FAILED and "310000" in row.last_error and row.channel_id == channel.id
    assert receivers.received == []


def test_the_rate_window_holds_messages_back_and_sends_them_in_the_next_minute(org, receivers, clock):
    channel = add_channel(org.mgr_a, org.a, receivers, "dingtalk", clock)
    now = when(MORNING)
    rows = [summaries.channel_row(Kind.UNIT_DAILY, channel, f"t:{i}", now, title=f"消息{i}", text=f"第{i}条",
                                  data={}) for i in range(25)]
    outbox.enqueue(rows)
    db.session.commit()
    first = outbox.flush(now)
    assert len(first.sent) == 20 and len(first.deferred) == 5 and len(receivers.of("dingtalk")) == 20
    waiting = db.session.scalars(sa.select(Notification).where(Notification.status == St.PENDING)).all()
    assert {n.attempts for n in waiting} == {0}
    assert outbox.flush(when("2026-06-16T09:30:40")).sent == []  # same minute
    assert len(outbox.flush(when("2026-06-16T09:31:01")).sent) == 5
    assert sorted(int(r.title[2:]) for r in receivers.of("dingtalk")) == list(range(25))


def test_the_robots_own_limit_holds_the_channels_other_messages(org, receivers, clock):
    channel = add_channel(org.mgr_a, org.a, receivers, "dingtalk", clock)
    now = when(MORNING)
    outbox.enqueue([summaries.channel_row(Kind.UNIT_DAILY, channel, f"t:{i}", now, title=f"消息{i}",
                                          text="x", data={}) for i in range(3)])
    db.session.commit()
    receivers.script(1, (200, DING_TOO_FAST))
    result = outbox.flush(now)
    assert len(result.retried) == 1 and len(result.deferred) == 2 and receivers.received == []
    outbox.flush(when("2026-06-16T09:33:00"))
    assert len(receivers.of("dingtalk")) == 3


def test_a_long_escalation_batch_is_split_within_the_size_limit_none_dropped(org, receivers, clock):
    from conftest import Factory

    channel = add_channel(org.mgr_a, org.a, receivers, "wecom", clock, daily=False, weekly=False)
    early = Factory(when("2026-04-01T09:00:00"))
    problem = early.problem(org.mgr_a, org.a, found_on=date(2026, 3, 20))
    made = [early.task(org.mgr_a, problem, owner=org.staff_a, deadline=TODAY - timedelta(days=8),
                       measure="落实" + "整改措施内容较长" * 6 + f"第{i}项") for i in range(60)]
    db.session.commit()
    reminders.run_once(when(MORNING))
    got = receivers.of("wecom")
    assert len(got) > 1 and all(len(r.text.encode()) <= 4096 for r in got)
    listed = "\n".join(r.text for r in got)
    assert all(f"/tasks/{t.id})" in listed for t in made)
    assert len(robot_rows()) == 60 and {r.channel_id for r in robot_rows()} == {channel.id}


def test_two_schedulers_at_once_deliver_each_message_once(app, org, receivers, overdue_in_a, clock):
    for kind in ("wecom", "dingtalk", "feishu", "webhook"):
        add_channel(org.mgr_a, org.a, receivers, kind, clock)
    morning = when(MORNING)
    barrier, errors = threading.Barrier(2), []

    def run():
        with app.app_context():
            try:
                barrier.wait()
                reminders.run_once(morning)
            except Exception as exc:  # a lost insert race is fine; anything else fails the test
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reminders.run_once(morning)
    assert not [e for e in errors if "unique" not in str(e).lower() and "locked" not in str(e).lower()]
    # Each kind: the daily summary and one escalation message, exactly once.
    for kind in ("wecom", "dingtalk", "feishu", "webhook"):
        assert len(receivers.of(kind)) == 2, (kind, receivers.refused)
    assert all(r.status == St.SENT for r in robot_rows())


def test_a_day_of_scheduler_runs_delivers_each_summary_and_escalation_once(org, receivers, overdue_in_a,
                                                                            clock):
    for kind in ("wecom", "dingtalk", "feishu", "webhook"):
        add_channel(org.mgr_a, org.a, receivers, kind, clock)
    add_channel(org.mgr_b, org.b, receivers, "wecom", clock)
    receivers.per_minute = 20  # the services' own limits, in real time: the day runs in seconds
    start = when("2026-06-17T00:00:00").now()  # a Wednesday: no weekly summary still due
    for minutes in range(0, 24 * 60, 20):
        moment = start + timedelta(minutes=minutes)
        reminders.run_once(when(moment.isoformat()))
    per_channel: dict = {}
    for row in robot_rows():
        assert row.status == St.SENT
        per_channel.setdefault(row.channel_id, []).append(row.kind)
    assert all(sorted(k.value for k in kinds) == ["escalation", "unit_daily"]
               for kinds in per_channel.values())
    assert len(receivers.of("wecom")) == 4 and len(receivers.of("dingtalk")) == 2
    assert len(receivers.of("feishu")) == 2 and len(receivers.of("webhook")) == 2
    assert receivers.refused == []


def test_a_channel_turned_off_or_deleted_gets_nothing(org, receivers, overdue_in_a, clock):
    channel = add_channel(org.mgr_a, org.a, receivers, "wecom", clock)
    outbox.enqueue(summaries.summary(channel, when(MORNING), weekly=False))
    db.session.commit()
    services.update(org.mgr_a, channel, Values(active=False), clock)
    db.session.commit()
    result = outbox.flush(when(MORNING))
    assert len(result.cancelled) == 1 and receivers.received == []
    reminders.run_once(when("2026-06-17T09:30:00"))
    assert receivers.received == []


# --- configuration: checks, secrets, permissions ------------------------------------------------------


def test_the_address_and_secret_are_encrypted_at_rest_and_never_in_the_audit(org, receivers, clock):
    channel = add_channel(org.mgr_a, org.a, receivers, "dingtalk", clock)
    raw = db.session.execute(sa.text("SELECT url_encrypted, secret_encrypted, url_hint FROM unit_channels"
                                     " WHERE id = :id"), {"id": channel.id}).one()
    assert "access_token" not in raw[0] and DING_SECRET not in raw[1]
    assert raw[2].endswith("…" + receivers.url("dingtalk")[-4:]) and "access_token" not in raw[2]
    events = db.session.scalars(sa.select(AuditEvent)).all()
    dumped = " ".join(str(e.before) + str(e.after) for e in events)
    assert "access_token" not in dumped and DING_SECRET not in dumped


def test_a_changed_key_makes_the_channel_ask_again_instead_of_sending(app, org, receivers, overdue_in_a,
                                                                      clock):
    add_channel(org.mgr_a, org.a, receivers, "wecom", clock, escalations=False)
    app.config["CHANNEL_SECRET_KEY"] = "another-key"
    reminders.run_once(when(MORNING))
    row = robot_rows()[0]
    assert row.status == St.FAILED and "enter it again" in row.last_error and receivers.received == []


@pytest.mark.parametrize("values, field", [
    (dict(kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"), "name"),
    (dict(name="群", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"), "kind"),
    (dict(name="群", kind="sms", url="https://x"), "kind"),
    (dict(name="群", kind="wecom"), "url"),
    (dict(name="群", kind="wecom", url="ftp://qyapi.weixin.qq.com/x"), "url"),
    (dict(name="群", kind="wecom", url="https://evil.example/cgi-bin/webhook/send?key=k"), "url"),
    (dict(name="群", kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send"), "url"),
    (dict(name="群", kind="dingtalk", url="https://oapi.dingtalk.com/robot/send?access_token=t"), "secret"),
    (dict(name="群", kind="feishu", url="https://open.feishu.cn/open-apis/bot/v2/hook/abc"), "secret"),
    (dict(name="群", kind="webhook", url="http://127.0.0.1:5432/", secret="s"), "url"),
    (dict(name="群", kind="webhook", url="http://10.1.2.3/hook", secret="s"), "url"),
    (dict(name="群", kind="webhook", url="http://169.254.169.254/latest/meta-data", secret="s"), "url"),
    (dict(name="群", kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
          language="fr"), "language"),
    (dict(name="群\x00", kind="wecom", url=WECOM_URL), "name"),
    (dict(name="群" * 81, kind="wecom", url=WECOM_URL), "name"),
    (dict(name="群", kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
          daily="yes"), "daily"),
])
def test_bad_channel_values_are_refused_at_their_field(org, clock, values, field):
    with pytest.raises(ValidationFailed) as caught:
        services.create(org.mgr_a, org.a, Values(**values), clock)
    assert field in caught.value.fields
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UnitChannel)) == 0


def test_a_name_is_unique_within_a_unit(org, receivers, clock):
    add_channel(org.mgr_a, org.a, receivers, "wecom", clock)
    with pytest.raises(ValidationFailed) as caught:
        add_channel(org.mgr_a, org.a, receivers, "wecom", clock)
    assert "name" in caught.value.fields
    db.session.rollback()
    add_channel(org.mgr_b, org.b, receivers, "wecom", clock)  # another unit may use it


def test_editing_keeps_the_saved_address_and_secret_when_left_blank(org, receivers, overdue_in_a, clock):
    channel = add_channel(org.mgr_a, org.a, receivers, "dingtalk", clock, escalations=False)
    services.update(org.mgr_a, channel, Values(name="改名了", url="", secret=""), clock)
    db.session.commit()
    reminders.run_once(when(MORNING))
    assert len(receivers.of("dingtalk")) == 1  # still signed with the saved secret
    with pytest.raises(ValidationFailed) as caught:  # another kind must be given its own address
        services.update(org.mgr_a, channel, Values(kind="feishu"), clock)
    assert "url" in caught.value.fields


@pytest.mark.parametrize("who, unit, allowed", [
    ("admin", "a", True), ("mgr_root", "a", True), ("mgr_a", "a", True), ("mgr_a", "a1", True),
    ("mgr_a", "root", False), ("mgr_b", "a", False), ("staff_a", "a", False), ("viewer_root", "a", False),
])
def test_who_may_configure_a_units_channels(org, receivers, clock, who, unit, allowed):
    actor = getattr(org, who)
    if allowed:
        channel = add_channel(actor, getattr(org, unit), receivers, "wecom", clock)
        assert services.readable(actor, channel)
        assert channel in db.session.scalars(services.channels_of(actor)).all()
    else:
        with pytest.raises(PermissionDenied):
            add_channel(actor, getattr(org, unit), receivers, "wecom", clock)


def test_the_test_message_is_sent_now_and_its_answer_recorded(org, receivers, clock):
    channel = add_channel(org.mgr_a, org.a, receivers, "feishu", clock)
    ok, note = services.send_test(org.mgr_a, channel, clock)
    db.session.commit()
    assert ok and note == "feishu ok" and len(receivers.of("feishu")) == 1
    assert "支部书记" in receivers.of("feishu")[0].text
    receivers.script(1, (200, {"code": 19021, "data": {}, "msg": "sign match fail"}))
    ok, note = services.send_test(org.mgr_a, channel, clock)
    db.session.commit()
    assert not ok and "19021" in note
    channel = db.session.get(UnitChannel, channel.id)
    assert channel.last_test_ok is False and "19021" in channel.last_test_note
    with pytest.raises(PermissionDenied):
        services.send_test(org.staff_a, channel, clock)


def test_the_robots_key_never_reaches_the_log_even_at_debug(app, org, receivers, overdue_in_a, clock):
    import io
    import logging

    from tracker.ops import logging as ops_logging

    stream = io.StringIO()
    handler = ops_logging.configure("text", "DEBUG", stream)
    try:
        add_channel(org.mgr_a, org.a, receivers, "wecom", clock, escalations=False)
        receivers.script(1, (500, {"errcode": -1, "errmsg": "system busy"}))
        reminders.run_once(when(MORNING))
        outbox.flush(when("2026-06-16T09:35:00"))
    finally:
        logging.getLogger().removeHandler(handler)
        ops_logging.configure(app.config.get("LOG_FORMAT", "text"), "INFO")
    assert len(receivers.of("wecom")) == 1
    assert WECOM_KEY not in stream.getvalue()


def test_two_managers_naming_a_channel_alike_at_once_get_one_channel_and_a_name_error(app, org, receivers,
                                                                                     clock):
    unit_id, actor_ids = org.a.id, (org.mgr_a.id, org.mgr_a_2.id)
    barrier, outcomes = threading.Barrier(2), []

    def create(actor_id):
        from tracker.org.models import Unit, User

        with app.app_context():
            try:
                actor, unit = db.session.get(User, actor_id), db.session.get(Unit, unit_id)
                values = Values(name="工作群", kind="wecom", url=receivers.url("wecom"))
                barrier.wait()
                services.create(actor, unit, values, clock)
                db.session.commit()
                outcomes.append("created")
            except ValidationFailed as exc:
                db.session.rollback()
                outcomes.append(sorted(exc.fields))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=create, args=(i,)) for i in actor_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str) == sorted(["created", ["name"]], key=str)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UnitChannel)) == 1


def test_saving_a_channel_unchanged_is_no_change(org, receivers, clock):
    channel = add_channel(org.mgr_a, org.a, receivers, "dingtalk", clock)
    events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    same = Values(name=channel.name, kind="dingtalk", url=receivers.url("dingtalk"), secret=DING_SECRET,
                  daily=True)
    services.update(org.mgr_a, channel, same, clock)
    db.session.commit()
    assert channel.version == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events
    services.update(org.mgr_a, channel, Values(kind="dingtalk", daily=False), clock)
    db.session.commit()
    assert channel.version == 2
    event = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.before == {"daily": True} and event.after == {"daily": False}


@pytest.mark.parametrize("url", ["https://[", "https://qyapi.weixin.qq.com:port/x?key=k", "   ", "http://"])
def test_a_malformed_address_is_a_field_error_not_a_crash(org, clock, url):
    with pytest.raises(ValidationFailed) as caught:
        services.create(org.mgr_a, org.a, Values(name="群", kind="wecom", url=url), clock)
    assert "url" in caught.value.fields
