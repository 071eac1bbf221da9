"""The benchmark workload as rows: a unit tree, people, sources, problems and measures in every state.

Pure Python (no database): `build(shape, ...)` returns plain dicts keyed by column name, ready
for bulk inserts. Ids are assigned here so rows can refer to each other without a round trip.
Everything is drawn from one seeded random generator: the same shape and seed give the same data.

Consistency kept on purpose (the app's own rules, not just random columns):
- unit `path` is tracker.org.models.child_path of the parent's (as tracker.org.services.save_unit writes it);
- a problem's state and closed_on come from its tasks via tracker.tasks.services.derive_problem_state;
- closed tasks have started/submitted/closed dates in order, closed_on in TIMEZONE and a result;
  submitted tasks have a result; cancelled tasks a cancelled_at; every deadline has an original
  deadline, earlier than the deadline when an extension was approved (the extension row says so);
- owners are active managers or staff of the task's unit; closers are managers, never the owner.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tracker.enums import (
    OVERDUE_STATES,
    ExtensionState,
    ProblemState,
    Role,
    SourceKind,
    TaskState,
    TaskType,
)
from tracker.org.models import child_path
from tracker.tasks.services import derive_problem_state

YEARS = 5
CANCELLED_SHARE = 0.04
EXTENSION_SHARE = 0.06
OPEN_SPLIT = ((TaskState.ASSIGNED, 0.30), (TaskState.IN_PROGRESS, 0.50), (TaskState.SUBMITTED, 0.20))
TYPE_SPLIT = ((TaskType.IMMEDIATE, 0.20), (TaskType.DEADLINE, 0.70), (TaskType.ONGOING, 0.10))
# Without --deadline-spread, open measures fall due from 90 days ago to 180 days ahead.
DEFAULT_OPEN_DEADLINES = (-90, 180)
BENCH_PASSWORD = "bench1234"
# Fixed accounts the benchmark logs in as (ids 1–4).
ADMIN, MANAGER, STAFF, VIEWER = "bench_admin", "bench_manager", "bench_staff", "bench_viewer"


@dataclass
class Shape:
    """What to generate; None counts scale with `tasks` (100k tasks ↔ 30k problems, 5k users, 200 units)."""

    tasks: int = 100_000
    problems: int | None = None
    users: int | None = None
    units: int | None = None
    closed_share: float = 0.55
    deadline_spread: int | None = None  # days: every deadline uniform over today ± N
    one_unit: bool = False  # everybody (and every problem and measure) in the root unit
    seed: int = 20260615
    audit: bool = False  # also write audit events (task/problem create, start, submit, close, cancel)
    staff_tasks: int | None = None  # measures owned by bench_staff (default max(150, tasks/200))

    def resolved(self) -> Shape:
        """A copy with every None count filled in from `tasks`, checked for sense."""
        t = max(int(self.tasks), 0)
        problems = self.problems if self.problems is not None else max(1, round(t * 0.3)) if t else 0
        users = self.users if self.users is not None else max(20, round(t * 0.05))
        units = 1 if self.one_unit else (self.units if self.units is not None else max(5, round(t * 0.002)))
        staff = self.staff_tasks if self.staff_tasks is not None else min(max(150, t // 200), t // 2)
        if t and not 0 < problems <= t:
            raise ValueError(f"problems must be between 1 and tasks ({t}), not {problems}")
        if users < 5:
            raise ValueError("at least 5 users (4 fixed benchmark accounts and somebody else)")
        if units < 1:
            raise ValueError("at least one unit")
        if not 0 <= self.closed_share <= 1:
            raise ValueError("closed share must be between 0 and 1")
        return Shape(tasks=t, problems=problems, users=users, units=units, closed_share=self.closed_share,
                     deadline_spread=self.deadline_spread, one_unit=self.one_unit, seed=self.seed,
                     audit=self.audit, staff_tasks=min(staff, t))

    def describe(self) -> str:
        spread = f"today ± {self.deadline_spread} d" if self.deadline_spread is not None else "default"
        return (f"{self.tasks:,} tasks, {self.problems:,} problems, {self.users:,} users, "
                f"{self.units:,} units"
                f"{' (one unit)' if self.one_unit else ''}, {self.closed_share:.0%} closed, "
                f"deadlines {spread}, seed {self.seed}")


@dataclass
class Dataset:
    """Rows per table (in insert order) and the facts a benchmark needs about them."""

    tables: dict[str, list[dict]] = field(default_factory=dict)
    facts: dict = field(default_factory=dict)


# --- words ----------------------------------------------------------------------------------------

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
            "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国海燕红梅玲晨晓东鹏辉斌宇浩凯婷雪琳峰波"
BUREAUS = ("发展改革委", "教育局", "科技局", "公安局", "民政局", "司法局", "财政局", "人社局", "自然资源局",
           "生态环境局", "住建局", "交通运输局", "水务局", "农业农村局", "商务局", "文旅局", "卫健委",
           "应急管理局", "审计局", "国资委", "市场监管局", "统计局", "医保局", "城管局", "信访局")
OFFICES = ("办公室", "组织人事科", "财务科", "法制科", "综合科", "机关党支部", "业务一科", "业务二科",
           "监督检查科", "政策法规科", "第一党支部", "第二党支部")
SUBJECTS = ("“三会一课”制度", "民主集中制", "意识形态工作责任制", "党风廉政建设主体责任", "中央八项规定精神",
            "基层党组织建设", "党员教育管理", "干部选拔任用工作", "财务管理制度", "公务接待管理",
            "政府采购程序", "项目资金使用", "档案管理", "保密工作", "安全生产责任制", "政务服务窗口",
            "信访件办理", "行政执法程序", "合同管理", "公务用车管理")
DEFECTS = ("落实不到位，个别支部组织生活不经常", "执行不严格，存在以会代训现象", "台账资料不完整，记录不规范",
           "学习流于形式，联系实际不够紧密", "监督检查不够经常，发现问题不及时",
           "整改跟踪不够，存在反弹回潮风险", "制度更新滞后，与上级要求不相适应",
           "审批手续不全，存在先执行后补办现象", "责任分解不清，压力传导层层递减",
           "宣传引导不够，干部群众知晓率不高")
MEASURES = ("制定专项整改方案，明确责任分工和完成时限", "修订完善相关制度，堵塞管理漏洞",
            "开展专题学习研讨，每季度不少于一次", "建立常态化监督检查机制，每月抽查一次",
            "全面开展自查自纠，逐项建立整改台账", "组织谈心谈话，压实整改责任",
            "对照上级要求逐条梳理，限期补齐短板", "开展业务培训，提升干部履职能力")
TARGETS = ("问题按期整改到位，形成长效机制", "制度健全、执行有力", "台账完整、记录规范",
           "群众满意度明显提升", None)
RESULTS = ("已完成整改，相关制度已印发执行", "已开展专项检查，发现的问题全部整改到位",
           "已建立工作台账，实行销号管理", "已组织集中学习，形成学习记录和心得体会",
           "已完成制度修订，并组织全员学习")
PROGRESS = ("已召开专题会议研究部署", "已完成初步自查，正在逐项整改", "已起草制度文本，正在征求意见",
            "已开展督促检查一次", "整改推进中，预计按期完成")
REASONS = ("涉及多部门协调，需延长整改时限", "上级政策调整，需重新制定方案", "受项目进度影响，无法按期完成")
KIND_WORDS = {
    SourceKind.SELF_INSPECTION: "自查发现问题", SourceKind.INSPECTION_FEEDBACK: "巡察反馈问题",
    SourceKind.SUPERVISION: "督查发现问题", SourceKind.LIFE_MEETING: "民主生活会查摆问题",
    SourceKind.AUDIT: "审计发现问题", SourceKind.COMPLAINT: "信访投诉反映问题", SourceKind.OTHER: "其他问题",
}
KIND_WEIGHTS = (30, 20, 15, 15, 10, 7, 3)


class Builder:
    """Draws the rows; one instance per dataset."""

    def __init__(self, shape: Shape, today: date, tz: str, password_hash: str):
        self.s = shape.resolved()
        self.rng = random.Random(self.s.seed)
        self.today = today
        self.tz = ZoneInfo(tz)
        self.now = datetime.now(UTC)
        self.hash = password_hash
        self.data = Dataset()

    # -- helpers --

    def at(self, day: date, hour: int) -> datetime:
        """A local office hour on `day` as UTC, never later than now."""
        moment = datetime.combine(day, time(hour, self.rng.randrange(60)), self.tz).astimezone(UTC)
        return min(moment, self.now)

    def days(self, low: int, high: int) -> timedelta:
        return timedelta(days=self.rng.randint(low, high))

    def between(self, low: date, high: date) -> date:
        return low if high <= low else low + timedelta(days=self.rng.randint(0, (high - low).days))

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.choices(GIVEN, k=self.rng.choice((1, 2, 2))))

    # -- the organisation --

    def units(self) -> list[dict]:
        """Root → bureaus → offices/branches → groups: four levels when there are enough units."""
        n = self.s.units
        rest = n - 1
        level1 = min(rest, max(1, round(math.sqrt(rest) / 1.8))) if rest else 0
        level2 = min(rest - level1, level1 * 4)
        rows = [dict(id=1, code="B0001", name="某市直机关工委", parent_id=None, path=child_path(None, 1),
                     sort_order=0, created_at=self.at(self.today - timedelta(days=YEARS * 366), 9))]
        self.unit_level = {1: 0}
        parents_by_level = {0: [rows[0]]}
        for level, count in ((1, level1), (2, level2), (3, rest - level1 - level2)):
            parents, made = parents_by_level[level - 1], []
            for i in range(count):
                parent = parents[i % len(parents)] if level < 3 else self.rng.choice(parents)
                uid = len(rows) + 1
                if level == 1:
                    again = f"{i // len(BUREAUS) + 1}" if i >= len(BUREAUS) else ""
                    label = f"{BUREAUS[i % len(BUREAUS)]}{again}党委"
                elif level == 2:
                    label = parent["name"].removesuffix("党委") + OFFICES[i // len(parents) % len(OFFICES)]
                else:
                    label = f"{parent['name']}第{uid}党小组"
                row = dict(id=uid, code=f"B{uid:04d}", name=label[:120], parent_id=parent["id"],
                           path=child_path(parent["path"], uid), sort_order=i,
                           created_at=rows[0]["created_at"])
                rows.append(row)
                made.append(row)
                self.unit_level[uid] = level
            parents_by_level[level] = made or parents
        self.unit_rows = {r["id"]: r for r in rows}
        return rows

    def ancestors(self, unit_id: int) -> list[int]:
        """The unit and every unit above it, nearest first."""
        return [int(x) for x in reversed(self.unit_rows[unit_id]["path"].strip("/").split("/"))]

    def users(self) -> list[dict]:
        n, units = self.s.users, list(self.unit_rows)
        deepest = max(units, key=lambda u: (self.unit_level[u], u))
        fixed = ((ADMIN, Role.ADMIN, None), (MANAGER, Role.MANAGER, 1), (STAFF, Role.STAFF, deepest),
                 (VIEWER, Role.VIEWER, 1))
        plan = list(fixed)
        for i in range(n - len(fixed)):
            unit = 1 if self.s.one_unit else (units[i] if i < len(units) else self.rng.choice(units))
            first_in_unit = i < len(units) and not self.s.one_unit
            role = Role.MANAGER if first_in_unit or self.rng.random() < 0.06 else (
                Role.VIEWER if self.rng.random() < 0.08 else Role.STAFF)
            plan.append((None, role, unit))
        created = self.at(self.today - timedelta(days=YEARS * 366), 9)
        rows = []
        self.workers: dict[int, list[int]] = {}
        self.managers: dict[int, list[int]] = {}
        self.user_unit: dict[int, int | None] = {}
        for uid, (username, role, unit) in enumerate(plan, start=1):
            rows.append(dict(id=uid, username=username or f"u{uid:05d}", name=self.name(),
                             email=f"u{uid}@bench.example", password_hash=self.hash, role=role.value,
                             unit_id=unit, language="en" if self.rng.random() < 0.1 else "zh_CN",
                             active=True, weekly_digest=True, created_at=created))
            self.user_unit[uid] = unit
            if unit is not None and role in (Role.MANAGER, Role.STAFF):
                self.workers.setdefault(unit, []).append(uid)
            if unit is not None and role == Role.MANAGER:
                self.managers.setdefault(unit, []).append(uid)
        self.work_units = sorted(self.workers)
        self.staff_id, self.manager_id, self.admin_id = 3, 2, 1
        return rows

    def sources(self) -> list[dict]:
        count = max(len(SourceKind), self.s.problems // 40) if self.s.problems else 0
        kinds = list(SourceKind)
        rows = []
        for sid in range(1, count + 1):
            held = self.today - self.days(7, YEARS * 365)
            kind = self.rng.choices(kinds, KIND_WEIGHTS)[0]
            rows.append(dict(id=sid, name=f"{held.year}年{KIND_WORDS[kind]}（第{sid}批）", kind=kind.value,
                             unit_id=self.rng.choice(list(self.unit_rows)), held_on=held,
                             created_at=self.at(held, 17)))
        self.source_rows = rows
        return rows

    # -- problems and measures --

    def manager_above(self, unit_id: int, exclude: int | None = None) -> int:
        """A manager of the unit or the nearest unit above it who has one (never `exclude`)."""
        for uid in self.ancestors(unit_id):
            found = [m for m in self.managers.get(uid, ()) if m != exclude]
            if found:
                return self.rng.choice(found)
        return self.manager_id if exclude != self.manager_id else self.admin_id

    def problems(self) -> tuple[list[dict], list[dict]]:
        found = sorted(min(self.today - timedelta(days=1), src["held_on"] + self.days(0, 30))
                       for src in self.rng.choices(self.source_rows, k=self.s.problems))
        rows, coop, seq = [], [], {}
        for pid, found_on in enumerate(found, start=1):
            src = self._source_before(found_on)
            unit = 1 if self.s.one_unit else self.rng.choice(self.work_units)
            parent = self.unit_rows[unit]["parent_id"]
            lead = parent if parent in self.workers and self.rng.random() < 0.3 else unit
            seq[found_on.year] = seq.get(found_on.year, 0) + 1
            rows.append(dict(
                id=pid, number=f"{found_on.year}-{seq[found_on.year]:04d}",
                description=self.rng.choice(SUBJECTS) + self.rng.choice(DEFECTS) + "。",
                category_id=self.rng.choice(self.category_ids), source_id=src["id"], unit_id=unit,
                found_on=found_on,
                responsible_leader_id=self.manager_above(lead) if self.rng.random() < 0.9 else None,
                lead_unit_id=lead,
                responsible_person_id=(self.rng.choice(self.workers[lead]) if self.rng.random() < 0.9
                                       else None),
                state=ProblemState.OPEN.value, closed_on=None, version=1,
                created_at=self.at(found_on, 9), created_by_id=self.manager_above(unit)))
            if not self.s.one_unit and self.rng.random() < 0.3:
                others = self.rng.sample(list(self.unit_rows), k=min(2, len(self.unit_rows)))
                coop.extend(dict(problem_id=pid, unit_id=u) for u in dict.fromkeys(others) if u != lead)
        return rows, coop

    def _source_before(self, found_on: date) -> dict:
        """A source held on or before the problem was found (the problem came out of it)."""
        for _ in range(20):
            src = self.rng.choice(self.source_rows)
            if src["held_on"] <= found_on:
                return src
        return min(self.source_rows, key=lambda s: s["held_on"])

    def task_states(self, problems: list[dict], problem_of: list[int]) -> list[TaskState]:
        """Closed: the oldest measures (with noise) up to the closed share; the rest cancelled or open."""
        n = len(problem_of)
        found = {p["id"]: p["found_on"] for p in problems}
        age = [(self.today - found[pid]).days * self.rng.uniform(0.6, 1.4) for pid in problem_of]
        order = sorted(range(n), key=lambda i: -age[i])
        closed = round(self.s.closed_share * n)
        cancelled = min(round(CANCELLED_SHARE * n), n - closed)
        states: list[TaskState | None] = [None] * n
        for i in order[:closed]:
            states[i] = TaskState.CLOSED
        rest = order[closed:]
        self.rng.shuffle(rest)
        for i in rest[:cancelled]:
            states[i] = TaskState.CANCELLED
        names, weights = zip(*OPEN_SPLIT, strict=True)
        for i in rest[cancelled:]:
            states[i] = self.rng.choices(names, weights)[0]
        return states

    def deadline(self, state: TaskState, created: date, type_: TaskType) -> date | None:
        if type_ == TaskType.ONGOING and self.rng.random() < 0.5:
            return None
        if self.s.deadline_spread is not None:
            return self.today + self.days(-self.s.deadline_spread, self.s.deadline_spread)
        if state in (TaskState.CLOSED, TaskState.CANCELLED):
            return created + self.days(15, 240)
        return self.today + self.days(*DEFAULT_OPEN_DEADLINES)

    def tasks(self, problems: list[dict]) -> None:
        n, rows = self.s.tasks, []
        problem_of = [p["id"] for p in problems]
        problem_of += self.rng.choices(problem_of, k=n - len(problem_of)) if n > len(problem_of) else []
        problem_of.sort()
        problem_of = problem_of[:n]
        states = self.task_states(problems, problem_of)
        staff_rows = set(self.rng.sample(range(n), k=self.s.staff_tasks)) if n else set()
        by_id = {p["id"]: p for p in problems}
        types, type_weights = zip(*TYPE_SPLIT, strict=True)
        self.progress_rows, self.extension_rows, self.audit_rows = [], [], []
        for i, pid in enumerate(problem_of):
            problem, state = by_id[pid], states[i]
            if i in staff_rows:
                owner, unit = self.staff_id, self.user_unit[self.staff_id]
            else:
                lead = self.rng.random() < 0.8
                unit = problem["lead_unit_id"] if lead else self.rng.choice(self.work_units)
                owner = self.rng.choice(self.workers[unit])
            type_ = self.rng.choices(types, type_weights)[0]
            created = min(self.today, problem["found_on"] + self.days(0, 14))
            deadline = self.deadline(state, created, type_)
            row = dict(id=i + 1, problem_id=pid, measure=self.rng.choice(MEASURES),
                       target=self.rng.choice(TARGETS), type=type_.value, owner_id=owner, unit_id=unit,
                       deadline=deadline, original_deadline=deadline, state=state.value, result=None,
                       version=1, created_at=self.at(created, 9), created_by_id=problem["created_by_id"],
                       started_at=None, submitted_at=None, submitted_by_id=None, closed_at=None,
                       closed_on=None, closed_by_id=None, cancelled_at=None)
            self._lifecycle(row, state, created, deadline)
            if deadline is not None and type_ != TaskType.ONGOING and self.rng.random() < EXTENSION_SHARE:
                self._extension(row, state, created)
            rows.append(row)
        self.task_rows = rows

    def _lifecycle(self, row: dict, state: TaskState, created: date, deadline: date | None) -> None:
        """The dates, people and texts each state implies, in order; progress notes on the way."""
        if state == TaskState.CANCELLED:
            row["cancelled_at"] = self.at(min(self.today, created + self.days(1, 60)), 16)
            return
        if state == TaskState.ASSIGNED:
            return
        started = min(self.today, created + self.days(0, 20))
        row["started_at"] = self.at(started, 10)
        end = self.today
        if state == TaskState.CLOSED:
            if deadline is not None and self.rng.random() < 0.8:
                closed_on = self.between(started, min(max(deadline, started), self.today))
            elif deadline is not None:
                closed_on = min(self.today, max(started, deadline) + self.days(1, 45))
            else:
                closed_on = self.between(started, self.today)
            submitted = max(started, closed_on - self.days(0, 5))
            row.update(closed_on=closed_on, closed_at=self.at(closed_on, 15),
                       closed_by_id=self.manager_above(row["unit_id"], exclude=row["owner_id"]))
            end = submitted
        elif state == TaskState.SUBMITTED:
            submitted = self.between(started, self.today)
            end = submitted
        if state in (TaskState.SUBMITTED, TaskState.CLOSED):
            row.update(submitted_at=self.at(submitted, 12), submitted_by_id=row["owner_id"],
                       result=self.rng.choice(RESULTS))
        for _ in range(self.rng.randint(1, 3)):
            self.progress_rows.append(dict(task_id=row["id"], author_id=row["owner_id"],
                                           body=self.rng.choice(PROGRESS),
                                           created_at=self.at(self.between(started, end), 11)))

    def _extension(self, row: dict, state: TaskState, created: date) -> None:
        """Approved: the deadline moved here from an earlier original; pending/rejected: asked for later."""
        roll = self.rng.random()
        deadline = row["deadline"]
        manager = self.manager_above(row["unit_id"], exclude=row["owner_id"])
        ext = dict(task_id=row["id"], requested_by_id=row["owner_id"], reason=self.rng.choice(REASONS),
                   decided_by_id=None, decided_at=None, decision_comment=None, version=1)
        if roll < 0.25 and state in OVERDUE_STATES:
            asked = self.between(max(created, self.today - timedelta(days=10)), self.today)
            ext.update(old_deadline=deadline, new_deadline=deadline + self.days(15, 90),
                       state=ExtensionState.PENDING.value, created_at=self.at(asked, 14))
        else:
            approved = roll < 0.85
            old = deadline - self.days(15, 90) if approved else deadline
            new = deadline if approved else deadline + self.days(15, 60)
            asked = min(self.today, max(created, old - self.days(1, 10)))
            decided = min(self.today, asked + self.days(1, 3))
            ext.update(old_deadline=old, new_deadline=new, created_at=self.at(asked, 14),
                       state=(ExtensionState.APPROVED if approved else ExtensionState.REJECTED).value,
                       decided_by_id=manager, decided_at=self.at(decided, 16),
                       decision_comment="同意" if approved else "理由不充分，请按原时限完成")
            if approved:
                row["original_deadline"] = old
        self.extension_rows.append(ext)

    def derive_problem_states(self, problems: list[dict]) -> None:
        """Problem state and closed_on from the tasks, by the app's own rule."""
        states: dict[int, list] = {}
        closed: dict[int, date] = {}
        for t in self.task_rows:
            states.setdefault(t["problem_id"], []).append(TaskState(t["state"]))
            if t["closed_on"] is not None:
                closed[t["problem_id"]] = max(closed.get(t["problem_id"], t["closed_on"]), t["closed_on"])
        for p in problems:
            state = derive_problem_state(states.get(p["id"], []))
            p["state"] = state.value
            p["closed_on"] = closed.get(p["id"]) if state == ProblemState.CLOSED else None

    def audit(self, problems: list[dict]) -> list[dict]:
        """One event per creation and per transition the rows imply (痕迹管理), when asked for."""
        rows = []
        for p in problems:
            rows.append(dict(created_at=p["created_at"], actor_id=p["created_by_id"], action="problem.create",
                             object_type="problems", object_id=p["id"], task_id=None, problem_id=p["id"],
                             before=None, after={"number": p["number"]}, comment=None))
        steps = (("started_at", "task.start", "owner_id"), ("submitted_at", "task.submit", "owner_id"),
                 ("closed_at", "task.verify", "closed_by_id"),
                 ("cancelled_at", "task.cancel", "created_by_id"))
        for t in self.task_rows:
            base = dict(object_type="tasks", object_id=t["id"], task_id=t["id"], problem_id=t["problem_id"],
                        before=None, comment=None)
            rows.append(dict(base, created_at=t["created_at"], actor_id=t["created_by_id"],
                             action="task.create", after={"state": "assigned", "owner_id": t["owner_id"]}))
            for column, action, actor in steps:
                if t[column] is not None:
                    rows.append(dict(base, created_at=t[column], actor_id=t[actor], action=action,
                                     after={"state": t["state"]}))
        return rows


