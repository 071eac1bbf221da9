"""推送渠道: a unit's group robot (企业微信, 钉钉, 飞书) or a generic JSON webhook, fed by the outbox.

The webhook address (it carries the robot's key or token) and the signing secret are stored
encrypted (tracker.channels.secrets) and never shown again after saving: pages and the API show
`url_hint` (host and the last characters) and whether a secret is set.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.enums import LabelledEnum, enum_column
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User


class ChannelKind(LabelledEnum):
    WECOM = "wecom"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"
    WEBHOOK = "webhook"

    @classmethod
    def _labels(cls):
        return {
            cls.WECOM: _l("WeCom group robot (企业微信)"),
            cls.DINGTALK: _l("DingTalk custom robot (钉钉)"),
            cls.FEISHU: _l("Feishu custom bot (飞书)"),
            cls.WEBHOOK: _l("Generic JSON webhook"),
        }


class UnitChannel(db.Model):
    """Where a unit's summaries, escalations and notices are pushed; never items outside its subtree."""

    __tablename__ = "unit_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ChannelKind] = mapped_column(enum_column(ChannelKind))
    name: Mapped[str] = mapped_column(sa.String(80))
    language: Mapped[str] = mapped_column(sa.String(8), default="zh_CN")
    url_encrypted: Mapped[str] = mapped_column(sa.Text)
    url_hint: Mapped[str] = mapped_column(sa.String(120))
    secret_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    daily: Mapped[bool] = mapped_column(default=True)
    weekly: Mapped[bool] = mapped_column(default=True)
    escalations: Mapped[bool] = mapped_column(default=True)
    notices: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    # The robot's rate limit, counted by the database so every flush and host shares one window.
    window_started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    window_count: Mapped[int] = mapped_column(default=0)
    last_test_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_test_ok: Mapped[bool | None] = mapped_column()
    last_test_note: Mapped[str | None] = mapped_column(sa.String(255))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    unit: Mapped[Unit] = relationship()
    created_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint("unit_id", "name", name="uq_unit_channels_unit_id_name"),
        sa.CheckConstraint("window_count >= 0", name="window_count"),
    )

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    def __repr__(self) -> str:
        return f"<UnitChannel {self.id} {self.kind.value}>"
