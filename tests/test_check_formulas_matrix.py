"""check-formulas' matrix mode: course equations (deeplearning.ai, CS231n, the textbook's delta,
LaTeX and plain) judged right or wrong, each file's label first established independently.

Each fixture's equations are also written here in plain NumPy; their gradients are compared with
central finite differences of a loss written here too (nothing from symbackprop), and only then
is the checker's verdict asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from symbackprop.check.formulas.matrix.check import check_matrix
from symbackprop.check.formulas.matrix.latex import latex_to_plain
from symbackprop.check.formulas.matrix.parse import parse_rhs
from symbackprop.check.formulas.vocab import ParseError
from symbackprop.spec import make_spec

FIXTURES = Path(__file__).parent / "fixtures" / "formulas_matrix"
Params = dict[str, np.ndarray]


# -- the independent reference: forward, loss and finite differences (samples are columns) ----
def _act(name: str, z: np.ndarray) -> np.ndarray:
    return {
        "relu": lambda v: np.maximum(v, 0),
        "tanh": np.tanh,
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "identity": lambda v: v,
    }[name](z)


def _forward(p: Params, X: np.ndarray, acts: list[str]) -> dict[str, np.ndarray]:
    cache = {"A0": X}
    for k, act in enumerate(acts, start=1):
        cache[f"Z{k}"] = p[f"W{k}"] @ cache[f"A{k - 1}"] + p[f"b{k}"]
        cache[f"A{k}"] = _act(act, cache[f"Z{k}"])
    return cache


def _loss(
    p: Params, X: np.ndarray, Y: np.ndarray, acts: list[str], loss: str, mean: bool
) -> float:
    z = _forward(p, X, acts)[f"Z{len(acts)}"]
    if loss == "half_sse":
        each = 0.5 * np.sum((_act(acts[-1], z) - Y) ** 2, axis=0)
    elif loss == "bce_with_logits":
        each = np.sum(np.logaddexp(0, z) - Y * z, axis=0)
    else:
        each = np.logaddexp.reduce(z, axis=0) - np.sum(Y * z, axis=0)
    return float(np.mean(each) if mean else np.sum(each))


def _finite_differences(p: Params, f: Callable[[Params], float]) -> Params:
    out = {}
    for name, value in p.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            up, down = (
                {k: v.copy() for k, v in p.items()},
                {k: v.copy() for k, v in p.items()},
            )
            up[name][idx] += 1e-6
            down[name][idx] -= 1e-6
            g[idx] = (f(up) - f(down)) / 2e-6
        out[name] = g
    return out


def _problem(
    layers: list[int], loss: str, seed: int = 3
) -> tuple[Params, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = 6
    p = {}
    for k in range(1, len(layers)):
        p[f"W{k}"] = rng.normal(size=(layers[k], layers[k - 1]))
        p[f"b{k}"] = rng.normal(size=(layers[k], 1))
    X = rng.normal(size=(layers[0], m))
    if loss == "softmax_cross_entropy":
        Y = np.eye(layers[-1])[:, rng.integers(0, layers[-1], m)]
    elif loss == "bce_with_logits":
        Y = rng.integers(0, 2, size=(layers[-1], m)).astype(float)
    else:
        Y = rng.normal(size=(layers[-1], m))
    return p, X, Y


# -- each fixture's equations in plain NumPy (columns; W is (units, inputs)) -------------------
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=0))
    return e / e.sum(axis=0)


def _dlai(
    c: dict, p: Params, X: np.ndarray, Y: np.ndarray, mistake: str = ""
) -> Params:
    m = X.shape[1]
    A2 = 1 / (1 + np.exp(-c["Z2"]))
    dZ2 = A2 - Y
    dW2 = (1 if mistake == "1/m" else 1 / m) * dZ2 @ c["A1"].T
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = p["W2"].T @ dZ2 * (c["Z1"] > 0)
    dW1 = 1 / m * dZ1 @ X.T
    db1 = 1 / m * np.sum(dZ1, axis=0 if mistake == "axis" else 1, keepdims=True)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def _cs231n(c: dict, p: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    # rows and CS231n's (inputs, units) weights, translated back for the comparison
    H, W2 = c["A1"].T, p["W2"].T
    dscores = _softmax(c["Z2"]).T - Y.T
    dW2 = H.T @ dscores
    dZ1 = (dscores @ W2.T) * (H > 0)
    out = {"W2": dW2.T, "b2": dscores.sum(axis=0)[:, None]}
    return out | {"W1": (X.T.T @ dZ1).T, "b1": dZ1.sum(axis=0)[:, None]}


def _textbook(c: dict, p: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    for s in range(X.shape[1]):
        x, y = X[:, [s]], Y[:, [s]]
        a1, z1 = c["A1"][:, [s]], c["Z1"][:, [s]]
        d2 = c["A2"][:, [s]] - y
        d1 = p["W2"].T @ d2 * (_act("sigmoid", z1) * (1 - _act("sigmoid", z1)))
        grads["W2"] += d2 @ a1.T
        grads["b2"] += d2
        grads["W1"] += d1 @ x.T
        grads["b1"] += d1
    return grads


def _tanh_from_a(c: dict, p: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    dZ2 = (c["A2"] - Y).T
    A1 = c["A1"].T
    dZ1 = dZ2 @ p["W2"] * (1 - np.tanh(A1) ** 2)
    return {
        "W2": dZ2.T @ A1,
        "b2": dZ2.sum(0)[:, None],
        "W1": dZ1.T @ X.T,
        "b1": dZ1.sum(0)[:, None],
    }


def _deep(c: dict, p: Params, X: np.ndarray, Y: np.ndarray, wrong: bool) -> Params:
    m = X.shape[1]
    dZ = {4: (-1 if wrong else 1) * (_softmax(c["Z4"]) - Y)}
    dZ[3] = p["W4"].T @ dZ[4] * (1 - c["A3"] ** 2)
    dZ[2] = p["W3"].T @ dZ[3] * (1 if wrong else c["A2"] * (1 - c["A2"]))
    dZ[1] = p["W2"].T @ dZ[2] * (c["Z1"] > 0)
    out = {}
    for k in range(1, 5):
        out[f"W{k}"] = dZ[k] @ c[f"A{k - 1}"].T / m
        out[f"b{k}"] = dZ[k].sum(axis=1, keepdims=True) / m
    return out


CASES = {
    # file: (layers, activations, loss, reduction, layout, weights, numpy form, wrong lines)
    "dlai_correct_relu_bce.txt": (
        [3, 4, 1],
        ["relu", "identity"],
        "bce_with_logits",
        "mean",
        "columns",
        "units_first",
        _dlai,
        {},
    ),
    "dlai_correct.tex": (
        [3, 4, 1],
        ["relu", "identity"],
        "bce_with_logits",
        "mean",
        "columns",
        "units_first",
        _dlai,
        {},
    ),
    "dlai_missing_1m.txt": (
        [3, 4, 1],
        ["relu", "identity"],
        "bce_with_logits",
        "mean",
        "columns",
        "units_first",
        lambda *a: _dlai(*a, mistake="1/m"),
        {"dW2": ("wrong", "scaled")},
    ),
    "dlai_wrong_axis.txt": (
        [3, 4, 1],
        ["relu", "identity"],
        "bce_with_logits",
        "mean",
        "columns",
        "units_first",
        lambda *a: _dlai(*a, mistake="axis"),
        {"db1": ("wrong", "wrong_axis")},
    ),
    "cs231n_correct.txt": (
        [4, 5, 3],
        ["relu", "identity"],
        "softmax_cross_entropy",
        "sum",
        "rows",
        "inputs_first",
        _cs231n,
        {},
    ),
    "textbook_delta.tex": (
        [2, 3, 2],
        ["sigmoid", "identity"],
        "half_sse",
        "sum",
        "rows",
        "units_first",
        _textbook,
        {},
    ),
    "tanh_mask_from_a.txt": (
        [2, 3, 2],
        ["tanh", "identity"],
        "half_sse",
        "sum",
        "rows",
        "units_first",
        _tanh_from_a,
        {"dZ1": ("wrong", "uses_activation_not_preactivation")},
    ),
    "deep_correct.txt": (
        [3, 4, 5, 4, 3],
        ["relu", "sigmoid", "tanh", "identity"],
        "softmax_cross_entropy",
        "mean",
        "columns",
        "units_first",
        lambda *a: _deep(*a, wrong=False),
        {},
    ),
    "deep_sign_and_reused.txt": (
        [3, 4, 5, 4, 3],
        ["relu", "sigmoid", "tanh", "identity"],
        "softmax_cross_entropy",
        "mean",
        "columns",
        "units_first",
        lambda *a: _deep(*a, wrong=True),
        {"dZ4": ("wrong", "sign_flipped"), "dZ2": ("wrong", "missing_activation_mask")},
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_label_then_verdict(name: str) -> None:
    layers, acts, loss, reduction, layout, weights, student, wrong = CASES[name]
    p, X, Y = _problem(layers, loss)
    mean = reduction == "mean"
    reference = _finite_differences(p, lambda q: _loss(q, X, Y, acts, loss, mean))
    grads = student(_forward(p, X, acts), p, X, Y)
    label_ok = all(
        np.allclose(grads[k], reference[k], rtol=1e-4, atol=1e-6) for k in reference
    )
    assert label_ok == (not wrong), f"{name}: the fixture's own label is off"
    spec = make_spec(layers=layers, activations=acts, loss=loss, reduction=reduction)
    text = (FIXTURES / name).read_text()
    report = check_matrix(spec, text, name, layout, weights)
    statuses = {v.name: v for v in report.verdicts}
    assert report.ok == label_ok
    for v in report.verdicts:
        if v.name in wrong:
            status, code = wrong[v.name]
            assert v.status == status and code in v.diagnoses, (v.name, v)
            assert v.fix
        else:
            assert v.status == "ok", (v.name, v.message)
    assert not [v for v in statuses.values() if v.status == "missing"]


def test_shape_errors_name_both_shapes_and_the_fix() -> None:
    spec = make_spec(
        layers=[4, 5, 3], activations=["relu", "identity"], loss="softmax_cross_entropy"
    )
    text = (FIXTURES / "cs231n_not_transposed.txt").read_text()
    report = check_matrix(spec, text, "f", "rows", "inputs_first")
    v = next(v for v in report.verdicts if v.name == "dW2")
    assert v.status == "error" and v.diagnoses == ["transposed"]
    assert v.message == (
        "dW2 is (5, 3) but H is (N, 5) and dscores is (N, 3), which cannot be multiplied"
    )
    assert v.fix == "dW2 = H.T @ dscores"
    spec = make_spec(layers=[2, 3, 2], activations=["relu", "identity"])
    text = (FIXTURES / "elementwise_product.txt").read_text()
    v = next(
        v for v in check_matrix(spec, text, "f", "columns").verdicts if v.name == "dZ1"
    )
    assert v.status == "error" and v.diagnoses == ["elementwise_product"]
    assert "W2.T is (3, 2) and dZ2 is (2, m)" in v.message
    assert v.fix == "dZ1 = W2.T @ dZ2 * (Z1 > 0)"


def test_gradient_on_a_wrong_intermediate_is_judged_as_written() -> None:
    spec = make_spec(
        layers=[3, 4, 1],
        activations=["relu", "identity"],
        loss="bce_with_logits",
        reduction="mean",
    )
    text = "dZ2 = A2 - Y\ndZ1 = W2^T dZ2\ndW1 = 1/m dZ1 X^T\n"
    report = check_matrix(spec, text, "f", "columns")
    by = {v.name: v for v in report.verdicts}
    assert by["dZ1"].status == "wrong" and by["dZ1"].diagnoses == [
        "missing_activation_mask"
    ]
    assert by["dW1"].status == "ok" and by["dW1"].built_on == ["dZ1"]
    assert "uses dZ1, which is wrong above" in by["dW1"].message
    assert {n for n, v in by.items() if v.status == "missing"} == {"dW2", "db2", "db1"}


def test_unreadable_line_does_not_stop_the_others() -> None:
    spec = make_spec(layers=[2, 3, 1], activations=["relu", "identity"])
    text = "dZ2 = Yhat - Y\ndW2 = dZ2.T @ (A1\ndb2 = open('x')\ndW1 = (dZ2 @ W2 * (Z1 > 0)).T @ X\n"
    by = {v.name: v for v in check_matrix(spec, text).verdicts}
    assert by["dW2"].status == "error" and by["db2"].status == "error"
    assert by["dZ2"].status == "ok" and by["dW1"].status == "ok"
    assert by["db1"].status == "missing"


def test_cli_json_schema_exit_codes_and_template(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "symbackprop", "check-formulas", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )

    flags = [
        "--layers",
        "3,4,1",
        "--activations",
        "relu,identity",
        "--loss",
        "bce_with_logits",
        "--reduction",
        "mean",
        "--layout",
        "columns",
    ]
    ok = run(str(FIXTURES / "dlai_correct_relu_bce.txt"), "--json", *flags)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["ok"] is True and out["layout"] == "columns"
    assert [e["name"] for e in out["equations"]] == [
        "dZ2",
        "dW2",
        "db2",
        "dZ1",
        "dW1",
        "db1",
    ]
    for e in out["equations"]:
        assert {"name", "line", "status", "diagnoses", "message"} <= set(e)
    bad = run(str(FIXTURES / "dlai_missing_1m.txt"), *flags)
    assert (
        bad.returncode == 1
        and "✗ dW2" in bad.stdout
        and "fix: dW2 = 1/m dZ2 A1^T" in bad.stdout
    )
    assert run(str(tmp_path / "nope.txt"), *flags).returncode == 2
    blank = run("--template", "--matrix", "--layout", "columns")
    assert (
        blank.returncode == 0 and "dW1 = " in blank.stdout and "(2, m)" in blank.stdout
    )
    answers = tmp_path / "blank.txt"
    answers.write_text(blank.stdout)
    empty = run(str(answers), "--json", "--layout", "columns")
    assert empty.returncode == 1
    assert {e["status"] for e in json.loads(empty.stdout)["equations"]} == {"missing"}


@pytest.mark.parametrize(
    ("latex", "plain"),
    [
        (r"W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})", "W2^T dZ2  ⊙  g1'(Z1)"),
        (r"\frac{1}{m} \sum_{i=1}^{m} dZ^{[1]}", "((1)/(m))  Σ  dZ1"),
        (
            r"\frac{1}{m} \sum_{i=1}^{m} dZ^{[2](i)}",
            "((1)/(m))  Σ  dZ2",
        ),  # a sample index
        (
            r"(W^{(2)})^\top \delta^{(2)} \circ \mathbb{1}[z^{(1)}>0]",
            "(W2)^T δ2  ∘  1[z1>0]",
        ),
    ],
)
def test_latex_is_rewritten_into_the_plain_notation(latex: str, plain: str) -> None:
    assert latex_to_plain(latex).strip() == plain


@pytest.mark.parametrize(
    "text", ["__import__('os')", "dZ2.__class__", "W2[0]", "lambda: 1"]
)
def test_unsafe_input_is_refused(text: str) -> None:
    with pytest.raises(ParseError):
        parse_rhs(text)


# -- counterexamples: the student's line in plain NumPy on the given inputs, the correct result
# -- by finite differences at the given network point ------------------------------------------
def _loss_from(
    p: Params,
    z: np.ndarray,
    k: int,
    Y: np.ndarray,
    acts: list[str],
    loss: str,
    mean: bool,
) -> float:
    """The loss from layer k's pre-activations on (columns), the later layers run here."""
    for j in range(k + 1, len(acts) + 1):
        z = p[f"W{j}"] @ _act(acts[j - 2], z) + p[f"b{j}"]
    if loss == "half_sse":
        each = 0.5 * np.sum((_act(acts[-1], z) - Y) ** 2, axis=0)
    elif loss == "bce_with_logits":
        each = np.sum(np.logaddexp(0, z) - Y * z, axis=0)
    else:
        each = np.logaddexp.reduce(z, axis=0) - np.sum(Y * z, axis=0)
    return float(np.mean(each) if mean else np.sum(each))


