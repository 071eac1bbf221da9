"""The task page and its actions through the web client: the whole loop, permissions, uploads, stale edits."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import flask_babel
import pytest
import sqlalchemy as sa
from conftest import TODAY

from tracker.audit.models import AuditEvent
from tracker.enums import ExtensionState, ProblemState, Role, TaskState
from tracker.extensions import db
from tracker.org.models import User
from tracker.tasks import services
from tracker.tasks.models import Evidence, Extension, Progress, Task

PDF = b"%PDF-1.4 rectification report \xe6\x95\xb4\xe6\x94\xb9"


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def uploads(app) -> list[bytes]:
    """The contents of every evidence file in the app's store (local folder or S3), by name."""
    from tracker.storage import storage

    store = storage()
    found = []
    for item in sorted(store.names("evidence"), key=lambda s: s.name):
        with store.open("evidence", item.name) as stream:
            found.append(stream.read())
    leftovers = [p for p in (Path(app.instance_path) / "scratch").glob("*")] + \
        [p for p in (Path(app.instance_path) / "uploads").glob(".*")]
    assert leftovers == [], leftovers  # no half-written upload left behind
    return found


def reload(task: Task) -> Task:
    db.session.expire_all()
    return db.session.get(Task, task.id)


def post_progress(client, task, body="已召开专题会议", files=()):
    data = {"progress-body": body, "progress-files": [(io.BytesIO(content), name) for name, content in files]}
    return client.post(f"/tasks/{task.id}/progress", data=data, content_type="multipart/form-data")


def act(client, task, action, version=None, **fields):
    """POST one transition; `fields` are the form's own field names (prefix added here)."""
    version = task.version if version is None else version
    data = {f"{action}-version": str(version)}
    data.update({f"{action}-{k}": v for k, v in fields.items()})
    return client.post(f"/tasks/{task.id}/transition/{action}", data=data, content_type="multipart/form-data")


def in_english(user, login_as):
    """Log in as `user` with English pages.

    The test client shares one app context between requests, and Flask-Babel caches the locale
    on `g`: forget it, as a new request in production would.
    """
    user.language = "en"
    db.session.commit()
    login_as(user)
    flask_babel.refresh()


def errors_for(html: str, name: str) -> list[str]:
    return re.findall(rf'data-error-for="{re.escape(name)}">([^<]*)<', html)


@pytest.fixture
def task(org, make):
    """A measure of unit A, owned by staff_a, assigned by mgr_a."""
    t = make.task(org.mgr_a, owner=org.staff_a, measure="建立健全学习制度")
    db.session.commit()
    return t


# --- the whole loop ---------------------------------------------------------------------------


def test_whole_loop_progress_submit_reject_resubmit_verify(app, client, org, task, login_as):
    problem_id = task.problem_id
    login_as(org.staff_a)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-progress"' in page and 'id="form-submit"' in page
    assert 'id="form-verify"' not in page and 'id="form-cancel"' not in page

    response = post_progress(client, task, files=[("整改报告.pdf", PDF)])
    assert response.status_code == 302
    ev = db.session.scalars(sa.select(Evidence)).one()
    assert ev.filename == "整改报告.pdf" and ev.progress_id is not None
    assert uploads(app) == [PDF]
    assert reload(task).state == TaskState.IN_PROGRESS

    assert act(client, task, "submit", result="制度已印发执行").status_code == 302
    assert reload(task).state == TaskState.SUBMITTED

    login_as(org.mgr_a)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-verify"' in page and 'id="form-reject"' in page
    assert act(client, task, "reject", comment="佐证材料不全").status_code == 302
    assert reload(task).state == TaskState.IN_PROGRESS

    login_as(org.staff_a)
    assert (
        act(
            client, task, "submit", result="已补充会议纪要", files=[(io.BytesIO(PDF), "会议纪要.pdf")]
        ).status_code
        == 302
    )
    assert reload(task).state == TaskState.SUBMITTED
    assert count(Evidence) == 2

    login_as(org.mgr_a)
    response = act(client, task, "verify", comment="同意销号")
    assert response.status_code == 302
    task = reload(task)
    assert task.state == TaskState.CLOSED and task.closed_by_id == org.mgr_a.id
    assert task.problem.state == ProblemState.CLOSED and task.problem_id == problem_id

    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    actions = re.findall(r'data-action="([a-z.]+)"', page)
    assert actions == [
        "task.create",
        "task.acknowledge",  # the owner's first progress note signs for the measure (签收)
        "progress.create",
        "task.start",
        "task.submit",
        "task.reject",
        "task.submit",
        "task.verify",
    ]
    assert "佐证材料不全" in page and "同意销号" in page and "整改报告.pdf" in page and "会议纪要.pdf" in page
    assert 'id="form-verify"' not in page and 'id="form-progress"' not in page


