"""check-code's factor wording: a factor growing or shrinking with N reads one way only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def test_a_probe_where_the_gradient_is_zero_fits_any_factor() -> None:
    """A layer dead at one point (its gradient 0, the student's too) does not hide that the
    student's gradient is N times the correct one at every other point."""
    rng = np.random.default_rng(0)
    correct = [rng.normal(size=(2, 3)) for _ in NS]
    correct[1] = np.zeros((2, 3))
    student = [n * c for n, c in zip(NS, correct, strict=True)]
    found = match.match(
        student, match.Candidate((), "the correct one", correct), list(NS)
    )
    assert found is not None and "scaled" in found.codes and found.factor == "N"
    # zero everywhere but the student's is not: no factor explains it
    student[1] = np.ones((2, 3))
    assert match.match(student, match.Candidate((), "x", correct), list(NS)) is None


def test_sigmoid_probabilities_are_drawn_clear_of_0_and_1() -> None:
    """A course's dA = -(Y/A - (1 - Y)/(1 - A)) divides by 1 - A: probes keep A off 1."""
    from symbackprop.check.code import truth
    from symbackprop.spec import make_spec

    spec = make_spec(
        layers=(5, 4, 3, 1),
        activations=("relu", "relu", "sigmoid"),
        loss="bce",
        reduction="mean",
    )
    t = truth.truth_for(spec)
    for seed in range(5):
        for probe in truth.make_probes(t, seed=seed):
            Y = probe.forward["Y"]
            assert np.all(
                (Y > truth.PROBABILITY_MARGIN) & (Y < 1 - truth.PROBABILITY_MARGIN)
            )
