"""Commands of DESIGN §4: `flask --app tracker create-user|demo|…` (db upgrade comes from Flask-Migrate)."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask, current_app

from tracker import demo
from tracker.auth.cli import commands as auth_commands
from tracker.channels.cli import commands as channel_commands
from tracker.clock import Clock, current_clock
from tracker.enums import Role
from tracker.errors import ServiceError
from tracker.extensions import db
from tracker.ledger.cli import commands as ledger_commands
from tracker.ops.cli import commands as ops_commands
from tracker.org import services as org
from tracker.org.models import Unit
from tracker.problems.services import seed_categories
from tracker.reminders.cli import commands as reminder_commands
from tracker.reports.cli import commands as report_commands


def _clock(now: str | None) -> Clock:
    return Clock.parse(now, current_app.config["TIMEZONE"]) if now else current_clock()


def _fail(exc: ServiceError) -> None:
    db.session.rollback()
    details = "; ".join(f"{k}: {', '.join(str(m) for m in v)}" for k, v in exc.fields.items())
    raise click.ClickException(f"{exc.message}" + (f" ({details})" if details else ""))


@click.command("create-user")
@click.argument("username")
@click.option("--password", required=True,
              help="Initial password (at least 8 characters, not a common or guessable one).")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--unit", "unit_code", help="Code of the user's unit (not needed for an admin).")
@click.option("--email", default=None)
@click.option("--name", default=None, help="Display name (defaults to the username).")
@click.option("--language", default="zh_CN", type=click.Choice(["zh_CN", "en"]))
def create_user_command(username, password, role, unit_code, email, name, language):
    """Create a user."""
    unit = None
    if unit_code:
        unit = db.session.scalar(sa.select(Unit).where(Unit.code == unit_code))
        if unit is None:
            raise click.ClickException(f"No unit with code {unit_code!r}.")
    try:
        user = org.save_user(None, current_clock(), username=username, name=name or username, role=role,
                             unit=unit, email=email, language=language, password=password)
    except ServiceError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.username}.")


@click.command("demo")
@click.option("--now", default=None, help="Pretend today is this ISO date (demo dates are relative to it).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has units.")
def demo_command(now, if_empty):
    """Load the demo organisation, people, problems and measures."""
    def echo_logins(title, logins):
        click.echo(title)
        for username, password, role, unit in logins:
            click.echo(f"  {username:<12} {password:<14} {role:<8} {unit}")

    if db.session.scalar(sa.select(sa.func.count(Unit.id))):
        if if_empty:
            if demo.demo_loaded():
                # `make run` on an existing demo database still tells people how to log in.
                echo_logins("Demo data already loaded. Logins (username / password, unless changed since):",
                            demo.DEMO_LOGINS)
            else:
                click.echo("The database already has data; demo data not loaded.")
            return
        raise click.ClickException("The database is not empty; the demo loads into an empty database only.")
    logins = demo.load_demo(_clock(now))
    db.session.commit()
    echo_logins("Demo data loaded. Logins (username / password):", logins)


@click.command("seed")
def seed_command():
    """Add the default categories to an empty category list."""
    seed_categories()
    db.session.commit()


def init_app(app: Flask) -> None:
    for command in (create_user_command, demo_command, seed_command, *ledger_commands, *report_commands,
                    *reminder_commands, *channel_commands, *auth_commands, *ops_commands):
        app.cli.add_command(command)
