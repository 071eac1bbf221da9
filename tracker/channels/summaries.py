"""What a unit's channels get: a daily and a weekly summary, escalations and notices (DESIGN §3).

Everything is rendered when queued, in the channel's language, and only from the channel's unit
subtree (a prefix match on the unit path). A summary with nothing to say is not queued. A summary
longer than the robot's size limit is split into numbered parts (each its own outbox row); none
is dropped.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, format_date

from tracker.channels.models import UnitChannel
from tracker.channels.robots import robot, split_lines
from tracker.clock import Clock
from tracker.enums import OPEN_STATES, TaskState
from tracker.extensions import db
from tracker.i18n import gettext as _
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.reminders import digest as digest_rule
from tracker.reminders import messages, outbox
from tracker.reminders.models import Channel, Notification, NotificationStatus
from tracker.reminders.models import NotificationKind as Kind
from tracker.tasks.models import Task

TOP = 5  # items listed per section; the counts and the list link cover the rest


def channels_for(flag) -> list[UnitChannel]:
    """Active channels with `flag` on, with their units (one query)."""
    return list(db.session.scalars(
        sa.select(UnitChannel).join(Unit, Unit.id == UnitChannel.unit_id)
        .where(UnitChannel.active.is_(True), flag.is_(True))
        .options(sa.orm.contains_eager(UnitChannel.unit)).order_by(UnitChannel.id)))


def _in_subtree(path: str):
    return Task.unit_id.in_(sa.select(Unit.id).where(Unit.path.startswith(path, autoescape=True)))


def channel_row(kind: Kind, channel: UnitChannel, key: str, clock: Clock, *, title: str, text: str,
                data: dict, task=None, notice=None) -> dict:
    """The values of one outbox row addressed to a channel."""
    now = clock.now()
    return dict(
        user_id=None, channel_id=channel.id, channel=Channel.ROBOT, kind=kind, dedupe_key=key,
        task_id=task.id if task is not None else None, notice_id=notice.id if notice is not None else None,
        deadline=task.deadline if task is not None else None,
        owner_id=task.owner_id if task is not None else None,
        subject=title[:255], body_text=text, body_html="", data=data,
        status=NotificationStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
    )


def _fits(bot, title: str):
    return lambda text: bot.size(title, text) <= bot.max_bytes


def _unit_data(unit: Unit) -> dict:
    return {"id": unit.id, "code": unit.code, "name": unit.name}


def _list_link(unit: Unit, **filters) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"unit": unit.id, **filters}.items())
    return current_app.config["BASE_URL"].rstrip("/") + f"/tasks?{query}"


# --- summaries -----------------------------------------------------------------------------------


def _counts(unit: Unit, today: date, week_start: datetime | None) -> dict[str, int]:
    soon = int(current_app.config["DUE_SOON_DAYS"])
    columns = {
        "overdue": Task.overdue_clause(today),
        "due_soon": sa.and_(Task.due_soon_clause(today, soon), Task.state != TaskState.SUBMITTED),
        "awaiting_ack": Task.awaiting_ack_clause(),
        "awaiting_verification": Task.state == TaskState.SUBMITTED,
        "open": Task.state.in_(OPEN_STATES),
    }
    if week_start is not None:
        columns["closed_this_week"] = sa.and_(Task.state == TaskState.CLOSED, Task.closed_at >= week_start)
    stmt = sa.select(*(sa.func.coalesce(sa.func.sum(sa.case((c, 1), else_=0)), 0).label(k)
                       for k, c in columns.items())).where(_in_subtree(unit.path))
    return dict(db.session.execute(stmt).one()._mapping)


def _items(unit: Unit, today: date, clause, order, section: str) -> list[dict]:
    rows = db.session.execute(
        sa.select(Task, Problem.number, User.name).join(Problem, Problem.id == Task.problem_id)
        .join(User, User.id == Task.owner_id).where(_in_subtree(unit.path), clause)
        .order_by(*order).limit(TOP)).all()
    return [{"section": section, "id": t.id, "number": number, "measure": t.measure, "owner": owner,
             "deadline": t.deadline.isoformat() if t.deadline else None,
             "days_overdue": t.days_overdue(today), "link": messages.task_link(t.id)}
            for t, number, owner in rows]


def _item_text(item: dict) -> str:
    """"[number measure](link) — owner, N days overdue" (or "due <date>")."""
    label = f"{item['number']} {messages.shorten(item['measure'], 36)}"
    if item["section"] == "overdue":
        tail = _("%(owner)s, %(days)s days overdue", owner=item["owner"], days=item["days_overdue"])
    else:
        tail = _("%(owner)s, due %(date)s", owner=item["owner"],
                 date=format_date(date.fromisoformat(item["deadline"]), "short"))
    return f"[{_md(label)}]({item['link']}) — {_md(tail)}"


def _item_line(index: int, item: dict) -> str:
    return f"{index}. {_item_text(item)}"


def _md(text: str) -> str:
    """User text inside a robot's Markdown: no link or emphasis syntax of its own."""
    for ch in "[]*_`<>":
        text = text.replace(ch, " ")
    return " ".join(text.split())


