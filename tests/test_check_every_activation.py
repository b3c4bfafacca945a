"""check-code names a missing activation derivative whatever the activation (issue: beyond 2-2-1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FORWARDS = {
    "relu": "np.maximum(Z, 0)",
    "leaky_relu": "np.where(Z > 0, Z, 0.01 * Z)",
    "sigmoid": "1 / (1 + np.exp(-Z))",
    "tanh": "np.tanh(Z)",
    "softplus": "np.log1p(np.exp(Z))",
}

STUDENT = """\
import numpy as np


def forward(W1, W2, b1, b2, X):
    Z = X @ W1.T + b1
    H = {forward}
    y_pred = H @ W2.T + b2
    return H, Z, y_pred


def backward(y_pred, y_true, W2, H, Z, X):
    d2 = y_pred - y_true
    W2_grad = d2.T @ H
    b2_grad = d2.sum(axis=0)
    dz = d2 @ W2  # forgot: times the activation's derivative at Z
    W1_grad = dz.T @ X
    b1_grad = dz.sum(axis=0)
    return W1_grad, W2_grad, b1_grad, b2_grad
"""


@pytest.mark.parametrize("activation", sorted(FORWARDS))
def test_missing_derivative_is_named_for_each_activation(
    tmp_path: Path, activation: str
) -> None:
    student = tmp_path / "hw.py"
    student.write_text(STUDENT.format(forward=FORWARDS[activation]))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "symbackprop",
            "check-code",
            str(student),
            "--json",
            "--activations",
            f"{activation},identity",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["forward"]["status"] == "ok"
    assert report["gradients"]["W2"]["status"] == "ok"
    for name in ("W1", "b1"):
        assert report["gradients"][name]["diagnoses"] == ["missing_activation_mask"], (
            report
        )
