"""Demo data for `flask demo`: a 综合执法局 with its 党支部 and 科室, people in every role,
problems from every kind of source, and measures in every state, dated relative to today.

Everything goes through the real services with the clock set back to the moment each step
happened, so the audit trail, the derived problem states and every rule apply as in real use.
The wording follows real work reports (存在问题, 查摆问题, 整改措施, 整改成效). Nothing commits:
the command does.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import partial

import sqlalchemy as sa
from openpyxl import Workbook

from tracker.channels import services as channel_services
from tracker.clock import Clock
from tracker.demo.data import (
    CHAIN_DAY,
    CHAINS,
    CHANNELS,
    DEMO_LOGINS,
    EVIDENCE,
    ISSUES,
    ORG_CREATED_DAY,
    PASSWORD,
    RECORDED_AFTER,
    SOURCES,
    UNITS,
    USERS,
    Issue,
    SourceSpec,
    Step,
)
from tracker.enums import TaskState, TaskType
from tracker.extensions import db
from tracker.followup import periods, rechecks
from tracker.followup.models import TaskPeriod
from tracker.org import services as org
from tracker.org.models import Unit, User
from tracker.problems import services as problems
from tracker.problems.models import Category, Source
from tracker.review import chains
from tracker.supervision import services as notices
from tracker.tasks import services as tasks
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Extension, Task


def _pdf(text: str) -> bytes:
    """A one-page PDF of `text` in the standard Chinese font STSong-Light (no embedded font)."""
    lines = " T* ".join(f"<{line.encode('utf-16-be').hex()}> Tj" for line in text.splitlines())
    content = f"BT /F1 16 Tf 72 770 Td 26 TL {lines} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >>"
        b" /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H"
        b" /DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 7 0 R >>",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880]"
        b" /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _xlsx(text: str) -> bytes:
    """A one-sheet workbook of comma-separated lines, as ledgers are kept."""
    book = Workbook()
    for line in text.splitlines():
        book.active.append(line.split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _upload(name: str, text: str) -> Upload:
    if name.endswith(".pdf"):
        data = _pdf(text)
    elif name.endswith(".xlsx"):
        data = _xlsx(text)
    else:
        data = text.encode()
    return Upload(filename=name, stream=io.BytesIO(data))


# --- loading ---------------------------------------------------------------------------------


class _Story:
    """Replays the demo's events in time order, each with a clock set to its moment."""

    def __init__(self, clock: Clock):
        self.tz = clock.tz.key
        self.today = clock.today()
        self.units: dict[str, Unit] = {}
        self.users: dict[str, User] = {}
        self.categories: dict[str, Category] = {}
        self.sources: dict[str, Source] = {}
        self.tasks: dict[tuple[int, int], Task] = {}
        self.extensions: dict[tuple[int, int], Extension] = {}
        self.periods: dict[tuple[int, int], TaskPeriod] = {}
        self.events: list[tuple[int, int, Callable[[Clock], object]]] = []

    def day(self, offset: int | None) -> date | None:
        return None if offset is None else self.today + timedelta(days=offset)

    def clock_on(self, offset: int, minutes: int = 0) -> Clock:
        moment = datetime.combine(self.day(offset), time(9)) + timedelta(minutes=minutes)
        return Clock(self.tz, moment)

    def at(self, offset: int, action: Callable[[Clock], object]) -> None:
        # Every step lies before today, so nothing in the demo happens "in the future".
        if offset >= 0:
            raise ValueError(f"demo event on day {offset}: events must lie in the past")
        self.events.append((offset, len(self.events), action))

    def run(self) -> None:
        """Run the events by day; same-day events five minutes apart, in the order they were planned."""
        previous, k = None, 0
        for offset, _, action in sorted(self.events, key=lambda e: e[:2]):
            k = k + 1 if offset == previous else 0
            previous = offset
            action(self.clock_on(offset, 5 * k))

    # --- the pieces ---

    def build_organisation(self) -> None:
        clock = self.clock_on(ORG_CREATED_DAY)
        for order, (code, name, parent) in enumerate(UNITS):
            self.units[code] = org.save_unit(None, clock, code=code, name=name,
                                             parent=self.units.get(parent), sort_order=order)
        for username, name, role, unit in USERS:
            self.users[username] = org.save_user(
                None, clock, username=username, name=name, role=role, unit=self.units[unit],
                email=f"{username}@example.gov.cn", password=PASSWORD,
                password_policy=False,  # the documented demo logins (demo1234) are weak on purpose
            )
        problems.seed_categories()
        existing = {c.name: c for c in db.session.scalars(sa.select(Category))}
        for order, name in enumerate(sorted({i.category for i in ISSUES})):
            self.categories[name] = existing.get(name) or problems.save_category(
                self.users["admin"], clock, name=name, sort_order=100 + order)

    def record_source(self, spec: SourceSpec, clock: Clock) -> None:
        held = clock.today()
        annual = held.year - 1 if held.month <= 6 else held.year
        name = spec.name.format(year=held.year, annual=annual, half="上" if held.month <= 6 else "下")
        self.sources[spec.key] = problems.save_source(self.users[spec.by], clock, name=name, kind=spec.kind,
                                                      unit=self.units[spec.unit], held_on=held)

    def record_issue(self, index: int, issue: Issue, by: str, clock: Clock) -> None:
        actor, source = self.users[by], self.sources[issue.source]
        problem = problems.create_problem(
            actor, clock, description=issue.text, category=self.categories[issue.category], source=source,
            unit=self.units[issue.unit], lead_unit=self.units[issue.lead], found_on=source.held_on,
            responsible_leader=self.users[issue.leader], responsible_person=self.users[issue.person],
            cooperating_units=[self.units[c] for c in issue.coop],
        )
        for j, m in enumerate(issue.measures):
            self.tasks[(index, j)] = tasks.create_task(
                problem, actor, clock, measure=m.text, target=m.target, type=m.type,
                owner=self.users[m.owner], unit=self.units[m.unit], deadline=self.day(m.deadline),
                period=m.period,
            )

    def take_step(self, key: tuple[int, int], step: Step, clock: Clock) -> None:
        task = self.tasks[key]
        who = self.users[step.who] if step.who else task.owner
        uploads = [_upload(name, EVIDENCE[name]) for name in step.files]
        if step.kind == "progress":
            tasks.post_progress(task, who, clock, body=step.text, uploads=uploads)
        elif step.kind == "submit":
            tasks.submit(task, who, clock, result=step.text, uploads=uploads)
        elif step.kind == "period":
            self.periods[key] = periods.submit_period(task, who, clock, result=step.text, uploads=uploads)
        elif step.kind == "period_ok":
            periods.decide_period(self.periods[key], who, clock, approve=True, comment=step.text)
        elif step.kind == "pass":
            tasks.pass_step(task, who, clock, comment=step.text)
        elif step.kind == "verify":
            tasks.verify(task, who, clock, comment=step.text, rating=step.rating)
        elif step.kind == "reject":
            tasks.reject(task, who, clock, comment=step.text)
        elif step.kind == "cancel":
            tasks.cancel(task, who, clock, comment=step.text)
        elif step.kind == "extend":
            self.extensions[key] = tasks.request_extension(task, who, clock, new_deadline=self.day(step.to),
                                                           reason=step.text)
        elif step.kind in ("approve", "refuse"):
            tasks.decide_extension(self.extensions[key], who, clock, approve=step.kind == "approve",
                                   comment=step.text)
        else:
            raise ValueError(f"unknown demo step {step.kind!r}")

    def supervise(self) -> None:
        """Notices (提醒函 / 督办单) on the system's proposals, two days ago, left in every state: closed,
        reply sent back, replied, signed for with the reply overdue, just issued."""
        leader = self.users["zhangjianguo"]
        issued_on = self.clock_on(-2)
        scenarios = ("closed", "returned", "overdue", "replied", "issued")
        for n, proposal in enumerate(notices.propose(leader, issued_on)[:len(scenarios)]):
            scenario = scenarios[n]
            due = self.day(-1) if scenario == "overdue" else self.day(5)
            listed = proposal.tasks[:4]
            body = notices.default_body(proposal.kind, listed, leader.unit, due, issued_on)
            notice = notices.issue(leader, self.clock_on(-2, n), kind=proposal.kind,
                                   task_ids=[t.id for t in listed], reply_due_on=due, body=body)
            if scenario == "issued":
                continue
            owner = listed[0].owner
            notices.acknowledge(notice, owner, self.clock_on(-2, 30 + n))
            if scenario == "overdue":
                continue
            notices.reply(notice, owner, self.clock_on(-1, n),
                          body="已逐项对照整改，相关措施已落实，整改情况报告及佐证材料随后报送。",
                          uploads=[_upload("整改情况报告.pdf", "整改情况报告")])
            if scenario == "returned":
                notices.decide(notice, leader, self.clock_on(-1, 30 + n), accept=False,
                               reason="反馈过于笼统，请逐项说明整改措施落实情况并补充佐证材料。")
            elif scenario == "closed":
                notices.decide(notice, leader, self.clock_on(-1, 30 + n), accept=True)

    def follow_up(self) -> None:
        """回头看 three days ago: one closed measure held, one rebounded (reopened as round 2); then a
        recorded random sample of the last quarter's closures for the 纪检组长 to re-check."""
        leader, reviewer = self.users["zhangjianguo"], self.users["wanghaiyan"]
        closed = [t for t in sorted(self.tasks.values(), key=lambda t: t.id)
                  if t.state == TaskState.CLOSED and t.type != TaskType.ONGOING]
        for task, rebound in zip(closed[:2], (False, True), strict=False):
            recheck = rechecks.schedule(leader, task, self.clock_on(-3), due_on=self.day(-1),
                                        reviewer=reviewer)
            note = ("回头看发现：部分支部学习记录仍不完整，问题反弹。" if rebound
                    else "回头看核查：制度执行到位，整改成果巩固。")
            rechecks.record(recheck, reviewer, self.clock_on(-1), rebounded=rebound, note=note,
                            new_deadline=self.day(20) if rebound else None)
        rechecks.draw_sample(leader, self.units["ZFJ"], self.clock_on(-1, 30), date_from=self.day(-120),
                             date_to=self.day(-1), share=20, seed=20260101, due_on=self.day(14),
                             reviewer=reviewer)

    def set_chains(self, clock: Clock) -> None:
        for unit, by, steps in CHAINS:
            chains.set_chain(self.users[by], self.units[unit], [
                {"kind": kind, "label": label,
                 "reviewer_unit_id": self.units[who].id if kind == "unit" else None,
                 "reviewer_id": self.users[who].id if kind == "person" else None}
                for kind, who, label in steps], clock)

    def add_channels(self, clock: Clock) -> None:
        """A 企业微信 group robot to show on Ledger → Channels; turned off, since the demo's key is no
        robot's: turn it on with a real group's address."""
        for unit, by, name, kind, url in CHANNELS:
            channel_services.create(self.users[by], self.units[unit], channel_services.Values(
                name=name, kind=kind, url=url, active=False), clock)

    def plan(self) -> None:
        self.at(CHAIN_DAY, self.set_chains)
        self.at(CHAIN_DAY, self.add_channels)
        by_key = {s.key: s for s in SOURCES}
        for spec in SOURCES:
            self.at(spec.day, partial(self.record_source, spec))
        for i, issue in enumerate(ISSUES):
            source = by_key[issue.source]
            self.at(source.day + RECORDED_AFTER, partial(self.record_issue, i, issue, source.by))
            for j, measure in enumerate(issue.measures):
                for step in measure.steps:
                    self.at(step.day, partial(self.take_step, (i, j), step))


def demo_loaded() -> bool:
    """True when every demo user exists (the demo was loaded into this database)."""
    names = [username for username, *_ in USERS]
    return db.session.scalar(sa.select(sa.func.count(User.id)).where(User.username.in_(names))) == len(names)


def load_demo(clock: Clock) -> list[tuple[str, str, str, str]]:
    """Create the demo organisation and its ledger, dated relative to `clock`; return the logins."""
    story = _Story(clock)
    story.build_organisation()
    story.plan()
    story.run()
    story.supervise()
    story.follow_up()
    db.session.flush()
    return list(DEMO_LOGINS)
