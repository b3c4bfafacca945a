"""The L2 penalty in the documents and in check-formulas' matrix equations.

The derivation shows the batch loss with l2/2 * sum(W**2) and each weight gradient with its
derivative l2 * W, while a local derivative (dz_i/dw_ij = x_j) and one sample's gradient carry
no penalty (the batch's is no sample's). Students' matrix equations with and without the penalty
term are judged; each label is first confirmed by running the lines as NumPy against central
finite differences of the penalised loss, written by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from symbackprop.emit import document, trainer
from symbackprop.spec import make_spec

L2 = 0.1
SPEC = make_spec(
    layers=(2, 2, 1),
    activations=("relu", "identity"),
    loss="half_sse",
    reduction="sum",
    l2=L2,
)
ANSWERS = {
    "ok": ("dW2 = dZ2.T @ A1 + 0.1 * W2", "dW1 = dZ1.T @ X + 0.1 * W1"),
    "no_penalty": ("dW2 = dZ2.T @ A1", "dW1 = dZ1.T @ X + 0.1 * W1"),
    "half_penalty": ("dW2 = dZ2.T @ A1 + 0.1 * W2", "dW1 = dZ1.T @ X + 0.05 * W1"),
}
SHARED = (
    "dZ2 = A2 - Y",
    "db2 = np.sum(dZ2, axis=0)",
    "dZ1 = (dZ2 @ W2) * (Z1 > 0)",
    "db1 = np.sum(dZ1, axis=0)",
)


def answer(name: str) -> str:
    w2, w1 = ANSWERS[name]
    return "\n".join([SHARED[0], w2, SHARED[1], SHARED[2], w1, SHARED[3]]) + "\n"


def penalised_loss(p: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> float:
    A1 = np.maximum(X @ p["W1"].T + p["b1"], 0)
    A2 = A1 @ p["W2"].T + p["b2"]
    data = 0.5 * np.sum((A2 - Y) ** 2)
    return float(data + L2 / 2 * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2)))


def run_lines(text: str, p: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray):
    """The answer's lines run as NumPy on our own arrays (the text is this test's own)."""
    Z1 = X @ p["W1"].T + p["b1"]
    A1 = np.maximum(Z1, 0)
    env = {"np": np, "X": X, "Y": Y, "Z1": Z1, "A1": A1, **p}
    env["A2"] = A1 @ p["W2"].T + p["b2"]
    exec(text, env)
    return env


@pytest.mark.parametrize("name", list(ANSWERS))
def test_the_labels_hold_by_finite_differences(name: str) -> None:
    rng = np.random.default_rng(7)
    p = {"W1": rng.normal(size=(2, 2)), "b1": rng.normal(size=2)}
    p |= {"W2": rng.normal(size=(1, 2)), "b2": rng.normal(size=1)}
    X, Y = rng.normal(size=(5, 2)), rng.normal(size=(5, 1))
    env = run_lines(answer(name), p, X, Y)
    right = {}
    for k in ("W1", "W2"):
        numeric = np.zeros_like(p[k])
        for i in np.ndindex(p[k].shape):
            up = {n: v.copy() for n, v in p.items()}
            down = {n: v.copy() for n, v in p.items()}
            up[k][i] += 1e-6
            down[k][i] -= 1e-6
            numeric[i] = (penalised_loss(up, X, Y) - penalised_loss(down, X, Y)) / 2e-6
        right[k] = np.allclose(env["d" + k], numeric, rtol=1e-6, atol=1e-8)
    want = {
        "ok": (True, True),
        "no_penalty": (True, False),
        "half_penalty": (False, True),
    }
    assert (right["W1"], right["W2"]) == want[name]


def check(tmp_path: Path, name: str) -> dict:
    path = tmp_path / f"{name}.txt"
    path.write_text(answer(name))
    cmd = [sys.executable, "-m", "symbackprop", "check-formulas", str(path)]
    done = subprocess.run(
        [*cmd, "--l2", str(L2), "--layout", "rows", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("name", "wrong"), [("ok", None), ("no_penalty", "dW2"), ("half_penalty", "dW1")]
)
def test_matrix_equations_with_a_penalty(
    tmp_path: Path, name: str, wrong: str | None
) -> None:
    report = check(tmp_path, name)
    verdicts = {e["name"]: e for e in report["equations"]}
    for eq, v in verdicts.items():
        if eq != wrong:
            assert v["status"] == "ok", v
    assert report["ok"] == (wrong is None)
    if wrong is not None:
        v = verdicts[wrong]
        assert v["status"] == "wrong" and v["diagnoses"] == ["penalty_factor"], v
        layer = wrong[-1]
        assert v["fix"].endswith(f"+ 0.1 * W{layer}"), v["fix"]


def test_per_entry_formulas_refuse_a_penalty_in_one_line() -> None:
    cmd = [sys.executable, "-m", "symbackprop", "check-formulas", "--template"]
    done = subprocess.run(
        [*cmd, "--l2", "0.1"], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 2 and done.stdout == ""
    line = done.stderr.strip()
    assert (
        "\n" not in line and "do not carry an L2 penalty" in line and "--matrix" in line
    )


def test_the_derivation_shows_the_penalty_where_it_belongs() -> None:
    built = trainer.build_trainer(SPEC)
    tex = document.derivation_tex(built, "symbackprop pdf --l2 0.1", [], "rows")
    # the batch loss, printed from the penalty's rule, and its derivative in words
    assert r"\sum_{l=1}^{2} \sum_{i,j} 0.05 (w^{(l)}_{ij})^{2}" in tex
    assert r"each weight gradient gains its derivative $0.1 w^{(l)}_{ij}$" in tex
    # a local derivative is the linear step's alone
    assert r"\partial w^{(1)}_{ij}} &= x_{j}" in tex
    # one sample's gradient carries no penalty; the batch's matrix forms do
    assert r"\frac{\partial L}{\partial W^{(1)}} &= \delta^{(1)} x^{\top}\\" in tex
    assert r"X + 0.1 W^{(1)}" in tex
    assert r"dW^{(1)} &= dZ^{(1)\top}\,X + 0.1\,W^{(1)}" in tex
    assert "and adds the L2 penalty's $0.1 w^{(l)}_{ij}$ to each weight's" in tex


def test_with_a_mean_the_penalty_stays_outside_the_1_over_m(tmp_path: Path) -> None:
    """dW = 1/m dZ^T A + l2 W: the mean averages the data term only (the penalty is the
    batch's), in the document's equations and in check-formulas' verdict on them."""
    from dataclasses import replace

    spec = replace(SPEC, reduction="mean")
    built = trainer.build_trainer(spec)
    tex = document.derivation_tex(built, "symbackprop pdf --l2 0.1", [], "rows")
    assert r"dW^{(2)} &= \frac{1}{N}\,dZ^{(2)\top}\,H^{(1)} + 0.1\,W^{(2)}" in tex
    text = answer("ok").replace("dZ2.T @ A1", "1/m * dZ2.T @ A1")
    text = text.replace("dZ1.T @ X", "1/m * dZ1.T @ X")
    text = text.replace("np.sum(dZ2", "1/m * np.sum(dZ2").replace(
        "np.sum(dZ1", "1/m * np.sum(dZ1"
    )
    path = tmp_path / "mean.txt"
    path.write_text(text)
    cmd = [sys.executable, "-m", "symbackprop", "check-formulas", str(path), "--json"]
    done = subprocess.run(
        [*cmd, "--l2", "0.1", "--reduction", "mean", "--layout", "rows"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    report = json.loads(done.stdout)
    assert report["ok"], report
