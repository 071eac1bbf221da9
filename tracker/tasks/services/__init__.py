"""The rules of a rectification measure (DESIGN §3 "Task states"): one place for UI, API, CLI, jobs.

Every function checks permission and state against the state table (`tracker.tasks.rules`),
changes objects, records an AuditEvent and flushes. None of them commits: the caller (request,
command, job) commits once. The modules, by concern:

- `editing`: create a measure, edit its text, reassign it, move its deadline;
- `acknowledgement`: 签收 of a measure by its owner;
- `transitions`: start, submit, verify (销号), reject, cancel, a review chain's pass and return (多级审核),
  and the notices they queue;
- `progress` and `files`: progress notes and evidence;
- `extensions`: extension requests and decisions;
- `problem_state`: a problem's state derived from its measures.
"""

from tracker.tasks.rules import may_decide_extension
from tracker.tasks.services.acknowledgement import acknowledge
from tracker.tasks.services.common import MAX_TEXT, TASK_FIELDS, check_owner, check_version
from tracker.tasks.services.editing import (
    change_deadline,
    check_new_task,
    create_task,
    new_task_row,
    reassign_task,
    update_task,
)
from tracker.tasks.services.extensions import (
    ALREADY_DECIDED,
    ALREADY_PENDING,
    decide_extension,
    request_extension,
)
from tracker.tasks.services.problem_state import derive_problem_state, refresh_problem_state
from tracker.tasks.services.progress import post_progress
from tracker.tasks.services.transitions import (
    ACTIONS,
    cancel,
    pass_step,
    reject,
    return_to_step,
    start,
    submit,
    transition,
    verify,
)

__all__ = [
    "ACTIONS", "ALREADY_DECIDED", "acknowledge", "ALREADY_PENDING", "MAX_TEXT", "TASK_FIELDS",
    "cancel", "change_deadline", "check_new_task", "check_owner", "check_version", "create_task",
    "decide_extension", "derive_problem_state", "may_decide_extension", "new_task_row", "pass_step",
    "post_progress", "reassign_task", "refresh_problem_state", "reject", "request_extension",
    "return_to_step", "start", "submit", "transition", "update_task", "verify",
]
