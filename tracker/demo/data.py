"""The demo's content: units, people, sources and the problems with their measures' stories.

Written from the 存在问题/查摆问题 and 整改 parts of real work reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.enums import Role, SourceKind, TaskType

PASSWORD = "demo1234"
ORG_CREATED_DAY = -180  # the organisation exists well before the first problem is found

# --- the organisation -----------------------------------------------------------------------

UNITS = (  # code, name, parent code
    ("ZFJ", "某区综合执法局党委", None),
    ("JGDZB", "机关党支部", "ZFJ"),
    ("DD1", "第一执法大队党支部", "ZFJ"),
    ("DD1-1", "第一执法大队一中队党小组", "DD1"),
    ("DD2", "第二执法大队党支部", "ZFJ"),
    ("BGS", "办公室", "ZFJ"),
    ("ZZRS", "组织人事科", "ZFJ"),
    ("FZK", "法制科", "ZFJ"),
    ("CWK", "财务科", "ZFJ"),
)

USERS = (  # username, name, role, unit code; the comment is the person's post
    ("admin", "系统管理员", Role.ADMIN, "BGS"),
    ("zhangjianguo", "张建国", Role.MANAGER, "ZFJ"),  # 局党委书记
    ("wanghaiyan", "王海燕", Role.VIEWER, "ZFJ"),  # 纪检组长 (read-only leader)
    ("chenjing", "陈静", Role.MANAGER, "JGDZB"),  # 机关党支部书记
    ("liqiang", "李强", Role.MANAGER, "DD1"),  # 第一执法大队党支部书记
    ("zhaolei", "赵磊", Role.MANAGER, "DD2"),  # 第二执法大队党支部书记
    ("sunli", "孙丽", Role.MANAGER, "BGS"),  # 办公室主任
    ("zhoumin", "周敏", Role.MANAGER, "ZZRS"),  # 组织人事科科长
    ("wutao", "吴涛", Role.MANAGER, "FZK"),  # 法制科科长
    ("zhenghong", "郑红", Role.MANAGER, "CWK"),  # 财务科科长
    ("huangxm", "黄晓明", Role.STAFF, "JGDZB"),  # 党务干事
    ("machao", "马超", Role.STAFF, "DD1"),  # 执法队员、支部组织委员
    ("linfeng", "林峰", Role.STAFF, "DD1-1"),  # 一中队党小组组长
    ("hexue", "何雪", Role.STAFF, "DD2"),  # 执法队员、支部宣传委员
    ("xudan", "徐丹", Role.STAFF, "BGS"),  # 文秘
    ("yangfan", "杨帆", Role.STAFF, "ZZRS"),  # 组织干事
    ("hujuan", "胡娟", Role.STAFF, "CWK"),  # 会计
    ("fengjun", "冯军", Role.VIEWER, "DD2"),  # 支部纪检委员 (read-only)
)
# 多级审核: 第一执法大队党支部 sets a three-step chain five days ago (earlier close-outs had one step).
CHAIN_DAY = -5
CHAINS = (  # unit code, set by, steps (kind, unit code or username, label)
    ("DD1", "zhangjianguo", (("unit", "DD1", "支部书记审核"), ("person", "wanghaiyan", "纪检组长审核"),
                             ("unit", "ZFJ", "局党委审核"))),
)
# 推送渠道: the 局党委's 企业微信 group robot, set up with the chain (turned off: the key is made up).
CHANNELS = (  # unit code, set by, name, kind, address
    ("ZFJ", "zhangjianguo", "局党委整改工作群", "wecom",
     "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=00000000-0000-0000-0000-00000000demo"),
)

_UNIT_NAMES = {code: name for code, name, _ in UNITS}
DEMO_LOGINS: list[tuple[str, str, str, str]] = [
    (username, PASSWORD, role.value, _UNIT_NAMES[unit]) for username, _, role, unit in USERS
]


# --- the story: sources, problems, measures and what happened to them -------------------------


@dataclass(frozen=True)
class SourceSpec:
    key: str
    kind: SourceKind
    name: str  # may use {year}, {annual} (the year a 年度 meeting reviews) and {half}
    unit: str
    day: int  # held on, days relative to today
    by: str  # the manager who records the source and its problems


@dataclass(frozen=True)
class Step:
    kind: str  # progress, submit, pass, verify, reject, cancel, extend, approve, refuse, period, period_ok
    day: int  # days relative to today; always in the past
    text: str | None = None
    who: str | None = None  # username; the measure's owner when None
    to: int | None = None  # extend: the requested deadline, days relative to today
    files: tuple[str, ...] = ()  # evidence: names of EVIDENCE files
    rating: str | None = None  # verify: 整改成效评价


def progress(day, text, *files):
    return Step("progress", day, text, files=files)


def submit(day, text, *files):
    return Step("submit", day, text, files=files)


def verify(day, who, text="材料齐全，整改到位，同意销号。", rating="satisfied"):
    return Step("verify", day, text, who, rating=rating)


def pass_(day, who, text="同意，报上一级审核。"):
    return Step("pass", day, text, who)


def period(day, text, *files):
    """The owner reports the current period's result (阶段性销号)."""
    return Step("period", day, text, files=files)


