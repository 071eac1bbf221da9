"""Document numbers (〔2026〕第3期) per issuing unit, year and kind: no gaps, no duplicates.

The database decides. The counter row is bumped with one `UPDATE … SET last_number = last_number + 1
… RETURNING`: on PostgreSQL the UPDATE holds the row's lock until the issuing transaction ends, so a
concurrent issuer waits and then reads the committed number; on SQLite the first write takes the
database's write lock, with the same effect. The number belongs to the transaction that issues the
notice: a rolled-back issue rolls its number back too, so no gap is left. A unique key on
(issuing unit, year, kind, number) refuses a duplicate whatever happens.
"""

from __future__ import annotations

import sqlalchemy as sa

from tracker.extensions import db, insert
from tracker.supervision.models import NoticeCounter, NoticeKind


def _bump(unit_id: int, year: int, kind: NoticeKind):
    return db.session.scalar(
        sa.update(NoticeCounter)
        .where(NoticeCounter.unit_id == unit_id, NoticeCounter.year == year, NoticeCounter.kind == kind)
        .values(last_number=NoticeCounter.last_number + 1)
        .returning(NoticeCounter.last_number)
        .execution_options(synchronize_session=False))


def next_number(unit_id: int, year: int, kind: NoticeKind) -> int:
    """The next number in the caller's transaction (the counter row stays locked until it ends)."""
    number = _bump(unit_id, year, kind)
    if number is None:  # the first notice of this unit, year and kind: create the row, then bump it
        db.session.execute(insert(NoticeCounter).values(unit_id=unit_id, year=year, kind=kind, last_number=0)
                           .on_conflict_do_nothing())
        number = _bump(unit_id, year, kind)
    return int(number)