def build(shape: Shape, *, today: date, tz: str, password_hash: str, category_ids: list[int]) -> Dataset:
    """Every row of the workload, in insert order, and the facts about it."""
    b = Builder(shape, today, tz, password_hash)
    b.category_ids = category_ids
    tables = b.data.tables
    tables["units"] = b.units()
    tables["users"] = b.users()
    tables["sources"] = b.sources()
    problems, coop = b.problems() if b.s.problems else ([], [])
    b.task_rows, b.progress_rows, b.extension_rows = [], [], []
    if b.s.tasks:
        b.tasks(problems)
    b.derive_problem_states(problems)
    tables["problems"] = problems
    tables["problem_cooperating_units"] = coop
    tables["tasks"] = b.task_rows
    tables["progress"] = [dict(r, id=i) for i, r in enumerate(b.progress_rows, start=1)]
    tables["extensions"] = [dict(r, id=i) for i, r in enumerate(b.extension_rows, start=1)]
    if b.s.audit:
        tables["audit_events"] = [dict(r, id=i) for i, r in enumerate(b.audit(problems), start=1)]
    b.data.facts = _facts(b, problems)
    return b.data


def _facts(b: Builder, problems: list[dict]) -> dict:
    overdue = sum(1 for t in b.task_rows if t["deadline"] is not None and t["deadline"] < b.today
                  and t["state"] in {s.value for s in OVERDUE_STATES} and t["type"] != TaskType.ONGOING.value)
    by_state: dict[str, int] = {}
    for t in b.task_rows:
        by_state[t["state"]] = by_state.get(t["state"], 0) + 1
    # The 问题清单 "by unit" filter: the level-1 unit with the most problems (the root when there is one).
    level1 = [u for u, lv in b.unit_level.items() if lv == 1]
    counts: dict[int, int] = {}
    for p in problems:
        for uid in b.ancestors(p["unit_id"]):
            counts[uid] = counts.get(uid, 0) + 1
    problem_unit = max(level1, key=lambda u: (counts.get(u, 0), -u)) if level1 else 1
    return dict(shape=b.s, today=b.today, overdue=overdue, tasks_by_state=by_state,
                problems_by_state={s: sum(1 for p in problems if p["state"] == s) for s in
                                   (ProblemState.OPEN.value, ProblemState.CLOSED.value,
                                    ProblemState.CANCELLED.value)},
                problem_unit=problem_unit, problem_unit_problems=counts.get(problem_unit, 0),
                staff_open=sum(1 for t in b.task_rows if t["owner_id"] == b.staff_id
                               and t["state"] in ("assigned", "in_progress", "submitted")),
                users={"admin": ADMIN, "manager": MANAGER, "staff": STAFF, "viewer": VIEWER},
                password=BENCH_PASSWORD)
