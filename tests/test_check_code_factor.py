"""check-code's factor wording: a factor growing or shrinking with N reads one way only."""

from __future__ import annotations

from pathlib import Path

import pytest

from symbackprop.check import check_code
from symbackprop.check.code import match

STUDENTS = Path(__file__).parent / "fixtures" / "students"
NS = (2, 3, 5, 7)


@pytest.mark.parametrize(
    ("per_n", "expected"),
    [
        (lambda n: n / 2, "N/2"),
        (lambda n: -n / 2, "-N/2"),
        (lambda n: 3 * n, "3N"),
        (lambda n: 2 * n / 3, "2N/3"),
        (lambda n: n, "N"),
        (lambda n: 1 / (2 * n), "1/(2N)"),
        (lambda n: 3 / n, "3/N"),
        (lambda n: -1 / n, "-1/N"),
    ],
)
def test_a_factor_in_n_is_written_unambiguously(per_n, expected: str) -> None:
    _, factor = match.classify([(n, per_n(n)) for n in NS], scalable=True)
    assert factor == expected


def test_a_frozen_top_level_n_is_named() -> None:
    report = check_code(STUDENTS / "frozen_batch_size.py", reduction="mean")
    message = report["gradients"]["W1"]["message"]
    assert message.startswith("the gradient of W1 is N/2 times the correct value")
    assert "1/2*N" not in message
    assert "right only at batch size 2" in message
    assert "top-level N = 2" in message and "X.shape[0]" in message
