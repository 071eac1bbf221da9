"""A notice's messages through the outbox: one row per recipient and message, exactly once by its key."""

from __future__ import annotations

from datetime import date

from tracker.channels import summaries as channel_messages
from tracker.clock import Clock
from tracker.reminders import messages, outbox
from tracker.reminders.models import NotificationKind as Kind
from tracker.supervision.models import Notice


def notice_mail(notice: Notice, measures: list[str], today: date | None = None) -> messages.NoticeMail:
    link, docx_link = messages.notice_links(notice.id)
    return messages.NoticeMail(
        id=notice.id, title=notice.kind.title, number_text=notice.number_text,
        issuing_unit=notice.issuing_unit.name, addressee_unit=notice.addressee_unit.name,
        reply_due_on=notice.reply_due_on, link=link, docx_link=docx_link, measures=measures,
        days_late=max((today - notice.reply_due_on).days, 0) if today else 0)


def rows(kind: Kind, notice: Notice, users, key_of, clock: Clock, mail: messages.NoticeMail) -> list[dict]:
    """Rendered outbox rows of one message of a notice to each active user; `key_of(user)` dedupes."""
    out = []
    for user in users:
        if user.active:
            message = messages.render(kind, user, notice=mail)
            out.append(outbox.row(kind, user, key_of(user), clock, message, notice=notice))
    return out


def issued_rows(notice: Notice, clock: Clock) -> list[dict]:
    """The notice itself to every recipient (email with links to the page and the DOCX; in-app) and to
    the addressee unit's group robots."""
    mail = notice_mail(notice, [messages.shorten(i.task.measure, 60) for i in notice.items])
    people = rows(Kind.NOTICE_ISSUED, notice, [r.user for r in notice.recipients],
                  lambda u: f"notice_issued:{notice.id}:u{u.id}", clock, mail)
    return people + channel_messages.notice_rows(notice, clock)
