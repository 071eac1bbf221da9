"""The rectification list (整改清单): filters, sorting, paging, scope, bad input and query counts."""

from __future__ import annotations

import re
from datetime import timedelta

import flask_babel
import pytest
import sqlalchemy as sa
from conftest import TODAY, when

from tracker.enums import Role, TaskState, TaskType
from tracker.extensions import db
from tracker.org.models import User
from tracker.problems.models import Category
from tracker.tasks import services
from tracker.tasks.models import Task
from tracker.tasks.queries import TaskFilters


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-task="(\d+)"', html)]


def ids(*tasks) -> set[int]:
    return {t.id for t in tasks}


@pytest.fixture
def ledger(org, make, clock):
    """Seven measures in every state and light, over units A, A1 and B (TODAY is 2026-06-15)."""
    cats = db.session.scalars(sa.select(Category).order_by(Category.sort_order)).all()
    s2 = make.source(org.b, name="2026年巡察反馈")
    t = {}
    t["green"] = make.task(
        org.mgr_a,
        owner=org.staff_a,
        measure="建立学习制度",
        problem=make.problem(org.mgr_a, description="理论学习不深入"),
    )
    t["yellow"] = make.task(org.mgr_a, owner=org.staff_a1, deadline=TODAY + timedelta(days=2))
    early_problem = make.problem(org.mgr_a)
    make.clock = when("2026-06-01T09:00:00")
    t["red"] = make.task(
        org.mgr_a, problem=early_problem, owner=org.staff_a, deadline=TODAY - timedelta(days=5)
    )
    t["submitted_late"] = make.task(
        org.mgr_a, problem=early_problem, owner=org.staff_a, deadline=TODAY - timedelta(days=1)
    )
    make.clock = clock
    services.submit(t["submitted_late"], org.staff_a, clock, result="已完成")
    t["b"] = make.task(
        org.mgr_b,
        owner=org.staff_b,
        measure="100%_完成率",
        deadline=TODAY + timedelta(days=10),
        problem=make.problem(org.mgr_b, source=s2, category=cats[1]),
    )
    t["closed"] = make.task(org.mgr_a, owner=org.staff_a)
    services.submit(t["closed"], org.staff_a, clock, result="整改到位")
    services.verify(t["closed"], org.mgr_a, clock)
    t["ongoing"] = make.task(
        org.mgr_a, owner=org.staff_a, measure="Party Study Plan", type=TaskType.ONGOING, deadline=None
    )
    db.session.commit()

    class Ledger(dict):
        source_b = s2
        category_b = cats[1]

    return Ledger(t)


def listed(client, **args) -> list[int]:
    response = client.get("/tasks", query_string=args)
    assert response.status_code == 200
    return rows(response.get_data(as_text=True))


def test_everything_in_scope_by_default(client, org, ledger, login_as):
    login_as(org.mgr_root)
    assert set(listed(client)) == {t.id for t in ledger.values()}


FILTER_CASES = [
    ({"state": "open"}, ["green", "yellow", "red", "submitted_late", "b", "ongoing"]),
    ({"state": "closed"}, ["closed"]),
    ({"state": "submitted"}, ["submitted_late"]),
    ({"type": "ongoing"}, ["ongoing"]),
    ({"overdue": "1"}, ["red"]),
    ({"overdue": "y"}, ["red"]),
    ({"light": "red"}, ["red"]),
    ({"light": "yellow"}, ["yellow", "submitted_late"]),
    ({"light": "green"}, ["green", "b", "ongoing"]),
    (
        {"due_after": TODAY.isoformat(), "due_before": (TODAY + timedelta(days=10)).isoformat()},
        ["yellow", "b"],
    ),
    ({"due_before": TODAY.isoformat()}, ["red", "submitted_late"]),
    ({"q": "理论"}, ["green"]),  # the problem's description
    ({"q": "party study"}, ["ongoing"]),  # case-insensitive
    ({"q": "整改到位"}, ["closed"]),  # the result
    ({"q": "%"}, ["b"]),  # a wildcard is an ordinary character
    ({"q": "_"}, ["b"]),
    ({"q": "no such words"}, []),
    ({"state": "open", "overdue": "1", "q": "整改措施"}, ["red"]),
]


def test_filters_narrow(client, org, ledger, login_as):
    login_as(org.mgr_root)
    for args, expected in FILTER_CASES:
        assert set(listed(client, **args)) == {ledger[k].id for k in expected}, args


