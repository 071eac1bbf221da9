"""The state table of a notice (DESIGN §3 "Supervision"): each action, who may take it, from which
states, to which state — as data, like tracker.tasks.rules. It feeds the services' guards
(`require`), what the notice page offers (`available`) and who may read a notice (`clause`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import sqlalchemy as sa

from tracker import scope
from tracker.enums import Role
from tracker.errors import InvalidTransition, PermissionDenied
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.supervision.models import (
    ADDRESSEE_ROLES,
    AWAITING_REPLY,
    Notice,
    NoticeRecipient,
    NoticeState,
)


class Who(enum.Enum):
    RECIPIENT = "recipient"  # anybody the notice was sent to, not yet signed for
    ADDRESSEE = "addressee"  # a listed measure's owner or manager, or a manager of the addressee unit
    ISSUER = "issuer"  # who issued it, or a manager of the issuing unit (admins everywhere)


@dataclass(frozen=True)
class Rule:
    who: Who
    states: tuple[NoticeState, ...]
    to: NoticeState | None = None


OPEN = (NoticeState.ISSUED, NoticeState.ACKNOWLEDGED, NoticeState.REPLIED, NoticeState.RETURNED)
RULES: dict[str, Rule] = {
    "acknowledge": Rule(Who.RECIPIENT, OPEN),  # 签收; the first addressee's moves issued → acknowledged
    "reply": Rule(Who.ADDRESSEE, AWAITING_REPLY, to=NoticeState.REPLIED),
    "accept": Rule(Who.ISSUER, (NoticeState.REPLIED,), to=NoticeState.CLOSED),
    "send_back": Rule(Who.ISSUER, (NoticeState.REPLIED,), to=NoticeState.RETURNED),
}
REFUSAL = {
    Who.RECIPIENT: _l("Only a recipient who has not signed for this notice may do this."),
    Who.ADDRESSEE: _l("Only the responsible persons and the managers of the addressed unit may reply."),
    Who.ISSUER: _l("Only the issuer or a manager of the issuing unit may decide on the reply."),
}


def recipient(notice: Notice, user: User) -> NoticeRecipient | None:
    return next((r for r in notice.recipients if r.user_id == user.id), None)


def is_issuer(notice: Notice, user: User) -> bool:
    if user.role == Role.ADMIN or notice.issued_by_id == user.id:
        return True
    return user.role == Role.MANAGER and user.unit_id == notice.issuing_unit_id


def is_addressee(notice: Notice, user: User) -> bool:
    if user.id == notice.issued_by_id:  # nobody answers their own notice
        return False
    mine = recipient(notice, user)
    if mine is not None and mine.role in ADDRESSEE_ROLES:
        return True
    return user.role == Role.MANAGER and user.unit_id == notice.addressee_unit_id


def _who_allows(who: Who, notice: Notice, user: User) -> bool:
    if who is Who.RECIPIENT:
        mine = recipient(notice, user)
        return mine is not None and mine.acknowledged_at is None
    if who is Who.ADDRESSEE:
        return is_addressee(notice, user)
    return is_issuer(notice, user)


def allowed(notice: Notice, user: User, action: str) -> bool:
    rule = RULES[action]
    return notice.state in rule.states and _who_allows(rule.who, notice, user)


def available(notice: Notice, user: User) -> set[str]:
    """Every action the user may take on the notice now; the notice page offers exactly these."""
    return {action for action in RULES if allowed(notice, user, action)}


def require(notice: Notice, user: User, action: str) -> Rule:
    """Who first (PermissionDenied), then the state (InvalidTransition)."""
    rule = RULES[action]
    if not _who_allows(rule.who, notice, user):
        raise PermissionDenied(REFUSAL[rule.who])
    if notice.state not in rule.states:
        raise InvalidTransition(_l("Not possible while the notice is %(state)s.", state=notice.state.label))
    return rule


# --- who reads a notice ------------------------------------------------------------------------------


def can_read(user: User, notice: Notice) -> bool:
    """Its recipients, its issuer, and the managers and leaders (viewers) whose subtree holds its issuing
    or its addressed unit; anybody else gets the answer of a notice that does not exist."""
    if user.role == Role.ADMIN or is_issuer(notice, user) or recipient(notice, user) is not None:
        return True
    return user.role in (Role.MANAGER, Role.VIEWER) and (
        scope.covers(user, notice.issuing_unit) or scope.covers(user, notice.addressee_unit))


def clause(user: User):
    """SQL twin of `can_read`."""
    if user.role == Role.ADMIN:
        return sa.true()
    mine = sa.exists().where(NoticeRecipient.notice_id == Notice.id, NoticeRecipient.user_id == user.id)
    parts = [mine, Notice.issued_by_id == user.id]
    if user.role == Role.MANAGER:
        parts.append(Notice.issuing_unit_id == user.unit_id)
    if user.unit is not None and user.role in (Role.MANAGER, Role.VIEWER):
        units = scope.subtree_ids(user.unit)
        parts += [Notice.issuing_unit_id.in_(units), Notice.addressee_unit_id.in_(units)]
    return sa.or_(*parts)


def may_issue(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.MANAGER)


def issuing_unit_for(user: User, addressee: Unit) -> Unit | None:
    """The issuing unit: the manager's own; an administrator (who has no unit) issues in the name of
    the addressee unit."""
    if user.role == Role.MANAGER:
        return user.unit
    return addressee
