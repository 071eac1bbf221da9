"""The dashboard's figures kept as snapshots in the database, for a while, with their age shown.

Every figure is an aggregate over the period's measures in a unit's subtree: at a province's root with a
million measures that is seconds of counting (3.3 s on PostgreSQL), on every visit, by every reader. So
figures that took at least DASHBOARD_CACHE_MIN_MS to count are stored (`DashboardSnapshot`) and served
for DASHBOARD_CACHE_SECONDS: one row read instead of the counting. The page says how old they are and
offers to count again. Cheaper figures are never stored: a small unit always sees them live.

- Shared: the snapshot is a row, so every worker and host serves the same one.
- Exact for its reader: the key holds the unit, the period, the day the figures are "as of" and the
  reader's scope (everything for an administrator and for the people of the only top unit; otherwise
  their unit and themselves, the two things `scope.task_clause` reads), so a snapshot never shows
  anybody more or less than they may see.
- Checked first: the unit's scope and the period are checked before any snapshot is read, with the
  same answers as the live figures.
- One recount at a time: when a snapshot is older than its lifetime, the first request claims it
  (a conditional UPDATE, decided by the database) and counts again; the others meanwhile serve the
  old one, marked as being recounted, instead of all counting the same table at once. A claim older
  than CLAIM_SECONDS (its process died) may be taken over.
- Language-free: labels are stored as keys (source kinds) or names (units are read again by id), so
  one snapshot serves readers in every language.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from tracker.clock import Clock, utcnow
from tracker.dashboard.models import DashboardSnapshot
from tracker.dashboard.services import Dashboard, Kept, LeaderRow, PeriodRow, UnitRow, dashboard_figures
from tracker.enums import Role, SourceKind
from tracker.extensions import db, insert
from tracker.org.models import Unit, User
from tracker.reports.services import BreakdownRow, RectificationFigures, check_period, check_unit

VERSION = 1  # of the payload: a deployment that changes its shape starts with new keys
CLAIM_SECONDS = 120
FORGET_AFTER = timedelta(days=1)  # snapshots not counted again for this long are deleted
# RectificationFigures' fields kept as they are (numbers); the rest are the key's or rebuilt.
_REBUILT = {"unit", "date_from", "date_to", "as_of", "by_source", "by_category", "closed_items", "open_items"}
_NUMBERS = [f.name for f in fields(RectificationFigures) if f.name not in _REBUILT]


def dashboard(actor: User | None, unit: Unit | None, date_from: date | None, date_to: date | None,
              clock: Clock, *, recount: bool = False) -> Dashboard:
    """`dashboard_figures`, served from a snapshot while one is young enough (see the module).

    `recount`: count again now unless a count is already under way; the reader asked for it.
    """
    check_unit(actor, unit)
    check_period(date_from, date_to)
    config = current_app.config
    lifetime = timedelta(seconds=config["DASHBOARD_CACHE_SECONDS"])
    if lifetime <= timedelta(0):
        return dashboard_figures(actor, unit, date_from, date_to, clock)
    key = snapshot_key(actor, unit, date_from, date_to, min(date_to, clock.today()))
    now = utcnow()
    row = db.session.scalar(sa.select(DashboardSnapshot).where(DashboardSnapshot.key == key))
    if row is not None:
        computed_at = _aware(row.computed_at)
        if now - computed_at < lifetime and not recount:
            board = _decode(row.payload, unit, date_from, date_to)
            if board is not None:
                board.kept = Kept(computed_at, row.took_ms)
                return board
        if not _claim(row.id, now):  # another request is counting them: show the old ones meanwhile
            board = _decode(row.payload, unit, date_from, date_to)
            if board is not None:
                board.kept = Kept(computed_at, row.took_ms, recomputing=True)
                return board
    started = time.perf_counter()
    board = dashboard_figures(actor, unit, date_from, date_to, clock)
    took_ms = round((time.perf_counter() - started) * 1000)
    if row is not None or took_ms >= config["DASHBOARD_CACHE_MIN_MS"]:
        _store(key, unit.id, _encode(board), now, took_ms)
        board.kept = Kept(now, took_ms)
    return board


def snapshot_key(actor: User | None, unit: Unit, date_from: date, date_to: date, as_of: date) -> str:
    reader = "all" if _sees_everything(actor) else f"u{actor.unit_id or '-'}p{actor.id}"
    return f"v{VERSION}|{unit.id}|{date_from.isoformat()}|{date_to.isoformat()}|{as_of.isoformat()}|{reader}"


def _sees_everything(actor: User | None) -> bool:
    """Whether `scope` lets the actor read every problem and measure: an administrator, or anybody of the
    only top unit (its subtree is every unit, so their own measures add nothing). Such readers share
    one snapshot: a province's root managers do not each count the root again."""
    if actor is None or actor.role == Role.ADMIN:
        return True
    if actor.unit is None or actor.unit.parent_id is not None:
        return False
    tops = sa.select(sa.func.count()).select_from(Unit).where(Unit.parent_id.is_(None))
    return db.session.scalar(tops) == 1


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # SQLite hands back naive UTC


