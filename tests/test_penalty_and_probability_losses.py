"""The losses courses pair with their outputs and the L2 penalty, derived by SymPy (issue 11).

bce takes the sigmoid output's probabilities (not logits): SymPy must find the output error
yhat - y on its own. `[penalty] l2 = lambda` (or --l2) adds lambda/2 * sum(W**2) over every
weight matrix, not the biases, after the reduction; the Program's gradients must equal central
differences of its own loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from symbackprop.derive import YHAT, T, derive, evaluate
from symbackprop.errors import UserError
from symbackprop.spec import make_spec
from symbackprop.spec.load import resolve


def test_bce_on_sigmoid_probabilities_simplifies_to_yhat_minus_y() -> None:
    spec = make_spec(layers=(2, 4, 1), activations=("tanh", "sigmoid"), loss="bce")
    d = derive(spec, closed_forms=False)
    assert sp.simplify(d.output_delta - (YHAT - T)) == 0


def _numeric_gradients(prog, inputs, params, eps=1e-6):
    def loss(p):
        return evaluate.run(prog, {**inputs, **p})["loss"]

    out = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            up, down = v.copy(), v.copy()
            up[i] += eps
            down[i] -= eps
            g[i] = (loss({**params, k: up}) - loss({**params, k: down})) / (2 * eps)
        out[k] = g
    return out


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_l2_penalty_gradients_match_finite_differences(layout: str) -> None:
    spec = make_spec(
        layers=(3, 4, 2),
        activations=("relu", "sigmoid"),
        loss="bce",
        reduction="mean",
        l2=0.3,
    )
    d = derive(spec)
    prog = d.program_for(layout=layout)
    rng = np.random.default_rng(1)
    params = {n: rng.normal(size=spec.param_shape(n)) for n in spec.param_names}
    X = rng.normal(size=(5, 3))
    y = (rng.random((5, 2)) > 0.5).astype(float)
    if layout == "columns":
        X, y = X.T, y.T
    inputs = {"X": X, "y": y}
    values = evaluate.run(prog, {**inputs, **params})
    numeric = _numeric_gradients(prog, inputs, params)
    for name in spec.param_names:
        assert np.allclose(values[prog.grads[name]], numeric[name], atol=1e-6), name
    # the biases carry no penalty: the same as without it
    plain = derive(make_spec(**{**_fields(spec), "l2": 0.0})).program_for(layout=layout)
    base = evaluate.run(plain, {**inputs, **params})
    assert np.allclose(values[prog.grads["b1"]], base[plain.grads["b1"]])
    assert np.isclose(
        values["loss"],
        base["loss"] + 0.15 * sum(np.sum(params[w] ** 2) for w in ("W1", "W2")),
    )


def _fields(spec) -> dict:
    return dict(
        layers=spec.layers,
        activations=spec.activations,
        loss=spec.loss,
        reduction=spec.reduction,
    )


def test_penalty_table_in_a_spec_file_and_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(
        'layers = [2, 3, 1]\nloss = "bce"\nactivations = ["relu", "sigmoid"]\n'
        "[penalty]\nl2 = 0.05\n"
    )
    assert resolve(path).l2 == 0.05
    assert resolve(path, l2=0.2).l2 == 0.2
    path.write_text("layers = [2, 3, 1]\n[penalty]\nl1 = 0.05\n")
    with pytest.raises(UserError, match=r"\[penalty\] takes l2"):
        resolve(path)
    with pytest.raises(UserError, match="penalty l2"):
        make_spec(layers=(2, 3, 1), l2=-1.0)


def test_the_trainer_and_the_documents_take_the_penalty(tmp_path: Path) -> None:
    import subprocess
    import sys

    spec = tmp_path / "pen.toml"
    spec.write_text(
        'layers = [2, 3, 1]\nloss = "bce"\nactivations = ["relu", "sigmoid"]\n'
        "[penalty]\nl2 = 0.1\n"
    )
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "symbackprop", "emit"]
    shown = {"latex": r"0.05 (w^{(l)}_{ij})^{2}", "trainer": "np.sum(0.05 * W1**2)"}
    for artefact, suffix in (("latex", "tex"), ("trainer", "py")):
        out = tmp_path / f"out.{suffix}"
        done = subprocess.run(
            [*cmd, artefact, "--spec", str(spec), "-o", str(out)],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert shown[artefact] in out.read_text()


@pytest.mark.parametrize(("loss", "reduction"), [("half_sse", "sum"), ("bce", "mean")])
def test_the_trainer_with_a_penalty_descends_its_own_penalised_loss(
    loss: str, reduction: str
) -> None:
    """The generated trainer's loss is the data loss plus l2/2 * sum(W**2) (computed here by
    hand), and both its gradient routes match central finite differences of that loss."""
    from symbackprop.emit.trainer import build_trainer, load_trainer

    out = "sigmoid" if loss == "bce" else "identity"
    spec = make_spec(
        layers=(3, 4, 1),
        activations=("tanh", out),
        loss=loss,
        reduction=reduction,
        l2=0.3,
    )
    t = load_trainer(build_trainer(spec).source)
    rng = np.random.default_rng(5)
    params = {k: rng.normal(size=v.shape) for k, v in t.init_params(0).items()}
    X = rng.normal(size=(6, 3))
    y = (
        (rng.random((6, 1)) > 0.5).astype(float)
        if loss == "bce"
        else rng.normal(size=(6, 1))
    )
    Y = t.forward(params, X)["Y"]
    if loss == "bce":
        data = -np.mean(y * np.log(Y) + (1 - y) * np.log(1 - Y))
    else:
        data = 0.5 * np.sum((Y - y) ** 2)
    penalty = 0.15 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert np.isclose(t.loss(params, X, y), data + penalty, rtol=1e-12)
    fast, plain = t.gradients(params, X, y), t.backward(params, X, y)
    h = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][index] += h
            down[name][index] -= h
            numeric[index] = (t.loss(up, X, y) - t.loss(down, X, y)) / (2 * h)
        assert np.allclose(fast[name], numeric, rtol=1e-5, atol=1e-8), name
        assert np.allclose(plain[name], numeric, rtol=1e-5, atol=1e-8), name
