"""Notices through the outbox and a real SMTP server (aiosmtpd): every recipient gets the notice once,
in their language, with links to the notice page and its DOCX; re-runs send nothing again."""

from __future__ import annotations

import sqlalchemy as sa
from conftest import when
from notice_support import issue
from test_reminders_delivery import smtp  # noqa: F401  (the SMTP server fixture)

from tracker.extensions import db
from tracker.reminders import outbox
from tracker.reminders import services as reminders
from tracker.reminders.models import Notification
from tracker.reminders.models import NotificationKind as K
from tracker.reminders.models import NotificationStatus as St
from tracker.supervision import mail
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
