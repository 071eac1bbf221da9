"""A leader's home (督办台): the open measures in their scope counted by what needs chasing — per unit
one level down, in total and per responsible leader — each number a link to the 整改清单 listing
exactly those measures."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from conftest import TODAY, when

from tracker.extensions import db
from tracker.supervision import services as supervision
from tracker.supervision.models import NoticeKind
from tracker.tasks import services as tasks

EARLY = when("2026-05-01T10:00:00")  # assigned long before today: past STALL_DAYS


@pytest.fixture
def chase(org, make, clock):
    """In A: one overdue, one stalled; in A1: one not signed for, due soon; in B: one submitted."""
    leader_a = make.problem(org.mgr_a, responsible_leader=org.mgr_root)
    make.clock = EARLY
    overdue = make.task(org.mgr_a, problem=leader_a, owner=org.staff_a, deadline=TODAY - timedelta(days=3),
                        allow_past_deadline=True)
    stalled = make.task(org.mgr_a, problem=leader_a, owner=org.staff_a, deadline=TODAY + timedelta(days=40))
    tasks.post_progress(overdue, org.staff_a, when("2026-06-14T10:00:00"), body="推进中")
    tasks.acknowledge(stalled, org.staff_a, EARLY)
    make.clock = clock
    unsigned = make.task(org.mgr_a, owner=org.staff_a1, unit=org.a1, deadline=TODAY + timedelta(days=2))
    submitted = make.task(org.mgr_b, owner=org.staff_b, unit=org.b)
    tasks.submit(submitted, org.staff_b, clock, result="已整改")
    db.session.commit()
    return {"overdue": overdue, "stalled": stalled, "unsigned": unsigned, "submitted": submitted}


def desk_cells(html: str) -> dict[tuple[str, str], tuple[int, str | None]]:
    """(row label, column) → (number, link) of the desk's tables."""
    cells = {}
    desk = html.split('id="desk"', 1)[1].split("</section>", 1)[0]
    for row in re.findall(r"<tr data-desk-row=.*?</tr>", desk, re.S):
        label = re.search(r'<th scope="row"[^>]*>(.*?)</th>', row, re.S).group(1).strip()
        for key, body in re.findall(r'data-count="(\w+)">(.*?)</td>', row, re.S):
            body = re.sub(r'\s*<a class="badge[^>]*data-desk-notice.*?</a>', "", body, flags=re.S)
            link = re.search(r'href="([^"]+)"', body)
            number = int(re.sub(r"<[^>]+>", "", body).strip())
            cells[(label, key)] = (number, link.group(1).replace("&amp;", "&") if link else None)
    return cells


def test_the_root_manager_sees_each_branch_and_each_leader(org, chase, login_as):
    client = login_as(org.mgr_root)
    cells = desk_cells(client.get("/").get_data(as_text=True))
    assert cells[("第一党支部", "red")][0] == 1
    assert cells[("第一党支部", "stalled")][0] == 1
    assert cells[("第一党支部", "awaiting_ack")][0] == 1  # in A1, below A
    assert cells[("第一党支部", "yellow")][0] == 1
    assert cells[("第一党支部", "open")][0] == 3
    assert cells[("办公室", "submitted")][0] == 1 and cells[("办公室", "red")][0] == 0
    assert cells[("合计（我的范围）", "open")][0] == 4
    assert cells[("局长", "red")][0] == 1 and cells[("局长", "open")][0] == 2  # the leader of A's problem
    # Every number links to a list of exactly that many measures.
    for (label, key), (number, link) in cells.items():
        if number:
            listed = client.get(link).get_data(as_text=True)
            assert listed.count("<tr data-task=") == number, (label, key, link)
        else:
            assert link is None


def test_a_branch_manager_and_a_viewer_see_their_scope_only(org, chase, login_as):
    cells = desk_cells(login_as(org.mgr_a).get("/").get_data(as_text=True))
    assert {label for label, _ in cells} == {"第一党支部一组", "合计（我的范围）", "局长"}
    assert cells[("合计（我的范围）", "open")][0] == 3
    viewer = desk_cells(login_as(org.viewer_b).get("/").get_data(as_text=True))
    assert viewer[("合计（我的范围）", "open")][0] == 1 and viewer[("合计（我的范围）", "submitted")][0] == 1


def test_staff_have_no_desk(org, chase, login_as):
    assert 'id="desk"' not in login_as(org.staff_a).get("/").get_data(as_text=True)


def test_the_list_filters_behind_the_desk(org, chase, login_as, clock):
    client = login_as(org.mgr_root)
    stalled = client.get("/tasks?stalled=1").get_data(as_text=True)
    assert f'data-task="{chase["stalled"].id}"' in stalled
    assert f'data-task="{chase["overdue"].id}"' not in stalled
    # A progress note ends "stalled".
    tasks.post_progress(chase["stalled"], org.staff_a, clock, body="已推进")
    db.session.commit()
    assert f'data-task="{chase["stalled"].id}"' not in client.get("/tasks?stalled=1").get_data(as_text=True)
    by_leader = client.get(f"/tasks?leader={org.mgr_root.id}").get_data(as_text=True)
    assert by_leader.count("<tr data-task=") == 2


def test_one_click_from_a_red_cell_to_a_supervision_notice(org, chase, login_as):
    client = login_as(org.mgr_root)
    home = client.get("/").get_data(as_text=True)
    links = dict(re.findall(r'href="([^"]+)" data-desk-notice="(\d+)"', home))
    by_unit = {int(unit): href.replace("&amp;", "&") for href, unit in links.items()}
    assert set(by_unit) == {org.a.id}  # only A has overdue measures
    form = client.get(by_unit[org.a.id])
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert f'value="{chase["overdue"].id}"' in html and f'value="{chase["stalled"].id}"' not in html
    assert 'data-desk-notice' not in login_as(org.viewer_root).get("/").get_data(as_text=True)


def test_the_desk_counts_notices_waiting_for_a_reply(org, chase, login_as, clock):
    notice = supervision.issue(org.mgr_root, clock, kind=NoticeKind.SUPERVISION,
                               task_ids=[chase["overdue"].id], reply_due_on=date(2026, 6, 20),
                               body="请抓紧整改。")
    db.session.commit()
    client = login_as(org.mgr_root)
    home = client.get("/").get_data(as_text=True)
    assert re.search(r'data-notices="awaiting">1<', home) and 'data-notices="overdue"' not in home
    listed = client.get("/notices?awaiting=1").get_data(as_text=True)
    assert listed.count("<tr data-notice=") == 1 and f'data-notice="{notice.id}"' in listed
    later = login_as(org.mgr_root)
    later.application.config["NOW"] = "2026-06-25T10:00:00"
    home = later.get("/").get_data(as_text=True)
    assert re.search(r'data-notices="overdue">1<', home)
