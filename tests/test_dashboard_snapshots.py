"""Dashboard snapshots (issue 17, part 3): figures that take long to count are kept in the database for
DASHBOARD_CACHE_SECONDS, served with their age, counted again on request or once old, exact for each
reader's scope, never shown before the scope is checked, one recount at a time (decided by the database),
and the same in every language."""
# ruff: noqa: F811  (the tests take test_dashboard's `ledger` fixture as an argument)

from __future__ import annotations

import threading
from dataclasses import fields, is_dataclass
from datetime import date, timedelta

import flask_babel
import pytest
import sqlalchemy as sa
from conftest import when
from test_dashboard import FROM, TO, close, figure, ledger, page  # noqa: F401  (ledger: a fixture)

from tracker.clock import utcnow
from tracker.dashboard import snapshots
from tracker.dashboard.models import DashboardSnapshot
from tracker.dashboard.services import dashboard_figures
from tracker.errors import PermissionDenied
from tracker.extensions import db
from tracker.org.models import Unit
from tracker.reports.services import rectification_figures

LOOKED = "2026-06-15T10:00"
DATES = {"date_from": FROM.isoformat(), "date_to": TO.isoformat()}


@pytest.fixture
def keep(app):
    """Keep every dashboard, however fast it was counted (the test data is small)."""
    app.config["DASHBOARD_CACHE_MIN_MS"] = 0
    return app


def rows():
    return db.session.scalars(sa.select(DashboardSnapshot).order_by(DashboardSnapshot.id)).all()


def view(actor, unit, date_from=FROM, date_to=TO, **kw):
    return snapshots.dashboard(actor, unit, date_from, date_to, when(LOOKED), **kw)


def age(seconds):
    """Make every snapshot `seconds` old."""
    db.session.execute(sa.update(DashboardSnapshot).values(computed_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


def plain(value):
    """A dashboard as plain values: units by id, labels as text (in the current language)."""
    if isinstance(value, Unit):
        return ("unit", value.id)
    if is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value) if f.name != "kept"}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str | int | float | date | type(None)):
        return value
    return str(value)  # lazy strings


# --- on the page --------------------------------------------------------------------------------


