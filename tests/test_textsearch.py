"""The lists' text search: one reading of the search box and one LIKE escaper for every list."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from tracker import textsearch
from tracker.problems.queries import ProblemFilters
from tracker.tasks.queries import TaskFilters


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None),
    ("", None),
    ("   \t\n", None),
    ("\x00", None),
    ("  学习  不深入 ", "学习 不深入"),  # runs of white space are one space, ends trimmed
    ("a\tb\nc", "a b c"),
    ("P-\x0002", "P-02"),  # NUL cannot travel to PostgreSQL: dropped
    ("x" * 250, "x" * textsearch.MAX_QUERY),  # cut, not refused
    ("  " + "y" * 250, "y" * textsearch.MAX_QUERY),  # cut after folding
    (42, "42"),
])
def test_query_text(raw, expected):
    assert textsearch.query_text(raw) == expected


@pytest.mark.parametrize("filters", [TaskFilters, ProblemFilters])
@pytest.mark.parametrize(("raw", "expected"), [
    ("  制度\x00执行   不严 ", "制度执行 不严"), ("\x00 ", None), ("z" * 300, "z" * 200),
])
def test_task_and_problem_lists_read_the_search_alike(filters, raw, expected):
    assert filters.from_args(MultiDict({"q": raw})).q == expected


def test_like_pattern_matches_the_text_itself():
    assert textsearch.contains("50%_a\\b") == "%50\\%\\_a\\\\b%"
