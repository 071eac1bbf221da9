"""The ledger import in headless Chromium, in both languages: upload → the check's progress bar (polled) →
the preview → confirm → the import's progress bar → the done page; and the same pages without JavaScript,
which reload themselves. The jobs run on the live server's worker thread, slowed a little so that the bars
can be seen and photographed (tests/artifacts/)."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from browser_support import ARTIFACTS, shot
from test_browser import login
from test_ledger_jobs import generated

from tracker.extensions import db
from tracker.ledger import jobs
from tracker.tasks.models import Task

pytestmark = pytest.mark.browser
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def slow_jobs(app, monkeypatch):
    """Worker threads on the live server, and jobs slow enough to watch: 2 ms per progress step."""
    app.config["LEDGER_JOB_WORKERS"] = 1
    monkeypatch.setattr(jobs, "PROGRESS_SECONDS", 0.2)
    step = jobs.JobProgress.step

    def slowly(self, done):
        time.sleep(0.002)
        step(self, done)

    monkeypatch.setattr(jobs.JobProgress, "step", slowly)


def _upload(page, server, data: bytes) -> None:
    page.goto(f"{server.url}/ledger/import")
    page.set_input_files("input[name=file]",
                         files=[{"name": "整改台账.xlsx", "mimeType": XLSX, "buffer": data}])
    page.click("#ledger-upload button[type=submit]")
    page.wait_for_url(re.compile(r".*/ledger/import/\d+$"))


def _moving_bar(page, phase: str) -> tuple[int, int]:
    """Wait until the bar shows the phase with some rows done but not all; (done, total) as shown."""
    page.wait_for_function(
        "(phase) => { const b = document.getElementById('job-progress');"
        " return b && b.value > 0 && b.value < b.max"
        " && document.getElementById('import-job').dataset.phase === phase; }", arg=phase, timeout=30000)
    done = int(page.text_content("#job-done"))
    total = int(page.text_content("#job-total"))
    assert 0 < done < total
    return done, total


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_progress_bars_of_a_check_and_an_import(page, live_server, org, lang, slow_jobs):
    for user in org.users.values():
        user.language = lang
    db.session.commit()
    data = generated(org, 900, dirty=False, seed=11)
    login(page, live_server, org.mgr_root)
    _upload(page, live_server, data)
    check_url = page.url
    done, total = _moving_bar(page, "checking")
    assert page.get_attribute("#import-job", "data-state") == "running"
    shot(page, f"ledger-import-{lang}-1-checking")
    first = done
    page.wait_for_function(f"() => +document.getElementById('job-done').textContent > {first}", timeout=30000)
    page.wait_for_selector("#confirm-import", timeout=60000)  # the page showed the outcome by itself
    assert page.url == check_url and page.locator("#import-preview").count() == 1
    assert page.locator("#import-errors").count() == 0
    page.screenshot(path=str(ARTIFACTS / f"ledger-import-{lang}-2-preview.png"))  # its top: the page is long
    page.click("#confirm-import")  # its confirmation dialog is accepted by the fixture
    page.wait_for_url(lambda url: url != check_url and re.match(r".*/ledger/import/\d+$", url) is not None)
    _moving_bar(page, "checking")  # the import checks the file again, then saves
    shot(page, f"ledger-import-{lang}-3-importing")
    page.wait_for_selector("#import-done-summary", timeout=60000)
    shot(page, f"ledger-import-{lang}-4-done")
    db.session.expire_all()
    measures = db.session.scalar(sa.select(sa.func.count(Task.id)))
    assert measures > 1000 and f"{measures}" in page.text_content("#import-done-summary")


def test_without_javascript_the_pages_reload_themselves(browser, live_server, org, slow_jobs):
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30000)
    try:
        login(page, live_server, org.mgr_root)
        _upload(page, live_server, generated(org, 300, dirty=False, seed=12))
        assert page.locator("#job-progress").count() == 1
        shot(page, "ledger-import-nojs-1-progress")
        page.wait_for_selector("#confirm-import", timeout=60000)  # after a few <noscript> refreshes
        page.screenshot(path=str(ARTIFACTS / "ledger-import-nojs-2-preview.png"))
    finally:
        context.close()