COUNTEREXAMPLES = {
    # file: (layers, activations, loss, reduction, layout, the wrong line, its NumPy, correct)
    "dlai_missing_1m.txt": (
        [3, 4, 1],
        ["relu", "identity"],
        "bce_with_logits",
        "mean",
        "columns",
        "dW2",
        lambda i, m: i["dZ2"] @ i["A1"].T,
        ("param", "W2"),
    ),
    "dlai_wrong_axis.txt": (
        [3, 4, 1],
        ["relu", "identity"],
        "bce_with_logits",
        "mean",
        "columns",
        "db1",
        lambda i, m: 1 / m * np.sum(i["dZ1"], axis=0, keepdims=True),
        ("param", "b1"),
    ),
    "tanh_mask_from_a.txt": (
        [2, 3, 2],
        ["tanh", "identity"],
        "half_sse",
        "sum",
        "rows",
        "dZ1",
        lambda i, m: i["dZ2"] @ i["W2"] * (1 - np.tanh(i["A1"]) ** 2),
        ("z", 1),
    ),
    "deep_sign_and_reused.txt": (
        [3, 4, 5, 4, 3],
        ["relu", "sigmoid", "tanh", "identity"],
        "softmax_cross_entropy",
        "mean",
        "columns",
        "dZ4",
        lambda i, m: i["Y"] - i["A4"],
        ("z", 4),
    ),
}


