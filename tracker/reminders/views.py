"""Routes: a user's notifications (in-app channel) and the administrators' outbox."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from tracker.auth import calendar as feeds
from tracker.channels.models import UnitChannel
from tracker.clock import request_clock
from tracker.enums import Role
from tracker.extensions import db
from tracker.i18n import gettext as _
from tracker.reminders import calendar, services
from tracker.reminders.models import Notification
from tracker.viewutils import paginate, roles_required

bp = Blueprint("reminders", __name__)


@bp.app_context_processor
def inject_unread():
    """`unread_notifications()` in every template: a callable, so only pages that show it pay the query."""

    def unread_notifications() -> int:
        if not current_user.is_authenticated:
            return 0
        return services.unread_count(current_user)  # often read with the user (tracker.web.load_user)

    return {"unread_notifications": unread_notifications}


@bp.route("/notifications")
@login_required
def notifications():
    """The user's reminders, newest first; unread ones are highlighted."""
    page = paginate(services.notifications_for(current_user))
    return render_template("reminders/notifications.html", page=page,
                           unread=services.unread_count(current_user))


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_all_read():
    """Mark every notification of the user read."""
    n = services.mark_all_read(current_user, request_clock())
    db.session.commit()
    flash(_("%(n)s notification(s) marked as read.", n=n), "success")
    return redirect(url_for("reminders.notifications"))


@bp.route("/admin/outbox")
@roles_required(Role.ADMIN)
def admin_outbox():
    """Messages waiting, being sent or failed, with their last error (administrators only)."""
    page = paginate(services.outbox_for_admin().options(
        selectinload(Notification.user), selectinload(Notification.channel_ref).joinedload(UnitChannel.unit)))
    return render_template("reminders/outbox.html", page=page)


@bp.route("/admin/outbox/<int:notification_id>/retry", methods=["POST"])
@roles_required(Role.ADMIN)
def retry(notification_id: int):
    """Queue a failed message again."""
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        abort(404)
    services.retry_failed(notification, current_user, request_clock())
    db.session.commit()
    flash(_("The message is queued again and will be sent within a minute."), "success")
    return redirect(url_for("reminders.admin_outbox"))


@bp.route("/calendar/<secret>.ics")
def calendar_feed(secret: str):
    """A user's calendar feed behind its secret URL (no login: calendar apps cannot log in). An unknown
    or revoked secret, or a deactivated user, answers 404 like any missing page."""
    clock = request_clock()
    user = feeds.user_for(secret, clock)
    if user is None:
        abort(404)
    body = calendar.build_ics(user, clock)
    db.session.commit()  # last use
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": 'inline; filename="rectification.ics"', "Cache-Control": "no-store"})