def summary(channel: UnitChannel, clock: Clock, weekly: bool) -> list[dict]:
    """One channel's daily or weekly summary: the outbox rows (several parts when long), or []."""
    unit, today = channel.unit, clock.today()
    local_start = datetime.combine(today - timedelta(days=today.weekday()), time(), tzinfo=clock.tz)
    counts = _counts(unit, today, local_start if weekly else None)
    if not any(counts[k] for k in ("overdue", "due_soon", "awaiting_ack", "awaiting_verification")):
        return []  # nothing to say
    kind = Kind.UNIT_WEEKLY if weekly else Kind.UNIT_DAILY
    label = digest_rule.week_label(clock) if weekly else today.isoformat()
    with force_locale(channel.language):
        items = _items(unit, today, Task.overdue_clause(today), (Task.deadline, Task.id), "overdue")
        soon = int(current_app.config["DUE_SOON_DAYS"])
        due_soon = sa.and_(Task.due_soon_clause(today, soon), Task.state != TaskState.SUBMITTED)
        items += _items(unit, today, due_soon, (Task.deadline, Task.id), "due_soon")
        if weekly:
            title = _("Weekly rectification summary: %(unit)s (%(week)s)", unit=unit.name, week=label)
        else:
            title = _("Daily rectification summary: %(unit)s (%(date)s)", unit=unit.name,
                      date=format_date(today, "long"))
        head = " · ".join([
            _("Overdue **%(n)s**", n=counts["overdue"]),
            _("Due within %(days)s days **%(n)s**", days=soon, n=counts["due_soon"]),
            _("Not signed for **%(n)s**", n=counts["awaiting_ack"]),
            _("Awaiting verification **%(n)s**", n=counts["awaiting_verification"]),
        ])
        lines = []
        if weekly:
            lines.append(_("Open measures: %(open)s; closed out this week: %(closed)s.",
                           open=counts["open"], closed=counts["closed_this_week"]))
        for section, heading, link in (
                ("overdue", _("Overdue"), _list_link(unit, overdue="true")),
                ("due_soon", _("Due soon"), _list_link(unit, light="yellow"))):
            chosen = [i for i in items if i["section"] == section]
            if chosen:
                lines.append(f"**{heading}**")
                lines.extend(_item_line(n, item) for n, item in enumerate(chosen, 1))
                if counts[section] > len(chosen):
                    lines.append(f"[{_('All %(n)s', n=counts[section])}]({link})")
        if counts["awaiting_verification"]:
            lines.append(f"[{_('Awaiting verification')}]({_list_link(unit, state='submitted')})")
        if counts["awaiting_ack"]:
            lines.append(f"[{_('Not signed for')}]({_list_link(unit, awaiting_ack='true')})")
    parts = split_lines(head, lines, _fits(robot(channel.kind), title))
    data = {"unit": _unit_data(unit), "period": label, "counts": counts, "items": items}
    rows = []
    for number, text in enumerate(parts, 1):
        key = f"{kind.value}:c{channel.id}:{label}" + (f":p{number}" if number > 1 else "")
        part_title = title if len(parts) == 1 else f"{title} ({number}/{len(parts)})"
        rows.append(channel_row(kind, channel, key, clock, title=part_title, text=text,
                                data={**data, "part": number, "parts": len(parts)}))
    return rows


def daily_hour() -> int:
    return int(current_app.config.get("CHANNEL_DAILY_HOUR", 9))


