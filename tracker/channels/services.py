"""Channels as a service: who may configure them, saving with checks, deleting, the test message.

The web pages, the API and the CLI all call these; like every service they flush and never commit
(except `send_test`, whose rate-window slot is committed before the request goes out).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import force_locale
from sqlalchemy.exc import IntegrityError

from tracker import scope
from tracker.audit import services as audit
from tracker.channels import push, secrets
from tracker.channels.models import ChannelKind, UnitChannel
from tracker.channels.robots import Message, robot, url_hint
from tracker.clock import Clock
from tracker.enums import Role
from tracker.errors import PermissionDenied, StaleVersion, ValidationFailed
from tracker.extensions import db
from tracker.i18n import SUPPORTED
from tracker.i18n import gettext as _
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit
from tracker.reminders.delivery import PermanentFailure, TemporaryFailure
from tracker.reminders.models import Notification

MAX_NAME = 80
MAX_URL = 1000
MAX_SECRET = 200
FLAGS = ("daily", "weekly", "escalations", "notices", "active")


def may_configure(actor, unit: Unit | None) -> bool:
    """Administrators, and the managers of the unit or a unit above it."""
    return actor.role in (Role.ADMIN, Role.MANAGER) and scope.manages(actor, unit)


def channels_of(actor):
    """A statement for the channels of the units the actor manages (admins: all), by unit then name."""
    stmt = sa.select(UnitChannel).join(Unit, Unit.id == UnitChannel.unit_id)
    if actor.role != Role.ADMIN:
        if actor.role != Role.MANAGER or actor.unit is None:
            return stmt.where(sa.false())
        stmt = stmt.where(Unit.path.startswith(actor.unit.path, autoescape=True))
    return stmt.options(sa.orm.contains_eager(UnitChannel.unit)).order_by(Unit.path, UnitChannel.name,
                                                                         UnitChannel.id)


def readable(actor, channel: UnitChannel | None) -> bool:
    return channel is not None and may_configure(actor, channel.unit)


@dataclass
class Values:
    """What a form, a JSON body or the command line gives; None leaves a field as it is."""

    name: str | None = None
    kind: str | None = None
    url: str | None = None
    secret: str | None = None
    language: str | None = None
    daily: bool | None = None
    weekly: bool | None = None
    escalations: bool | None = None
    notices: bool | None = None
    active: bool | None = None


def _text(value, field: str, limit: int, errors: dict) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.setdefault(field, []).append(_l("Give text."))
        return None
    value = value.strip()
    if len(value) > limit:
        errors.setdefault(field, []).append(_l("At most %(n)s characters.", n=limit))
        return None
    if not value.isprintable():
        errors.setdefault(field, []).append(_l("Contains characters that cannot be stored."))
        return None
    return value


def _url_problem(problem: str, example: str):
    if problem == "scheme":
        return _l("Give the full address, starting with https://.")
    if problem == "host":
        return _l("This robot's address starts with %(example)s. Another host must be listed in "
                  "CHANNEL_ALLOWED_HOSTS by the administrator.", example=example)
    if problem == "shape":
        return _l("This is not the address this robot gives; it looks like %(example)s.", example=example)
    return _l("This address is on a private or unknown network. The administrator may allow its host in "
              "CHANNEL_ALLOWED_HOSTS.")


def _check(values: Values, channel: UnitChannel | None, unit: Unit) -> tuple[ChannelKind, dict]:
    """The checked changes for a new or existing channel (raises ValidationFailed with every field)."""
    errors: dict = {}
    new = channel is None
    changes: dict = {}
    name = _text(values.name, "name", MAX_NAME, errors)
    if name is not None:
        if not name:
            errors.setdefault("name", []).append(_l("Give the channel a name."))
        else:
            changes["name"] = name
    elif new and "name" not in errors:
        errors["name"] = [_l("Give the channel a name.")]
    kind = channel.kind if channel is not None else None
    if values.kind is not None:
        try:
            kind = ChannelKind(values.kind)
        except ValueError:
            errors["kind"] = [_l("Choose one of: %(values)s.",
                                 values=", ".join(k.value for k in ChannelKind))]
        else:
            changes["kind"] = kind
    elif new:
        errors["kind"] = [_l("Choose the kind of channel.")]
    if values.language is not None:
        if values.language not in SUPPORTED:
            errors["language"] = [_l("Choose one of: %(values)s.", values=", ".join(SUPPORTED))]
        else:
            changes["language"] = values.language
    for flag in FLAGS:
        value = getattr(values, flag)
        if value is not None:
            if not isinstance(value, bool):
                errors[flag] = [_l("Give true or false.")]
            else:
                changes[flag] = value
    url = _text(values.url, "url", MAX_URL, errors) or None
    secret = _text(values.secret, "secret", MAX_SECRET, errors) or None
    if kind is not None:
        bot = robot(kind)
        current_url = secrets.decrypt(channel.url_encrypted) if channel is not None else None
        checked = url or (current_url if "kind" in changes else None)
        if url is None and (new or (channel is not None and current_url is None)) and "url" not in errors:
            errors["url"] = [_l("Give the robot's webhook address.")]
        elif checked is not None and (problem := bot.check_url(checked)):
            errors["url"] = [_url_problem(problem, bot.example)]
        has_secret = secret is not None or (channel is not None and channel.kind == kind
                                            and secrets.decrypt(channel.secret_encrypted) is not None)
        if bot.needs_secret and not has_secret and "secret" not in errors:
            errors["secret"] = [_l("Give the signing secret (钉钉 加签, 飞书 签名校验, a webhook's secret).")]
        if url is not None:
            changes["url"] = url
        if secret is not None:
            changes["secret"] = secret if bot.needs_secret else None
        elif not bot.needs_secret and channel is not None and channel.secret_encrypted:
            changes["secret"] = None
    if "name" in changes and "name" not in errors:
        clash = db.session.scalar(sa.select(UnitChannel.id).where(
            UnitChannel.unit_id == unit.id, UnitChannel.name == changes["name"],
            UnitChannel.id != (channel.id if channel is not None else 0)))
        if clash is not None:
            errors["name"] = [_l("This unit already has a channel of this name.")]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    return kind, changes


def _apply(channel: UnitChannel, changes: dict) -> dict:
    """Write the changes; returns what the audit may show (never the address or the secret)."""
    shown = {}
    for field, value in changes.items():
        if field == "url":
            channel.url_encrypted = secrets.encrypt(value)
            channel.url_hint = url_hint(value)
            shown["url"] = channel.url_hint
        elif field == "secret":
            channel.secret_encrypted = secrets.encrypt(value) if value else None
            shown["secret"] = "set" if value else "removed"
        else:
            setattr(channel, field, value)
            shown[field] = value.value if isinstance(value, ChannelKind) else value
    return shown


def create(actor, unit: Unit, values: Values, clock: Clock) -> UnitChannel:
    if not may_configure(actor, unit):
        raise PermissionDenied(_l("Only administrators and the unit's managers may configure its channels."))
    _kind, changes = _check(values, None, unit)
    channel = UnitChannel(unit=unit, unit_id=unit.id, created_by_id=actor.id, created_at=clock.now(),
                          updated_at=clock.now(), language="zh_CN")
    shown = _apply(channel, changes)
    _flush_named(channel, add=True)
    audit.record(actor, clock, "channel.create", channel, after=shown)
    return channel


def _flush_named(channel: UnitChannel, add: bool = False) -> None:
    """Flush in a savepoint: a name another request took since the check is that field's error."""
    try:
        with db.session.begin_nested():
            if add:
                db.session.add(channel)
            db.session.flush()
    except IntegrityError as exc:
        if "name" not in str(exc.orig).lower() and "uq_unit_channels" not in str(exc.orig):
            raise
        message = _l("This unit already has a channel of this name.")
        raise ValidationFailed(message, {"name": [message]}) from exc


