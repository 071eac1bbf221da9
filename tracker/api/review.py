"""A unit's review chain (多级审核, DESIGN §4): GET|PUT /units/{id}/review-chain."""

from __future__ import annotations

from tracker import scope
from tracker.api import schemas
from tracker.api.base import actor, bp, get_or_404, not_found
from tracker.api.errors import ApiError
from tracker.clock import request_clock
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit
from tracker.review import chains


def _unit_or_404(unit_id: int) -> Unit:
    unit = get_or_404(Unit, unit_id)
    if not scope.covers(actor(), unit):
        raise not_found()
    return unit


def _body(unit: Unit) -> dict:
    applies, steps = chains.chain_for(unit)
    return schemas.review_chain_json(unit, applies, steps)


@bp.get("/units/<int:unit_id>/review-chain")
def get_review_chain(unit_id: int):
    """The chain that decides the unit's submissions: its own, the nearest one above, or the default."""
    return _body(_unit_or_404(unit_id))


@bp.put("/units/<int:unit_id>/review-chain")
def put_review_chain(unit_id: int):
    """Set the unit's own chain (an empty list removes it); managers of the unit or above, admins."""
    unit = _unit_or_404(unit_id)
    if not chains.may_configure(actor(), unit):
        raise ApiError(403, "forbidden", _l("Only a manager of this unit or a unit above it may do this."))
    data = schemas.json_body(schemas.REVIEW_CHAIN_PUT)
    chains.set_chain(actor(), unit, data["steps"], request_clock())
    db.session.commit()
    return _body(unit)
