"""Unit channels (推送渠道) on the web: the list, the editor, deleting a channel and its test message.

The rules are tracker.channels.services'; these routes load what the user may see (anything else
is 404, never a hint that it exists), turn the services' errors into form errors and commit once.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError

from tracker import scope
from tracker.channels import services
from tracker.channels.forms import ChannelForm
from tracker.channels.models import ChannelKind, UnitChannel
from tracker.channels.robots import robot
from tracker.clock import request_clock
from tracker.enums import Role
from tracker.errors import StaleVersion, ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.i18n import gettext as _
from tracker.org.models import Unit
from tracker.pickers.lists import Units
from tracker.pickers.widgets import SEARCH_SUFFIX, build, searched
from tracker.viewutils import form_errors

bp = Blueprint("channels", __name__)

UNITS = Units()  # the tree below the user's unit, indented from it


@dataclass(frozen=True)
class Saved:
    """What the editor shows of the saved channel, read before saving: after a lost race the row may
    be gone, and the page must still render."""

    id: int
    name: str
    url_hint: str
    has_secret: bool

    @classmethod
    def of(cls, channel: UnitChannel) -> Saved:
        return cls(channel.id, channel.name, channel.url_hint, channel.has_secret)


def _conflict() -> str:
    return _("Someone else changed this channel meanwhile. Reload it and try again.")


def _configurable(unit: Unit | None) -> Unit:
    """404 outside the user's subtree (or no such unit), 403 inside it for those who may not configure."""
    if unit is None or not scope.covers(current_user, unit):
        abort(404)
    if not services.may_configure(current_user, unit):
        abort(403)
    return unit


def _unit_or_404(unit_id: int) -> Unit:
    return _configurable(db.session.get(Unit, unit_id) if 0 < unit_id <= MAX_ID else None)


def _channel_or_404(channel_id: int) -> UnitChannel:
    channel = db.session.get(UnitChannel, channel_id) if 0 < channel_id <= MAX_ID else None
    _configurable(channel.unit if channel is not None else None)
    return channel


def _render(form: ChannelForm, unit: Unit, saved: Saved | None = None, status: int = 200):
    examples = [(kind.label, robot(kind).example) for kind in ChannelKind]
    return render_template("channels/edit.html", form=form, unit=unit, saved=saved,
                           examples=examples), status


@bp.route("/channels")
@login_required
def channel_list():
    """The channels of the units the user manages, by unit, and a unit picker to add one."""
    if current_user.role not in (Role.ADMIN, Role.MANAGER):
        abort(403)
    channels = db.session.scalars(services.channels_of(current_user)).all()
    groups = [(unit, list(rows)) for unit, rows in groupby(channels, key=lambda c: c.unit)]
    # A manager configures every unit of their subtree (services.may_configure), an admin any: the units
    # they may pick. The first of their tree is offered until they pick another.
    top = UNITS.search(current_user, None, limit=1)
    chosen = request.args.get("unit")
    units = build(UNITS, "unit", [chosen, top[0].value]) if top else None
    return render_template("channels/list.html", groups=groups, units=units, chosen=chosen)


@bp.route("/channels/new")
@login_required
def pick_unit():
    """The list's unit picker (a GET form) leads to that unit's new-channel page; a search from its box
    (without JavaScript) back to the list, which shows the matches."""
    text = searched("unit")
    if text:
        return redirect(url_for("channels.channel_list", unit=request.args.get("unit") or None,
                                **{"unit" + SEARCH_SUFFIX: text}))
    unit_id = request.args.get("unit", type=int)
    if unit_id is None:
        abort(404)
    return redirect(url_for("channels.new_channel", unit_id=unit_id))


@bp.route("/units/<int:unit_id>/channels/new", methods=["GET", "POST"])
@login_required
def new_channel(unit_id: int):
    """Add a channel to a unit."""
    unit = _unit_or_404(unit_id)
    form = ChannelForm()
    if not form.validate_on_submit():
        return _render(form, unit, status=422 if form.is_submitted() else 200)
    try:
        channel = services.create(current_user, unit, form.values(), request_clock())
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        return _render(form, unit, status=422)
    db.session.commit()
    flash(_("The channel %(name)s of %(unit)s is saved.", name=channel.name, unit=unit.name), "success")
    return redirect(url_for("channels.channel_list"))


@bp.route("/channels/<int:channel_id>/edit", methods=["GET", "POST"])
@login_required
def edit_channel(channel_id: int):
    """Change a channel; a blank address or secret keeps the saved one, an edit of an old copy is refused."""
    channel = _channel_or_404(channel_id)
    unit, saved = channel.unit, Saved.of(channel)
    form = ChannelForm()
    if request.method == "GET":
        form.fill_from(channel)
        return _render(form, unit, saved)
    if not form.validate_on_submit():
        return _render(form, unit, saved, 422)
    try:
        services.update(current_user, channel, form.values(channel), request_clock(),
                        expected_version=form.expected_version())
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        return _render(form, unit, saved, 422)
    except (StaleVersion, StaleDataError):
        # StaleVersion: the page was an old copy. StaleDataError: another save of the same version
        # got in between our read and our write (the row's version_id_col).
        db.session.rollback()
        flash(_conflict(), "danger")
        return _render(form, unit, saved, 409)
    flash(_("The channel %(name)s of %(unit)s is saved.", name=channel.name, unit=unit.name), "success")
    return redirect(url_for("channels.channel_list"))


@bp.route("/channels/<int:channel_id>/delete", methods=["POST"])
@login_required
def delete_channel(channel_id: int):
    """Delete a channel; its messages still waiting in the outbox are dropped with it."""
    channel = _channel_or_404(channel_id)
    name, unit_name = channel.name, channel.unit.name
    try:
        services.delete(current_user, channel, request_clock())
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        flash(_conflict(), "danger")
    else:
        flash(_("The channel %(name)s of %(unit)s is deleted.", name=name, unit=unit_name), "success")
    return redirect(url_for("channels.channel_list"))


@bp.route("/channels/<int:channel_id>/test", methods=["POST"])
@login_required
def test_channel(channel_id: int):
    """Send a test message now and show the robot's answer."""
    channel = _channel_or_404(channel_id)
    name = channel.name
    ok, note = services.send_test(current_user, channel, request_clock())
    db.session.commit()
    if ok:
        flash(_("The test message reached %(name)s (%(note)s).", name=name, note=note), "success")
    else:
        flash(_("The test message to %(name)s failed: %(note)s", name=name, note=note), "danger")
    return redirect(url_for("channels.channel_list"))
