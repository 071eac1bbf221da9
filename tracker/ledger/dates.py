"""Dates as people type them in ledgers: Excel dates, serial numbers and the usual text forms."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime

from openpyxl.utils.datetime import from_excel

from tracker.ledger.columns import norm_text

# 2022-12-31, 2022/12/31, 2022.12.31, 2022年12月31日(前), with optional time after it.
_FULL = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?(?:\s+[\d:.]+)?$")
# 20221231
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# 2022年12月(底/末), 2022-12, 2022.12: the last day of that month, as ledgers mean it.
_MONTH = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?\s*(?:底|末|份)?$")
_SUFFIXES = ("之前", "以前", "前")
# Excel serials of 1955…2118: anything else in a date column is more likely a typo.
_SERIALS = (20000, 80000)


class NotADate(ValueError):
    """The cell holds something that is not a date."""


def parse_date(value) -> date | None:
    """A cell's date, None when the cell is empty; raises NotADate on anything else."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _SERIALS[0] <= value <= _SERIALS[1]:
            return from_excel(value).date()
        raise NotADate(str(value))
    text = norm_text(value)
    if not text:
        return None
    for suffix in _SUFFIXES:
        text = text.removesuffix(suffix).strip()
    return _from_text(text)


def _from_text(text: str) -> date:
    try:
        if m := _FULL.match(text) or _COMPACT.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _MONTH.match(text):
            year, month = int(m[1]), int(m[2])
            return date(year, month, calendar.monthrange(year, month)[1])
    except ValueError:  # 2022-13-45: the right shape, an impossible date
        pass
    raise NotADate(text)
