"""Lists whose cost does not grow with the table (issue 17): counts only up to LIST_COUNT_LIMIT past the
page (the pager then says "more than N", the API a lower bound with total_exact false), the API's
cursors, and 我的任务 read in index-ordered runs; each checked against the plain one-sort answer."""

from __future__ import annotations

import re

import pytest

from tracker import pagination
from tracker.auth import tokens
from tracker.extensions import db

LIMIT = 5  # the tests' LIST_COUNT_LIMIT; with per_page=1 a page counts up to max(5, offset + 11)


@pytest.fixture
def fifteen(app, org, make):
    """Fifteen measures in A (and its problems), and a count limit of 5."""
    app.config["LIST_COUNT_LIMIT"] = LIMIT
    problem = make.problem(org.mgr_a)
    made = [make.task(org.mgr_a, problem, owner=org.staff_a) for _ in range(15)]
    db.session.commit()
    return made


def _total(html: str) -> str:
    return re.search(r'data-total="([^"]*)"', html).group(1)


@pytest.mark.parametrize("sort", ["deadline", "-deadline", "owner", "state"])
def test_a_long_list_says_more_than_what_it_counted(client, org, fifteen, login_as, sort):
    login_as(org.mgr_a)
    first = client.get("/tasks", query_string={"per_page": 1, "sort": sort}).get_data(as_text=True)
    assert _total(first) == "11+"  # counted up to ten pages past the first, then it stopped
    assert "共11条以上" in first or "More than 11" in first
    assert re.search(r'>\s*11\s*</a>', first) is None  # no last-page link it cannot vouch for
    assert "page=2" in first  # "next" and the pages ahead work
    deep = client.get("/tasks", query_string={"per_page": 1, "page": 10, "sort": sort}).get_data(as_text=True)
    assert _total(deep) == "15"  # from page 10 the count reaches every match: exact again
    assert len(re.findall(r'<tr data-task="', deep)) == 1


def test_a_short_list_is_counted_exactly(client, org, fifteen, login_as):
    login_as(org.mgr_a)
    html = client.get("/tasks", query_string={"per_page": 2}).get_data(as_text=True)
    assert _total(html) == "15" and "共15条" in html  # 15 ≤ max(5, 22)
    assert re.search(r'>\s*8\s*</a>', html)  # the last page's link


def test_the_problem_list_is_capped_too(app, client, org, make, login_as):
    app.config["LIST_COUNT_LIMIT"] = LIMIT
    for _ in range(13):
        make.problem(org.mgr_a)
    db.session.commit()
    login_as(org.mgr_a)
    html = client.get("/problems", query_string={"per_page": 1}).get_data(as_text=True)
    assert _total(html) == "11+"
    assert _total(client.get("/problems", query_string={"per_page": 2}).get_data(as_text=True)) == "13"


def test_the_api_gives_a_lower_bound_and_says_so(client, org, fifteen, clock):
    _, raw = tokens.create_token(org.mgr_a, clock, name="t")
    db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    body = client.get("/api/v1/tasks?per_page=1", headers=headers).get_json()
    assert (body["total"], body["total_exact"], len(body["items"])) == (11, False, 1)
    body = client.get("/api/v1/tasks?per_page=1&page=15", headers=headers).get_json()
    assert (body["total"], body["total_exact"], len(body["items"])) == (15, True, 1)
    body = client.get("/api/v1/tasks?per_page=20", headers=headers).get_json()
    assert (body["total"], body["total_exact"], len(body["items"])) == (15, True, 15)
    seen = set()
    for page in range(1, 16):  # paging through a capped list still reaches every measure
        seen |= {t["id"] for t in client.get(f"/api/v1/tasks?per_page=1&page={page}",
                                               headers=headers).get_json()["items"]}
    assert seen == {t.id for t in fifteen}


@pytest.mark.parametrize("path, args", [
    ("/tasks", {}), ("/tasks", {"overdue": 1}), ("/tasks", {"sort": "state"}), ("/problems", {})])