def period_ok(day, who, text="同意阶段性销号。"):
    return Step("period_ok", day, text, who)


def reject(day, who, text):
    return Step("reject", day, text, who)


def cancel(day, who, text):
    return Step("cancel", day, text, who)


def extend(day, to, text):
    return Step("extend", day, text, to=to)


def approve(day, who, text="同意延期，请按新时限完成整改。"):
    return Step("approve", day, text, who)


def refuse(day, who, text):
    return Step("refuse", day, text, who)


@dataclass(frozen=True)
class Measure:
    text: str
    owner: str
    unit: str
    deadline: int | None  # days relative to today; None for an ongoing measure
    target: str | None = None
    type: TaskType = TaskType.DEADLINE
    steps: tuple[Step, ...] = ()
    period: str | None = None  # 阶段性销号 of an ongoing measure


@dataclass(frozen=True)
class Issue:
    source: str
    category: str
    text: str
    unit: str  # where found
    lead: str
    leader: str
    person: str
    measures: tuple[Measure, ...]
    coop: tuple[str, ...] = ()


ONGOING, IMMEDIATE = TaskType.ONGOING, TaskType.IMMEDIATE
RECORDED_AFTER = 2  # problems are written down two days after the meeting or feedback

SOURCES = (
    SourceSpec("mzshh", SourceKind.LIFE_MEETING, "局党委领导班子{annual}年度民主生活会", "ZFJ", -120,
               "zhangjianguo"),
    SourceSpec("xcfk", SourceKind.INSPECTION_FEEDBACK, "区委第三巡察组巡察反馈意见", "ZFJ", -100,
               "zhangjianguo"),
    SourceSpec("sj", SourceKind.AUDIT, "区审计局主要负责人经济责任审计", "ZFJ", -75, "zhangjianguo"),
    SourceSpec("zc", SourceKind.SELF_INSPECTION, "{year}年{half}半年党建工作自查", "ZFJ", -60,
               "zhangjianguo"),
    SourceSpec("dc", SourceKind.SUPERVISION, "区直机关工委基层党建工作督查", "ZFJ", -45, "zhangjianguo"),
    SourceSpec("zzshh", SourceKind.LIFE_MEETING, "第一执法大队党支部组织生活会", "DD1", -40, "liqiang"),
    SourceSpec("ts", SourceKind.COMPLAINT, "12345政务服务便民热线群众投诉", "DD2", -30, "zhaolei"),
    SourceSpec("dy", SourceKind.OTHER, "局党委书记基层调研", "ZFJ", -25, "zhangjianguo"),
)

