"""Keyset (seek) pagination: the next page starts after the last row of the one before, so page 500
costs what page 1 does (an OFFSET reads and drops every row before the page).

A list's order is read from its statement (`ORDER BY` keys, each ascending or descending, the last
one unique: the lists all end with their id). The values of those keys on a page's last row make
an opaque cursor, signed so that what comes back is what the app wrote; `after()` turns it into the
WHERE clause of the rows that follow. Keys may be NULL where the order puts NULLs in a group of their
own first (`deadline IS NULL, deadline`), as the lists' orders do: NULLs compare as equal there.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

Key = tuple[sa.ColumnElement, bool]  # (expression, descending)


def order_keys(stmt: sa.Select) -> list[Key]:
    """The statement's ORDER BY as (expression, descending) pairs."""
    keys = []
    for clause in stmt._order_by_clauses:
        if isinstance(clause, UnaryExpression) and clause.modifier in (operators.desc_op, operators.asc_op):
            keys.append((clause.element, clause.modifier is operators.desc_op))
        else:
            keys.append((clause, False))
    return keys


def after(keys: list[Key], values: list) -> sa.ColumnElement:
    """Rows that come after a row whose keys are `values`, in the order of `keys`: the first key's bound
    (an index range: the rows before the cursor are not read), then the keys one after another."""
    # Bound values typed as their key (a boolean key, `deadline IS NULL`, is compared with < and > too).
    bound = [sa.bindparam(None, value, type_=expr.type)
             for (expr, _), value in zip(keys, values, strict=True)]
    alternatives = []
    for i, (expr, desc) in enumerate(keys):
        if values[i] is None:  # nothing sorts past NULL within its group: only the later keys can move on
            continue
        beyond = expr < bound[i] if desc else expr > bound[i]
        same = [e.is_not_distinct_from(v) for (e, _), v in zip(keys[:i], bound[:i], strict=True)]
        alternatives.append(sa.and_(*same, beyond))
    if not alternatives:
        return sa.false()
    first, desc = keys[0]
    if values[0] is None or len(alternatives) == 1:
        return sa.or_(*alternatives)
    return sa.and_(first <= bound[0] if desc else first >= bound[0], sa.or_(*alternatives))


def _plain(value):
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if hasattr(value, "value") and not isinstance(value, bool | int | float | str):  # an enum
        return value.value
    return value


def _typed(value):
    if isinstance(value, dict):
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "d" in value:
            return date.fromisoformat(value["d"])
        raise ValueError("unknown cursor value")
    return value


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="tracker.keyset")


def encode(list_name: str, values) -> str:
    """The cursor of the page after a row whose order keys are `values`, for the list `list_name` (a
    cursor of another list, or of another sort, is refused)."""
    return _serializer().dumps([list_name, [_plain(v) for v in values]])


def decode(list_name: str, cursor: str, width: int) -> list | None:
    """The key values in `cursor`; None when it was not written by this app for this list and order."""
    try:
        name, values = _serializer().loads(cursor)
        if name != list_name or not isinstance(values, list) or len(values) != width:
            return None
        return [_typed(v) for v in values]
    except (BadSignature, ValueError, TypeError, KeyError):
        return None