def _claim(row_id: int, now: datetime) -> bool:
    """Mark the snapshot as being recounted by this request; False when another one already is."""
    claimed = db.session.execute(
        sa.update(DashboardSnapshot)
        .where(DashboardSnapshot.id == row_id,
               sa.or_(DashboardSnapshot.computing_since.is_(None),
                      DashboardSnapshot.computing_since < now - timedelta(seconds=CLAIM_SECONDS)))
        .values(computing_since=now)
        .execution_options(synchronize_session=False)  # SQLite's naive datetimes: compared in SQL only
    ).rowcount
    db.session.commit()  # the claim must be seen by the other requests while this one counts
    return bool(claimed)


def _store(key: str, unit_id: int, payload: str, computed_at: datetime, took_ms: int) -> None:
    """Insert or replace the snapshot in one statement (two requests storing the first one at once: the
    unique key decides, the later one replaces it) and forget the ones nobody recounted for a day."""
    values = {"payload": payload, "computed_at": computed_at, "took_ms": took_ms, "computing_since": None}
    db.session.execute(insert(DashboardSnapshot).values(key=key, unit_id=unit_id, **values)
                       .on_conflict_do_update(index_elements=["key"], set_=values))
    db.session.execute(sa.delete(DashboardSnapshot)
                       .where(DashboardSnapshot.computed_at < computed_at - FORGET_AFTER)
                       .execution_options(synchronize_session=False))
    db.session.commit()


# --- the payload --------------------------------------------------------------------------------


def _encode(board: Dashboard) -> str:
    f = board.figures
    return json.dumps({
        "figures": {name: getattr(f, name) for name in _NUMBERS},
        "as_of": f.as_of.isoformat(),
        "by_source": [[r.key, r.problems, r.measures, r.closed] for r in f.by_source],
        "by_category": [[r.key, str(r.label), r.problems, r.measures, r.closed] for r in f.by_category],
        "by_unit": [[r.kind, r.unit.id if r.unit else None, r.measures, r.closed, r.closed_on_time, r.overdue]
                    for r in board.by_unit],
        "by_leader": [[r.leader_id, r.name, r.overdue] for r in board.overdue_by_leader],
        "by_period": [[r.start.isoformat(), r.end.isoformat(), r.label, r.problems_found, r.problems_closed,
                       r.measures_closed] for r in board.by_period],
        "by_year": board.by_year,
    }, ensure_ascii=False, separators=(",", ":"))


def _decode(payload: str, unit: Unit, date_from: date, date_to: date) -> Dashboard | None:
    """The dashboard a payload holds, or None when it cannot be rebuilt (a unit of it is gone, or it was
    written by another version): then the figures are counted again."""
    try:
        data = json.loads(payload)
        figures = RectificationFigures(unit=unit, date_from=date_from, date_to=date_to,
                                       as_of=date.fromisoformat(data["as_of"]), **data["figures"])
        figures.by_source = [BreakdownRow(key, SourceKind(key).label, *counts)
                             for key, *counts in data["by_source"]]
        figures.by_category = [BreakdownRow(key, label, *counts)
                               for key, label, *counts in data["by_category"]]
        ids = {unit_id for _, unit_id, *_ in data["by_unit"] if unit_id is not None}
        units = {u.id: u for u in db.session.scalars(sa.select(Unit).where(Unit.id.in_(ids)))} if ids else {}
        if ids - units.keys():
            return None
        by_unit = [UnitRow(kind, units.get(unit_id), *counts) for kind, unit_id, *counts in data["by_unit"]]
        by_period = [PeriodRow(date.fromisoformat(start), date.fromisoformat(end), *rest)
                     for start, end, *rest in data["by_period"]]
        return Dashboard(figures=figures, by_unit=by_unit,
                         overdue_by_leader=[LeaderRow(*r) for r in data["by_leader"]],
                         by_period=by_period, by_year=data["by_year"])
    except (KeyError, TypeError, ValueError):
        return None