# Evidence files attached by the story: name -> content (.xlsx: comma-separated rows, .pdf: lines).
EVIDENCE = {
    "理论学习中心组学习安排（初稿）.txt":
        "局党委理论学习中心组年度学习安排（初稿）\n一、学习专题：12个\n"
        "二、学习方式：集中学习、专题研讨、第一议题\n三、时间安排：每月不少于1次\n",
    "理论学习中心组学习安排.pdf":
        "局党委理论学习中心组年度学习安排\n经党委会审议通过并印发\n集中学习3次  第一议题学习5次",
    "第一季度学习笔记检查情况.txt": "第一季度学习笔记检查情况\n抽查：23本\n记录不完整：3人，已提醒\n",
    "全面从严治党主体责任清单.txt":
        "局党委全面从严治党主体责任清单\n一、党委主体责任（12项）\n二、书记第一责任人责任（8项）\n"
        "三、班子成员“一岗双责”（6项）\n",
    "谈心谈话记录台账.xlsx":
        "序号,谈话人,谈话对象,时间,主要内容\n1,张建国,周敏,第一季度,落实一岗双责\n"
        "2,张建国,吴涛,第一季度,执法规范化建设\n3,陈静,黄晓明,第一季度,党务工作\n",
    "党支部标准化自查问题台账.xlsx":
        "支部,问题数,已整改,整改中\n机关党支部,5,5,0\n第一执法大队党支部,4,3,1\n第二执法大队党支部,5,4,1\n",
    "支部交叉检查记录.txt":
        "支部交叉检查记录\n检查内容：三会一课记录、主题党日、党费收缴\n发现问题：4个\n整改情况：已全部整改\n",
    "岗位廉政风险点排查表.xlsx":
        "岗位,风险点,风险等级,防控措施\n现场执法,自由裁量权行使不规范,高,统一裁量基准\n"
        "案件审核,审核把关不严,中,两级审核\n",
    "报销单据核查情况.xlsx": "类别,核查笔数,问题笔数,已整改\n公务接待,96,4,4\n差旅费,216,7,7\n",
    "进社区普法宣传活动情况.txt": "进社区普法宣传活动情况\n参加党员：12名\n发放宣传资料：300余份\n",
    "党员活动室建设情况.pdf": "党员活动室标准化建设情况\n设施已安装到位\n宣传栏已更新2期",
}

