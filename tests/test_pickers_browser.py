"""The pickers in real headless Chromium: on the 整改清单 filter bar a manager types part of a name,
Tom Select asks /pick/people, the manager picks the person and filters; a short list (the units) is
searched in the page. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import re

import pytest
from browser_support import shot
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser import login
from test_pickers import many_people

from tracker.extensions import db

pytestmark = pytest.mark.browser


def search(page, select_id: str, text: str) -> None:
    """Open the picker that replaced <select id=...> and type into it, as a user does.

    On a machine running two test suites at once, Chromium once lost the keystrokes typed after the
    first answer came back (the box held "同事" of "同事0042", and no search for more was sent). A
    user would see that and type again; so does the test, once, instead of failing on the machine's
    load. The search, its answer and the pick are what is tested."""
    control = page.locator(f"#{select_id}-ts-control")
    control.locator("xpath=ancestor::div[contains(@class,'ts-control')]").click()
    page.keyboard.type(text)
    try:
        page.wait_for_function("([el, text]) => el.value === text", arg=[control.element_handle(), text],
                               timeout=3000)
    except PlaywrightTimeout:
        control.fill(text)


def test_picking_a_person_and_a_unit_on_the_rectification_list(page, live_server, org, make):
    server = live_server
    errors = []  # script errors (a CSP refusal among them) and failed requests, but the missing favicon
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
            and not r.url.endswith("/favicon.ico") else None)
    people = many_people(org.a, 60)  # more than a page holds: searched through /pick/people
    target = people[42]
    make.task(org.mgr_a, owner=target, measure="完善学习台账")
    make.task(org.mgr_a, owner=org.staff_a, measure="别人的措施")
    make.task(org.mgr_a, owner=org.staff_a1, measure="一组的措施")
    db.session.commit()

    login(page, server, org.mgr_a)
    page.goto(f"{server.url}/tasks")
    assert page.locator("#owner option").count() == 1  # only "All": the list is not in the page
    search(page, "owner", "同事0042")
    option = page.locator(".ts-dropdown .option", has_text="同事0042（第一党支部）")
    option.wait_for()
    assert page.locator(".ts-dropdown .option").count() == 1
    shot(page, "pickers-01-owner-search")
    option.click()
    page.click("#task-filters button[type=submit]")
    page.wait_for_url(re.compile(rf".*[?&]owner={target.id}(&|$)"))
    rows = page.locator("#task-table tbody tr")
    assert rows.count() == 1 and "完善学习台账" in rows.first.inner_text()
    # the server rendered the choice with its label; the control shows it
    assert page.locator("#owner").input_value() == str(target.id)
    assert "同事0042（第一党支部）" in page.locator("#owner-ts-control").evaluate(
        "el => el.closest('.ts-control').innerText")
    shot(page, "pickers-02-filtered-by-owner")

    # A short list (two units) is in the page and searched there; clearing the owner lists both units' rows.
    page.goto(f"{server.url}/tasks")
    search(page, "unit", "一组")
    page.locator(".ts-dropdown .option", has_text="第一党支部一组").click()
    page.click("#task-filters button[type=submit]")
    page.wait_for_url(re.compile(rf".*[?&]unit={org.a1.id}(&|$)"))
    assert page.locator("#task-table tbody tr").count() == 1
    assert "一组的措施" in page.locator("#task-table").inner_text()
    shot(page, "pickers-03-filtered-by-unit")

    # On the 问题清单 a choice submits the bar at once (data-autosubmit), as the plain select did.
    page.goto(f"{server.url}/problems")
    search(page, "f-unit", "一组")
    page.locator(".ts-dropdown .option", has_text="第一党支部一组").click()
    page.wait_for_url(re.compile(rf".*/problems\?.*unit={org.a1.id}(&|$)"))
    assert errors == []


def test_picking_an_owner_on_the_problem_form(page, live_server, org, make):
    """A form's long list: the measure row's owner is searched through /pick/people and sent as an id."""
    server = live_server
    people = many_people(org.a, 60)
    make.source(org.a, name="2026年度组织生活会")
    db.session.commit()
    login(page, server, org.mgr_a)
    page.goto(f"{server.url}/problems/new")
    assert page.locator("select[name='measures-0-owner'] option").count() == 1  # "— choose —" only
    search(page, "measures-0-owner", "同事0007")
    page.locator(".ts-dropdown .option", has_text="同事0007（第一党支部）").click()
    assert page.locator("select[name='measures-0-owner']").input_value() == str(people[7].id)
    shot(page, "pickers-04-problem-form-owner")
