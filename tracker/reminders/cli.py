"""Commands: `flask reminders run [--now] [--dry-run]` and `flask scheduler`."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

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
    result = services.run_once(clock, dry_run=dry_run)
    names = dict(db.session.execute(
        sa.select(User.id, User.username).where(User.id.in_({r["user_id"] for r in result.queued}))
    ).all()) if result.queued else {}
    for row in result.queued:
        click.echo(f"{names.get(row['user_id'], row['user_id'])}\t{row['kind'].value}\t{row['subject']}")
    if dry_run:
        click.echo(f"Dry run: {len(result.queued)} reminder(s) would be queued; nothing was written.")
        return
    f = result.flushed
    click.echo(f"Queued {len(result.queued)}; sent {len(f.sent)}, retrying {len(f.retried)}, "
               f"failed {len(f.failed)}, cancelled {len(f.cancelled)}.")


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
