"""One formula guard for every export, and its inverse for the ledger import."""

import pytest

from tracker.ledger.export import safe as ledger_cell
from tracker.ledger.reader import cell_text
from tracker.spreadsheet import guard, unguard
from tracker.tasks.export import safe as csv_cell

GUARDED = [
    ("=1+1", "leading ="), ("+86 10 1234", "leading +"), ("-2", "leading -"), ("@SUM(A1)", "leading @"),
    ("\tx", "leading tab"), ("\rx", "leading carriage return"),
    ("  =x", "spaces before a formula"), ("\n=x", "a line break before a formula"),
]
PLAIN = ["正常文字", "a=b", "1-2", "x@y", " x", "'x", ""]


@pytest.mark.parametrize("text, rule", GUARDED, ids=[rule for _, rule in GUARDED])
def test_every_rule_guards_in_both_exports_and_is_undone_on_import(text, rule):
    assert guard(text) == "'" + text
    assert csv_cell(text) == "'" + text  # the 整改清单 CSV
    assert ledger_cell(text) == "'" + text  # the ledger workbook (it once let a leading tab through)
    assert unguard(guard(text)) == text


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_is_left_alone(text):
    assert guard(text) == text and unguard(text) == text


def test_the_ledger_reader_drops_only_the_guards_apostrophe():
    assert cell_text("'=SUM(A1)") == "=SUM(A1)"
    assert cell_text("'正常") == "'正常"
