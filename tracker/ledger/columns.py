"""The ledger's sheets and columns: the names written on export and every name accepted on import.

Column names are part of the file format (the practice's own words), not UI text, so they are
listed here in both languages instead of going through the translation catalogue.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from tracker.enums import ProblemState, SourceKind, TaskState, TaskType
from tracker.followup.models import PeriodKind

PROBLEMS, RESPONSIBILITIES, MEASURES = "problems", "responsibilities", "measures"

SHEET_NAMES = {
    PROBLEMS: ("问题清单", "Problems"),
    RESPONSIBILITIES: ("责任清单", "Responsibilities"),
    MEASURES: ("整改清单", "Measures"),
}
INSTRUCTIONS_SHEET = ("说明", "Instructions")


@dataclass(frozen=True)
class Column:
    """One kind of column: its export names (zh, en), other names seen in real ledgers, width."""

    key: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    width: int = 14

    def title(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


COLUMNS = {c.key: c for c in (
    Column("seq", "序号", "No.", ("no", "#", "序"), 6),
    Column("number", "问题编号", "Problem number", ("编号", "问题序号", "number"), 12),
    Column("source", "问题来源", "Source", ("来源", "问题出处", "source"), 22),
    Column("source_kind", "来源类型", "Source kind", ("来源类别", "kind"), 12),
    Column("category", "问题类别", "Category", ("问题类型", "类别", "问题分类"), 12),
    Column("description", "问题描述", "Description",
           ("存在问题", "问题表现", "问题清单", "具体问题", "问题内容", "问题", "主要问题",
            "存在的问题"), 48),
    Column("unit", "发现单位", "Unit found", ("问题单位", "所在单位", "被检查单位"), 16),
    Column("found_on", "发现日期", "Date found", ("发现时间", "提出时间"), 12),
    Column("state", "状态", "State", ("整改状态", "问题状态", "status"), 10),
    Column("closed_on", "销号日期", "Closed on", ("销号时间", "closed"), 12),
    Column("leader", "责任领导", "Responsible leader", ("分管领导", "牵头领导", "责任校领导", "leader"), 12),
    Column("lead_unit", "牵头单位", "Lead unit", ("牵头部门", "牵头科室", "主责单位", "主责部门"), 16),
    Column("resp_unit", "责任单位", "Responsible unit", ("责任部门", "责任科室", "整改单位", "unit"), 16),
    Column("coop", "配合单位", "Cooperating units", ("配合部门", "协办单位", "协作单位", "配合科室"), 16),
    Column("person", "责任人", "Responsible person", ("负责人", "owner"), 10),
    Column("specific_person", "具体责任人", "Person in charge", ("具体负责人", "经办人"), 10),
    Column("measure", "整改措施", "Measure", ("整改举措", "整改措施及要求", "整改方案", "措施"), 48),
    Column("target", "整改目标", "Target", ("目标要求", "整改要求", "预期目标"), 30),
    Column("type", "整改类型", "Type", ("整改方式", "整改性质", "type"), 10),
    Column("period", "阶段性销号", "Periodic close-out",
           ("销号周期", "报送周期", "阶段销号", "分阶段销号", "period"), 10),
    Column("deadline", "整改时限", "Deadline",
           ("完成时限", "整改期限", "完成时间要求", "时限要求", "整改时间", "完成期限", "时限"), 12),
    Column("original_deadline", "原定时限", "Original deadline", (), 12),
    Column("submitted_on", "完成时间(提交)", "Submitted on", ("完成时间", "提交时间"), 14),
    Column("result", "整改成效", "Result", ("整改成果", "整改结果"), 30),
    Column("overdue", "是否逾期", "Overdue", ("逾期",), 8),
    Column("rating", "成效评价", "Rating", ("整改成效评价", "评价"), 10),
    Column("round", "整改轮次", "Round", ("轮次",), 8),
)}

SHEET_COLUMNS = {
    PROBLEMS: ("seq", "number", "source", "source_kind", "category", "description", "unit", "found_on",
               "state", "closed_on"),
    RESPONSIBILITIES: ("seq", "number", "description", "leader", "lead_unit", "coop", "person"),
    # New columns go last: the positions of the others stay where existing spreadsheets expect them.
    MEASURES: ("seq", "number", "measure", "target", "type", "resp_unit", "person", "deadline",
               "original_deadline", "state", "submitted_on", "result", "closed_on", "overdue", "period",
               "rating", "round"),
}

_WS = re.compile(r"\s+")
_MARKS = "*＊※"


def norm_text(value) -> str:
    """A cell as clean text: NFKC (full-width digits, letters and spaces), trimmed."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value)).replace("\u00a0", " ")
    return text.strip()


@functools.lru_cache(maxsize=8192)
def norm_name(value) -> str:
    """A name for matching: clean text without any whitespace ("张  三" is 张三), case-folded.
    Remembered: a ledger names the same people and units thousands of times."""
    return _WS.sub("", norm_text(value)).casefold()


def norm_header(value) -> str:
    """A header for matching: no whitespace, no required-marks, case-folded."""
    return norm_name(value).strip(_MARKS).removesuffix("(必填)").removesuffix("必填").strip(_MARKS)


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for col in COLUMNS.values():
        for name in (col.zh, col.en, *col.aliases):
            lookup.setdefault(norm_header(name), col.key)
    return lookup


_LOOKUP = _build_lookup()
_PARENS = re.compile(r"\(.*?\)")