@pytest.mark.parametrize("name", sorted(COUNTEREXAMPLES))
def test_counterexample_is_checked_independently(name: str) -> None:
    layers, acts, loss, reduction, layout, line, numpy_form, truth = COUNTEREXAMPLES[
        name
    ]
    spec = make_spec(layers=layers, activations=acts, loss=loss, reduction=reduction)
    report = check_matrix(spec, (FIXTURES / name).read_text(), name, layout)
    v = next(v for v in report.verdicts if v.name == line)
    ex = v.counterexample
    assert v.status == "wrong" and ex is not None
    rows = layout == "rows"
    net = {k: np.array(value, float) for k, value in ex["network"].items()}
    if rows:  # the reference runs with samples as columns
        net = {k: (v.T if k in "XY" else v.reshape(len(v), -1)) for k, v in net.items()}
    X, Y = net.pop("X"), net.pop("Y")
    p = {k: v.reshape(v.shape[0], -1) for k, v in net.items()}
    m = ex["m"]
    assert X.shape[1] == m and len(ex["layers"]) == len(layers)
    # short numbers, and no pre-activation of a kinked layer at its kink
    assert all(float(v).is_integer() or float(v * 2).is_integer() for v in np.ravel(X))
    cache = _forward(p, X, acts)
    top = f"Z{len(acts)}"
    if loss == "softmax_cross_entropy":  # the prediction is the link's
        cache[f"A{len(acts)}"] = _softmax(cache[top])
    elif loss == "bce_with_logits":
        cache[f"A{len(acts)}"] = _act("sigmoid", cache[top])
    for k, act in enumerate(acts, start=1):
        if act == "relu":
            assert np.min(np.abs(cache[f"Z{k}"])) >= 0.25
    # the inputs shown are the forward pass's values (or the true intermediates)
    inputs = {k: np.array(value, float) for k, value in ex["inputs"].items()}
    for k, value in inputs.items():
        if k[0] in "AZ" and k[1:].isdigit():
            want = cache[k].T if rows else cache[k]
            assert np.allclose(value, want, atol=1e-3), k
    yours = np.array(ex["yours"], float)
    assert np.allclose(yours, numpy_form(inputs, m), atol=2e-4)
    mean = reduction == "mean"
    kind, what = truth
    if kind == "param":
        reference = _finite_differences(p, lambda q: _loss(q, X, Y, acts, loss, mean))
        want = reference[what]
    else:  # an intermediate: deeplearning.ai's reading, one sample's loss per column
        z = cache[f"Z{what}"]
        f = {"z": z}
        want = _finite_differences(
            f, lambda q: _loss_from(p, q["z"], what, Y, acts, loss, False)
        )["z"]
        want = want.T if rows else want
    correct = np.array(ex["correct"], float)
    assert np.allclose(correct.reshape(want.shape), want, atol=2e-4)
    assert not np.allclose(
        yours.reshape(-1)[: want.size], want.reshape(-1), atol=1e-3
    ) or (yours.size != want.size)


