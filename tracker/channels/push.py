"""The outbox's robot channel: claimed rows addressed to a unit's channel go out over HTTP.

Per channel, in order: the address is decrypted and checked again (a webhook host that now
resolves to a private address is refused), a channel's escalations of one batch are combined
into as few messages as its size limit allows, and each message takes a slot in the channel's
rate window first. The window is counted by one conditional UPDATE on the channel row, so flushes
on several hosts share it; a message without a slot waits, unsent and without an attempt counted,
until the window ends. A robot's "too fast" answer counts an attempt and holds back the channel's
other messages for the window too. Every request's rows are committed as soon as its answer is in
(the same one-message crash window as email), and carry X-Tracker-Delivery for the webhook.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import requests
import sqlalchemy as sa

from tracker.channels import secrets
from tracker.channels.models import ChannelKind, UnitChannel
from tracker.channels.robots import Message, RateLimited, Robot, robot
from tracker.clock import Clock
from tracker.extensions import db
from tracker.reminders.delivery import PermanentFailure, TemporaryFailure
from tracker.reminders.models import NotificationKind

WINDOW = timedelta(seconds=60)
COMBINED = {NotificationKind.ESCALATION}
log = logging.getLogger(__name__)


def take_slot(channel_id: int, limit: int, clock: Clock):
    """Count one message in the channel's window; None when counted, else when the window ends.

    The window follows the injected clock (tests and `--now` run any day); a clock that went
    backwards starts a new window rather than waiting for a moment that already passed."""
    now = clock.now()
    fresh = sa.or_(UnitChannel.window_started_at.is_(None), UnitChannel.window_started_at <= now - WINDOW,
                   UnitChannel.window_started_at > now)
    taken = db.session.execute(
        sa.update(UnitChannel)
        .where(UnitChannel.id == channel_id, sa.or_(fresh, UnitChannel.window_count < limit))
        .values(window_started_at=sa.case((fresh, now), else_=UnitChannel.window_started_at),
                window_count=sa.case((fresh, 1), else_=UnitChannel.window_count + 1))
        .execution_options(synchronize_session=False)).rowcount
    if taken:
        db.session.commit()  # the slot is ours whatever the answer; never hold the row during the request
        return None
    started = db.session.scalar(sa.select(UnitChannel.window_started_at).where(UnitChannel.id == channel_id))
    db.session.commit()
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=now.tzinfo)
    return (started or now) + WINDOW


def post(session: requests.Session, bot: Robot, url: str, secret: str | None, message: Message,
         delivery: str) -> str:
    """One request; the robot's answer decides (see tracker.channels.robots)."""
    target, body, headers = bot.request(url, secret, message, delivery=delivery)
    try:
        answer = session.post(target, data=body, headers=headers, timeout=(5, 15), allow_redirects=False)
    except requests.RequestException as exc:
        # Never the URL in the error: it carries the robot's key.
        raise TemporaryFailure(f"{bot.kind.value}: {type(exc).__name__}") from exc
    return bot.outcome(answer.status_code, answer.content)


def _messages(rows, bot: Robot) -> list[tuple[Message, list]]:
    """The requests for one channel's rows: escalations combined within the size limit."""
    out, combined = [], []
    for n in rows:
        if n.kind in COMBINED:
            combined.append(n)
        else:
            out.append((Message(n.subject, n.body_text, n.data or {}, n.kind.value, (n.id,)), [n]))
    group: list = []

    def close():
        if group:
            data = dict(group[0].data or {})
            data["items"] = [i for n in group for i in (n.data or {}).get("items", [])]
            text = "\n".join(n.body_text for n in group)
            out.append((Message(group[0].subject, text, data, group[0].kind.value,
                                tuple(n.id for n in group)), list(group)))
            group.clear()

    for n in combined:
        text = "\n".join([*(g.body_text for g in group), n.body_text])
        if group and bot.size(group[0].subject, text) > bot.max_bytes:
            close()
        group.append(n)
    close()
    return out


@dataclass
class Marks:
    """How push tells the outbox what became of a row (the outbox's own bookkeeping)."""

    sent: callable
    failed: callable  # (row, error, permanent)
    defer: callable  # (row, until, note)


def deliver(rows, clock: Clock, session: requests.Session, marks: Marks) -> None:
    """Send claimed robot rows (already checked for staleness), channel by channel."""
    by_channel: dict[int, list] = {}
    for n in rows:
        by_channel.setdefault(n.channel_id, []).append(n)
    for channel_rows in by_channel.values():
        _deliver_channel(channel_rows[0].channel_ref, channel_rows, clock, session, marks)


def _deliver_channel(channel: UnitChannel, rows, clock: Clock, session, marks: Marks) -> None:
    bot = robot(channel.kind)
    url, secret = secrets.decrypt(channel.url_encrypted), secrets.decrypt(channel.secret_encrypted)
    problem = None
    if url is None:
        problem = "the channel's address cannot be read (the key changed): enter it again"
    elif bot.check_url(url) is not None:
        problem = "the channel's address is not allowed (CHANNEL_ALLOWED_HOSTS)"
    elif bot.needs_secret and not secret:
        problem = "the channel's secret cannot be read: enter it again"
    if problem:
        for n in rows:
            marks.failed(n, problem, True)
        db.session.commit()
        return
    pending = _messages(rows, bot)
    for index, (message, group) in enumerate(pending):
        until = take_slot(channel.id, bot.per_minute, clock)
        if until is not None:
            for _m, later in pending[index:]:
                for n in later:
                    marks.defer(n, until, "waiting: the robot's rate limit")
            db.session.commit()
            return
        delivery = "tracker-" + "-".join(str(i) for i in message.ids)
        try:
            note = post(session, bot, url, secret, message, delivery)
        except RateLimited as exc:
            for n in group:
                marks.failed(n, str(exc), False)
            for _m, later in pending[index + 1:]:
                for n in later:
                    marks.defer(n, clock.now() + WINDOW, "waiting: the robot said too fast")
            db.session.commit()
            return
        except TemporaryFailure as exc:
            for n in group:
                marks.failed(n, str(exc), False)
        except PermanentFailure as exc:
            for n in group:
                marks.failed(n, str(exc), True)
        else:
            for n in group:
                marks.sent(n, note if len(group) == 1 else f"{note} ({len(group)} in one message)")
        db.session.commit()
        if channel.kind == ChannelKind.FEISHU and index + 1 < len(pending):
            time.sleep(0.2)  # 飞书: at most 5 a second as well as 100 a minute


def new_session() -> requests.Session:
    session = requests.Session()  # HTTPS_PROXY / NO_PROXY apply: intranets often reach robots via a proxy
    session.headers["User-Agent"] = "rectification-tracker"
    return session