def test_filters_by_id(client, org, ledger, login_as):
    login_as(org.mgr_root)
    a_subtree = ["green", "yellow", "red", "submitted_late", "closed", "ongoing"]
    assert set(listed(client, unit=org.a.id)) == {ledger[k].id for k in a_subtree}
    assert set(listed(client, unit=org.a1.id)) == ids(ledger["yellow"])
    assert set(listed(client, owner=org.staff_a1.id)) == ids(ledger["yellow"])
    assert set(listed(client, source=ledger.source_b.id)) == ids(ledger["b"])
    assert set(listed(client, category=ledger.category_b.id)) == ids(ledger["b"])
    assert set(listed(client, problem=ledger["green"].problem_id)) == ids(ledger["green"])
    assert set(listed(client, q=ledger["b"].problem.number)) == ids(ledger["b"])
    assert set(listed(client, unit_id=org.b.id)) == ids(ledger["b"])  # the API's spelling works too


def test_overdue_follows_the_clock(app, client, org, ledger, login_as):
    login_as(org.mgr_root)
    app.config["NOW"] = (
        "2026-06-28T10:00:00"  # the green task (deadline 07-15) is still fine; b (06-25) is late
    )
    from flask import g

    g.pop("clock", None)
    assert set(listed(client, overdue=1)) == ids(ledger["red"], ledger["yellow"], ledger["b"])


def test_scope(client, org, ledger, login_as):
    login_as(org.staff_b)
    assert listed(client) == [ledger["b"].id]
    assert listed(client, unit=org.a.id) == []
    assert listed(client, q="理论") == []
    login_as(org.staff_a1)
    assert listed(client) == [ledger["yellow"].id]
    login_as(org.staff_a)
    assert ledger["b"].id not in listed(client)
    html = client.get("/tasks").get_data(as_text=True)
    assert "王五" not in html and "2026年巡察反馈" not in html  # staff_b and B's source are not offered


def test_default_sort_overdue_first_then_deadline(client, org, ledger, login_as):
    login_as(org.mgr_root)
    order = listed(client, state="open")
    expected = ["red", "submitted_late", "yellow", "b", "green", "ongoing"]
    assert order == [ledger[k].id for k in expected]
    assert listed(client, state="open", sort="nonsense") == order
    descending = listed(client, state="open", sort="-deadline")
    assert descending == [ledger[k].id for k in ["green", "b", "yellow", "submitted_late", "red", "ongoing"]]


def test_sorting(client, org, ledger, login_as):
    login_as(org.mgr_root)
    tasks = {t.id: t for t in ledger.values()}
    by_state = listed(client, sort="state")
    states = [list(TaskState).index(tasks[i].state) for i in by_state]
    assert states == sorted(states)
    by_number = listed(client, sort="number")
    assert [tasks[i].problem.number for i in by_number] == sorted(t.problem.number for t in ledger.values())
    by_unit = listed(client, sort="-unit")
    assert [tasks[i].unit.path for i in by_unit] == sorted(
        (t.unit.path for t in ledger.values()), reverse=True
    )
    newest_first = sorted(tasks.values(), key=lambda t: (t.created_at, t.id), reverse=True)
    assert listed(client, sort="-created") == [t.id for t in newest_first]
    by_owner = [tasks[i].owner_id for i in listed(client, sort="owner")]
    groups = [o for n, o in enumerate(by_owner) if n == 0 or by_owner[n - 1] != o]
    assert len(groups) == len(set(by_owner))  # each owner's rows together
    reverse = [tasks[i].owner_id for i in listed(client, sort="-owner")]
    assert [o for n, o in enumerate(reverse) if n == 0 or reverse[n - 1] != o] == groups[::-1]


def test_by_owner_two_people_of_one_name_are_not_interleaved(client, org, make, login_as):
    """By name, then person by person, then by id: what a walk of ix_users_name gives without a sort."""
    twin = make.user("zhangsan2", Role.STAFF, org.a, name=org.staff_a.name)
    made = [make.task(org.mgr_a, owner=owner) for owner in (org.staff_a, twin, org.staff_a, twin)]
    db.session.commit()
    login_as(org.mgr_a)
    first, second = sorted((org.staff_a, twin), key=lambda u: u.id)
    mine = [t.id for t in made]
    expected = [t.id for o in (first, second) for t in made if t.owner_id == o.id]
    assert [i for i in listed(client, sort="owner") if i in mine] == expected
    assert [i for i in listed(client, sort="-owner") if i in mine] == [
        t.id for o in (second, first) for t in sorted(made, key=lambda t: -t.id) if t.owner_id == o.id]