def test_counterexample_in_json_and_the_report(tmp_path: Path) -> None:
    from symbackprop.check.formulas.matrix.report import human, to_json

    spec = make_spec(
        layers=[3, 4, 1],
        activations=["relu", "identity"],
        loss="bce_with_logits",
        reduction="mean",
    )
    text = (FIXTURES / "dlai_missing_1m.txt").read_text()
    report = check_matrix(spec, text, "f", "columns")
    out = to_json(report)
    by = {e["name"]: e for e in out["equations"]}
    ex = by["dW2"]["counterexample"]
    assert set(ex) == {"layers", "m", "network", "inputs", "yours", "correct"}
    assert set(ex["inputs"]) == {"dZ2", "A1"} and by["dZ2"]["counterexample"] is None
    json.dumps(out)
    shown = human(report)
    assert "counterexample (layers 2-2-1, 3 samples)" in shown
    assert "yours:   dW2 = [[" in shown and "correct: dW2 = [[" in shown


def test_counterexample_of_a_per_sample_line() -> None:
    spec = make_spec(layers=[2, 3, 2], activations=["sigmoid", "identity"])
    text = (
        "delta2 = yhat - y\ndL/dW2 = delta2 a1^T\ndL/db2 = delta2\n"
        "delta1 = W2^T delta2\ndL/dW1 = delta1 x^T\ndL/db1 = delta1\n"
    )
    by = {v.name: v for v in check_matrix(spec, text, "f", "rows").verdicts}
    ex = by["delta1"].counterexample
    assert by["delta1"].status == "wrong" and ex is not None
    W2 = np.array(ex["network"]["W2"], float)
    assert np.array_equal(np.array(ex["inputs"]["W2"], float), W2)
    d2 = np.array(ex["inputs"]["delta2"], float)  # one sample per row
    assert np.allclose(np.array(ex["yours"], float), (W2.T @ d2.T).T, atol=2e-4)


