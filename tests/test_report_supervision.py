"""The report counts supervision (issue 12, item 4): the notices the unit's subtree issued in the
period — by kind, measures covered, replies on time — and the 签收 of its measures with the median
time to it, in the figures (API JSON) and in a sentence of the section in both languages."""

from __future__ import annotations

import re
from datetime import date, timedelta

from conftest import TODAY, when

from tracker.extensions import db
from tracker.reports import section as wording
from tracker.reports.services import rectification_figures
from tracker.supervision import services as supervision
from tracker.supervision.models import NoticeKind
from tracker.tasks import services as tasks

FROM, TO = date(2026, 1, 1), date(2026, 12, 31)


def figures(org, clock):
    return rectification_figures(org.mgr_root, org.root, FROM, TO, clock)


def test_no_supervision_no_sentence(org, make, clock):
    tasks.acknowledge(make.task(org.mgr_a, owner=org.staff_a), org.staff_a, clock)
    db.session.commit()
    f = figures(org, clock)
    assert f.notices_total == 0 and f.ack_asked == 1 and f.acknowledged == 1
    text = wording.build_text(wording.render_section(f, "zh_CN"))
    assert "提醒函" not in text and "督办单" not in text


def test_notices_and_acknowledgements_are_counted_and_told(org, make, clock, login_as):
    make.clock = when("2026-06-01T09:00:00")
    late = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY - timedelta(days=10),
                     allow_past_deadline=True)
    soon = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=2))
    other = make.task(org.mgr_a, owner=org.staff_a1, unit=org.a1, deadline=TODAY + timedelta(days=1))
    make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=30))  # never signed for
    tasks.acknowledge(late, org.staff_a, when("2026-06-01T12:00:00"))  # 3 hours
    tasks.acknowledge(soon, org.staff_a, when("2026-06-02T09:00:00"))  # 24 hours
    tasks.acknowledge(other, org.staff_a1, when("2026-06-04T09:00:00"))  # 72 hours
    db.session.commit()
    issued = when("2026-06-10T10:00:00")
    replied_in_time = supervision.issue(org.mgr_a, issued, kind=NoticeKind.SUPERVISION, task_ids=[late.id],
                                       reply_due_on=date(2026, 6, 12), body="请抓紧整改。")
    supervision.reply(replied_in_time, org.staff_a, when("2026-06-11T10:00:00"), body="已整改")
    unanswered = supervision.issue(org.mgr_a, issued, kind=NoticeKind.REMINDER, task_ids=[soon.id, other.id],
                                   reply_due_on=date(2026, 6, 13), body="请抓紧整改。")
    supervision.issue(org.mgr_a, issued, kind=NoticeKind.REMINDER, task_ids=[soon.id],
                      reply_due_on=date(2026, 6, 20), body="请抓紧整改。")  # not yet due: not counted
    db.session.commit()
    assert unanswered.replied_at is None

    f = figures(org, clock)
    assert (f.reminder_notices, f.supervision_notices, f.notice_measures) == (2, 1, 3)
    assert (f.notices_due, f.notices_replied_on_time) == (2, 1)
    assert (f.ack_asked, f.acknowledged) == (4, 3) and f.ack_median_hours == 24
    data = f.to_dict()
    assert data["notices"] == {"reminder": 2, "supervision": 1, "measures": 3, "due": 2, "replied_on_time": 1,
                               "reply_on_time_rate": 50.0}
    assert data["acknowledgement"] == {"asked": 4, "acknowledged": 3, "rate": 75.0, "median_hours": 24.0}
    zh = wording.build_text(wording.render_section(f, "zh_CN"))
    assert "制发提醒函2期、督办单1份，涉及整改措施3条，按时反馈率50.0%" in zh, zh
    assert "交办整改措施4条，已签收3条，签收率75.0%，签收用时中位数24小时" in zh
    en = wording.build_text(wording.render_section(f, "en"))
    assert "2 reminder notices and 1 supervision notices were issued, covering 3 measures" in en, en
    assert "acknowledgement rate 75.0%" in en and "a median of 24 hours" in en

    # The dashboard shows the same figures.
    html = login_as(org.mgr_root).get("/dashboard", query_string={
        "unit": org.root.id, "date_from": FROM.isoformat(), "date_to": TO.isoformat()}).get_data(as_text=True)
    assert re.search(r'data-figure="notices">3<', html) and re.search(r'data-figure="acknowledged">3<', html)
    assert "提醒函2期、督办单1份；按时反馈率50.0%" in html and "签收率75.0%；用时中位数24小时" in html

    # A branch's report counts what its own units issued only.
    f_b = rectification_figures(org.mgr_root, org.b, FROM, TO, clock)
    assert f_b.notices_total == 0
