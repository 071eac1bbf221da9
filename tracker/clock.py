"""Injectable time: every rule that depends on "today" asks a Clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, g


class Clock:
    """Tells the time in the configured zone; `fixed` pins it for tests and `--now`."""

    def __init__(self, tz: str = "Asia/Shanghai", fixed: datetime | None = None):
        self.tz = ZoneInfo(tz)
        if fixed is not None and fixed.tzinfo is None:
            fixed = fixed.replace(tzinfo=self.tz)
        self.fixed = fixed

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        if self.fixed is not None:
            return self.fixed.astimezone(UTC)
        return datetime.now(UTC)

    def local_now(self) -> datetime:
        return self.now().astimezone(self.tz)

    def today(self) -> date:
        """Today's date in the configured time zone (not the server's)."""
        return self.local_now().date()

    @classmethod
    def parse(cls, value: str, tz: str = "Asia/Shanghai") -> Clock:
        """A fixed clock from an ISO date or datetime, read in `tz` when naive."""
        moment = datetime.fromisoformat(value)
        return cls(tz, moment)


def current_clock() -> Clock:
    """The app's clock: fixed when NOW is configured, real otherwise."""
    cfg = current_app.config
    tz = cfg["TIMEZONE"]
    fixed = cfg.get("NOW")
    if fixed:
        return Clock.parse(fixed, tz) if isinstance(fixed, str) else Clock(tz, fixed)
    return Clock(tz)


def request_clock() -> Clock:
    """This request's clock (fixed by NOW in config for demos and tests), read once per request."""
    if "clock" not in g:
        g.clock = current_clock()
    return g.clock


def utcnow() -> datetime:
    return datetime.now(UTC)
