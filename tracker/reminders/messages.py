"""What a reminder says: subject and text/HTML bodies, rendered in the recipient's language.

Rendering happens when the reminder is queued, so the outbox holds exactly what will be sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import force_locale, gettext

from tracker.enums import Light, TaskType
from tracker.reminders.models import NotificationKind

SHORT = 40


@dataclass
class Item:
    """A measure as an email shows it (no ORM object, so templates cannot trigger queries)."""

    id: int
    number: str
    measure: str
    deadline: date | None
    type: TaskType
    unit: str
    owner: str
    link: str
    light: Light | None
    days_overdue: int = 0

    @property
    def short(self) -> str:
        return shorten(self.measure)


@dataclass
class NoticeMail:
    """A notice (提醒函 / 督办单) as its messages show it: plain values, no ORM object."""

    id: int
    title: str  # 提醒函 / 督办单 (the document's own title)
    number_text: str  # 〔2026〕第3期
    issuing_unit: str
    addressee_unit: str
    reply_due_on: date
    link: str
    docx_link: str
    measures: list[str]
    days_late: int = 0


def notice_links(notice_id: int) -> tuple[str, str]:
    """The notice page and its DOCX download, as absolute links for an email."""
    base = current_app.config["BASE_URL"].rstrip("/") + f"/notices/{notice_id}"
    return base, base + ".docx"


def shorten(text: str, limit: int = SHORT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_link(task_id: int) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + f"/tasks/{task_id}"


def make_item(task, *, number: str, unit: str, owner: str, today: date) -> Item:
    """An Item from a Task row and the names a rule query joined to it."""
    due_soon_days = current_app.config["DUE_SOON_DAYS"]
    return Item(
        id=task.id, number=number, measure=task.measure, deadline=task.deadline, type=task.type,
        unit=unit, owner=owner, link=task_link(task.id), light=task.light(today, due_soon_days),
        days_overdue=task.days_overdue(today),
    )


def _subject(kind: NotificationKind, ctx: dict) -> str:
    item = ctx.get("item")
    if kind == NotificationKind.ASSIGNED:
        text = gettext("New measure assigned to you: %(measure)s", measure=item.short)
    elif kind == NotificationKind.DUE_SOON:
        text = gettext("Due on %(date)s: %(measure)s", date=item.deadline.isoformat(), measure=item.short)
    elif kind == NotificationKind.OVERDUE:
        text = gettext("Overdue by %(days)s days: %(measure)s", days=item.days_overdue, measure=item.short)
    elif kind == NotificationKind.ESCALATION:
        text = gettext("Escalation: %(owner)s's measure is %(days)s days overdue: %(measure)s",
                       owner=item.owner, days=item.days_overdue, measure=item.short)
    elif kind == NotificationKind.ONGOING:
        text = gettext("Monthly progress report due: %(measure)s", measure=item.short)
    elif kind == NotificationKind.SUBMITTED:
        text = gettext("Awaiting your verification: %(measure)s", measure=item.short)
    elif kind == NotificationKind.REJECTED:
        text = gettext("Returned for more work: %(measure)s", measure=item.short)
    elif kind == NotificationKind.ACK_DUE:
        text = gettext("Please sign for your measure: %(measure)s", measure=item.short)
    elif kind == NotificationKind.ACK_ESCALATION:
        text = gettext("Not signed for by %(owner)s: %(measure)s", owner=item.owner, measure=item.short)
    elif kind == NotificationKind.NOTICE_ISSUED:
        n = ctx["notice"]
        text = gettext("%(title)s %(number)s from %(unit)s: reply by %(date)s", title=n.title,
                       number=n.number_text, unit=n.issuing_unit, date=n.reply_due_on.isoformat())
    elif kind == NotificationKind.NOTICE_REPLY_DUE:
        n = ctx["notice"]
        text = gettext("Reply overdue: %(title)s %(number)s was due on %(date)s", title=n.title,
                       number=n.number_text, date=n.reply_due_on.isoformat())
    elif kind == NotificationKind.NOTICE_REPLY_ESCALATION:
        n = ctx["notice"]
        text = gettext("Escalation: %(unit)s has not replied to %(title)s %(number)s (%(days)s days late)",
                       unit=n.addressee_unit, title=n.title, number=n.number_text, days=n.days_late)
    elif kind == NotificationKind.VERIFIED:
        text = gettext("Closed out: %(measure)s", measure=item.short)
    elif kind == NotificationKind.PERIOD_DUE:
        text = gettext("%(period)s result due by %(date)s: %(measure)s", period=ctx["period"],
                       date=ctx["period_end"].isoformat(), measure=item.short)
    elif kind == NotificationKind.RECHECK_DUE:
        text = gettext("Re-check due on %(date)s: %(measure)s", date=ctx["due_on"].isoformat(),
                       measure=item.short)
    elif kind == NotificationKind.PERIOD_MISSED:
        text = gettext("%(period)s missed: %(measure)s", period=ctx["period"], measure=item.short)
    else:
        text = gettext("Weekly rectification digest (%(week)s)", week=ctx["week"])
    return f"[{gettext('Rectification Tracker')}] {text}"[:255]


def _template(name: str):
    # Straight from the Jinja environment: the web's context processors need a request and the
    # email must not depend on who happens to be logged in when it is queued.
    return current_app.jinja_env.get_template(name)


def render(kind: NotificationKind, user, **ctx) -> dict:
    """Subject and both bodies of one message, in `user`'s language."""
    with force_locale(user.language or current_app.config["BABEL_DEFAULT_LOCALE"]):
        ctx.update(user=user, kind=kind, base_url=current_app.config["BASE_URL"].rstrip("/"))
        return {
            "subject": _subject(kind, ctx),
            "body_text": _template(f"email/{kind.value}.txt").render(**ctx),
            "body_html": _template(f"email/{kind.value}.html").render(**ctx),
        }
