"""Delivery through a real SMTP server (aiosmtpd), failures and retries, files, the web pages."""

from __future__ import annotations

import email
import socket
from datetime import timedelta
from email import policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from conftest import TODAY, when
from flask import render_template_string
from flask_login import login_user

from tracker.clock import utcnow
from tracker.extensions import db
from tracker.reminders import outbox, services
from tracker.reminders.models import Notification
from tracker.reminders.models import NotificationKind as Kind
from tracker.reminders.models import NotificationStatus as St


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping every accepted message; `refuse` answers 550 for an address."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 Message accepted"

    def ids(self) -> list[int]:
        return [int(m["X-Tracker-Notification"]) for _, m in self.messages]


class SMTPServer:
    def __init__(self, port: int):
        self.port, self.inbox, self.controller = port, Inbox(), None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(app):
    """A real SMTP server on a free local port, and the app configured to use it."""
    server = SMTPServer(free_port())
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port,
                      MAIL_DEFAULT_SENDER="整改台账 <tracker@example.org>")
    yield server
    server.stop()


def all_rows():
    return list(db.session.scalars(sa.select(Notification).order_by(Notification.id)))


def test_messages_arrive_over_smtp_in_each_recipients_language(org, make, smtp):
    smtp.start()
    org.staff_b.language = "en"
    make.task(org.mgr_a, owner=org.staff_a, measure="健全谈心谈话制度", deadline=TODAY + timedelta(days=9))
    make.task(org.mgr_b, owner=org.staff_b, measure="完善公文管理台账", deadline=TODAY + timedelta(days=9))
    db.session.commit()
    result = outbox.flush(when("2026-06-15T10:01:00"))
    assert len(result.sent) == 2 and len(smtp.inbox.messages) == 2
    (to_a, zh), (to_b, en) = smtp.inbox.messages
    assert to_a == [org.staff_a.email] and to_b == [org.staff_b.email]
    assert "健全谈心谈话制度" in zh["Subject"] and zh["To"].addresses[0].display_name == "张三"
    assert zh["From"].addresses[0].display_name == "整改台账"
    assert "New measure assigned to you" in en["Subject"] and "完善公文管理台账" in en["Subject"]
    assert en["To"].addresses[0].display_name == "王五"
    assert zh.get_content_type() == "multipart/alternative"
    text = zh.get_body(("plain",)).get_content()
    html = zh.get_body(("html",)).get_content()
    assert "健全谈心谈话制度" in text and "张三" in text
    assert "<table" in html and "健全谈心谈话制度" in html and "/tasks/" in html
    assert "A rectification measure has been assigned to you" in en.get_body(("plain",)).get_content()
    assert {n.status for n in all_rows()} == {St.SENT}
    assert outbox.flush(when("2026-06-15T10:02:00")).sent == []  # nothing twice


def test_smtp_down_then_up_delivers_exactly_once(org, make, smtp):
    make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    first = outbox.flush(when("2026-06-15T10:00:00"))  # nothing listens on the port
    assert first.sent == [] and len(first.retried) == 1
    row = all_rows()[0]
    assert row.status == St.PENDING and row.attempts == 1 and "connect" in row.last_error
    smtp.start()
    assert outbox.flush(when("2026-06-15T10:00:30")).sent == []  # back-off: not before a minute
    assert outbox.flush(when("2026-06-15T10:01:00")).sent == [row.id]
    assert outbox.flush(when("2026-06-15T10:05:00")).sent == []
    assert smtp.inbox.ids() == [row.id]