def update(actor, channel: UnitChannel, values: Values, clock: Clock,
           expected_version: int | None = None) -> UnitChannel:
    if not may_configure(actor, channel.unit):
        raise PermissionDenied(_l("Only administrators and the unit's managers may configure its channels."))
    if expected_version is not None and expected_version != channel.version:
        raise StaleVersion(_l("Someone else changed this channel meanwhile. Reload it and try again."))
    _kind, changes = _check(values, channel, channel.unit)
    changes = _real_changes(channel, changes)
    if not changes:  # nothing differs: no new version, no audit event
        return channel
    before = {f: getattr(channel, f) for f in changes if f not in ("url", "secret")}
    shown = _apply(channel, changes)
    channel.updated_at = clock.now()
    _flush_named(channel)
    audit.record(actor, clock, "channel.update", channel,
                 before={k: (v.value if isinstance(v, ChannelKind) else v) for k, v in before.items()},
                 after=shown)
    return channel


def _real_changes(channel: UnitChannel, changes: dict) -> dict:
    """The changes that differ from what is saved (an address or secret given again unchanged is none)."""
    saved = {"url": lambda: secrets.decrypt(channel.url_encrypted),
             "secret": lambda: secrets.decrypt(channel.secret_encrypted)}
    return {field: value for field, value in changes.items()
            if (saved[field]() if field in saved else getattr(channel, field)) != value}