def test_sort_headers_and_reset_link(client, org, ledger, login_as):
    login_as(org.mgr_root)
    html = client.get("/tasks?state=open&sort=owner").get_data(as_text=True)
    assert 'data-sort="owner"' in html and "sort=-owner" in html and "state=open" in html
    assert 'id="reset-filters"' in html
    assert 'id="reset-filters"' not in client.get("/tasks").get_data(as_text=True)
    b = ledger["b"]
    assert f'href="/problems/{b.problem_id}"' in html and f'href="/tasks/{b.id}"' in html


def test_pagination(client, org, ledger, login_as):
    login_as(org.mgr_root)
    first = listed(client, per_page=3)
    second = listed(client, per_page=3, page=2)
    third = listed(client, per_page=3, page=3)
    assert len(first) == 3 and len(second) == 3 and len(third) == 1
    assert first + second + third == listed(client)
    html = client.get("/tasks", query_string={"per_page": 3}).get_data(as_text=True)
    assert 'data-total="7"' in html and "page=2" in html
    assert listed(client, page=99) == []
    assert 'id="empty-page"' in client.get("/tasks?page=99").get_data(as_text=True)


JUNK = [
    {"state": "nonsense"},
    {"unit": "abc"},
    {"owner": "-1"},
    {"source": "1e9"},
    {"category": "９"},
    {"due_after": "2026-13-45"},
    {"due_before": "yesterday"},
    {"page": "zzz"},
    {"page": "99999999999999999999"},  # an OFFSET past the database's integers
    {"page": "99999999999999999999", "overdue": "1"},
    {"page": "40000000", "per_page": "200"},
    {"per_page": "100000"},
    {"per_page": "-5"},
    {"sort": "'; drop table tasks; --"},
    {"light": "purple"},
    {"overdue": "maybe"},
    {"q": "x" * 5000},
    {"unit": "99999999999999999999"},
    {"owner": "2147483648"},
    {"type": "weekly"},
    {"problem": "0"},
    {"q": "\\"},
    {"q": "'\""},
    {"unit": ["1", "x"]},
    {"due_after": "0001-01-01"},
]


def test_junk_arguments_never_fail(client, org, ledger, login_as):
    login_as(org.mgr_root)
    for args in JUNK:
        assert client.get("/tasks", query_string=args).status_code == 200, args
    assert (
        client.get("/tasks", query_string=dict(kv for args in JUNK for kv in args.items())).status_code == 200
    )


def test_filter_parsing_ignores_junk():
    f = TaskFilters.from_args(
        {
            "state": "weird",
            "unit": "x",
            "owner": "0",
            "due_after": "2026-02-30",
            "light": "blue",
            "overdue": "no",
            "q": "   ",
        }
    )
    assert f == TaskFilters()
    assert not f.active
    f = TaskFilters.from_args(
        {
            "state": "open",
            "unit_id": "3",
            "overdue": "true",
            "q": "  a   b ",
            "due_before": "2026-06-30",
            "light": "red",
        }
    )
    assert f.state == "open" and f.unit_id == 3 and f.overdue and f.q == "a b" and f.light.value == "red"
    assert f.due_before.isoformat() == "2026-06-30" and f.active


def test_list_in_english_and_chinese(client, org, ledger, login_as):
    login_as(org.mgr_root)
    html = client.get("/tasks").get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    org.mgr_root.language = "en"
    db.session.commit()
    login_as(org.mgr_root)
    flask_babel.refresh()  # the test client shares one app context; Flask-Babel caches the locale on g
    html = client.get("/tasks").get_data(as_text=True)
    assert 'lang="en"' in html and "Rectification list" in html and "Responsible person" in html
    assert "Overdue only" in html


def test_empty_list_message(client, org, login_as):
    login_as(org.staff_b)
    html = client.get("/tasks").get_data(as_text=True)
    assert 'id="no-results"' in html and 'id="reset-filters"' not in html
    html = client.get("/tasks?state=closed").get_data(as_text=True)
    assert 'id="no-results"' in html and 'id="reset-filters"' in html


