"""Commands: `flask reminders run [--now] [--dry-run]` and `flask scheduler`."""

from __future__ import annotations

import textwrap

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import joinedload

from tracker.channels.models import UnitChannel
from tracker.clock import Clock, current_clock
from tracker.extensions import db
from tracker.org.models import User
from tracker.reminders import scheduler, services


@click.group("reminders")
def reminders_group():
    """Reminder rules and the outbox."""


@reminders_group.command("run")
@click.option("--now", default=None, help="Pretend it is this ISO date/datetime (in TIMEZONE).")
@click.option("--dry-run", is_flag=True, help="Print who would get what; write and send nothing.")
@with_appcontext
def run_command(now, dry_run):
    """One pass of every reminder rule, then flush the outbox."""
    clock = Clock.parse(now, current_app.config["TIMEZONE"]) if now else current_clock()
    channel_rows: list[dict] = []

    def show(batch: list[dict]) -> None:  # people's rows as each batch is queued; channels' at the end
        people = [r for r in batch if r.get("channel_id") is None]
        channel_rows.extend(r for r in batch if r.get("channel_id") is not None)
        names = dict(db.session.execute(
            sa.select(User.id, User.username).where(User.id.in_({r["user_id"] for r in people}))
        ).all()) if people else {}
        for row in people:
            click.echo(f"{names.get(row['user_id'], row['user_id'])}\t{row['kind'].value}\t{row['subject']}")

    result = services.run_once(clock, dry_run=dry_run, on_batch=show)
    for label, row in _by_channel(channel_rows):
        click.echo(f"{label}\t{row['kind'].value}\t{row['subject']}")
        if dry_run:  # what the robot would show (the Markdown); the address is never printed
            click.echo(textwrap.indent(row["body_text"], "  "))
    counted = f"{result.people} reminder(s) to people and {result.channels} message(s) to channels"
    if dry_run:
        click.echo(f"Dry run: {counted} would be queued; nothing was written.")
        return
    f = result.flushed
    click.echo(f"Queued {counted}; sent {len(f.sent)}, retrying {len(f.retried)}, failed {len(f.failed)}, "
               f"cancelled {len(f.cancelled)}, waiting for a robot's rate limit {len(f.deferred)}.")


def _by_channel(rows: list[dict]) -> list[tuple[str, dict]]:
    """Rows addressed to channels as ("#name (kind, unit code)", row), grouped by channel (one query)."""
    if not rows:
        return []
    channels = {c.id: c for c in db.session.scalars(
        sa.select(UnitChannel).where(UnitChannel.id.in_({r["channel_id"] for r in rows}))
        .options(joinedload(UnitChannel.unit)))}
    order = {cid: n for n, cid in enumerate(sorted(
        channels, key=lambda cid: (channels[cid].unit.path, channels[cid].name, cid)))}

    def label(row: dict) -> str:
        c = channels.get(row["channel_id"])
        return f"#{c.name} ({c.kind.value}, {c.unit.code})" if c else f"#{row['channel_id']}"

    ordered = sorted(rows, key=lambda r: order.get(r["channel_id"], len(order)))  # stable within a channel
    return [(label(r), r) for r in ordered]


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the reminder scheduler in the foreground until interrupted."""
    sched = scheduler.build(current_app._get_current_object(), blocking=True)
    click.echo(f"Scheduler {sched.elector.holder} started; Ctrl+C stops it.")
    sched.add_job(sched.reminder_jobs.rules, id="rules-at-start")
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        sched.elector.release()
        click.echo("Scheduler stopped.")


commands: list = [reminders_group, scheduler_command]