@pytest.mark.parametrize(
    ("mask", "right"),
    [
        ("relu'(W1 X + b1)", True),  # the forward pass written out: Z1 itself
        ("(W1 @ X + b1 > 0)", True),
        ("relu'(W1 X)", False),  # the bias left out of the mask
    ],
)
def test_a_mask_on_the_forward_pass_written_out_is_judged_as_z(
    mask: str, right: bool
) -> None:
    """relu'(W1 X + b1) is relu'(Z1): proven in the same sign regions, not called wrong."""
    p, X, Y = _problem([3, 4, 1], "bce_with_logits")
    p["b1"] = p["b1"] + np.array([[2.0], [-2.0], [2.0], [-2.0]])  # the bias flips signs
    acts = ["relu", "identity"]
    c = _forward(p, X, acts)
    m = X.shape[1]
    dZ2 = 1 / (1 + np.exp(-c["Z2"])) - Y
    written = {
        "relu'(W1 X + b1)": p["W1"] @ X + p["b1"] > 0,
        "(W1 @ X + b1 > 0)": p["W1"] @ X + p["b1"] > 0,
        "relu'(W1 X)": p["W1"] @ X > 0,
    }[mask]
    dW1 = 1 / m * (p["W2"].T @ dZ2 * written) @ X.T
    numeric = _finite_differences(
        p, lambda q: _loss(q, X, Y, acts, "bce_with_logits", True)
    )
    assert (
        np.allclose(dW1, numeric["W1"], atol=1e-6) is right
    )  # the label, independently
    spec = make_spec(
        layers=[3, 4, 1],
        activations=acts,
        loss="bce_with_logits",
        reduction="mean",
    )
    text = f"dZ2 = A2 - Y\ndZ1 = W2^T dZ2 * {mask}\ndW1 = 1/m dZ1 X^T\n"
    by = {v.name: v for v in check_matrix(spec, text, "f", "columns").verdicts}
    assert (by["dZ1"].status == "ok") is right, by["dZ1"].message
    if right:
        assert "proven for generic matrices" in by["dZ1"].message