def test_task_page_in_english(client, org, task, login_as):
    in_english(org.staff_a, login_as)
    post_progress(client, task, body="first steps")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "Reported progress" in page and "Submit for close-out" in page and "Responsible leader" in page
    response = act(client, task, "submit", result="")
    assert response.status_code == 422
    assert errors_for(response.get_data(as_text=True), "submit-result") == [
        "Describe the result of the rectification."
    ]


def test_forms_carry_csrf_tokens(app, client, org, task, login_as):
    """The app runs with CSRF protection: every form on the page works with its own token, none without."""
    login_as(org.staff_a)
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    token = re.search(r'name="progress-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    refused = client.post(f"/tasks/{task.id}/progress", data={"progress-body": "无令牌"})
    assert refused.status_code == 302 and count(Progress) == 0
    response = client.post(
        f"/tasks/{task.id}/progress", data={"progress-body": "有令牌", "progress-csrf_token": token}
    )
    assert response.status_code == 302 and count(Progress) == 1
    for name in ("submit", "extend"):
        assert f'name="{name}-csrf_token"' in page


# --- who may do what ----------------------------------------------------------------------------


def _setup_states(org, make, clock):
    """An assigned task, a submitted one and one with a pending extension, all of staff_a in unit A."""
    open_task = make.task(org.mgr_a, owner=org.staff_a)
    submitted = make.task(org.mgr_a, owner=org.staff_a)
    services.submit(submitted, org.staff_a, clock, result="已完成")
    extended = make.task(org.mgr_a, owner=org.staff_a)
    ext = services.request_extension(
        extended, org.staff_a, clock, new_deadline=extended.deadline + timedelta(days=30), reason="需要协调"
    )
    db.session.commit()
    return open_task, submitted, extended, ext


ACTIONS = {
    # name: (which task, url, data, manager only)
    "progress": ("open", "/tasks/{id}/progress", {"progress-body": "进展"}, False),
    "start": ("open", "/tasks/{id}/transition/start", {}, False),
    "submit": ("open", "/tasks/{id}/transition/submit", {"submit-result": "成效"}, False),
    "extension": (
        "open",
        "/tasks/{id}/extension",
        {"extend-new_deadline": "2026-12-31", "extend-reason": "理由"},
        False,
    ),
    "verify": ("submitted", "/tasks/{id}/transition/verify", {}, True),
    "reject": ("submitted", "/tasks/{id}/transition/reject", {"reject-comment": "不合格"}, True),
    "cancel": ("open", "/tasks/{id}/transition/cancel", {"cancel-comment": "重复"}, True),
    "reassign": ("open", "/tasks/{id}/reassign", {"reassign-owner": "{staff_a1}"}, True),
    "deadline": (
        "open",
        "/tasks/{id}/deadline",
        {"deadline-deadline": "2026-12-31", "deadline-comment": "调整"},
        True,
    ),
    "edit": ("open", "/tasks/{id}/edit", {"measure": "改写", "type": "deadline"}, True),
    "decide": ("extended", "/extensions/{ext}/decide", {"decide_extension-approve": "1"}, True),
}


def _snapshot():
    tasks = db.session.execute(
        sa.select(Task.id, Task.state, Task.version, Task.owner_id, Task.deadline, Task.measure).order_by(
            Task.id
        )
    ).all()
    exts = db.session.execute(sa.select(Extension.id, Extension.state)).all()
    return tasks, exts, count(AuditEvent), count(Progress), count(Evidence)


@pytest.mark.parametrize("who", ["staff_b", "mgr_b", "viewer_root", "other_staff_a", "owner"])
def test_actions_refused_for_those_who_may_not(client, org, make, clock, login_as, who):
    """Out of scope → 404; in scope without the right → flash and back to the page; nothing changes."""
    open_task, submitted, extended, ext = _setup_states(org, make, clock)
    users = {"other_staff_a": lambda: make.user("staff_a_2", Role.STAFF, org.a), "owner": lambda: org.staff_a}
    user = users.get(who, lambda: getattr(org, who))()
    db.session.commit()
    login_as(user)
    tried = 0
    for action, (which, url, data, manager_only) in ACTIONS.items():
        if who == "owner" and not manager_only:
            continue  # the owner may do these
        target = {"open": open_task, "submitted": submitted, "extended": extended}[which]
        data = {k: v.format(staff_a1=org.staff_a1.id) for k, v in data.items()}
        before = _snapshot()
        response = client.post(
            url.format(id=target.id, ext=ext.id), data=data, content_type="multipart/form-data"
        )
        if who in ("staff_b", "mgr_b"):  # out of scope: the task does not exist for them
            assert response.status_code == 404, action
        else:
            assert response.status_code == 302, action
            assert response.location.endswith(f"/tasks/{target.id}"), action
            assert "alert-warning" in client.get(response.location).get_data(as_text=True), action
        db.session.expire_all()
        assert _snapshot() == before, action
        tried += 1
    assert tried >= 7


@pytest.mark.parametrize(
    "who, status",
    [
        ("staff_b", 404),
        ("mgr_b", 404),
        ("viewer_b", 404),
        ("staff_a1", 404),
        ("staff_a", 200),
        ("viewer_root", 200),
        ("mgr_root", 200),
    ],
)
def test_task_page_scope(client, org, task, login_as, who, status):
    login_as(getattr(org, who))
    assert client.get(f"/tasks/{task.id}").status_code == status
    assert client.get(f"/tasks/{task.id}/edit").status_code in ((404,) if status == 404 else (200, 302))


def test_viewer_sees_no_actions(client, org, task, login_as):
    login_as(org.viewer_root)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert '<form method="post" action="/tasks/' not in page
    assert 'id="edit-link"' not in page


def test_manager_may_not_verify_own_submission(client, org, task, login_as):
    login_as(org.mgr_a)
    assert act(client, task, "submit", result="书记代为提交").status_code == 302
    assert reload(task).state == TaskState.SUBMITTED
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-verify"' not in page and 'id="form-reject"' in page
    assert act(client, task, "verify").status_code == 302
    assert reload(task).state == TaskState.SUBMITTED
    login_as(org.mgr_a_2)
    assert act(client, task, "verify").status_code == 302
    assert reload(task).state == TaskState.CLOSED


def test_unknown_transition_is_404(client, org, task, login_as):
    login_as(org.mgr_a)
    assert act(client, task, "explode").status_code == 404
    assert client.post("/extensions/999/decide", data={}).status_code == 404


# --- evidence ---------------------------------------------------------------------------------


def test_evidence_download_in_scope_and_out(each_storage, client, org, task, login_as):
    login_as(org.staff_a)
    post_progress(client, task, files=[("整改报告.pdf", PDF), ("现场照片.jpg", b"\xff\xd8\xff jpeg")])
    ev = db.session.scalars(sa.select(Evidence).order_by(Evidence.id)).first()
    for who in ("staff_a", "mgr_a", "viewer_root"):
        login_as(getattr(org, who))
        response = client.get(f"/evidence/{ev.id}")
        assert response.status_code == 200
        assert response.data == PDF
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment")
        assert "filename*=UTF-8''" + quote("整改报告.pdf") in disposition
        assert response.mimetype == "application/pdf"
    for who in ("staff_b", "viewer_b", "staff_a1"):
        login_as(getattr(org, who))
        assert client.get(f"/evidence/{ev.id}").status_code == 404
    assert client.get("/evidence/424242").status_code == 404


def test_bad_file_type_is_refused_and_nothing_stored(each_storage, app, client, org, task, login_as):
    login_as(org.staff_a)
    response = post_progress(client, task, body="附件", files=[("整改报告.pdf", PDF), ("病毒.exe", b"MZ...")])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "病毒.exe" in html
    assert errors_for(html, "progress-files")
    assert "附件" in html  # what the user typed is kept
    assert count(Evidence) == 0 and count(Progress) == 0 and uploads(app) == []
    assert reload(task).state == TaskState.ASSIGNED


def test_too_large_file_is_refused_and_nothing_stored(each_storage, app, client, org, task, login_as):
    app.config["UPLOAD_MAX_MB"] = 1
    login_as(org.staff_a)
    big = b"0" * (1024 * 1024 + 10)
    response = act(client, task, "submit", result="已完成", files=[(io.BytesIO(big), "扫描件.pdf")])
    assert response.status_code == 422
    assert "扫描件.pdf" in response.get_data(as_text=True)
    assert count(Evidence) == 0 and uploads(app) == []
    assert reload(task).state == TaskState.ASSIGNED


def test_empty_file_choice_is_ignored(app, client, org, task, login_as):
    """A browser sends an empty part when no file is chosen; that is not an upload."""
    login_as(org.staff_a)
    response = post_progress(client, task, files=[("", b"")])
    assert response.status_code == 302
    assert count(Progress) == 1 and count(Evidence) == 0


# --- form errors and stale versions ---------------------------------------------------------------


def test_submit_without_result_shows_error_beside_field(client, org, task, login_as):
    login_as(org.staff_a)
    response = act(client, task, "submit", result="   ")
    assert response.status_code == 422
    assert errors_for(response.get_data(as_text=True), "submit-result")
    assert reload(task).state == TaskState.ASSIGNED


def test_reject_needs_reason(client, org, make, clock, login_as):
    _, submitted, _, _ = _setup_states(org, make, clock)
    login_as(org.mgr_a)
    response = act(client, submitted, "reject", comment="")
    assert response.status_code == 422
    assert errors_for(response.get_data(as_text=True), "reject-comment")
    assert reload(submitted).state == TaskState.SUBMITTED


def test_stale_version_is_refused_and_typed_text_kept(client, org, task, login_as, clock):
    old_version = task.version
    services.change_deadline(
        task,
        org.mgr_a,
        clock,
        deadline=task.deadline + timedelta(days=10),
        expected_version=None,
        comment="领导调整",
    )
    db.session.commit()
    in_english(org.staff_a, login_as)
    response = act(client, task, "submit", version=old_version, result="我写了很久的整改成效")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Someone else changed this item after you opened it." in html
    assert "我写了很久的整改成效" in html
    task = reload(task)
    assert task.state == TaskState.ASSIGNED and task.result is None
    assert f'name="submit-version" type="hidden" value="{task.version}"' in html
    # Sending again from the refreshed page applies the change to the current version.
    assert act(client, task, "submit", result="我写了很久的整改成效").status_code == 302
    assert reload(task).state == TaskState.SUBMITTED


def test_stale_edit_keeps_typed_text(client, org, task, login_as, clock):
    login_as(org.mgr_a)
    old = task.version
    services.start(task, org.staff_a, clock)
    db.session.commit()
    response = client.post(
        f"/tasks/{task.id}/edit", data={"version": old, "measure": "新的措施", "type": "deadline"}
    )
    assert response.status_code == 409
    assert "新的措施" in response.get_data(as_text=True)
    assert reload(task).measure == "建立健全学习制度"


# --- extensions, reassigning, deadlines, editing, cancelling ---------------------------------------


def test_extension_request_and_approval(client, org, task, login_as):
    original = task.deadline
    login_as(org.staff_a)
    response = client.post(
        f"/tasks/{task.id}/extension",
        data={"extend-new_deadline": "2026-09-30", "extend-reason": "需上级审批"},
    )
    assert response.status_code == 302
    ext = db.session.scalars(sa.select(Extension)).one()
    assert ext.state == ExtensionState.PENDING

    login_as(org.mgr_a)
    home = client.get("/").get_data(as_text=True)
    assert f'data-extension="{ext.id}"' in home
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-decide"' in page and "需上级审批" in page
    response = client.post(f"/extensions/{ext.id}/decide", data={"decide_extension-approve": "1"})
    assert response.status_code == 302
    task = reload(task)
    assert task.deadline.isoformat() == "2026-09-30" and task.original_deadline == original
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="deadline-history"' in page and original.isoformat() in page and "2026-09-30" in page
    assert f'data-extension="{ext.id}"' not in client.get("/").get_data(as_text=True)


def test_extension_rejection_needs_comment(client, org, task, login_as, clock):
    ext = services.request_extension(
        task, org.staff_a, clock, new_deadline=task.deadline + timedelta(days=9), reason="理由"
    )
    db.session.commit()
    login_as(org.mgr_a)
    response = client.post(f"/extensions/{ext.id}/decide", data={"decide_extension-reject": "1"})
    assert response.status_code == 422
    assert errors_for(response.get_data(as_text=True), "decide_extension-comment")
    response = client.post(f"/extensions/{ext.id}/decide", data={"decide_extension-comment": "x"})
    assert response.status_code == 422  # neither button
    db.session.expire_all()
    assert db.session.get(Extension, ext.id).state == ExtensionState.PENDING
    response = client.post(
        f"/extensions/{ext.id}/decide",
        data={"decide_extension-reject": "1", "decide_extension-comment": "理由不充分"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Extension, ext.id).state == ExtensionState.REJECTED


def test_extension_bad_date(client, org, task, login_as):
    login_as(org.staff_a)
    response = client.post(
        f"/tasks/{task.id}/extension", data={"extend-new_deadline": "2026-06-01", "extend-reason": "理由"}
    )
    assert response.status_code == 422
    assert errors_for(response.get_data(as_text=True), "extend-new_deadline")
    assert count(Extension) == 0


def test_reassign(client, org, task, login_as):
    login_as(org.mgr_a)
    response = client.post(
        f"/tasks/{task.id}/reassign",
        data={
            "reassign-version": task.version,
            "reassign-owner": org.staff_a1.id,
            "reassign-unit": org.a1.id,
            "reassign-comment": "调整分工",
        },
    )
    assert response.status_code == 302
    task = reload(task)
    assert task.owner_id == org.staff_a1.id and task.unit_id == org.a1.id
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-action="task.reassign"' in page and "李四" in page


def test_reassign_out_of_scope_person_is_refused(client, org, task, login_as):
    login_as(org.mgr_a)
    response = client.post(
        f"/tasks/{task.id}/reassign",
        data={"reassign-version": task.version, "reassign-owner": org.staff_b.id},
    )
    assert response.status_code == 422
    assert errors_for(response.get_data(as_text=True), "reassign-owner")
    assert reload(task).owner_id == org.staff_a.id


def test_change_deadline_needs_reason(client, org, task, login_as):
    login_as(org.mgr_a)
    url = f"/tasks/{task.id}/deadline"
    response = client.post(url, data={"deadline-version": task.version, "deadline-deadline": "2026-10-01"})
    assert response.status_code == 422
    assert errors_for(response.get_data(as_text=True), "deadline-comment")
    response = client.post(
        url,
        data={
            "deadline-version": task.version,
            "deadline-deadline": "2026-01-01",
            "deadline-comment": "调整",
        },
    )
    assert response.status_code == 422
    assert errors_for(response.get_data(as_text=True), "deadline-deadline")
    response = client.post(
        url,
        data={
            "deadline-version": task.version,
            "deadline-deadline": "2026-10-01",
            "deadline-comment": "调整",
        },
    )
    assert response.status_code == 302
    assert reload(task).deadline.isoformat() == "2026-10-01"


def test_edit_measure(client, org, task, login_as):
    login_as(org.mgr_a)
    assert client.get(f"/tasks/{task.id}/edit").status_code == 200
    response = client.post(
        f"/tasks/{task.id}/edit", data={"version": task.version, "measure": "", "type": "deadline"}
    )
    assert response.status_code == 422
    assert errors_for(response.get_data(as_text=True), "measure")
    response = client.post(
        f"/tasks/{task.id}/edit",
        data={"version": task.version, "measure": "修订后的措施", "target": "全员覆盖", "type": "immediate"},
    )
    assert response.status_code == 302
    task = reload(task)
    assert task.measure == "修订后的措施" and task.target == "全员覆盖" and task.type.value == "immediate"


def test_cancel_needs_reason_and_closes_problem_as_cancelled(client, org, task, login_as):
    login_as(org.mgr_a)
    assert act(client, task, "cancel", comment="").status_code == 422
    assert reload(task).state == TaskState.ASSIGNED
    assert act(client, task, "cancel", comment="与第3项重复").status_code == 302
    task = reload(task)
    assert task.state == TaskState.CANCELLED and task.problem.state == ProblemState.CANCELLED


def test_start(client, org, task, login_as):
    login_as(org.staff_a)
    assert act(client, task, "start").status_code == 302
    assert reload(task).state == TaskState.IN_PROGRESS


# --- the home page -----------------------------------------------------------------------------


def test_home_lists_my_open_tasks_by_urgency(client, org, make, login_as):
    from conftest import when

    problem = make.problem(org.mgr_a)
    earlier, make.clock = make.clock, when("2026-06-01T09:00:00")
    overdue = make.task(
        org.mgr_a,
        problem=problem,
        owner=org.staff_a,
        deadline=TODAY - timedelta(days=3),
        measure="逾期的措施",
    )
    make.clock = earlier
    green = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=40), measure="正常的措施")
    yellow = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=2), measure="临期的措施")
    make.task(org.mgr_a, owner=org.staff_a1, measure="别人的措施")
    db.session.commit()
    login_as(org.staff_a)
    html = client.get("/").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'<tr data-task="(\d+)"', html)] == [overdue.id, yellow.id, green.id]
    counters = dict(re.findall(r'data-counter="(\w+)">(\d+)<', html))
    assert counters == {"overdue": "1", "due_soon": "1", "in_progress": "0", "submitted": "0"}
    assert "别人的措施" not in html
    assert 'id="to-verify"' not in html