def delete(actor, channel: UnitChannel, clock: Clock) -> None:
    """Delete a channel; its messages still waiting in the outbox go with it."""
    if not may_configure(actor, channel.unit):
        raise PermissionDenied(_l("Only administrators and the unit's managers may configure its channels."))
    audit.record(actor, clock, "channel.delete", channel,
                 before={"name": channel.name, "kind": channel.kind.value, "unit_id": channel.unit_id})
    # Not left to ON DELETE CASCADE: SQLite connections here do not enforce foreign keys.
    db.session.execute(sa.delete(Notification).where(Notification.channel_id == channel.id)
                       .execution_options(synchronize_session=False))
    db.session.delete(channel)
    db.session.flush()


def send_test(actor, channel: UnitChannel, clock: Clock, session=None) -> tuple[bool, str]:
    """Send a test message now (not through the outbox: the answer is shown to the person who asked)."""
    if not may_configure(actor, channel.unit):
        raise PermissionDenied(_l("Only administrators and the unit's managers may configure its channels."))
    bot = robot(channel.kind)
    url, secret = secrets.decrypt(channel.url_encrypted), secrets.decrypt(channel.secret_encrypted)
    with force_locale(channel.language):
        title = _("Test message from the rectification tracker")
        text = _("%(person)s sent this test from the channel %(channel)s of %(unit)s. Summaries, "
                 "escalations and notices of the unit will arrive here.",
                 person=actor.name, channel=channel.name, unit=channel.unit.name)
    ok, note = False, ""
    if url is None or (bot.needs_secret and not secret):
        note = str(_l("The saved address or secret can no longer be read: enter them again."))
    elif bot.check_url(url) is not None:
        note = str(_l("This address is not allowed (CHANNEL_ALLOWED_HOSTS)."))
    else:
        until = push.take_slot(channel.id, bot.per_minute, clock)
        if until is not None:
            note = str(_l("The robot's limit of %(n)s messages a minute is reached; try again in a minute.",
                          n=bot.per_minute))
        else:
            own = session is None
            session = session or push.new_session()
            try:
                data = {"unit": {"id": channel.unit.id, "code": channel.unit.code, "name": channel.unit.name}}
                note = push.post(session, bot, url, secret, Message(title, text, data, "test"),
                                 f"tracker-test-{channel.id}-{int(clock.now().timestamp())}")
                ok = True
            except (TemporaryFailure, PermanentFailure) as exc:
                note = str(exc)
            finally:
                if own:
                    session.close()
            channel = db.session.get(UnitChannel, channel.id)  # reloaded after the slot's commit
            if channel is None:  # deleted meanwhile: nothing to record the answer on
                return ok, note
    channel.last_test_at, channel.last_test_ok, channel.last_test_note = clock.now(), ok, note[:255]
    db.session.flush()
    audit.record(actor, clock, "channel.test", channel, after={"ok": ok, "note": note[:255]})
    return ok, note