def test_every_count_of_a_list_page_is_bounded(client, org, fifteen, login_as, queries, path, args):
    """A COUNT without a LIMIT inside it reads every match: none is left on the list pages."""
    login_as(org.mgr_a)
    with queries() as statements:
        assert client.get(path, query_string=dict(args, page=3, per_page=2)).status_code == 200
    # The list's counts (the user's own unread notifications, in the layout, are theirs alone).
    counts = [s for s in statements if re.search(r"\bcount\(", s, re.I) and "FROM notifications" not in s]
    assert counts
    for statement in counts:
        assert re.search(r"\bLIMIT\b", statement, re.I), statement


def test_count_upto_stops_at_its_limit(app, org, fifteen):
    import sqlalchemy as sa

    from tracker.tasks.models import Task

    stmt = sa.select(Task.id)
    conn = db.session.connection()
    assert pagination.count_upto(conn, stmt, 100) == 15
    assert pagination.count_upto(conn, stmt, 15) == 15
    assert pagination.count_upto(conn, stmt, 14) == 15  # one more than the limit: "more than 14"
    assert pagination.count_upto(conn, stmt, 3) == 4


# --- cursors (keyset pagination) ------------------------------------------------------------------


@pytest.fixture
def varied(org, make, clock):
    """Measures with tied deadlines, overdue ones, no deadline (ongoing), several owners, units and
    states: every order has ties and NULL groups to walk through."""
    from datetime import timedelta

    from conftest import TODAY

    from tracker.enums import TaskType
    from tracker.tasks import services

    made = []
    owners = [org.staff_a, org.staff_a1, org.mgr_a]
    for i in range(14):
        problem = make.problem(org.mgr_a)
        kw = {"owner": owners[i % 3]}
        if i % 5 == 4:
            kw.update(type=TaskType.ONGOING, deadline=None)
        else:
            kw.update(deadline=TODAY + timedelta(days=(i % 4) * 7 - 10), allow_past_deadline=True)
        made.append(make.task(org.mgr_a, problem, **kw))
    services.start(made[1], made[1].owner, clock)
    services.submit(made[2], made[2].owner, clock, result="完成")
    db.session.commit()
    return made


def _walk(client, headers, path, params, per_page):
    """Every id of a list, page after page by next_cursor; and the pages' count."""
    seen, cursor, pages = [], None, 0
    while True:
        query = dict(params, per_page=per_page, **({"cursor": cursor} if cursor else {}))
        body = client.get(path, query_string=query, headers=headers).get_json()
        assert body["page"] == (None if cursor else 1)
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 50


def _headers(user, clock):
    _, raw = tokens.create_token(user, clock, name="t")
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


@pytest.mark.parametrize("params", [
    {}, {"sort": "-deadline"}, {"sort": "state"}, {"sort": "-state"}, {"sort": "owner"}, {"sort": "-owner"},
    {"sort": "unit"}, {"sort": "number"}, {"sort": "-created"}, {"overdue": "true"},
    {"overdue": "true", "sort": "-deadline"}, {"state": "open", "sort": "deadline"},
])
def test_a_cursor_walk_gives_the_list_in_its_order(client, org, varied, clock, params):
    headers = _headers(org.mgr_root, clock)
    whole = [t["id"] for t in client.get("/api/v1/tasks", query_string=dict(params, per_page=200),
                                         headers=headers).get_json()["items"]]
    assert whole
    for per_page in (1, 3, 5):
        walked, pages = _walk(client, headers, "/api/v1/tasks", params, per_page)
        assert walked == whole
        assert pages == len(whole) // per_page + 1  # the last, short or empty, has no next_cursor


def test_a_cursor_walk_stays_in_scope(client, org, varied, make, clock):
    make.task(org.mgr_b, owner=org.staff_b)  # another unit's measure, never in staff_a1's list
    db.session.commit()
    headers = _headers(org.staff_a1, clock)
    whole = [t["id"] for t in client.get("/api/v1/tasks?per_page=200", headers=headers).get_json()["items"]]
    assert _walk(client, headers, "/api/v1/tasks", {}, 2)[0] == whole
    assert {t.id for t in varied if t.owner_id == org.staff_a1.id} == set(whole)


