"""Text search in lists: what a person types matches itself inside a LIKE pattern."""

from __future__ import annotations

ESCAPE = "\\"
MAX_QUERY = 200  # characters of a search kept; an over-long one is cut, not refused


def query_text(raw: object) -> str | None:
    """A list's search text from the query string: white space runs folded to one space, NUL dropped
    (PostgreSQL cannot take it in a text parameter), cut to MAX_QUERY; None when nothing is left."""
    return " ".join(str(raw or "").replace("\x00", "").split())[:MAX_QUERY] or None


def escape_like(text: str) -> str:
    """Make %, _ and the escape character match themselves in a LIKE pattern (with ESCAPE)."""
    return text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


def contains(text: str) -> str:
    """A LIKE pattern for "contains `text`" (use it with escape=ESCAPE)."""
    return f"%{escape_like(text)}%"