def summaries(clock: Clock) -> list[dict]:
    """From CHANNEL_DAILY_HOUR each day, each channel's daily summary; when the weekly digest is due,
    the weekly summary instead for channels that take it (one message that day, not two)."""
    local = clock.local_now()
    weekly_due = digest_rule.digest_due(clock)
    label_day, label_week = clock.today().isoformat(), digest_rule.week_label(clock)
    wanted = []
    for channel in channels_for(sa.or_(UnitChannel.daily, UnitChannel.weekly)):
        if weekly_due and channel.weekly:
            wanted.append((channel, True, f"{Kind.UNIT_WEEKLY.value}:c{channel.id}:{label_week}"))
        elif channel.daily and local.hour >= daily_hour():
            wanted.append((channel, False, f"{Kind.UNIT_DAILY.value}:c{channel.id}:{label_day}"))
    if not wanted:
        return []
    known = outbox.existing_keys(key for _c, _w, key in wanted)
    # A weekly summary queued today stands for today's daily one as well.
    start = datetime.combine(clock.today(), time(), tzinfo=clock.tz)
    weekly_today = set(db.session.scalars(sa.select(Notification.channel_id).where(
        Notification.channel_id.in_([c.id for c, _w, _k in wanted]), Notification.kind == Kind.UNIT_WEEKLY,
        Notification.created_at >= start)))
    rows = []
    for channel, weekly, key in wanted:
        if key not in known and (weekly or channel.id not in weekly_today):
            rows.extend(summary(channel, clock, weekly))
    return rows


# --- escalations and notices -------------------------------------------------------------------


def escalations(clock: Clock) -> list[dict]:
    """A measure overdue ESCALATE_AFTER_DAYS or more: each channel whose unit's subtree holds it, once
    per measure and deadline. The outbox sends a channel's escalations of one run as one message."""
    channels = channels_for(UnitChannel.escalations)
    if not channels:
        return []
    today = clock.today()
    cutoff = today - timedelta(days=int(current_app.config["ESCALATE_AFTER_DAYS"]))
    found = db.session.execute(
        sa.select(Task, Problem.number, Unit.name, Unit.path, User.name)
        .join(Problem, Problem.id == Task.problem_id).join(Unit, Unit.id == Task.unit_id)
        .join(User, User.id == Task.owner_id)
        .where(Task.overdue_clause(today), Task.deadline <= cutoff).order_by(Task.deadline, Task.id)).all()
    candidates = [(c, r, f"escalation:{r[0].id}:{r[0].deadline}:c{c.id}")
                  for r in found for c in channels if r[3].startswith(c.unit.path)]
    known = outbox.existing_keys(key for _c, _r, key in candidates)
    rows = []
    for channel, (task, number, unit_name, _path, owner), key in candidates:
        if key in known:
            continue
        with force_locale(channel.language):
            title = _("Overdue measures to supervise: %(unit)s", unit=channel.unit.name)
            item = {"section": "overdue", "id": task.id, "number": number, "measure": task.measure,
                    "owner": owner, "deadline": task.deadline.isoformat(),
                    "days_overdue": task.days_overdue(today), "link": messages.task_link(task.id)}
            line = "- " + _("%(item)s (%(unit)s)", item=_item_text(item), unit=_md(unit_name))
        rows.append(channel_row(Kind.ESCALATION, channel, key, clock, title=title, text=line,
                                data={"unit": _unit_data(channel.unit), "items": [item]}, task=task))
    return rows


def notice_rows(notice, clock: Clock) -> list[dict]:
    """An issued notice (提醒函 / 督办单): the addressee unit's channels that take notices."""
    channels = [c for c in channels_for(UnitChannel.notices) if c.unit_id == notice.addressee_unit_id]
    rows = []
    for channel in channels:
        link, docx_link = messages.notice_links(notice.id)
        with force_locale(channel.language):
            title = _("%(title)s %(number)s from %(unit)s", title=notice.kind.title,
                      number=notice.number_text, unit=notice.issuing_unit.name)
            lines = [_("Reply due by %(date)s.", date=format_date(notice.reply_due_on, "long")),
                     *(f"- {_md(messages.shorten(i.task.measure, 60))}" for i in notice.items),
                     f"[{_('Open the notice')}]({link}) · [{_('Download')}]({docx_link})"]
        data = {"unit": _unit_data(channel.unit), "notice": {
            "id": notice.id, "number": notice.number_text, "reply_due_on": notice.reply_due_on.isoformat(),
            "link": link, "docx": docx_link}}
        for number, text in enumerate(split_lines("", lines, _fits(robot(channel.kind), title)), 1):
            key = f"notice_issued:{notice.id}:c{channel.id}" + (f":p{number}" if number > 1 else "")
            rows.append(channel_row(Kind.NOTICE_ISSUED, channel, key, clock, title=title, text=text,
                                    data=data, notice=notice))
    return rows


RULES = (summaries, escalations)