def test_a_kept_dashboard_is_served_with_its_age_until_recounted_on_request_or_once_old(
        org, ledger, login_as, keep, queries):
    client = login_as(org.mgr_root)
    html = page(client, unit=org.root.id, **DATES).get_data(as_text=True)
    assert figure(html, "closed") == 5 and 'id="dashboard-kept"' in html
    (row,) = rows()
    assert row.unit_id == org.root.id and row.computing_since is None

    close(ledger["tasks"][7], org.staff_b, org.mgr_b, "2026-06-15T09:00")  # a sixth measure closed
    db.session.commit()
    with queries() as served:
        html = page(client, unit=org.root.id, **DATES).get_data(as_text=True)
    assert figure(html, "closed") == 5, "served from the snapshot"
    assert 'id="dashboard-recount"' in html and "recount=1" in html
    # Served: the frame's queries, the snapshot, and its units by id; none of the report's counting.
    assert not any("GROUP BY" in q.upper() for q in served), served

    response = page(client, unit=org.root.id, recount=1, **DATES)
    assert response.status_code == 302 and "recount" not in response.headers["Location"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert figure(html, "closed") == 6, "counted again on request, then shown from the new snapshot"
    assert len(rows()) == 1

    close(ledger["tasks"][8], org.staff_b, org.mgr_b, "2026-06-15T09:30")
    db.session.commit()
    html = page(client, unit=org.root.id, **DATES).get_data(as_text=True)
    assert figure(html, "closed") == 6
    age(301)  # DASHBOARD_CACHE_SECONDS is 300
    html = page(client, unit=org.root.id, **DATES).get_data(as_text=True)
    assert figure(html, "closed") == 7, "counted again once older than its lifetime"
    assert utcnow() - snapshots._aware(rows()[0].computed_at) < timedelta(seconds=60)


def test_the_age_is_said_in_the_readers_language(org, ledger, login_as, keep):
    view(org.mgr_root, org.root)
    age(180)
    html = page(login_as(org.mgr_root), unit=org.root.id, **DATES).get_data(as_text=True)
    assert "统计于3分钟前" in html and "保留 5 分钟" in html and "立即重新统计" in html
    org.mgr_root.language = "en"
    db.session.commit()
    html = page(login_as(org.mgr_root), unit=org.root.id, **DATES).get_data(as_text=True)
    assert "Counted 3 minutes ago" in html and "kept for 5 minutes" in html
    assert "Count them again now" in html


def test_cheap_figures_are_never_kept_and_zero_seconds_keeps_nothing(org, ledger, login_as, app):
    client = login_as(org.mgr_root)
    html = page(client, unit=org.root.id, **DATES).get_data(as_text=True)
    assert figure(html, "closed") == 5 and 'id="dashboard-kept"' not in html
    assert rows() == []
    app.config.update(DASHBOARD_CACHE_MIN_MS=0, DASHBOARD_CACHE_SECONDS=0)
    html = page(client, unit=org.root.id, **DATES).get_data(as_text=True)
    assert figure(html, "closed") == 5 and rows() == [] and 'id="dashboard-kept"' not in html


# --- scope --------------------------------------------------------------------------------------


def test_each_reader_gets_the_figures_of_their_own_scope(org, ledger, keep):
    # At unit A, the administrator sees T10 (a problem of A carried out by B); A's manager does not.
    admin = view(org.admin, org.a)
    manager = view(org.mgr_a, org.a)
    assert (admin.figures.measures, manager.figures.measures) == (5, 4)
    assert len(rows()) == 2
    again = view(org.mgr_a, org.a)
    assert again.kept is not None and again.figures.measures == 4
    assert again.figures.measures == rectification_figures(org.mgr_a, org.a, FROM, TO, when(LOOKED)).measures
    assert view(org.admin, org.a).figures.measures == 5
    # Two readers of one unit with the same scope still have a snapshot each: the owner clause differs.
    view(org.mgr_a_2, org.a)
    assert len({r.key for r in rows()}) == 3


def test_the_people_of_the_only_top_unit_share_the_administrators_snapshot(org, ledger, make, keep):
    """Their subtree is every unit: they read what an administrator reads, so one count serves them all."""
    first = view(org.admin, org.root)
    for person in (org.mgr_root, org.viewer_root):
        board = view(person, org.root)
        assert board.kept.computed_at == first.kept.computed_at, "served from the administrator's snapshot"
        live = rectification_figures(person, org.root, FROM, TO, when(LOOKED))
        assert (board.figures.measures, board.figures.closed, board.figures.overdue) == (
            live.measures, live.closed, live.overdue)
    assert len(rows()) == 1
    # With a second top unit, the root's people no longer see every unit: a snapshot of their own.
    make.unit("X", "另一机关", parent=None)
    db.session.commit()
    view(org.mgr_root, org.root)
    assert len(rows()) == 2


def test_the_scope_is_checked_before_any_snapshot_is_read(org, ledger, login_as, keep):
    view(org.admin, org.a)
    with pytest.raises(PermissionDenied):
        view(org.mgr_b, org.a)
    response = page(login_as(org.mgr_b), unit=org.a.id, **DATES)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'data-figure="measures"' not in html


def test_a_unit_moved_out_of_scope_is_refused_despite_the_readers_young_snapshot(org, ledger, keep, clock):
    """The key keeps readers apart; the scope check before the snapshot keeps a reader out of a unit
    that left their subtree after they looked (its snapshot, under their own key, is still young)."""
    from tracker.org import services as org_services

    view(org.mgr_a, org.a1)
    org_services.save_unit(org.admin, clock, code=org.a1.code, name=org.a1.name, parent=org.b, unit=org.a1)
    db.session.commit()
    with pytest.raises(PermissionDenied):
        view(org.mgr_a, org.a1)


def test_the_day_is_part_of_the_key(org, ledger, keep):
    """Overdue is counted as of today: tomorrow's dashboard is not yesterday's."""
    view(org.admin, org.root, date_to=date(2026, 12, 31))
    later = snapshots.dashboard(org.admin, org.root, FROM, date(2026, 12, 31), when("2026-06-16T10:00"))
    assert later.figures.as_of == date(2026, 6, 16) and len(rows()) == 2


# --- the payload --------------------------------------------------------------------------------


@pytest.mark.parametrize("who, unit, date_to", [
    ("admin", "root", TO), ("mgr_a", "a", TO), ("mgr_root", "root", date(2028, 12, 31)),
])
def test_a_snapshot_reads_back_exactly_what_was_counted(org, ledger, who, unit, date_to):
    actor, unit = org.users[who], getattr(org, unit)
    live = dashboard_figures(actor, unit, FROM, date_to, when(LOOKED))
    read = snapshots._decode(snapshots._encode(live), unit, FROM, date_to)
    assert read is not None and plain(read) == plain(live)
    assert read.by_year == (date_to.year == 2028) and read.by_unit and read.overdue_by_leader


def test_one_snapshot_serves_every_language(org, ledger, app):
    with flask_babel.force_locale("zh_CN"):
        payload = snapshots._encode(view(org.admin, org.root))
    board = snapshots._decode(payload, org.root, FROM, TO)
    with flask_babel.force_locale("en"):
        assert "Self-inspection" in [str(r.label) for r in board.figures.by_source]
    with flask_babel.force_locale("zh_CN"):
        assert "自查" in "".join(str(r.label) for r in board.figures.by_source)


def test_a_snapshot_that_cannot_be_read_back_is_counted_again(org, ledger, keep):
    view(org.admin, org.root)
    db.session.execute(sa.update(DashboardSnapshot).values(payload='{"figures": 1}'))
    db.session.commit()
    board = view(org.admin, org.root)
    assert board.figures.closed == 5 and '"by_unit"' in rows()[0].payload


# --- one recount at a time ----------------------------------------------------------------------


def test_while_another_request_recounts_the_old_figures_are_served(org, ledger, login_as, keep):
    view(org.mgr_root, org.root)
    close(ledger["tasks"][7], org.staff_b, org.mgr_b, "2026-06-15T09:00")
    db.session.commit()
    age(400)
    db.session.execute(sa.update(DashboardSnapshot).values(computing_since=utcnow()))  # another request
    db.session.commit()
    board = view(org.mgr_root, org.root)
    assert board.figures.closed == 5 and board.kept.recomputing
    client = login_as(org.mgr_root)
    response = page(client, unit=org.root.id, recount=1, **DATES)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert figure(html, "closed") == 5 and 'id="dashboard-kept"' in html and "dashboard-recount" not in html
    # A claim left by a process that died is taken over once it is CLAIM_SECONDS old.
    since = utcnow() - timedelta(seconds=snapshots.CLAIM_SECONDS + 1)
    db.session.execute(sa.update(DashboardSnapshot).values(computing_since=since))
    db.session.commit()
    board = view(org.mgr_root, org.root)
    assert board.figures.closed == 6 and not board.kept.recomputing
    assert rows()[0].computing_since is None


def _at_once(app, work):
    barrier, results = threading.Barrier(2), [None, None]

    def run(index):
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                results[index] = work()
                db.session.commit()
            except Exception as exc:  # noqa: BLE001  (any failure is the test's finding)
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_requests_claiming_one_recount_at_once_the_database_lets_one(org, ledger, keep, app):
    view(org.admin, org.root)
    row_id = rows()[0].id
    now = utcnow()
    results = _at_once(app, lambda: snapshots._claim(row_id, now))
    assert sorted(results) == [False, True], results


def test_two_requests_storing_the_first_snapshot_at_once_leave_one(org, ledger, keep, app):
    unit_id = org.root.id
    now = utcnow()
    results = _at_once(app, lambda: snapshots._store("k", unit_id, "{}", now, 700))
    assert results == [None, None]
    (row,) = rows()
    assert (row.key, row.took_ms) == ("k", 700)


def test_snapshots_nobody_recounted_for_a_day_are_forgotten(org, ledger, keep):
    view(org.admin, org.root)
    age(25 * 3600)
    view(org.admin, org.a)
    assert [r.unit_id for r in rows()] == [org.a.id]