def test_back_off_doubles_and_is_capped(app):
    with app.app_context():
        assert [outbox.backoff(n).seconds // 60 for n in (1, 2, 3, 4, 7, 8, 12)] == [1, 2, 4, 8, 60, 60, 60]


def test_permanent_failure_after_max_attempts_is_kept_shown_and_retried(app, org, make, smtp, login_as):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 3
    make.task(org.mgr_a, owner=org.staff_a, measure="落实三会一课")
    db.session.commit()
    moment = when("2026-06-15T10:00:00").now()
    for minutes in (0, 1, 3):
        outbox.flush(when((moment + timedelta(minutes=minutes)).isoformat()))
    row = all_rows()[0]
    assert row.status == St.FAILED and row.attempts == 3
    login_as(org.staff_a)
    assert login_as(org.mgr_root).get("/admin/outbox").status_code == 404
    client = login_as(org.admin)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "落实三会一课" in page and f'data-notification="{row.id}" data-status="failed"' in page
    assert "cannot connect" in page and "data-confirm" in page
    response = client.post(f"/admin/outbox/{row.id}/retry")
    assert response.status_code == 302
    db.session.expire_all()
    assert row.status == St.PENDING and row.attempts == 0
    smtp.start()
    assert outbox.flush(when("2026-06-15T10:10:00")).sent == [row.id]
    assert smtp.inbox.ids() == [row.id]
    assert client.post(f"/admin/outbox/{row.id}/retry").status_code == 302  # not failed: refused
    db.session.expire_all()
    assert row.status == St.SENT


def test_a_refused_recipient_fails_at_once_and_the_others_still_go(org, make, smtp):
    smtp.start()
    smtp.inbox.refuse.add(org.staff_a.email)
    make.task(org.mgr_a, owner=org.staff_a)
    make.task(org.mgr_a, owner=org.staff_a1)
    db.session.commit()
    result = outbox.flush(when("2026-06-15T10:00:00"))
    assert len(result.failed) == 1 and len(result.sent) == 1
    failed = db.session.get(Notification, result.failed[0])
    assert failed.user_id == org.staff_a.id and "550" in failed.last_error and failed.attempts == 1


def test_without_mail_server_messages_are_written_as_eml_files(app, org, make):
    task = make.task(org.mgr_a, owner=org.staff_a, measure="规范党费收缴")
    db.session.commit()
    result = outbox.flush(when("2026-06-15T10:00:00"))
    path = app.instance_path + f"/outbox/{result.sent[0]}-assigned.eml"
    with open(path, "rb") as fh:
        msg = email.message_from_binary_file(fh, policy=policy.default)
    assert "规范党费收缴" in msg["Subject"] and f"/tasks/{task.id}" in msg.get_body(("plain",)).get_content()
    assert all_rows()[0].delivery_note == f"file:{result.sent[0]}-assigned.eml"


def test_a_user_without_email_gets_the_in_app_notification(org, make, smtp, login_as):
    smtp.start()
    org.staff_a.email = None
    make.task(org.mgr_a, owner=org.staff_a, measure="整改无邮箱")
    db.session.commit()
    result = outbox.flush(when("2026-06-15T10:00:00"))
    assert len(result.sent) == 1 and smtp.inbox.messages == []
    row = all_rows()[0]
    assert row.status == St.SENT and "in-app" in row.delivery_note
    page = login_as(org.staff_a).get("/notifications").get_data(as_text=True)
    assert "整改无邮箱" in page


def test_rows_stuck_in_sending_after_a_crash_go_out_again(app, org, make, smtp):
    smtp.start()
    make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    row = all_rows()[0]
    # Claims age in real time (a pinned business clock must not keep a dead claim forever).
    row.status, row.claimed_by, row.claimed_at = St.SENDING, "dead:1", utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert outbox.flush(when("2026-06-15T10:00:00")).sent == []  # still within the 10-minute timeout
    row.claimed_at = utcnow() - timedelta(minutes=11)
    db.session.commit()
    result = outbox.flush(when("2026-06-15T10:00:00"))
    assert result.recovered == 1 and result.sent == [row.id]


def test_the_same_reminder_is_never_queued_twice(app, org, make):
    make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=1))
    db.session.commit()
    later = when("2026-06-20T10:00:00")
    found = services.queue_due(later, with_digest=False)
    outbox.enqueue(found)
    outbox.enqueue(found)  # a second process computing the same rows
    db.session.commit()
    outbox.enqueue(found)
    db.session.commit()
    keys = [n.dedupe_key for n in all_rows()]
    assert len(keys) == len(set(keys)) == 1 + len(found)


def test_notification_list_unread_count_and_mark_all_read(app, org, make, login_as, queries):
    for n in range(3):
        make.task(org.mgr_a, owner=org.staff_a, measure=f"措施{n}")
    make.task(org.mgr_a, owner=org.staff_a1, measure="别人的措施")
    db.session.commit()
    outbox.flush(when("2026-06-15T10:00:00"))
    client = login_as(org.staff_a)
    page = client.get("/notifications").get_data(as_text=True)
    assert page.count('data-read="no"') == 3 and "别人的措施" not in page
    assert page.index("措施2") < page.index("措施1") < page.index("措施0")  # newest first
    assert 'data-unread="3"' in page
    with app.test_request_context():
        login_user(org.staff_a)
        assert render_template_string("{{ unread_notifications() }}") == "3"  # the header badge's helper
    assert client.post("/notifications/read").status_code == 302
    page = client.get("/notifications").get_data(as_text=True)
    assert 'data-read="no"' not in page and page.count('data-read="yes"') == 3
    assert login_as(org.staff_a1).get("/notifications").get_data(as_text=True).count('data-read="no"') == 1