# --- queries do not grow with rows ---------------------------------------------------------------


def _fresh():
    """Forget every loaded object, so a lazy load per row would show up as a query."""
    from flask import g

    db.session.expunge_all()
    g.pop("_login_user", None)


@pytest.mark.parametrize("viewer", ["mgr_root", "staff_a"])  # both see all: units A and A1
def test_list_query_count_does_not_grow(client, org, make, login_as, queries, viewer):
    people = {"mgr": org.mgr_a.id, "like": [org.staff_a.id, org.staff_a1.id]}
    made = [0]

    def add(n):
        mgr = db.session.get(User, people["mgr"])
        for i in range(n):
            made[0] += 1
            like = db.session.get(User, people["like"][i % 2])
            # A person cloned from staff_a/staff_a1 (reusing the password hash: hashing is slow), so every
            # row has its own owner and problem and a lazy load per row would show.
            owner = User(
                username=f"bulk{made[0]}",
                name=f"批量用户{made[0]}",
                password_hash=like.password_hash,
                role=like.role,
                unit_id=like.unit_id,
            )
            db.session.add(owner)
            db.session.flush()
            make.task(mgr, owner=owner)
        db.session.commit()

    def cost(path, expected_rows):
        _fresh()
        with queries() as statements:
            html = client.get(path).get_data(as_text=True)
        assert len(rows(html)) == expected_rows
        return len(statements)

    login_as(getattr(org, viewer))
    add(10)
    small = cost("/tasks?per_page=200", 10), cost("/tasks?per_page=200&sort=-created", 10)
    add(190)
    large = cost("/tasks?per_page=200", 200), cost("/tasks?per_page=200&sort=-created", 200)
    # One sorted query: the same statements. The default order reads up to three runs and stops
    # once the page is full, so a full page may need one run fewer, never more.
    assert large[1] == small[1], (small, large)
    assert large[0] <= small[0] <= large[0] + 2, (small, large)
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 200


def test_owner_filter_of_a_large_organisation_holds_the_choice(client, org, login_as, monkeypatch):
    """Past pickers' INLINE_MAX people the owner select holds only the current choice and searches
    /pick/people as the user types (it listed a unit's people after "choose a unit first" before)."""
    from tracker.pickers import lists

    monkeypatch.setattr(lists, "INLINE_MAX", 3)
    login_as(org.mgr_root)
    page = client.get("/tasks").get_data(as_text=True)
    owner_select = page.split('name="owner"')[1].split("</select>")[0]
    assert owner_select.count("<option") == 1 and 'data-picker-url="/pick/people?' in owner_select
    chosen = client.get(f"/tasks?owner={org.staff_a.id}").get_data(as_text=True)
    owner_select = chosen.split('name="owner"')[1].split("</select>")[0]
    assert f'<option value="{org.staff_a.id}" selected>张三（第一党支部）</option>' in owner_select
    assert owner_select.count("<option") == 2


def _plan(statement, sqlite_index: str | None = None) -> str:
    """The database's plan for a statement, as one lowercase string; with `sqlite_index`, the plan that index
    allows (SQLite: INDEXED BY; PostgreSQL: the other indexes of tasks dropped for the transaction)."""
    compiled = statement.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    conn = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        # Tiny test tables make a sequential scan cheapest: forbid it to see what indexes allow.
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        if sqlite_index:
            # On seven rows several indexes cost the same and the planner's pick follows whatever
            # statistics earlier tests left: drop the others for this transaction (rolled back below),
            # as SQLite's INDEXED BY does, to see what this index alone allows.
            others = conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'tasks' AND indexname <> %s "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)", (sqlite_index,)).scalars().all()
            for name in others:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
        rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), params).all()
    else:
        sql = str(compiled)
        if sqlite_index:
            sql = sql.replace("FROM tasks", f"FROM tasks INDEXED BY {sqlite_index}", 1)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
    db.session.rollback()
    return " ".join(str(r[-1]) for r in rows).lower()


