"""Commands of this feature, registered by tracker.cli: `flask channels list|add|test|remove`.

They act through the same services as the pages and the API, as the user given with --user (a manager
or an administrator; default: the first active administrator), like `import-ledger`. The address and
the secret are never printed: only the address's hint (host and last four characters).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from tracker.channels import services
from tracker.channels.models import ChannelKind, UnitChannel
from tracker.clock import current_clock
from tracker.enums import Role
from tracker.errors import ServiceError
from tracker.extensions import db
from tracker.i18n import SUPPORTED
from tracker.org.models import Unit, User

USER_HELP = "Act as this manager or administrator (default: the first active administrator)."


def _actor(username: str | None) -> User:
    if username:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"No user {username!r}.")
        return user
    user = db.session.scalar(
        sa.select(User).where(User.role == Role.ADMIN, User.active.is_(True)).order_by(User.id))
    if user is None:
        raise click.ClickException("No active administrator to act as; pass --user USERNAME.")
    return user


def _channel(channel_id: int) -> UnitChannel:
    channel = db.session.get(UnitChannel, channel_id)
    if channel is None:
        raise click.ClickException(f"No channel {channel_id}.")
    return channel


def _fail(exc: ServiceError):
    """Each wrong field's messages (else the service's message), then exit 1; nothing is written."""
    db.session.rollback()
    if not exc.fields:
        raise click.ClickException(str(exc.message))
    lines = [f"  {field}: {' '.join(str(m) for m in messages)}" for field, messages in exc.fields.items()]
    raise click.ClickException("\n".join(["Not saved:", *lines]))


def _address(_ctx, _param, value: str) -> str:
    """A value urllib cannot even split (`https://[`) would fail the robots' address check with a
    traceback; refused here without echoing it."""
    try:
        urlsplit(value.strip())
    except ValueError:
        raise click.BadParameter("not an address; give the full address, starting with https://.") from None
    return value


def _describe(channel: UnitChannel) -> str:
    return f"{channel.id} {channel.name} ({channel.kind.value}, {channel.unit.code})"


def _sends(channel: UnitChannel) -> str:
    return ",".join(f for f in ("daily", "weekly", "escalations", "notices") if getattr(channel, f)) or "-"


@click.group("channels", cls=AppGroup)
def channels_group():
    """Units' group robots and webhooks (推送渠道)."""


@channels_group.command("list")
def list_command():
    """Every channel: id, unit, name, kind, address hint, active, what it is sent."""
    channels = db.session.scalars(
        sa.select(UnitChannel).join(Unit, Unit.id == UnitChannel.unit_id)
        .options(sa.orm.contains_eager(UnitChannel.unit))
        .order_by(Unit.path, UnitChannel.name, UnitChannel.id)).all()
    if not channels:
        click.echo("No channels.")
        return
    click.echo("id\tunit\tname\tkind\taddress\tactive\tsends")
    for c in channels:
        click.echo(f"{c.id}\t{c.unit.code}\t{c.name}\t{c.kind.value}\t{c.url_hint}\t"
                   f"{'yes' if c.active else 'no'}\t{_sends(c)}")


@channels_group.command("add")
@click.option("--unit", "unit_code", required=True, help="Code of the channel's unit.")
@click.option("--kind", required=True, type=click.Choice([k.value for k in ChannelKind]))
@click.option("--name", required=True, help="Unique within the unit.")
@click.option("--url", required=True, callback=_address, help="The robot's webhook address (never printed).")
@click.option("--secret", default=None,
              help="钉钉 加签, 飞书 签名校验 or the webhook's secret (never printed).")
@click.option("--language", default=None, type=click.Choice(SUPPORTED),
              help="Language of what the channel is sent (default zh_CN).")
@click.option("--no-daily", is_flag=True, help="No daily summary.")
@click.option("--no-weekly", is_flag=True, help="No weekly summary.")
@click.option("--no-escalations", is_flag=True, help="No escalations of overdue measures.")
@click.option("--no-notices", is_flag=True, help="No notices issued to the unit.")
@click.option("--user", "username", help=USER_HELP)
def add_command(unit_code, kind, name, url, secret, language, no_daily, no_weekly, no_escalations,
                no_notices, username):
    """Add a channel to a unit; exits with status 1 naming each wrong field."""
    actor = _actor(username)
    unit = db.session.scalar(sa.select(Unit).where(Unit.code == unit_code))
    if unit is None:
        raise click.ClickException(f"No unit with code {unit_code!r}.")
    values = services.Values(name=name, kind=kind, url=url, secret=secret, language=language,
                             daily=False if no_daily else None, weekly=False if no_weekly else None,
                             escalations=False if no_escalations else None,
                             notices=False if no_notices else None)
    try:
        channel = services.create(actor, unit, values, current_clock())
    except ServiceError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"Added channel {_describe(channel)}: {channel.url_hint}")


@channels_group.command("test")
@click.argument("channel_id", type=int)
@click.option("--user", "username", help=USER_HELP)
def test_command(channel_id, username):
    """Send a test message now; exits with status 1 when the robot does not accept it."""
    actor = _actor(username)
    channel = _channel(channel_id)
    try:
        ok, note = services.send_test(actor, channel, current_clock())
    except ServiceError as exc:
        _fail(exc)
    db.session.commit()
    if not ok:
        raise click.ClickException(f"Test message not accepted: {note}")
    click.echo(f"Test message sent: {note}")


@channels_group.command("remove")
@click.argument("channel_id", type=int)
@click.option("--yes", is_flag=True, help="Really delete it (its waiting messages go with it).")
@click.option("--user", "username", help=USER_HELP)
def remove_command(channel_id, yes, username):
    """Delete a channel (give --yes)."""
    actor = _actor(username)
    channel = _channel(channel_id)
    described = _describe(channel)
    if not yes:
        raise click.ClickException(f"Not removed: give --yes to delete channel {described}.")
    try:
        services.delete(actor, channel, current_clock())
    except ServiceError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"Removed channel {described}.")


commands: list = [channels_group]