ISSUES = (
    # 民主生活会
    Issue(
        "mzshh", "思想建设",
        "理论学习不够深入系统。对学习理论的重要性、紧迫性认识不够，仅仅学习上级安排部署的学习任务，"
        "忽略了政治理论学习的全面性、系统性；党员干部自学时间少，往往浅尝辄止，存在重痕迹、轻收获现象。",
        "ZFJ", "ZZRS", "zhangjianguo", "zhoumin", coop=("JGDZB", "DD1", "DD2"),
        measures=(
            Measure(
                "制定年度理论学习计划，严格落实“第一议题”制度，每月开展集中学习不少于1次",
                "yangfan", "ZZRS", -90, "学习安排经党委会审议印发，全年集中学习不少于12次",
                steps=(
                    progress(-110, "已起草《局党委理论学习中心组年度学习安排》初稿，列出12个学习专题，"
                                   "报党委会审议。", "理论学习中心组学习安排（初稿）.txt"),
                    submit(-95, "《局党委理论学习中心组年度学习安排》经党委会审议通过并印发，"
                                "明确12个学习专题；已开展集中学习3次、第一议题学习5次。",
                           "理论学习中心组学习安排.pdf"),
                    verify(-93, "zhoumin"),
                ),
            ),
            Measure(
                "建立学习反馈机制，落实“四有”要求（有学习计划、有学习资料、有学习记录、有心得体会），"
                "每季度检查一次学习笔记",
                "huangxm", "JGDZB", None, "党员学习笔记季度检查全覆盖", ONGOING,
                steps=(
                    progress(-80, "完成第一季度学习笔记检查，抽查党员学习笔记23本，"
                                  "对3名记录不完整的党员进行提醒。", "第一季度学习笔记检查情况.txt"),
                    progress(-12, "完成第二季度学习笔记检查，检查情况已在支部委员会上通报。"),
                ),
            ),
        ),
    ),
    Issue(
        "mzshh", "政治建设",
        "全面从严治党压力传导还有差距。对班子成员“一岗双责”落实情况监督不严不细，平时强调的多、"
        "督导力度小，压力层层递减，存在“业务比党建更重要”的现象；支部委员会讨论业务工作多，"
        "对支部建设专题研究不够。",
        "ZFJ", "ZZRS", "zhangjianguo", "zhoumin", coop=("BGS",),
        measures=(
            Measure(
                "制定局党委全面从严治党主体责任清单，班子成员与分管科室、党支部签订党建目标责任书",
                "zhoumin", "ZZRS", -60, "责任清单印发，目标责任书签订全覆盖",
                steps=(
                    progress(-100, "主体责任清单已起草，正在征求班子成员意见。"),
                    submit(-63, "印发《局党委全面从严治党主体责任清单》，班子成员与7个科室、党支部"
                                "签订党建目标责任书。", "全面从严治党主体责任清单.txt"),
                    verify(-61, "zhangjianguo"),
                ),
            ),
            Measure(
                "每半年听取一次党支部书记抓党建工作述职，述职评议结果纳入年度考核",
                "yangfan", "ZZRS", -5, "上半年述职评议完成",
                steps=(progress(-40, "已拟定党支部书记抓党建工作述职评议方案，待党委会研究。"),),
            ),
        ),
    ),
    Issue(
        "mzshh", "作风建设",
        "批评和自我批评辣味不足，“好人主义”思想仍然存在，班子成员之间谈心谈话不够经常、不够深入。",
        "ZFJ", "JGDZB", "zhangjianguo", "chenjing",
        measures=(
            Measure(
                "班子成员之间、班子成员与分管科室负责人之间每年至少开展1次谈心谈话，建立谈心谈话记录台账",
                "chenjing", "JGDZB", -70, "谈心谈话全覆盖，记录台账完整",
                steps=(
                    submit(-72, "班子成员之间、班子成员与分管科室负责人开展谈心谈话26人次，"
                                "谈心谈话记录台账已建立。", "谈心谈话记录台账.xlsx"),
                    verify(-71, "zhangjianguo"),
                ),
            ),
        ),
    ),
    # 巡察反馈
    Issue(
        "xcfk", "组织建设",
        "基层党组织标准化规范化建设有差距。部分党支部“三会一课”记录不完整，个别会议记录存在补记现象，"
        "党小组组织生活开展不经常。",
        "ZFJ", "ZZRS", "zhangjianguo", "zhoumin", coop=("JGDZB", "DD1", "DD2"),
        measures=(
            Measure(
                "对照《党支部建设标准化手册》逐项开展自查，逐项列出问题清单、责任清单、整改清单",
                "yangfan", "ZZRS", -50, "各党支部完成标准化自查并建立问题台账",
                steps=(
                    progress(-80, "已印发标准化自查通知，3个党支部均已启动自查。"),
                    submit(-56, "3个党支部完成对标自查，梳理问题14个，建立问题清单、责任清单、"
                                "整改清单，实行“对账销号”。", "党支部标准化自查问题台账.xlsx"),
                    verify(-54, "zhoumin"),
                ),
            ),
            Measure(
                "规范“三会一课”记录，统一使用党建工作纪实本，每季度开展一次支部间交叉检查",
                "linfeng", "DD1", -25, "“三会一课”记录规范完整，交叉检查每季度1次",
                steps=(
                    progress(-70, "一中队党小组已统一使用党建工作纪实本。"),
                    submit(-30, "已统一使用党建工作纪实本，完成第一季度交叉检查。"),
                    reject(-28, "liqiang", "佐证材料不全，缺少交叉检查记录和问题整改情况，"
                                           "请补充后重新提交。"),
                    progress(-10, "补充第二季度交叉检查记录，检查发现的4个问题已全部整改。",
                             "支部交叉检查记录.txt"),
                    submit(-2, "已统一使用党建工作纪实本，完成两个季度交叉检查，发现问题4个，"
                               "均已整改到位。"),
                    pass_(-1, "liqiang", "材料齐全，同意，报纪检组长审核。"),
                ),
            ),
            Measure(
                "按期开展党支部委员会换届和补选工作，选齐配强支部班子",
                "hexue", "DD2", -35, "支部委员配备齐全",
                steps=(
                    progress(-60, "已向局党委报送换届选举请示。"),
                    submit(-33, "第二执法大队党支部完成换届选举，选举产生支部委员5名，"
                                "配齐书记、组织委员、纪检委员、宣传委员。"),
                    verify(-31, "zhaolei"),
                ),
            ),
        ),
    ),
    Issue(
        "xcfk", "党风廉政",
        "廉政风险防控不到位。部分执法岗位廉政风险点排查不全面，岗位轮换制度执行不严格，"
        "执法案件审核把关不严。",
        "ZFJ", "FZK", "wanghaiyan", "wutao", coop=("DD1", "DD2", "ZZRS"),
        measures=(
            Measure(
                "全面排查执法岗位廉政风险点，修订《岗位廉政风险点防控措施》",
                "wutao", "FZK", -12, "风险点排查全覆盖，防控措施修订印发",
                steps=(
                    progress(-60, "已完成第一、第二执法大队岗位风险点排查，梳理风险点37个。",
                             "岗位廉政风险点排查表.xlsx"),
                    progress(-20, "《岗位廉政风险点防控措施》修订稿已形成，正在征求纪检组意见。"),
                ),
            ),
            Measure(
                "严格执行执法岗位定期轮岗制度，对同一执法岗位工作满5年的人员进行轮岗交流",
                "yangfan", "ZZRS", -20, "应轮尽轮",
                steps=(
                    progress(-50, "已摸排同一执法岗位工作满5年人员9名。"),
                    extend(-24, 25, "轮岗涉及执法证件变更，需待市局统一换发执法证后调整，申请延期。"),
                    approve(-22, "zhoumin"),
                    progress(-8, "已拟定轮岗交流方案，报党委会研究。"),
                ),
            ),
            Measure(
                "组织观看廉政警示教育片，大队长与执法队员廉政谈话全覆盖",
                "machao", "DD1", -85, "警示教育和廉政谈话覆盖全体执法人员", IMMEDIATE,
                steps=(
                    progress(-95, "组织大队全体党员观看警示教育片。"),
                    submit(-90, "组织观看警示教育片1次，大队长与执法队员廉政谈话42人次，实现全覆盖。"),
                    verify(-89, "liqiang"),
                ),
            ),
        ),
    ),
    Issue(
        "xcfk", "业务工作",
        "行政执法案卷评查中发现部分案卷证据收集不规范、文书制作不严谨，执法全过程记录制度落实不到位。",
        "ZFJ", "FZK", "zhangjianguo", "wutao", coop=("DD1", "DD2"),
        measures=(
            Measure(
                "开展行政执法案卷集中评查，逐卷列出问题清单并限期整改",
                "wutao", "FZK", 2, "评查全覆盖，问题整改率100%",
                steps=(progress(-30, "已完成近一年执法案卷集中评查126卷，发现问题43个，"
                                     "已反馈各大队整改。"),),
            ),
            Measure(
                "组织执法人员开展法律知识和执法文书制作培训，每半年不少于1次",
                "hexue", "DD2", 30, "培训覆盖全体执法人员",
            ),
        ),
    ),
    # 审计
    Issue(
        "sj", "党风廉政",
        "公务接待和差旅费报销审核不严，个别报销单据附件不全、审批手续不完整。",
        "CWK", "CWK", "wanghaiyan", "zhenghong",
        measures=(
            Measure(
                "逐笔核查近两年公务接待和差旅费报销单据，补齐审批手续",
                "hujuan", "CWK", -45, "问题单据全部补齐手续",
                steps=(
                    progress(-60, "已核查报销单据312笔，发现附件不全11笔。"),
                    submit(-47, "核查报销单据312笔，11笔附件不全的单据已补齐审批手续。",
                           "报销单据核查情况.xlsx"),
                    verify(-46, "zhenghong", rating="basic"),
                ),
            ),
            Measure(
                "修订《财务报销管理办法》，实行经办人、科室负责人、分管领导三级审核",
                "hujuan", "CWK", -30, "办法修订印发执行",
                steps=(
                    progress(-40, "《财务报销管理办法》修订稿已起草。"),
                    submit(-26, "《财务报销管理办法》经党委会审议通过并印发执行。"),
                    verify(-24, "zhenghong"),
                ),
            ),
        ),
    ),
    Issue(
        "sj", "制度建设",
        "固定资产管理不规范，部分执法装备未登记入账，账实不符。",
        "CWK", "CWK", "zhangjianguo", "hujuan", coop=("BGS",),
        measures=(
            Measure(
                "开展固定资产全面清查盘点，做到账账相符、账实相符",
                "hujuan", "CWK", 1, "账账相符、账实相符",
                steps=(
                    progress(-20, "已完成机关办公设备盘点，两个大队执法装备盘点正在进行。"),
                    extend(-2, 20, "执法装备分散在两个大队及各中队，盘点工作量大，申请延期。"),
                ),
            ),
            Measure("建立固定资产管理台账，明确资产管理责任人", "xudan", "BGS", 20, "台账建立，责任到人"),
        ),
    ),
    # 自查
    Issue(
        "zc", "组织建设",
        "党员教育管理有短板。部分党员参加组织生活不经常，流动党员联系不紧密，"
        "个别党员未按时足额交纳党费。",
        "ZFJ", "ZZRS", "zhangjianguo", "yangfan", coop=("DD1",),
        measures=(
            Measure(
                "全面核对党员信息和党费交纳基数，督促按时足额交纳党费",
                "yangfan", "ZZRS", -50, "党费按时足额交纳", IMMEDIATE,
                steps=(
                    submit(-52, "核对党员信息58人，重新核定党费交纳基数，2名党员已补交党费。"),
                    verify(-51, "zhoumin"),
                ),
            ),
            Measure(
                "建立流动党员联系台账，每月至少联系一次",
                "machao", "DD1", None, "流动党员每月联系", ONGOING,
                steps=(
                    progress(-30, "建立流动党员联系台账，联系流动党员3名。"),
                    progress(-3, "本月已与3名流动党员取得联系，通报支部近期学习内容。"),
                ),
            ),
            Measure(
                "对长期不参加组织生活的党员逐一进行谈话提醒",
                "linfeng", "DD1", -15, "谈话提醒全覆盖",
                steps=(
                    progress(-40, "已梳理出半年内参加组织生活少于3次的党员4名。"),
                    extend(-18, 10, "部分党员外出执勤，谈话时间难以统一，申请延期。"),
                    refuse(-17, "liqiang", "谈话提醒可分批开展，应按原时限完成。"),
                ),
            ),
        ),
    ),
    Issue(
        "zc", "政治建设",
        "党建与业务融合不够深入。存在就党建抓党建问题，结合点找得不准、切合点把得不牢，"
        "“双报到”活动多为清洁环境卫生，未与执法服务工作很好结合。",
        "ZFJ", "DD2", "zhangjianguo", "zhaolei", coop=("DD1",),
        measures=(
            Measure(
                "制定党建与执法业务融合工作方案，每个党支部打造1个“党建+执法服务”品牌项目",
                "zhaolei", "DD2", 45, "各党支部形成1个品牌项目",
                steps=(progress(-30, "已起草融合工作方案，第二执法大队确定“红色执法先锋岗”项目。"),),
            ),
            Measure(
                "结合“双报到”开展进社区普法宣传和执法服务活动，每季度不少于1次",
                "hexue", "DD2", None, "每季度进社区活动不少于1次", ONGOING,
                steps=(progress(-25, "到结对社区开展占道经营普法宣传活动，发放宣传资料300余份。",
                                "进社区普法宣传活动情况.txt"),),
            ),
        ),
    ),
    Issue(
        "zc", "意识形态",
        "意识形态工作责任制落实不够到位，网络舆情研判预警机制不健全，"
        "微信公众号、宣传栏等宣传阵地管理不够规范。",
        "ZFJ", "BGS", "zhangjianguo", "sunli",
        measures=(
            Measure(
                "建立网络舆情定期研判、预警处置机制，每月开展一次意识形态形势分析",
                "xudan", "BGS", -30, "机制建立，每月分析研判",
                steps=(
                    progress(-45, "已起草《网络舆情研判处置办法》。"),
                    submit(-35, "印发《网络舆情研判处置办法》，已开展意识形态形势分析2次。"),
                    verify(-33, "sunli"),
                ),
            ),
            Measure(
                "对局微信公众号、宣传栏等宣传阵地开展全面排查，落实“三审三校”制度",
                "xudan", "BGS", -8, "宣传阵地排查全覆盖",
            ),
            Measure(
                "将意识形态工作纳入党建工作要点和班子成员述职内容",
                "sunli", "BGS", -20,
                steps=(cancel(-40, "zhangjianguo", "与“制定局党委全面从严治党主体责任清单”措施内容重复，"
                                                   "合并办理。"),),
            ),
        ),
    ),
    Issue(
        "zc", "制度建设",
        "机关内部管理制度不健全，部分制度多年未修订，制度执行存在“宽松软”现象。",
        "ZFJ", "BGS", "zhangjianguo", "sunli", coop=("ZZRS", "CWK"),
        measures=(
            Measure(
                "全面梳理现行制度，废改立一批，汇编《局机关内部管理制度汇编》",
                "sunli", "BGS", -18, "制度汇编印发",
                steps=(progress(-40, "已梳理现行制度46项，拟废止5项、修订12项。"),),
            ),
        ),
    ),
    # 督查
    Issue(
        "dc", "组织建设",
        "党支部活动阵地建设滞后，党员活动室设施陈旧，党建宣传栏内容更新不及时。",
        "ZFJ", "JGDZB", "zhangjianguo", "huangxm", coop=("BGS",),
        measures=(
            Measure(
                "推进党员活动室标准化建设，更新活动室设施，党建宣传栏每月更新一次",
                "huangxm", "JGDZB", -10, "党员活动室达到标准化要求",
                steps=(
                    progress(-30, "党员活动室设施采购方案已报办公室。"),
                    extend(-12, 10, "活动室设施政府采购流程尚未完成，申请延期。"),
                    approve(-11, "chenjing"),
                    progress(-5, "活动室设施已安装到位，党建宣传栏已更新。", "党员活动室建设情况.pdf"),
                    submit(-1, "党员活动室完成标准化建设，党建宣传栏更新内容2期。"),
                ),
            ),
        ),
    ),
    Issue(
        "dc", "作风建设",
        "作风建设仍需加强。个别干部存在“歇脚”“躺平”心态，工作推诿扯皮，"
        "首问负责制、限时办结制落实不到位。",
        "ZFJ", "ZZRS", "wanghaiyan", "zhoumin", coop=("BGS", "DD1", "DD2"),
        measures=(
            Measure(
                "开展作风建设突出问题专项整治，建立问题清单台账，明确整改措施及整改时限",
                "yangfan", "ZZRS", 3, "问题清单台账建立，整改措施落实",
                steps=(progress(-20, "专项整治实施方案已印发，各科室、大队正在查摆问题。"),),
            ),
            Measure(
                "严格落实首问负责制、限时办结制，每月通报一次办件情况",
                "xudan", "BGS", None, "每月通报办件情况", ONGOING,
                steps=(progress(-14, "已通报上月办件情况，按时办结率98.6%。"),),
            ),
        ),
    ),
    # 组织生活会
    Issue(
        "zzshh", "组织建设",
        "党支部组织生活形式单一，主题党日活动与执法业务结合不紧密，对年轻党员吸引力不强。",
        "DD1", "DD1", "liqiang", "machao",
        measures=(
            Measure(
                "创新主题党日活动形式，组织开展现场教学、志愿服务等活动",
                "machao", "DD1", 0, "每月主题党日有主题、有主讲、有讨论、有收获",
                steps=(progress(-15, "组织党员到革命历史纪念馆开展现场教学，重温入党誓词。"),),
            ),
            Measure(
                "支部书记每季度讲一次党课，结合执法实际选题",
                "liqiang", "DD1", None, "每季度党课1次", ONGOING, period="quarter",
                steps=(
                    progress(-30, "讲授专题党课《只有好作风，才会有作为》。"),
                    period(-10, "本季度党课已讲授，申请阶段性销号。"),
                    period_ok(-8, "zhangjianguo", "同意阶段性销号，下季度继续坚持。"),
                ),
            ),
        ),
    ),
    Issue(
        "zzshh", "纪律建设",
        "个别党员纪律规矩意识不强，存在上班时间脱岗、执法着装不规范等问题。",
        "DD1", "DD1", "liqiang", "machao",
        measures=(
            Measure(
                "开展纪律作风专项检查，对发现的问题逐一通报、限期纠正",
                "machao", "DD1", -30, "问题全部纠正", IMMEDIATE,
                steps=(
                    submit(-33, "开展纪律作风专项检查3次，通报问题5个，已全部纠正。"),
                    verify(-32, "liqiang"),
                ),
            ),
        ),
    ),
    # 信访投诉
    Issue(
        "ts", "业务工作",
        "群众反映执法队员在处置占道经营时态度生硬、解释说明不到位。",
        "DD2", "DD2", "zhaolei", "hexue",
        measures=(
            Measure(
                "对涉事队员进行批评教育，开展文明执法专题培训",
                "hexue", "DD2", -20, "投诉人满意", IMMEDIATE,
                steps=(
                    submit(-24, "已对涉事队员批评教育，开展文明执法专题培训1次，并向投诉人反馈处理结果。"),
                    verify(-23, "zhaolei", rating="basic"),
                ),
            ),
            Measure(
                "建立投诉件回访制度，办结后3个工作日内回访",
                "hexue", "DD2", 10, "投诉件回访率100%",
                steps=(
                    progress(-10, "《投诉件回访制度》已起草。"),
                    submit(-3, "印发《投诉件回访制度》，已回访投诉人12人次，满意率100%。"),
                ),
            ),
        ),
    ),
    Issue(
        "ts", "业务工作",
        "群众反映某路段夜间施工噪声扰民，长期未得到解决。",
        "DD2", "DD2", "zhaolei", "hexue",
        measures=(
            Measure(
                "会同属地街道对噪声源开展夜间联合执法检查",
                "hexue", "DD2", -5,
                steps=(cancel(-20, "zhaolei", "经核查，该问题属生态环境部门职责，已移交区生态环境分局办理，"
                                              "本措施撤销。"),),
            ),
        ),
    ),
    # 调研
    Issue(
        "dy", "组织建设",
        "基层执法队伍年轻干部培养力度不够，党务干部培训不足，党建骨干后继乏人。",
        "ZFJ", "ZZRS", "zhangjianguo", "zhoumin", coop=("JGDZB", "DD1", "DD2"),
        measures=(
            Measure("建立年轻干部导师帮带制度，实行“一对一”传帮带", "yangfan", "ZZRS", 60,
                    "年轻干部帮带全覆盖"),
            Measure(
                "举办党务干部业务培训班，组织支部委员参加党建综合培训",
                "huangxm", "JGDZB", 25, "支部委员培训全覆盖",
                steps=(progress(-5, "培训方案已拟定，报局党委审定。"),),
            ),
        ),
    ),
)


# --- evidence files --------------------------------------------------------------------------