def test_other_lists_walk_by_cursor_too(client, org, varied, clock):
    headers = _headers(org.mgr_root, clock)
    for path in ("/api/v1/problems", "/api/v1/units", "/api/v1/sources"):
        body = client.get(path, query_string={"per_page": 200}, headers=headers).get_json()
        assert "items" in body, (path, body)
        whole = [i["id"] for i in body["items"]]
        assert _walk(client, headers, path, {}, 4)[0] == whole


def test_a_cursor_that_is_not_the_apps_own_is_refused(client, org, varied, clock):
    headers = _headers(org.mgr_root, clock)
    first = client.get("/api/v1/tasks?per_page=2&sort=owner", headers=headers).get_json()["next_cursor"]
    problems = client.get("/api/v1/problems?per_page=2", headers=headers).get_json()["next_cursor"]
    for bad, sort in [(first[:-2] + "xx", "owner"),  # tampered
                      (first, "-owner"),  # another order of the same list
                      (problems, "owner"),  # another list's
                      ("junk", ""), ("x" * 1001, "")]:
        answer = client.get("/api/v1/tasks", query_string={"cursor": bad, "sort": sort}, headers=headers)
        assert answer.status_code == 422 and "cursor" in answer.get_json()["fields"], bad


def test_a_cursor_page_seeks_instead_of_skipping(client, org, varied, clock, queries):
    headers = _headers(org.mgr_root, clock)
    cursor = client.get("/api/v1/tasks?per_page=2&overdue=true", headers=headers).get_json()["next_cursor"]
    with queries() as statements:
        client.get("/api/v1/tasks", query_string={"per_page": 2, "overdue": "true", "cursor": cursor},
                   headers=headers)
    page = [s for s in statements if "FROM tasks" in s and "LIMIT" in s and "count(" not in s]
    assert page and all(re.search(r"tasks\.deadline >=", s) for s in page)  # the index range's start


# --- 我的任务 in runs -------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 8, 100])
def test_my_open_tasks_in_runs_is_the_one_sort_order(app, org, make, clock, limit):
    """Red, then yellow, then green, by deadline, ongoing ones without a deadline last: the three
    index-ordered runs give what one sort by the light's rank gave."""
    from datetime import timedelta

    import sqlalchemy as sa
    from conftest import TODAY

    from tracker.enums import OPEN_STATES, TaskType
    from tracker.tasks import queries, services
    from tracker.tasks.models import Task

    me = org.staff_a
    made = []
    for days in (-9, -3, -3, 0, 2, 5, 6, 30, 45):
        made.append(make.task(org.mgr_a, owner=me, deadline=TODAY + timedelta(days=days),
                              allow_past_deadline=True))
    made.append(make.task(org.mgr_a, owner=me, type=TaskType.ONGOING, deadline=None))
    made.append(make.task(org.mgr_a, owner=me, type=TaskType.ONGOING, deadline=TODAY - timedelta(days=4),
                          allow_past_deadline=True))
    services.submit(made[0], me, clock, result="完成")  # past its deadline, but submitted: yellow
    services.start(made[2], me, clock)
    make.task(org.mgr_a, owner=org.staff_a1, deadline=TODAY - timedelta(days=20), allow_past_deadline=True)
    db.session.commit()
    days = app.config["DUE_SOON_DAYS"]
    expected = db.session.scalars(
        sa.select(Task.id).where(Task.owner_id == me.id, Task.state.in_(OPEN_STATES))
        .order_by(queries.light_rank(TODAY, days), Task.deadline.is_(None), Task.deadline, Task.id)
        .limit(limit)).all()
    got = [row.id for row in queries.my_open_tasks(me, clock, limit)]
    assert got == expected
    lights = [row.light(TODAY, days).value for row in queries.my_open_tasks(me, clock, 100)]
    assert lights == sorted(lights, key=["red", "yellow", "green"].index) and len(lights) == 11
