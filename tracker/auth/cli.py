"""Commands of this feature, registered by tracker.cli: `flask create-token USERNAME`."""

from __future__ import annotations

import click
import sqlalchemy as sa

from tracker.auth import tokens
from tracker.clock import current_clock
from tracker.errors import ServiceError
from tracker.extensions import db
from tracker.org.models import User


@click.command("create-token")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="A name to tell the token apart later.")
def create_token_command(username, name):
    """Create a personal API token and print it alone on stdout (it is not shown again)."""
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"No user {username!r}.")
    try:
        _, raw = tokens.create_token(user, current_clock(), name=name)
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    db.session.commit()
    click.echo(raw)


commands: list = [create_token_command]
