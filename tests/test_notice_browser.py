"""A 督办单 end to end in real headless Chromium, in both languages: the manager filters the overdue
measures on 整改清单, selects three and issues a 督办单; the owner signs for it and replies with a file;
the manager accepts the reply; the measures' timelines show it. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from browser_support import shot
from conftest import TODAY, Factory, when
from test_browser import login, logout

from tracker.extensions import db
from tracker.supervision.models import Notice, NoticeKind, NoticeState

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_a_supervision_order_end_to_end(page, live_server, org, lang, tmp_path):
    server = live_server
    for user in org.users.values():
        user.language = lang
    early = Factory(when("2026-05-01T09:00:00"))
    problem = early.problem(org.mgr_a, org.a, found_on=date(2026, 4, 20), responsible_leader=org.mgr_root)
    late = [early.task(org.mgr_a, problem, owner=org.staff_a, deadline=TODAY - timedelta(days=d),
                       measure=f"逾期整改措施{d}") for d in (2, 5, 9)]
    early.task(org.mgr_a, problem, owner=org.staff_a, deadline=TODAY + timedelta(days=20),
               measure="未到期措施")
    db.session.commit()

    # The manager filters the overdue measures, selects all three and issues a 督办单.
    login(page, server, org.mgr_a)
    page.goto(f"{server.url}/tasks")
    page.check("#overdue")
    page.click("#task-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*overdue=1.*"))
    rows = page.locator("#task-table tbody tr")
    assert rows.count() == 3
    for task in late:
        page.check(f"#task-table input[name=task][value='{task.id}']")
    shot(page, f"notice-{lang}-01-overdue-selected")
    page.click("#issue-supervision")
    page.wait_for_url(re.compile(r".*/notices/new\?.*"))
    assert page.locator("#issue-measures li").count() == 3
    assert "最长超期9天" in page.input_value("textarea[name=body]")
    page.check("input[name=confirm]")
    shot(page, f"notice-{lang}-02-issue-form")
    page.click("#send-notice")  # the confirmation dialog is accepted by the fixture
    page.wait_for_url(re.compile(r".*/notices/\d+$"))
    notice = db.session.scalar(sa.select(Notice))
    assert notice.kind == NoticeKind.SUPERVISION and notice.number_text == "〔2026〕第1期"
    assert "督办单〔2026〕第1期" in page.inner_text("h1")
    shot(page, f"notice-{lang}-03-issued")
    logout(page)

    # The owner finds it among their notices, signs for it and replies with a file.
    login(page, server, org.staff_a)
    page.click("#notices-link")
    page.click(f"#notice-table tr[data-notice='{notice.id}'] a")
    page.wait_for_url(re.compile(rf".*/notices/{notice.id}$"))
    page.click("#form-acknowledge button")
    page.wait_for_selector("#notice-recipients [data-recipient='staff_a'] [data-signed='1']")
    report = tmp_path / "整改情况报告.pdf"
    report.write_bytes(b"%PDF-1.4 rectified")
    page.fill("textarea[name='reply-body']", "三项措施均已整改到位，附整改情况报告。")
    page.set_input_files("input[name='reply-files']", str(report))
    page.click("#form-reply button[type=submit]")
    page.wait_for_selector("#notice-replies [data-reply]")
    assert "整改情况报告.pdf" in page.inner_text("#notice-replies")
    shot(page, f"notice-{lang}-04-replied")
    logout(page)

    # The manager accepts the reply; the notice is closed.
    login(page, server, org.mgr_a)
    page.goto(f"{server.url}/notices/{notice.id}")
    page.click("#accept-reply")
    page.wait_for_selector("[data-decision='accepted']")
    assert page.locator("h1 [data-state='closed']").count() == 1
    shot(page, f"notice-{lang}-05-accepted")
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).state == NoticeState.CLOSED

    # Each measure's timeline shows the notice, its 签收 and the reply.
    page.goto(f"{server.url}/tasks/{late[1].id}")
    for action in ("notice.issue", "notice.acknowledge", "notice.reply", "notice.accept"):
        assert page.locator(f"#timeline [data-action='{action}']").count() == 1, action
    page.click(f"#timeline [data-notice-link='{notice.id}'] >> nth=0")
    page.wait_for_url(re.compile(rf".*/notices/{notice.id}$"))
    page.goto(f"{server.url}/tasks/{late[1].id}")
    shot(page, f"notice-{lang}-06-timeline")
    page.goto(f"{server.url}/notices")
    shot(page, f"notice-{lang}-07-list")