def column_key(header) -> str | None:
    """The kind of column a header names, or None; "整改时限（必填）" and "整改 时限" both count."""
    name = norm_header(header)
    if not name:
        return None
    return _LOOKUP.get(name) or _LOOKUP.get(_PARENS.sub("", name))


def sheet_kind(title: str) -> str | None:
    """Which of the three lists a sheet title names, in either language."""
    name = norm_header(title)
    for kind, names in SHEET_NAMES.items():
        if name in {norm_header(n) for n in names}:
            return kind
    return None


def is_example_row(seq) -> bool:
    """Template rows marked 示例 / Example in the 序号 column are never imported."""
    return norm_name(seq).strip("()（）[]【】") in {"示例", "例", "example", "e.g."}


# --- enum values in both languages ----------------------------------------------------------------

# 分阶段整改 in a ledger: an ongoing measure closed out period by period (quarterly unless a period is given).
STAGED = ("分阶段整改", "分阶段", "staged")
TASK_TYPE_NAMES = {
    TaskType.IMMEDIATE: ("立行立改", "Immediate", "立即整改", "立整立改", "immediate"),
    TaskType.DEADLINE: ("限期整改", "By deadline", "限时整改", "deadline"),
    TaskType.ONGOING: ("长期坚持", "Ongoing", "长期整改", "持续整改", "长期", "ongoing", *STAGED),
}
PERIOD_NAMES = {
    PeriodKind.MONTH: ("按月", "Monthly", "每月", "月", "月度", "month"),
    PeriodKind.QUARTER: ("按季度", "Quarterly", "每季度", "季度", "按季", "quarter"),
    PeriodKind.HALF: ("按半年", "Half-yearly", "每半年", "半年", "half"),
    PeriodKind.YEAR: ("按年度", "Yearly", "每年", "年度", "按年", "year"),
}
SOURCE_KIND_NAMES = {
    SourceKind.SELF_INSPECTION: ("自查", "Self-inspection", "自查自纠", "self_inspection"),
    SourceKind.INSPECTION_FEEDBACK: ("巡察反馈", "Inspection feedback", "巡察", "巡视", "巡视反馈",
                                     "inspection_feedback"),
    SourceKind.SUPERVISION: ("督查", "Supervision", "督导", "检查", "supervision"),
    SourceKind.LIFE_MEETING: ("民主生活会/组织生活会", "Democratic / organisational life meeting",
                              "民主生活会", "组织生活会", "生活会", "life_meeting"),
    SourceKind.AUDIT: ("审计", "Audit", "audit"),
    SourceKind.COMPLAINT: ("信访投诉", "Complaint / petition", "信访", "投诉", "举报", "complaint"),
    SourceKind.OTHER: ("其他", "Other", "other"),
}
TASK_STATE_NAMES = {
    TaskState.ASSIGNED: ("已交办", "Assigned"),
    TaskState.IN_PROGRESS: ("整改中", "In progress"),
    TaskState.SUBMITTED: ("待销号", "Awaiting close-out"),
    TaskState.CLOSED: ("已销号", "Closed out"),
    TaskState.CANCELLED: ("已撤销", "Cancelled"),
}
PROBLEM_STATE_NAMES = {
    ProblemState.OPEN: ("整改中", "Being rectified"),
    ProblemState.CLOSED: ("已销号", "Closed out"),
    ProblemState.CANCELLED: ("已撤销", "Cancelled"),
}
YES_NO = {True: ("是", "Yes"), False: ("否", "No")}
RATING_NAMES = {"satisfied": ("满意", "Satisfied"), "basic": ("基本满意", "Basically satisfied"),
                "unsatisfied": ("不满意", "Unsatisfied")}


def label(names: dict, member, lang: str) -> str:
    """The export word for an enum member (or yes/no) in the file's language."""
    zh, en = names[member][:2]
    return zh if lang.startswith("zh") else en


def _reverse(names: dict) -> dict:
    return {norm_name(n): member for member, ns in names.items() for n in ns}


_TASK_TYPES = _reverse(TASK_TYPE_NAMES)
_SOURCE_KINDS = _reverse(SOURCE_KIND_NAMES)
_TASK_STATES = _reverse(TASK_STATE_NAMES)
_PERIODS = _reverse(PERIOD_NAMES)


def parse_task_type(value) -> TaskType | None:
    return _TASK_TYPES.get(norm_name(value))


def parse_period(value) -> PeriodKind | None:
    return _PERIODS.get(norm_name(value))


def is_staged(value) -> bool:
    return norm_name(value) in {norm_name(n) for n in STAGED}


def parse_source_kind(value) -> SourceKind | None:
    return _SOURCE_KINDS.get(norm_name(value))


def parse_task_state(value) -> TaskState | None:
    return _TASK_STATES.get(norm_name(value))


def guess_source_kind(name: str) -> SourceKind:
    """A new source's kind from its name: "2022年巡察反馈问题" is inspection feedback."""
    text = norm_name(name)
    for kind, words in (
        (SourceKind.LIFE_MEETING, ("生活会",)),
        (SourceKind.INSPECTION_FEEDBACK, ("巡察", "巡视")),
        (SourceKind.AUDIT, ("审计",)),
        (SourceKind.COMPLAINT, ("信访", "投诉", "举报")),
        (SourceKind.SUPERVISION, ("督查", "督导", "检查")),
        (SourceKind.SELF_INSPECTION, ("自查", "自纠")),
    ):
        if any(w in text for w in words):
            return kind
    return SourceKind.OTHER
