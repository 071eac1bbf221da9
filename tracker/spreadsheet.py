"""Formula injection: text that Excel (or LibreOffice) would run as a formula is written as text.

One rule for every export (the 整改清单 CSV, the ledger workbooks): a value starting with = + - @,
or with a tab or carriage return, gets a leading apostrophe. Spaces and line breaks in front are
looked through, because spreadsheet programs trim some of them. `unguard` undoes it on import.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r")
_LOOK_THROUGH = " \t\r\n"


def needs_guard(text: str) -> bool:
    """True when a spreadsheet could take `text` for a formula."""
    return text.startswith(CONTROL_STARTS) or text.lstrip(_LOOK_THROUGH).startswith(FORMULA_STARTS)


def guard(text: str) -> str:
    """`text` as a spreadsheet will show it and never run it."""
    return "'" + text if needs_guard(text) else text


def unguard(text: str) -> str:
    """The inverse of `guard`: drop the apostrophe it added (and only such an apostrophe)."""
    return text[1:] if text.startswith("'") and needs_guard(text[1:]) else text
