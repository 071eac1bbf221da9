"""Notices through the outbox and a real SMTP server (aiosmtpd): every recipient gets the notice once,
in their language, with links to the notice page and its DOCX; re-runs send nothing again."""

from __future__ import annotations

import email
import email.policy
from io import BytesIO
from pathlib import Path

import sqlalchemy as sa
from conftest import when
from docx import Document
from notice_support import issue
from test_reminders_delivery import smtp  # noqa: F401  (the SMTP server fixture)

from tracker.extensions import db
from tracker.reminders import outbox
from tracker.reminders import services as reminders
from tracker.reminders.models import Notification
from tracker.reminders.models import NotificationKind as K
from tracker.reminders.models import NotificationStatus as St
from tracker.storage import storage
from tracker.supervision import document, mail
from tracker.supervision.models import NoticeKind


def test_every_recipient_gets_the_notice_once_by_smtp(app, org, measures, clock, smtp):  # noqa: F811
    smtp.start()
    org.staff_a.language = "en"
    db.session.commit()
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    outbox.flush(clock)
    for _ in range(2):  # queued again and flushed again, by a re-run: nothing more goes out
        outbox.enqueue(mail.issued_rows(notice, clock))
        db.session.commit()
        outbox.flush(clock)
        reminders.run_once(when("2026-06-16T10:00:00"), with_digest=False)
    rows = db.session.scalars(sa.select(Notification).where(Notification.notice_id == notice.id)).all()
    assert len(rows) == 3 and all(r.status == St.SENT and r.kind == K.NOTICE_ISSUED for r in rows)
    ids = {r.id for r in rows}
    about = [(to, msg) for to, msg in smtp.inbox.messages if int(msg["X-Tracker-Notification"]) in ids]
    expected = sorted(u.email for u in (org.staff_a, org.mgr_a_2, org.mgr_root))
    assert sorted(to[0] for to, _ in about) == expected
    by_address = {to[0]: msg for to, msg in about}
    english = by_address[org.staff_a.email]
    chinese = by_address[org.mgr_a_2.email]
    assert english["Subject"] == ("[Rectification Tracker] 督办单 〔2026〕第1期 from 第一党支部: "
                                  "reply by 2026-06-20")
    assert "请于2026-06-20前反馈" in chinese["Subject"]
    text = english.get_body(("plain",)).get_content()
    assert f"/notices/{notice.id}.docx" in text and f"/notices/{notice.id}\n" in text


def test_the_notice_email_carries_its_docx_and_reply_reminders_do_not(app, org, measures, clock, smtp):  # noqa: F811
    smtp.start()
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    outbox.flush(clock)
    ids = set(db.session.scalars(sa.select(Notification.id).where(Notification.notice_id == notice.id)))
    issued = [msg for _, msg in smtp.inbox.messages if int(msg["X-Tracker-Notification"]) in ids]
    assert len(issued) == 3
    for msg in issued:
        assert msg.get_content_type() == "multipart/mixed"
        (docx,) = list(msg.iter_attachments())
        assert docx.get_filename() == f"第一党支部督办单{notice.number_text}.docx"
        assert docx.get_content_type() == document.DOCX_TYPE
        text = "\n".join(p.text for p in Document(BytesIO(docx.get_content())).paragraphs)
        assert notice.number_text in text
        assert "原文见附件" in msg.get_body(("plain",)).get_content()
    # The reply reminder after the deadline is about the notice but carries no document.
    seen = len(smtp.inbox.messages)
    reminders.run_once(when("2026-06-22T10:00:00"), with_digest=False)
    due = set(db.session.scalars(sa.select(Notification.id).where(
        Notification.notice_id == notice.id, Notification.kind == K.NOTICE_REPLY_DUE)))
    later = [msg for _, msg in smtp.inbox.messages[seen:] if int(msg["X-Tracker-Notification"]) in due]
    assert later and all(msg.get_content_type() == "multipart/alternative" for msg in later)


def test_a_notice_whose_template_cannot_render_still_goes_out_with_its_link(app, org, measures, clock):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    storage().put_bytes("templates", document.CUSTOM_NAME, b"not a zip")  # replaced after the upload check
    try:
        outbox.flush(clock)
    finally:
        document.remove_custom_template()
    rows = db.session.scalars(sa.select(Notification).where(Notification.notice_id == notice.id)).all()
    assert rows and all(r.status == St.SENT for r in rows)
    eml = sorted((Path(app.instance_path) / "outbox").glob("*-notice_issued.eml"))
    msg = email.message_from_bytes(eml[0].read_bytes(), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert f"/notices/{notice.id}.docx" in msg.get_body(("plain",)).get_content()
