"""A page of a list read in two steps, for the list pages that show plain rows."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_sqlalchemy.pagination import SelectPagination

from tracker.extensions import MAX_ID

# Matches counted at most, past the rows up to the page: counting every one of 200,000 overdue
# measures on each request made the first page cost grow with the table (LIST_COUNT_LIMIT).
COUNT_LIMIT = 1000
# Pages beyond the current one a capped count still vouches for (the pager's "next" links).
PAGES_AHEAD = 10


def count_limit() -> int:
    if not has_app_context():
        return COUNT_LIMIT
    return int(current_app.config.get("LIST_COUNT_LIMIT") or COUNT_LIMIT)


def count_window(offset: int, per_page: int) -> int:
    """How far a page at `offset` counts its list: LIST_COUNT_LIMIT, or ten pages past it if further."""
    return min(max(count_limit(), offset + per_page * (PAGES_AHEAD + 1)), MAX_ID)


def count_upto(conn: sa.Connection, stmt: sa.Select, limit: int) -> int:
    """The rows `stmt` selects, counted up to `limit` + 1: the count reads at most that many entries."""
    inner = stmt.order_by(None).limit(limit + 1).subquery()
    return conn.scalar(sa.select(sa.func.count()).select_from(inner))


class IdsFirstPagination(SelectPagination):
    """The page's ids in the list's order first, sorted on the list's own table (often off an
    index alone), then only those rows with their texts and names. Joining the texts and names
    before the sort made every sort that no index gives carry every row's texts: 64 ms at 20k.

    The total is exact up to LIST_COUNT_LIMIT matches past the page and ten pages ahead; beyond,
    `total_exact` is False and `total` is a lower bound, shown as "1,000+" (a list of a million
    measures costs what one of twenty thousand does).

    Arguments besides SelectPagination's: `id`, the list's id column; `rows(conn, ids)`, which
    returns {id: row} for the page's ids. Both steps and the count run on the session's
    connection: plain column rows need none of the ORM's execution layer.
    """

    total_exact: bool = True

    def _connection(self) -> sa.Connection:
        session = self._query_args["session"]
        session.flush()  # what Session.execute's autoflush would have done
        return session.connection()

    def _query_items(self) -> list:
        conn = self._connection()
        ids = self._page_ids(conn)
        if not ids:
            return []
        found = self._query_args["rows"](conn, ids)
        return [found[i] for i in ids if i in found]

    def _page_ids(self, conn: sa.Connection) -> list[int]:
        stmt = self._query_args["select"].with_only_columns(self._query_args["id"])
        return conn.scalars(stmt.limit(self.per_page).offset(self._query_offset)).all()

    def _query_count(self) -> int:
        limit = count_window(self._query_offset, self.per_page)
        stmt = self._query_args["select"].with_only_columns(self._query_args["id"])
        found = count_upto(self._connection(), stmt, limit)
        self.total_exact = found <= limit
        return min(found, limit)
