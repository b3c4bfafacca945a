"""What a reader of a generated trainer stumbled on: its random data copied its weights, its
gradient check printed 0 for entries whose values differ, and classifiers had "regression" data.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import run_cli

from symbackprop.emit.trainer import load_trainer
from symbackprop.spec import make_spec


def _trainer(tmp_path: Path, *flags: str) -> tuple[Path, object]:
    out = tmp_path / "t.py"
    made = run_cli("emit", "trainer", *flags, "-o", str(out))
    assert made.returncode == 0, made.stderr
    return out, load_trainer(out.read_text(encoding="utf-8"))


def test_random_data_is_not_a_copy_of_the_weights(tmp_path: Path) -> None:
    layers = "3,8,8,2"
    _, t = _trainer(
        tmp_path,
        "--layers",
        layers,
        "--activations",
        "tanh,sigmoid,identity",
        "--loss",
        "softmax_cross_entropy",
    )
    X, _ = t.make_data(seed=0)  # type: ignore[attr-defined]
    W1 = t.init_params(0)["W1"]  # type: ignore[attr-defined]
    assert X.shape == W1.shape  # (8, 3): where the two streams used to coincide
    assert abs(np.corrcoef(X.ravel(), W1.ravel())[0, 1]) < 0.9


def test_the_gradient_check_prints_the_error_it_measured(tmp_path: Path) -> None:
    out, _ = _trainer(tmp_path)
    run = subprocess.run(
        [sys.executable, str(out), "--gradcheck"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    pattern = re.compile(r"analytic (\S+)  numeric (\S+)  rel\. error (\S+)")
    lines = [m for m in map(pattern.search, run.stdout.splitlines()) if m]
    assert lines and run.stdout.splitlines()[-1].startswith("gradcheck passed")
    for m in lines:
        a, n, e = (float(g) for g in m.groups())
        if f"{a:.8e}" != f"{n:.8e}":  # values that differ in print
            assert e > 0, m.group(0)


def test_a_classifier_without_data_gets_a_classification_set() -> None:
    spec = make_spec(
        layers=(3, 4, 2),
        activations=("relu", "identity"),
        loss="softmax_cross_entropy",
    )
    assert "random classification set" in spec.describe()
    regression = make_spec(layers=(3, 4, 1), activations=("relu", "identity"))
    assert "random regression set" in regression.describe()