def test_the_overdue_list_reads_its_partial_index_in_order(app, org, ledger, clock):
    """The overdue page can take its rows in order and its count from ix_tasks_overdue_deadline
    alone: no sort of every overdue row, no table read for the count, whatever the table's size.
    (Seven rows would not make a planner choose it: PostgreSQL is told to avoid other scans, SQLite
    is told to use the index, which it refuses unless the query's terms match its predicate.)"""
    from tracker.tasks import queries

    stmt = queries.task_query(org.mgr_root, clock, TaskFilters(overdue=True), queries.parse_sort(None),
                              load=False)
    page = _plan(stmt.limit(50), "ix_tasks_overdue_deadline")
    assert "ix_tasks_overdue_deadline" in page
    assert "sort" not in page and "temp b-tree" not in page
    count = _plan(stmt.with_only_columns(sa.func.count(Task.id)).order_by(None), "ix_tasks_overdue_deadline")
    assert "ix_tasks_overdue_deadline" in count
    assert ("index only scan" in count) if db.engine.dialect.name == "postgresql" else ("covering" in count)


def test_overdue_list_is_in_deadline_order_both_ways(client, org, make, login_as, clock):
    make.clock = when("2026-06-01T09:00:00")
    made = [make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY - timedelta(days=d)) for d in (3, 9, 1, 9)]
    make.clock = clock
    db.session.commit()
    login_as(org.mgr_root)
    oldest_first = sorted(made, key=lambda t: (t.deadline, t.id))
    assert listed(client, overdue=1) == [t.id for t in oldest_first]
    assert listed(client, overdue=1, sort="-deadline") == [t.id for t in reversed(oldest_first)]
    assert listed(client, light="red") == [t.id for t in oldest_first]


def test_list_rows_show_what_the_tasks_show(client, org, make, login_as, clock):
    """The list is built from plain rows: light, state, overdue days and cut texts as on the Task."""
    long_text = "整改" * 80
    make.clock = when("2026-06-01T09:00:00")
    late = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY - timedelta(days=4), measure=long_text,
                     problem=make.problem(org.mgr_a, description="问题" * 70))
    make.clock = clock
    exact = make.task(org.mgr_a, owner=org.staff_a, measure="措" * 125)
    db.session.commit()
    login_as(org.mgr_root)
    html = client.get("/tasks").get_data(as_text=True)
    row = html.split(f'<tr data-task="{late.id}">')[1].split("</tr>")[0]
    assert 'data-light="red"' in row
    assert 'data-state="assigned"' in row and "逾期4天" in row
    assert long_text[:119] + "…" in row and long_text[:121] not in row
    assert "问题" * 59 + "问…" in row  # the problem's description in the title, cut like the measure
    assert late.owner.name in row and late.unit.name in row and late.problem.number in row
    exact_row = html.split(f'<tr data-task="{exact.id}">')[1].split("</tr>")[0]
    assert "措" * 125 in exact_row and "…" not in exact_row  # within truncate's leeway: shown whole


@pytest.mark.parametrize("sort", [None, "state", "-state"])
@pytest.mark.parametrize("per_page", [1, 2, 3, 50])
def test_default_order_paged_in_parts_equals_one_sort(client, org, ledger, make, login_as, clock, per_page,
                                                      sort):
    """The default page is read in three index-ordered runs (overdue, the rest by deadline, no
    deadline), a page by state in runs state by state; page after page either gives exactly the
    one-sort order of task_query."""
    from tracker.tasks import queries

    make.clock = when("2026-06-01T09:00:00")
    for days in (2, 2, 7):
        make.task(org.mgr_a, owner=org.staff_a1, deadline=TODAY - timedelta(days=days))
    make.task(org.mgr_a, owner=org.staff_a, type=TaskType.ONGOING, deadline=None)
    make.clock = clock
    db.session.commit()
    login_as(org.mgr_root)
    expected = list(db.session.scalars(
        queries.task_query(org.mgr_root, clock, TaskFilters(), queries.parse_sort(sort), load=False)
        .with_only_columns(Task.id)))
    assert len(expected) == 11
    sorted_by = {"sort": sort} if sort else {}
    seen, page = [], 1
    while len(seen) < len(expected) + per_page:
        got = listed(client, per_page=per_page, page=page, **sorted_by)
        if not got:
            break
        seen += got
        page += 1
    assert seen == expected
    assert listed(client, per_page=per_page, page=page + 1, **sorted_by) == []
    assert listed(client, unit=org.a1.id, **sorted_by) == list(db.session.scalars(
        queries.task_query(org.mgr_root, clock, TaskFilters(unit_id=org.a1.id), queries.parse_sort(sort),
                           load=False).with_only_columns(Task.id)))
