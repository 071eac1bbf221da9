"""A user's personal calendar feed (ICS, RFC 5545, built with `icalendar`): the deadlines of the open
measures they own and the reply deadlines of the notices addressed to them, as all-day events with a
reminder the day before at 09:00 — in the user's language. Scope follows the user: only their own."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext
from icalendar import Alarm, Calendar, Event

from tracker.clock import Clock
from tracker.enums import OVERDUE_STATES, TaskType
from tracker.extensions import db
from tracker.org.models import User
from tracker.problems.models import Problem
from tracker.reminders import messages
from tracker.supervision.models import ADDRESSEE_ROLES, AWAITING_REPLY, Notice, NoticeRecipient
from tracker.tasks.models import Task

# An all-day event starts at local midnight: 15 hours earlier is 09:00 the day before.
ALARM_BEFORE = timedelta(hours=15)


def _domain() -> str:
    base = current_app.config["BASE_URL"]
    return base.split("//", 1)[-1].split("/", 1)[0].split(":")[0] or "localhost"


def _event(uid: str, day, summary: str, description: str, url: str, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"{uid}@{_domain()}")
    event.add("dtstamp", stamp)
    event.add("dtstart", day)  # a date: an all-day event on the local calendar day
    event.add("dtend", day + timedelta(days=1))
    event.add("summary", summary)
    event.add("description", description)
    event.add("url", url)
    event.add("transp", "TRANSPARENT")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", -ALARM_BEFORE)
    event.add_component(alarm)
    return event


def build_ics(user: User, clock: Clock) -> bytes:
    """The feed of one user as ICS bytes (two queries)."""
    stamp = clock.now()
    tasks = db.session.execute(
        sa.select(Task, Problem.number).join(Problem, Problem.id == Task.problem_id)
        .where(Task.owner_id == user.id, Task.state.in_(OVERDUE_STATES), Task.type != TaskType.ONGOING,
               Task.deadline.is_not(None))
        .order_by(Task.deadline, Task.id)).all()
    notices = db.session.scalars(
        sa.select(Notice).join(NoticeRecipient, NoticeRecipient.notice_id == Notice.id)
        .where(NoticeRecipient.user_id == user.id, NoticeRecipient.role.in_(ADDRESSEE_ROLES),
               Notice.state.in_(AWAITING_REPLY))
        .order_by(Notice.reply_due_on, Notice.id)).all()
    with force_locale(user.language or current_app.config["BABEL_DEFAULT_LOCALE"]):
        cal = Calendar()
        cal.add("prodid", "-//Rectification Tracker//整改台账//ZH")
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("method", "PUBLISH")
        cal.add("x-wr-calname", gettext("Rectification deadlines of %(name)s", name=user.name))
        cal.add("x-wr-timezone", str(clock.tz))
        for task, number in tasks:
            summary = gettext("Deadline: %(measure)s", measure=messages.shorten(task.measure, 60))
            cal.add_component(_event(f"task-{task.id}-{task.deadline.isoformat()}", task.deadline, summary,
                                     f"{number} {task.measure}", messages.task_link(task.id), stamp))
        for notice in notices:
            link, _ = messages.notice_links(notice.id)
            summary = gettext("Reply due: %(title)s %(number)s", title=notice.kind.title,
                              number=notice.number_text)
            cal.add_component(_event(f"notice-{notice.id}-{notice.reply_due_on.isoformat()}",
                                     notice.reply_due_on, summary, summary, link, stamp))
    return cal.to_ical()
