"""The personal calendar feed (issue 14, item 4): ICS (RFC 5545) parsed back with icalendar — the
owner's open measures' deadlines and their notices' reply deadlines as all-day events with an alarm,
Chinese text intact, dates as local calendar days — behind a secret link made and revoked on the
profile page; scope follows the user (someone else's measures never; a deactivated user's feed 404)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from conftest import TODAY
from icalendar import Calendar
from notice_support import issue

from tracker.auth import calendar as feeds
from tracker.extensions import db
from tracker.supervision.models import NoticeKind
from tracker.tasks import services as tasks


def _events(body: bytes) -> dict:
    cal = Calendar.from_ical(body)
    return {str(e.get("uid")): e for e in cal.walk("VEVENT")}


def test_the_feed_lists_my_deadlines_and_reply_deadlines(client, org, make, clock, measures):
    mine = make.task(org.mgr_a, owner=org.staff_a, measure="建立健全党建工作责任制，明确班子成员责任清单",
                     deadline=TODAY + timedelta(days=10))
    done = make.task(org.mgr_a, owner=org.staff_a, measure="已完成的措施")
    tasks.submit(done, org.staff_a, clock, result="完成")
    tasks.verify(done, org.mgr_a, clock)
    others = make.task(org.mgr_a, owner=org.staff_a1, unit=org.a1, measure="别人的措施")
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    secret = feeds.renew(org.staff_a, clock)
    db.session.commit()

    response = client.get(f"/calendar/{secret}.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    assert response.headers["Cache-Control"] == "no-store"
    cal = Calendar.from_ical(response.data)
    assert cal.get("version") == "2.0" and str(cal.get("x-wr-timezone")) == "Asia/Shanghai"
    events = _events(response.data)
    task_event = next(e for uid, e in events.items() if uid.startswith(f"task-{mine.id}-"))
    assert task_event.decoded("dtstart") == TODAY + timedelta(days=10)  # a date: an all-day event
    assert task_event.decoded("dtend") == TODAY + timedelta(days=11)
    assert "建立健全党建工作责任制" in str(task_event.get("summary"))
    assert str(task_event.get("url")).endswith(f"/tasks/{mine.id}")
    (alarm,) = task_event.walk("VALARM")
    assert alarm.decoded("trigger") == -timedelta(hours=15) and str(alarm.get("action")) == "DISPLAY"
    uids = set(events)
    assert not any(uid.startswith((f"task-{done.id}-", f"task-{others.id}-")) for uid in uids)
    notice_event = next(e for uid, e in events.items() if uid.startswith(f"notice-{notice.id}-"))
    assert notice_event.decoded("dtstart") == notice.reply_due_on
    assert "督办单" in str(notice_event.get("summary"))


def test_english_users_get_english_text(client, org, make, clock):
    org.staff_a.language = "en"
    make.task(org.mgr_a, owner=org.staff_a, measure="整改措施", deadline=date(2026, 7, 1))
    secret = feeds.renew(org.staff_a, clock)
    db.session.commit()
    body = client.get(f"/calendar/{secret}.ics").data.decode()
    assert "SUMMARY:Deadline: 整改措施" in body and "Rectification deadlines of 张三" in body


def test_revoked_renewed_unknown_and_deactivated_feeds_answer_404(client, org, clock):
    first = feeds.renew(org.staff_a, clock)
    db.session.commit()
    assert client.get(f"/calendar/{first}.ics").status_code == 200
    second = feeds.renew(org.staff_a, clock)
    db.session.commit()
    assert client.get(f"/calendar/{first}.ics").status_code == 404  # the old link stops working
    assert client.get(f"/calendar/{second}.ics").status_code == 200
    org.staff_a.active = False
    db.session.commit()
    assert client.get(f"/calendar/{second}.ics").status_code == 404
    org.staff_a.active = True
    feeds.revoke(org.staff_a, clock)
    db.session.commit()
    assert client.get(f"/calendar/{second}.ics").status_code == 404
    assert client.get("/calendar/nothing.ics").status_code == 404
    assert client.get(f"/calendar/{'x' * 500}.ics").status_code == 404


def test_the_profile_makes_shows_once_and_revokes_the_link(client, org, login_as):
    login_as(org.staff_a)
    page = client.get("/profile").get_data(as_text=True)
    assert 'id="create-calendar"' in page and 'id="revoke-calendar"' not in page
    made = client.post("/profile/calendar").get_data(as_text=True)
    url = re.search(r'id="new-calendar-url">.*?value="([^"]+)"', made, re.S).group(1)
    assert "/calendar/" in url and url.endswith(".ics")
    assert client.get(url.split("localhost", 1)[-1]).status_code == 200
    again = client.get("/profile").get_data(as_text=True)
    assert url not in again and 'id="revoke-calendar"' in again and 'id="renew-calendar"' in again
    client.post("/profile/calendar/revoke")
    assert client.get(url.split("localhost", 1)[-1]).status_code == 404


def test_two_renewals_at_once_leave_one_working_link(app, org, clock):
    """A double click on "make a new link": the database decides; no error, one row, the later secret."""
    import threading

    import sqlalchemy as sa

    from tracker.auth.models import CalendarFeed
    from tracker.auth.tokens import hash_token
    from tracker.org.models import User

    user_id, barrier, results = org.staff_a.id, threading.Barrier(2), [None, None]

    def work(index):
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                barrier.wait(timeout=10)
                raw = feeds.renew(user, clock)
                db.session.commit()
                results[index] = raw
            except Exception as exc:  # noqa: BLE001  (any failure is the test's finding)
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(isinstance(r, str) for r in results), results
    rows = db.session.scalars(sa.select(CalendarFeed).where(CalendarFeed.user_id == user_id)).all()
    assert len(rows) == 1 and rows[0].token_hash in {hash_token(r) for r in results}