def test_home_empty_state_and_manager_queues(client, org, make, clock, login_as):
    login_as(org.staff_b)
    assert 'id="no-tasks"' in client.get("/").get_data(as_text=True)
    _, submitted, _, ext = _setup_states(org, make, clock)
    login_as(org.mgr_a)
    html = client.get("/").get_data(as_text=True)
    assert f'data-task="{submitted.id}"' in html and f'data-extension="{ext.id}"' in html
    login_as(org.mgr_b)
    html = client.get("/").get_data(as_text=True)
    assert 'id="to-verify"' in html and f'data-task="{submitted.id}"' not in html
    assert f'data-extension="{ext.id}"' not in html


def _fresh():
    """Forget every loaded object, so a lazy load per row would show up as a query."""
    from flask import g

    db.session.expunge_all()
    g.pop("_login_user", None)


def cheap_user(like: User, n: int) -> User:
    """A staff member next to `like`, reusing its password hash (hashing 200 passwords is slow)."""
    user = User(
        username=f"bulk{n}",
        name=f"批量用户{n}",
        password_hash=like.password_hash,
        role=Role.STAFF,
        unit_id=like.unit_id,
    )
    db.session.add(user)
    db.session.flush()
    return user


@pytest.mark.parametrize("role", ["staff_a", "mgr_root", "viewer_root"])
def test_home_query_count_does_not_grow(client, org, make, clock, login_as, queries, role):
    ids = {"mgr": org.mgr_a.id, "staff": org.staff_a.id}
    made = [0]

    def add(n):
        mgr, staff = db.session.get(User, ids["mgr"]), db.session.get(User, ids["staff"])
        for i in range(n):
            made[0] += 1
            if i % 2 == 0:  # mine (each with its own problem, so a lazy load per row would show)
                make.task(mgr, owner=staff)
                continue
            # Someone else's, waiting for verification or for an extension decision (managers' queues).
            other = cheap_user(staff, made[0])
            t = make.task(mgr, owner=other)
            if i % 4 == 1:
                services.submit(t, other, clock, result="完成")
            else:
                services.request_extension(
                    t, other, clock, new_deadline=t.deadline + timedelta(days=5), reason="理由"
                )
        db.session.commit()

    login_as(getattr(org, role))
    add(10)
    _fresh()
    with queries() as small:
        assert client.get("/").status_code == 200
    add(190)
    _fresh()
    with queries() as large:
        assert client.get("/").status_code == 200
    assert len(small) == len(large), (len(small), len(large))
