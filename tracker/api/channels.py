"""A unit's channels (推送渠道): GET|POST /units/{id}/channels, GET|PATCH|DELETE /channels/{id},
POST /channels/{id}/test.

The webhook address and the secret are write-only: no answer carries them, only `url_hint` and
`has_secret`. Who may do what is the services' rule (tracker.channels.services.may_configure): a unit
or channel outside the caller's scope answers 404, one in scope that the caller may not configure
(staff, viewers, managers of a unit below) 403.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.orm import joinedload

from tracker import scope
from tracker.api import schemas
from tracker.api.base import actor, bp, created, get_or_404, not_found, paged
from tracker.api.errors import ApiError
from tracker.api.schemas import ENUM, ID, TEXT, F
from tracker.channels import services
from tracker.channels.models import ChannelKind, UnitChannel
from tracker.clock import request_clock
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.i18n import SUPPORTED
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit

MAX_NOTE = 255  # as stored in last_test_note
WRITE_ONLY = ("url", "secret")  # taken, never answered (marked writeOnly in the OpenAPI document)

# --- shapes (the OpenAPI document is built from these too) ----------------------------------------

_FLAGS = {
    "daily": F("boolean", description="The daily summary (from CHANNEL_DAILY_HOUR)."),
    "weekly": F("boolean", description="The weekly summary (on the digest's day, instead of the daily one)."),
    "escalations": F("boolean", description="Measures of the unit's subtree overdue ESCALATE_AFTER_DAYS."),
    "notices": F("boolean", description="Notices (提醒函 / 督办单) issued to the unit."),
    "active": F("boolean", description="false: the channel gets nothing (messages waiting are cancelled)."),
}
_KIND = "wecom: 企业微信 group robot; dingtalk: 钉钉 custom robot (加签); feishu: 飞书 custom bot; " \
        "webhook: a generic signed JSON webhook."
_LANGUAGE = F("enum", values=SUPPORTED, description="The language of what the channel is sent.")
CHANNEL = {
    "id": ID(), "unit_id": ID(), "name": TEXT(services.MAX_NAME),
    "kind": ENUM(ChannelKind, description=_KIND), "language": _LANGUAGE,
    "url_hint": TEXT(120, description="The saved address's host and last four characters; the address "
                                      "itself is never shown again."),
    "has_secret": F("boolean", description="A signing secret is saved (it is never shown again)."),
    **_FLAGS,
    "last_test_at": F("datetime", nullable=True, description="When the last test message was sent."),
    "last_test_ok": F("boolean", nullable=True, description="Whether the robot accepted it."),
    "last_test_note": TEXT(MAX_NOTE, nullable=True, description="The robot's answer to it."),
    "version": F("integer", description="Send it back with a PATCH; a stale one answers 409."),
    "created_at": F("datetime"), "updated_at": F("datetime"),
}
_URL = "The robot's webhook address (it holds the robot's key): write-only."
_SECRET = "钉钉 加签 (SEC…), 飞书 签名校验 or the webhook's shared secret (required for those kinds): " \
          "write-only."
CHANNEL_CREATE = {
    "name": TEXT(services.MAX_NAME, required=True, description="Unique within the unit."),
    "kind": ENUM(ChannelKind, required=True, description=_KIND),
    "url": TEXT(services.MAX_URL, required=True, description=_URL),
    "secret": TEXT(services.MAX_SECRET, description=_SECRET),
    "language": F("enum", values=SUPPORTED, description="Default: zh_CN."),
    **{name: F("boolean", description=f"{flag.description} Default: true.") for name, flag in _FLAGS.items()},
}
CHANNEL_UPDATE = {
    "version": F("integer", required=True, description="The version you read; 409 when stale."),
    "name": TEXT(services.MAX_NAME), "kind": ENUM(ChannelKind, description="Another kind needs its own url."),
    "url": TEXT(services.MAX_URL, description=f"{_URL} Left out or empty: the saved one stays."),
    "secret": TEXT(services.MAX_SECRET, description=f"{_SECRET} Left out or empty: the saved one stays."),
    "language": _LANGUAGE, **_FLAGS,
}
CHANNEL_TEST = {
    "ok": F("boolean", description="The robot accepted the test message."),
    "note": TEXT(MAX_NOTE, description="Its answer, or why nothing was sent."),
}


def channel_json(channel: UnitChannel) -> dict:
    """Only the channel's own columns, never the address or the secret."""
    return {
        "id": channel.id, "unit_id": channel.unit_id, "name": channel.name, "kind": channel.kind.value,
        "language": channel.language, "url_hint": channel.url_hint, "has_secret": channel.has_secret,
        "daily": channel.daily, "weekly": channel.weekly, "escalations": channel.escalations,
        "notices": channel.notices, "active": channel.active,
        "last_test_at": schemas._datetime(channel.last_test_at), "last_test_ok": channel.last_test_ok,
        "last_test_note": channel.last_test_note, "version": channel.version,
        "created_at": schemas._datetime(channel.created_at),
        "updated_at": schemas._datetime(channel.updated_at),
    }