def test_a_sign_flip_is_named_under_the_courses_reading_of_dz() -> None:
    """deeplearning.ai's dZ carries no 1/m: -1/m Σ dZ1 is the sign, not a factor -1/m."""
    p, X, Y = _problem([2, 4, 1], "bce_with_logits")
    acts = ["tanh", "identity"]
    c = _forward(p, X, acts)
    m = X.shape[1]
    dZ2 = 1 / (1 + np.exp(-c["Z2"])) - Y
    dZ1 = p["W2"].T @ dZ2 * (1 - c["A1"] ** 2)
    numeric = _finite_differences(
        p, lambda q: _loss(q, X, Y, acts, "bce_with_logits", True)
    )
    students = -1 / m * np.sum(dZ1, axis=1, keepdims=True)
    assert np.allclose(students, -numeric["b1"], atol=1e-6)  # the label: the sign only
    spec = make_spec(
        layers=[2, 4, 1], activations=acts, loss="bce_with_logits", reduction="mean"
    )
    for dz1 in ("np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))", "W2.T @ dZ2"):
        text = (
            f"dZ2 = A2 - Y\ndZ1 = {dz1}\n"
            "db1 = -1/m * np.sum(dZ1, axis=1, keepdims=True)\n"
        )
        by = {v.name: v for v in check_matrix(spec, text, "f", "columns").verdicts}
        assert by["db1"].diagnoses == ["sign_flipped"], by["db1"].message
        assert by["db1"].fix == "db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True)"