def test_notification_list_costs_the_same_queries_for_10_or_200(app, org, make, login_as, queries):
    task = make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()

    def add(count):
        clock = when("2026-06-15T10:00:00")
        outbox.enqueue([outbox.row(Kind.OVERDUE, org.staff_a, f"x:{count}:{i}", clock,
                                   {"subject": f"提醒{i}", "body_text": "t", "body_html": "h"}, task=task)
                        for i in range(count)])
        db.session.commit()
        client.get("/notifications")  # the test shares the requests' session: load the user first

    client = login_as(org.staff_a)
    add(10)
    with queries() as small:
        assert client.get("/notifications?per_page=200").status_code == 200
    add(190)
    with queries() as large:
        assert client.get("/notifications?per_page=200").status_code == 200
    assert len(small) == len(large)
    client = login_as(org.admin)
    client.get("/admin/outbox")
    with queries() as outbox_page:
        assert client.get("/admin/outbox?per_page=200").status_code == 200
    add(5)
    client.get("/admin/outbox")
    with queries() as outbox_page_more:
        assert client.get("/admin/outbox?per_page=200").status_code == 200
    assert len(outbox_page) == len(outbox_page_more)


def test_a_flush_reads_the_same_few_rows_for_3_or_30_messages(org, make, smtp, queries):
    """Sending commits each message; the other claimed rows are not re-read after every commit."""
    smtp.start()

    def queue(count):
        clock = when("2026-06-15T10:00:00")
        task = make.task(org.mgr_a, owner=org.staff_a)
        db.session.commit()
        outbox.flush(clock)  # the assignment email goes first, outside the count
        outbox.enqueue([outbox.row(Kind.OVERDUE, org.staff_a, f"n:{count}:{i}", clock,
                                   {"subject": f"提醒{i}", "body_text": "t", "body_html": "h"}, task=task)
                        for i in range(count)])
        db.session.commit()

    def selects(statements):
        return [s for s in statements if s.lstrip().upper().startswith("SELECT")]

    queue(3)
    with queries() as small:
        assert len(outbox.flush(when("2026-06-15T10:01:00")).sent) == 3
    queue(30)
    with queries() as large:
        assert len(outbox.flush(when("2026-06-15T10:02:00")).sent) == 30
    assert len(selects(small)) == len(selects(large))
    assert len(smtp.inbox.messages) == 2 + 33


def test_a_resent_message_keeps_its_message_id(app, org, make):
    """The documented crash window can repeat a message; its Message-ID stays the same."""
    from tracker.reminders.delivery import build_message

    make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    row = all_rows()[0]
    first = build_message(row, org.staff_a, "整改台账 <tracker@example.gov.cn>")["Message-ID"]
    again = build_message(row, org.staff_a, "整改台账 <tracker@example.gov.cn>")["Message-ID"]
    assert first == again and first.endswith("@example.gov.cn>")


def test_the_bell_count_read_with_the_user_follows_changes_in_the_request(app, org, make, login_as, clock):
    for n in range(2):
        make.task(org.mgr_a, owner=org.staff_a, measure=f"措施{n}")
    db.session.commit()
    outbox.flush(when("2026-06-15T10:00:00"))
    assert 'data-unread="2"' in login_as(org.staff_a).get("/tasks").get_data(as_text=True)
    with app.test_request_context():
        login_user(org.staff_a)
        db.session.info[services.UNREAD] = 2  # as tracker.web.load_user reads it with the user
        services.mark_all_read(org.staff_a, clock)  # one UPDATE statement
        assert render_template_string("{{ unread_notifications() }}") == "0"
        db.session.info[services.UNREAD] = 5
        make.task(org.mgr_a, owner=org.staff_a, measure="新措施")
        outbox.flush(when("2026-06-15T10:00:00"))  # rows written through the session
        assert render_template_string("{{ unread_notifications() }}") == "1"
        db.session.info[services.UNREAD] = 7
        notification = db.session.scalars(sa.select(Notification).where(Notification.read_at.is_(None))).one()
        notification.read_at = clock.now()  # an object changed and flushed
        db.session.flush()
        assert render_template_string("{{ unread_notifications() }}") == "0"
