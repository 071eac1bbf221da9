"""整改成效评价 and review steps where people look: the report's figures and sentence (满意率), the
dashboard figure, and the list filters `rating` and `review_step` on the page and in the API."""

from __future__ import annotations

import re
from datetime import date

import pytest
from test_api import api  # noqa: F401  (the API client fixture)

from tracker.extensions import db
from tracker.reports import section as wording
from tracker.reports.services import rectification_figures
from tracker.review import chains
from tracker.tasks import services as tasks

FROM, TO = date(2026, 1, 1), date(2026, 12, 31)


@pytest.fixture
def rated(org, make, clock):
    """Four measures of A: closed 满意, closed 基本满意, closed unrated, returned 不满意; one in B waiting
    at step 2 of a two-step chain."""
    made = {}
    for name, rating in (("satisfied", "satisfied"), ("basic", "basic"), ("unrated", None),
                         ("returned", "unsatisfied")):
        task = make.task(org.mgr_a, owner=org.staff_a)
        tasks.submit(task, org.staff_a, clock, result="已整改")
        reason = "效果不明显" if name == "returned" else None
        tasks.verify(task, org.mgr_a, clock, rating=rating, comment=reason)
        made[name] = task
    steps = [{"kind": "managers"}, {"kind": "person", "reviewer_id": org.mgr_root.id}]
    chains.set_chain(org.mgr_b, org.b, steps, clock)
    waiting = make.task(org.mgr_b, owner=org.staff_b)
    tasks.submit(waiting, org.staff_b, clock, result="已整改")
    tasks.pass_step(waiting, org.mgr_b, clock)
    made["waiting"] = waiting
    db.session.commit()
    return made


def test_the_report_counts_ratings_and_says_so(org, clock, rated):
    f = rectification_figures(org.mgr_root, org.root, FROM, TO, clock)
    assert (f.rated_satisfied, f.rated_basic, f.rated_unsatisfied, f.rated) == (1, 1, 1, 3)
    assert f.satisfaction_rate_text == "66.7%"
    assert f.to_dict()["ratings"] == {"satisfied": 1, "basic": 1, "unsatisfied": 1, "satisfaction_rate": 66.7}
    zh = wording.build_text(wording.render_section(f, "zh_CN"))
    assert ("对3项整改成效开展评价，满意1项、基本满意1项、不满意1项（已退回重新整改），"
            "满意和基本满意率66.7%。") in zh, zh
    en = wording.build_text(wording.render_section(f, "en"))
    assert "The results of 3 measures were rated: 1 satisfied, 1 basically satisfied, 1 unsatisfied" in en
    # A branch without ratings says nothing of them; a period before the ratings counts none.
    f_b = rectification_figures(org.mgr_root, org.b, FROM, TO, clock)
    assert f_b.rated == 0 and "成效开展评价" not in wording.build_text(wording.render_section(f_b, "zh_CN"))
    early = rectification_figures(org.mgr_root, org.root, date(2025, 1, 1), date(2025, 12, 31), clock)
    assert early.rated == 0


def test_the_dashboard_shows_the_rated_figure(org, login_as, rated):
    html = login_as(org.mgr_root).get("/dashboard", query_string={
        "unit": org.root.id, "date_from": FROM.isoformat(), "date_to": TO.isoformat()}).get_data(as_text=True)
    assert re.search(r'data-figure="rated">3<', html), html
    assert "66.7%" in html


def test_the_list_filters_by_rating_and_step(client, org, login_as, rated, api):  # noqa: F811
    login_as(org.mgr_root)

    def listed(**args):
        html = client.get("/tasks", query_string=args).get_data(as_text=True)
        return {int(i) for i in re.findall(r'data-task="(\d+)"', html)}

    assert listed(rating="satisfied") == {rated["satisfied"].id}
    assert listed(rating="basic") == {rated["basic"].id}
    assert listed(rating="rated") == {rated["satisfied"].id, rated["basic"].id}
    assert listed(rating="unrated") == {rated["unrated"].id}
    assert listed(review_step="2") == {rated["waiting"].id}
    assert listed(review_step="1") == set()
    assert listed(rating="junk", review_step="99") >= {rated["waiting"].id, rated["returned"].id}  # ignored
    page = client.get("/tasks").get_data(as_text=True)
    assert 'name="rating"' in page and 'name="review_step"' in page

    client_api = api(org.mgr_root)
    body = client_api.get("/tasks", rating="rated").get_json()
    assert {t["id"] for t in body["items"]} == {rated["satisfied"].id, rated["basic"].id}
    assert {t["rating"] for t in body["items"]} == {"satisfied", "basic"}
    at_step_2 = client_api.get("/tasks", review_step=2).get_json()["items"]
    assert [t["id"] for t in at_step_2] == [rated["waiting"].id]
    assert client_api.get("/tasks", rating="great").status_code == 422
    assert client_api.get("/tasks", review_step=10).status_code == 422
