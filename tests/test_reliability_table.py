"""docs/reliability.md lists exactly the faults and hostile inputs the tests prove."""

from __future__ import annotations

import pytest

from tests.reliability_table import DOCUMENT, Row, collect_marks, render, rows_of, table_in


def test_the_document_lists_exactly_the_rows_the_tests_prove():
    marks = collect_marks()
    assert marks, "no test carries a reliability mark"
    expected = render(rows_of(marks))
    assert table_in(DOCUMENT.read_text(encoding="utf-8")) == expected, (
        "docs/reliability.md is out of date: run `python -m tests.reliability_table --write`"
    )


def test_rows_join_the_tests_of_one_fault_and_refuse_disagreement():
    marks = [
        {"row": "A", "expected": "x", "test": "tests/t.py::one"},
        {"row": "B | b", "expected": "y", "test": "tests/t.py::one"},
        {"row": "A", "expected": "x", "test": "tests/u.py::two"},
        {"row": "A", "expected": "x", "test": "tests/u.py::two"},  # another parameter
    ]
    rows = rows_of(marks)
    assert rows == [
        Row("A", "x", ("tests/t.py::one", "tests/u.py::two")),
        Row("B | b", "y", ("tests/t.py::one",)),
    ]
    table = render(rows)
    assert "| 2 | B \\| b | y | `tests/t.py::one` | pass |" in table
    assert "`tests/t.py::one`<br>`tests/u.py::two`" in table
    with pytest.raises(ValueError, match="expects"):
        rows_of([*marks, {"row": "A", "expected": "z", "test": "tests/v.py::three"}])
    with pytest.raises(ValueError, match="needs row= and expected="):
        rows_of([{"row": "C", "expected": "", "test": "tests/w.py::four"}])