@pytest.mark.parametrize(
    "derivative", ["(1 - np.tanh(Z1)**2)", "tanh'(Z1)", "g1'(Z1)", "(1 - A1**2)"]
)
def test_tanh_derivative_at_z_is_proven_like_at_a(derivative: str) -> None:
    """tanh'(Z1) written out meets the derivation's 1 - A1**2 once A1 = tanh(Z1)."""
    p, X, Y = _problem([3, 4, 2], "half_sse")
    acts = ["tanh", "identity"]
    c = _forward(p, X, acts)
    dZ1 = (p["W2"].T @ (c["Z2"] - Y)) * (1 - np.tanh(c["Z1"]) ** 2)
    numeric = _finite_differences(p, lambda q: _loss(q, X, Y, acts, "half_sse", False))
    assert np.allclose(dZ1 @ X.T, numeric["W1"], atol=1e-6)  # the label
    spec = make_spec(layers=[3, 4, 2], activations=acts)
    text = f"dZ2 = A2 - Y\ndZ1 = W2^T dZ2 * {derivative}\ndW1 = dZ1 X^T\n"
    by = {v.name: v for v in check_matrix(spec, text, "f", "columns").verdicts}
    assert by["dZ1"].status == "ok" and "proven" in by["dZ1"].message, by["dZ1"].message
    assert by["dW1"].status == "ok"


def test_a_sum_over_every_entry_keeps_its_rank_with_keepdims() -> None:
    """np.sum(dZ2, keepdims=True) is (1, 1) in NumPy, and the message says so."""
    spec = make_spec(layers=[3, 4, 2], activations=["relu", "identity"])
    text = "dZ2 = Yhat - Y\ndb2 = np.sum(dZ2, keepdims=True)\n"
    by = {v.name: v for v in check_matrix(spec, text).verdicts}
    assert by["db2"].diagnoses == ["wrong_axis"]
    assert "this is (1, 1)" in by["db2"].message
    assert np.sum(np.ones((5, 2)), keepdims=True).shape == (1, 1)  # what NumPy does
    assert by["db2"].fix == "db2 = np.sum(dZ2, axis=0, keepdims=True)"


@pytest.mark.parametrize(
    ("name", "profile"),
    [("cs231n_correct.txt", "cs231n"), ("dlai_correct_relu_bce.txt", "dlai")],
)
def test_a_profile_gives_the_layout_and_the_weights(name: str, profile: str) -> None:
    """--profile cs231n reads W as (inputs, units) in rows, --profile dlai as columns."""
    layers, acts, loss, reduction, layout, weights, *_ = CASES[name]
    spec_flags = [
        "--layers",
        ",".join(map(str, layers)),
        "--activations",
        ",".join(acts),
        "--loss",
        loss,
        "--reduction",
        reduction,
    ]
    path = str(FIXTURES / name)
    run = [sys.executable, "-m", "symbackprop", "check-formulas", path, *spec_flags]
    flags = ["--layout", layout, "--weights", weights, "--json"]
    by_flags = subprocess.run([*run, *flags], capture_output=True, text=True)
    by_profile = subprocess.run(
        [*run, "--profile", profile, "--json"], capture_output=True, text=True
    )
    assert by_flags.returncode == by_profile.returncode == 0, by_profile.stderr
    assert json.loads(by_flags.stdout) == json.loads(by_profile.stdout)
    bare = subprocess.run([*run, "--json"], capture_output=True, text=True)
    assert bare.returncode == 1  # without the course's conventions it does not fit
