"""Text search in lists: what a person types matches itself inside a LIKE pattern."""

from __future__ import annotations

ESCAPE = "\\"


def escape_like(text: str) -> str:
    """Make %, _ and the escape character match themselves in a LIKE pattern (with ESCAPE)."""
    return text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


def contains(text: str) -> str:
    """A LIKE pattern for "contains `text`" (use it with escape=ESCAPE)."""
    return f"%{escape_like(text)}%"