# --- lookups -------------------------------------------------------------------------------------


def _may_configure(unit: Unit) -> None:
    if not services.may_configure(actor(), unit):
        raise ApiError(403, "forbidden",
                       _l("Only administrators and the unit's managers may configure its channels."))


def _unit_or_404(unit_id: int) -> Unit:
    """A unit in the caller's scope (else 404) whose channels the caller may configure (else 403)."""
    unit = get_or_404(Unit, unit_id)
    if not scope.covers(actor(), unit):
        raise not_found()
    _may_configure(unit)
    return unit


def _channel_or_404(channel_id: int) -> UnitChannel:
    """A channel of a unit in the caller's scope (else 404) that the caller may configure (else 403)."""
    channel = get_or_404(UnitChannel, channel_id, joinedload(UnitChannel.unit))
    if not scope.covers(actor(), channel.unit):
        raise not_found()
    _may_configure(channel.unit)
    return channel


def _values(data: dict) -> services.Values:
    """The body as the services take it; an address that is not even a URL is refused here, because
    the robots' address check (urllib's urlsplit) raises on one like `https://[` instead of answering."""
    try:
        urlsplit((data.get("url") or "").strip())
    except ValueError:
        raise ValidationFailed(_l("Some fields are wrong; see `fields`."),
                               {"url": [_l("Give the full address, starting with https://.")]}) from None
    return services.Values(**{k: v for k, v in data.items() if k != "version"})


# --- routes --------------------------------------------------------------------------------------


@bp.get("/units/<int:unit_id>/channels")
def list_channels(unit_id: int):
    """The unit's own channels, by name."""
    unit = _unit_or_404(unit_id)
    stmt = services.channels_of(actor()).where(UnitChannel.unit_id == unit.id)
    return paged(stmt, stmt, channel_json)


@bp.post("/units/<int:unit_id>/channels")
def create_channel(unit_id: int):
    """Add a channel to the unit (administrators, managers of the unit or above)."""
    unit = _unit_or_404(unit_id)
    data = schemas.json_body(CHANNEL_CREATE)
    channel = services.create(actor(), unit, _values(data), request_clock())
    return created(channel_json(channel))


@bp.get("/channels/<int:channel_id>")
def get_channel(channel_id: int):
    """One channel (without its address or secret)."""
    return channel_json(_channel_or_404(channel_id))


@bp.patch("/channels/<int:channel_id>")
def update_channel(channel_id: int):
    """Change some fields; `version` must be the one read (else 409)."""
    channel = _channel_or_404(channel_id)
    data = schemas.json_body(CHANNEL_UPDATE)
    services.update(actor(), channel, _values(data), request_clock(), expected_version=data["version"])
    db.session.commit()
    return channel_json(channel)


@bp.delete("/channels/<int:channel_id>")
def delete_channel(channel_id: int):
    """Delete a channel; its messages still waiting in the outbox go with it."""
    channel = _channel_or_404(channel_id)
    services.delete(actor(), channel, request_clock())
    db.session.commit()
    return "", 204


@bp.post("/channels/<int:channel_id>/test")
def send_channel_test(channel_id: int):
    """Send a test message now and answer with the robot's answer."""
    channel = _channel_or_404(channel_id)
    ok, note = services.send_test(actor(), channel, request_clock())
    db.session.commit()
    return {"ok": ok, "note": note[:MAX_NOTE]}
