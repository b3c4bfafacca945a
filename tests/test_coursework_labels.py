"""The coursework fixtures' labels, verified without symbackprop.

tests/fixtures/coursework/labels.toml describes every fixture: the network, its layout, how its own
code is driven (statements run in its namespace) and a label per gradient. Here each fixture is
loaded (a module with importlib, a notebook by running its code cells in a fresh namespace, a
tutorial script by running its set-up and one pass of its training loop), run at random points, and
every gradient it produces is compared with the course's own loss (penalty included), written here
in plain NumPy: a hand-written backward pass in one canonical layout (samples as columns, W as
(units, inputs), b as (units, 1)), itself checked against central finite differences of that loss
at the same point (every entry for small networks, random directions for 784-128-10).

A gradient labelled ok must match; a gradient labelled with a mistake must not match, and must show
that mistake's signature (missing 1/m: m times the true one; a transposed dW: its transpose; a
wrong-axis db: dZ summed over units; a db summed over everything: one number, the true db's sum; the derivative or mask mistakes and the updated W2: the hand-
written backward with that one mistake made). The student's forward output and loss are compared
with the reference too, so the manifest's description of the network is checked against the file.
Nothing of symbackprop is imported.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent / "fixtures" / "coursework"
MANIFEST = tomllib.loads((HERE / "labels.toml").read_text())
FIXTURES: dict[str, dict[str, Any]] = MANIFEST["fixture"]

MISTAKES = {
    "missing_1_over_m",
    "db_wrong_axis",
    "db_without_keepdims",
    "transposed_A1",
    "tanh_derivative_from_Z",
    "sigmoid_derivative_from_Z",
    "sigmoid_prime_of_A",
    "relu_mask_from_upstream",
    "tanh_derivative_1_minus_A",
    "relu_on_output",
    "updated_W2_in_backprop",
    "l2_factor_off_by_2",
    "db_summed_over_all",
}
# mistakes reproduced by the hand-written backward with that one mistake made
VARIANTS = {
    "tanh_derivative_from_Z",
    "sigmoid_derivative_from_Z",
    "sigmoid_prime_of_A",
    "relu_mask_from_upstream",
    "tanh_derivative_1_minus_A",
    "relu_on_output",
    "updated_W2_in_backprop",
}
MATCH = 1e-6  # relative error of a gradient that matches
DIFFER = 1e-3  # a wrong gradient is at least this far off
FD_MATCH = 2e-5  # the hand-written backward against central differences
POINTS = 2


# ---------------------------------------------------------------- the network, canonical layout


@dataclass
class Net:
    layers: list[int]
    activations: list[str]
    loss: (
        str  # bce (on sigmoid probabilities) | softmax_ce (on probabilities) | half_mse
    )
    reduction: str  # mean (over the m samples) | sum
    lam: float = (
        0.0  # adds lam/2 * sum(W**2) over every weight matrix, after the reduction
    )

    @property
    def depth(self) -> int:
        return len(self.layers) - 1


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)
    assert name == "identity", name
    return z


def forward(
    params: dict[str, np.ndarray], X: np.ndarray, net: Net
) -> tuple[np.ndarray, list]:
    A, cache = X, []
    for layer, act in enumerate(net.activations, 1):
        Z = params[f"W{layer}"] @ A + params[f"b{layer}"]
        out = activate(act, Z)
        cache.append((A, Z, out))
        A = out
    return A, cache


def data_loss(A: np.ndarray, Y: np.ndarray, net: Net) -> float:
    if net.loss == "bce":
        total = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    elif net.loss == "softmax_ce":
        total = -np.sum(Y * np.log(A))
    else:
        assert net.loss == "half_mse", net.loss
        total = 0.5 * np.sum((A - Y) ** 2)
    return float(total / Y.shape[1] if net.reduction == "mean" else total)


def total_loss(
    params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, net: Net
) -> float:
    return loss_and_kinks(params, X, Y, net)[0]


def loss_and_kinks(
    params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, net: Net
) -> tuple[float, bytes]:
    """The loss, and which side of 0 every ReLU input is on (a difference that moves one
    across the kink measures no derivative)."""
    A, cache = forward(params, X, net)
    penalty = sum(np.sum(params[f"W{k}"] ** 2) for k in range(1, net.depth + 1))
    sides = b"".join(
        np.packbits(Z > 0).tobytes()
        for (_, Z, _), act in zip(cache, net.activations, strict=True)
        if act == "relu"
    )
    return data_loss(A, Y, net) + 0.5 * net.lam * float(penalty), sides


def hidden_derivative(
    act: str, Z: np.ndarray, A: np.ndarray, dA: np.ndarray, mistake: str | None
) -> np.ndarray:
    if act == "relu":
        return (dA > 0) if mistake == "relu_mask_from_upstream" else (Z > 0)
    if act == "tanh":
        if mistake == "tanh_derivative_1_minus_A":
            return 1 - A
        return 1 - Z**2 if mistake == "tanh_derivative_from_Z" else 1 - A**2
    if act == "sigmoid":
        if mistake == "sigmoid_derivative_from_Z":
            return Z * (1 - Z)
        if mistake == "sigmoid_prime_of_A":
            return sigmoid(A) * (1 - sigmoid(A))
        return A * (1 - A)
    assert act == "identity", act
    return np.ones_like(Z)


def backward(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    net: Net,
    mistake: str | None = None,
    detail: str = "",
    lr: float = 0.0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[np.ndarray]]:
    """The gradients of total_loss, written by hand (or with one named mistake made); also the
    penalty's share of each dW and dL/dZ of every layer."""
    scale = 1.0 / X.shape[1] if net.reduction == "mean" else 1.0
    A, cache = forward(params, X, net)
    out = net.activations[-1]
    _, Z, _ = cache[-1]
    if net.loss == "half_mse":
        dA = (A - Y) * scale
        dZ = dA * hidden_derivative(out, Z, A, dA, None)
    else:
        assert (net.loss, out) in {("bce", "sigmoid"), ("softmax_ce", "softmax")}
        dZ = (A - Y) * scale
        dA = (-(Y / A) + (1 - Y) / (1 - A)) * scale if net.loss == "bce" else None
    if mistake == "relu_on_output":
        dZ = (dA if detail == "mask_dA" else dZ) * (Z > 0)
    grads, penalty, dZs = {}, {}, [np.empty(0)] * net.depth
    for layer in range(net.depth, 0, -1):
        A_prev, _, _ = cache[layer - 1]
        W = params[f"W{layer}"]
        dZs[layer - 1] = dZ
        penalty[f"W{layer}"] = net.lam * W
        grads[f"W{layer}"] = dZ @ A_prev.T + net.lam * W
        grads[f"b{layer}"] = dZ.sum(axis=1, keepdims=True)
        if layer > 1:
            if mistake == "updated_W2_in_backprop":
                W = W - lr * grads[f"W{layer}"]
            dA = W.T @ dZ
            _, Zp, Ap = cache[layer - 2]
            dZ = dA * hidden_derivative(net.activations[layer - 2], Zp, Ap, dA, mistake)
    return grads, penalty, dZs


def finite_differences(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    net: Net,
    eps: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Central differences, entry by entry; NaN where the step crosses a ReLU kink."""
    out = {}
    _, sides = loss_and_kinks(params, X, Y, net)
    for name, value in params.items():
        g = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            keep = value[i]
            value[i] = keep + eps
            up, up_sides = loss_and_kinks(params, X, Y, net)
            value[i] = keep - eps
            down, down_sides = loss_and_kinks(params, X, Y, net)
            value[i] = keep
            smooth = up_sides == sides == down_sides
            g[i] = (up - down) / (2 * eps) if smooth else np.nan
        out[name] = g
    return out


def check_reference(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    net: Net,
    grads: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> None:
    """The hand-written backward agrees with central differences of the course's loss."""
    if sum(v.size for v in params.values()) <= 3000:
        fd = finite_differences({k: v.copy() for k, v in params.items()}, X, Y, net)
        for name in params:
            smooth = ~np.isnan(fd[name])
            assert smooth.mean() > 0.9, f"{name}: too many kinks"
            assert rel(grads[name][smooth], fd[name][smooth]) < FD_MATCH, name
        return
    eps = 1e-6
    _, sides = loss_and_kinks(params, X, Y, net)
    for name, value in params.items():
        checked = 0
        for _ in range(20):
            v = rng.standard_normal(value.shape)
            up, up_sides = loss_and_kinks({**params, name: value + eps * v}, X, Y, net)
            down, down_sides = loss_and_kinks(
                {**params, name: value - eps * v}, X, Y, net
            )
            if not up_sides == sides == down_sides:
                continue
            slope = (up - down) / (2 * eps)
            assert abs(slope - np.sum(grads[name] * v)) <= FD_MATCH * (
                abs(slope) + 1e-8
            ), name
            checked += 1
            if checked == 4:
                break
        assert checked == 4, f"{name}: every direction crossed a kink"


def rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return np.inf
    return float(
        np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)
    )


# ---------------------------------------------------------------- the fixture's layout


@dataclass
class Layout:
    samples: str  # columns (features, m) | rows (m, features)
    weights: str  # out_in (units, inputs) | in_out (inputs, units)
    bias: str  # column (h, 1) | row (1, h) | flat (h,)
    targets: str  # columns | rows | labels (integer class per sample, shape (m,))

    def param(self, name: str, value: np.ndarray) -> np.ndarray:
        if name.startswith("W"):
            return value.copy() if self.weights == "out_in" else value.T.copy()
        flat = value.reshape(-1)
        return {"column": flat[:, None], "row": flat[None, :], "flat": flat}[
            self.bias
        ].copy()

    def data(self, X: np.ndarray) -> np.ndarray:
        return X.copy() if self.samples == "columns" else X.T.copy()

    def target(self, Y: np.ndarray) -> np.ndarray:
        if self.targets == "labels":
            return Y.argmax(axis=0)
        return Y.copy() if self.targets == "columns" else Y.T.copy()

    def canonical_data(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return X if self.samples == "columns" else X.T

    def canonical_target(self, Y: np.ndarray, classes: int) -> np.ndarray:
        if self.targets == "labels":
            return np.eye(classes)[np.asarray(Y, dtype=int)].T
        Y = np.asarray(Y, dtype=float)
        return Y if self.targets == "columns" else Y.T


# ---------------------------------------------------------------- loading and driving a fixture


def load_namespace(path: Path) -> dict[str, Any]:
    """A module's globals, or a notebook's after its code cells ran in order (prints hidden; a
    mistaken notebook's own training may overflow, which is not what is checked)."""
    with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
        if path.suffix == ".ipynb":
            ns: dict[str, Any] = {"__name__": "__notebook__"}
            cells = json.loads(path.read_text())["cells"]
            for cell in cells:
                if cell["cell_type"] == "code":
                    source = "".join(cell["source"])
                    exec(compile(source, str(path), "exec"), ns)
            return ns
        spec = importlib.util.spec_from_file_location(f"coursework_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return vars(module)


def to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


@dataclass
class Run:
    grads: dict[str, np.ndarray]
    params: dict[str, np.ndarray]  # canonical, at the point the gradients are of
    X: np.ndarray  # canonical
    Y: np.ndarray  # canonical
    output: np.ndarray | None = None
    loss: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def random_params(net: Net, rng: np.random.Generator) -> dict[str, np.ndarray]:
    params = {}
    for k in range(1, net.depth + 1):
        fan_in = net.layers[k - 1]
        params[f"W{k}"] = (
            rng.standard_normal((net.layers[k], fan_in)) * 1.2 / np.sqrt(fan_in)
        )
        params[f"b{k}"] = rng.standard_normal((net.layers[k], 1)) * 0.3
    return params


def random_targets(net: Net, m: int, rng: np.random.Generator) -> np.ndarray:
    n = net.layers[-1]
    if net.loss == "softmax_ce":
        return np.eye(n)[rng.integers(0, n, m)].T
    if net.loss == "bce":
        return rng.integers(0, 2, (n, m)).astype(float)
    return rng.standard_normal((n, m))


def course_values(fx: dict[str, Any], m: int) -> tuple[dict[str, float], float]:
    """The course's own penalty coefficient (e.g. reg, lambd) and the canonical lam it means."""
    pen = fx.get("penalty", {})
    if not pen.get("course_name"):
        return {}, 0.0
    values = {pen["course_name"]: float(pen["value"])}
    lam = eval(pen["l2"], {}, {**values, "m": m})
    return values, float(lam)


def place(ns: dict[str, Any], target: str, value: Any) -> None:
    ns["__value__"] = value
    exec(f"{target} = __value__", ns)
    del ns["__value__"]


def as_tensor(value: np.ndarray, kind: str) -> Any:
    import torch

    if kind == "labels":
        return torch.tensor(value, dtype=torch.long)
    return torch.tensor(value, dtype=torch.float64)


def run_steps(fx: dict[str, Any], base: dict[str, Any], seed: int) -> Run:
    """Put a random point into the fixture's own containers and run its own statements."""
    rng = np.random.default_rng(seed)
    net = network(fx, 0.0)
    layout = Layout(**fx["layout"])
    m = int(fx.get("m", 7))
    X = rng.standard_normal((net.layers[0], m))
    Y = random_targets(net, m, rng)
    values, lam = course_values(fx, m)
    net.lam = lam
    params = random_params(net, rng)
    torch_ = fx.get("tensors") == "torch"
    ns = dict(base)
    ns.update(values)
    for stmt in fx.get("setup", []):
        exec(stmt, ns)
    names = fx.get("inputs", {"X": "X", "Y": "Y"})
    data, target = layout.data(X), layout.target(Y)
    if torch_:
        data = as_tensor(data, "data")
        target = as_tensor(target, "labels" if layout.targets == "labels" else "data")
    place(ns, names["X"], data)
    place(ns, names["Y"], target)
    for name, where in fx["params"].items():
        value = layout.param(name, params[name])
        place(ns, where, as_tensor(value, "data") if torch_ else value)
    with contextlib.redirect_stdout(io.StringIO()):
        for stmt in fx["steps"]:
            exec(stmt, ns)
        grads = {name: to_numpy(eval(expr, ns)) for name, expr in fx["grads"].items()}
        output = to_numpy(eval(fx["output"], ns)) if "output" in fx else None
        loss = float(to_numpy(eval(fx["loss"], ns))) if "loss" in fx else None
    return Run(grads, params, X, Y, output, loss)


def run_script(fx: dict[str, Any], path: Path, seed: int) -> Run:
    """A tutorial script: its set-up (data, initial weights) runs as written; the weights are then
    replaced by a random point and one pass of its training loop runs; the gradient variables are
    read afterwards (the update in the loop changes the weights, not the gradients)."""
    rng = np.random.default_rng(seed)
    tree = ast.parse(path.read_text())
    first = next(
        i
        for i, node in enumerate(tree.body)
        if isinstance(node, ast.For)
        and isinstance(node.target, ast.Name)
        and node.target.id == fx["loop_var"]
    )
    loop = tree.body[first]
    assert isinstance(loop, ast.For) and isinstance(loop.target, ast.Name)
    before = ast.Module(body=tree.body[:first], type_ignores=[])
    body = ast.Module(body=loop.body, type_ignores=[])
    ns: dict[str, Any] = {"__name__": "__script__"}
    layout = Layout(**fx["layout"])
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(before, str(path), "exec"), ns)
        names = fx.get("inputs", {"X": "X", "Y": "Y"})
        X = layout.canonical_data(ns[names["X"]])
        net = network(fx, 0.0)
        Y = layout.canonical_target(ns[names["Y"]], net.layers[-1])
        values, lam = course_values(fx, X.shape[1])
        assert all(ns[k] == v for k, v in values.items()), (
            "the script's own coefficient"
        )
        net.lam = lam
        params = random_params(net, rng)
        for name, where in fx["params"].items():
            place(ns, where, layout.param(name, params[name]))
        ns[loop.target.id] = 1  # not the printing iteration 0
        exec(compile(body, str(path), "exec"), ns)
        grads = {name: to_numpy(eval(expr, ns)) for name, expr in fx["grads"].items()}
        loss = float(eval(fx["loss"], ns)) if "loss" in fx else None
    return Run(grads, params, X, Y, None, loss)


def network(fx: dict[str, Any], lam: float) -> Net:
    n = fx["network"]
    return Net(
        list(n["layers"]), list(n["activations"]), n["loss"], n["reduction"], lam
    )


def needs_torch(fx: dict[str, Any]) -> None:
    if fx.get("tensors") == "torch":
        pytest.importorskip(
            "torch", reason="torch not installed: the torch fixtures need it"
        )


# ---------------------------------------------------------------- verdicts


def signature_holds(
    mistake: str,
    name: str,
    g: np.ndarray,
    true: np.ndarray,
    run: Run,
    net: Net,
    layout: Layout,
    fx: dict[str, Any],
    dZs: list[np.ndarray],
) -> bool:
    """The student's wrong gradient is the named mistake's, not some other error."""
    m = run.X.shape[1]
    layer = int(name[1:])
    if (
        mistake == "missing_1_over_m"
    ):  # the data term m times too big, the penalty's share kept
        _, penalty, _ = backward(run.params, run.X, run.Y, net)
        share = layout.param(name, penalty[name]) if name in penalty else 0.0
        return rel(g, m * true - (m - 1) * share) < MATCH
    if mistake == "transposed_A1":
        return g.shape != true.shape and rel(g.T, true) < MATCH
    if mistake == "db_without_keepdims":
        return g.shape != true.shape and rel(g.reshape(-1), true.reshape(-1)) < MATCH
    if mistake == "db_wrong_axis":
        wrong = dZs[layer - 1].sum(axis=0)  # over the units instead of the samples
        # (for a softmax output layer that sum is zero: compare on the true gradient's scale)
        return g.size == wrong.size and (
            np.linalg.norm(g.reshape(-1) - wrong) <= MATCH * np.linalg.norm(true)
        )
    if mistake == "db_summed_over_all":
        # one number: the true db (already over the samples) summed over the units too (for a
        # softmax output layer that is zero: compare on the true gradient's scale)
        return g.size == 1 and abs(float(g) - float(true.sum())) <= MATCH * max(
            np.linalg.norm(true), 1.0
        )
    if mistake == "l2_factor_off_by_2":
        grads, penalty, _ = backward(run.params, run.X, run.Y, net)
        k = {"half": 0.5, "double": 2.0}[fx["mistake_detail"]]
        want = layout.param(name, grads[name] + (k - 1) * penalty[name])
        return rel(g, want) < MATCH
    assert mistake in VARIANTS, mistake
    grads, _, _ = backward(
        run.params,
        run.X,
        run.Y,
        net,
        mistake,
        fx.get("mistake_detail", ""),
        float(fx.get("lr", 0.0)),
    )
    return rel(g, layout.param(name, grads[name])) < MATCH


def verify(fx: dict[str, Any], run: Run, seed: int) -> None:
    net = network(fx, 0.0)
    m = run.X.shape[1]
    net.lam = course_values(fx, m)[1]
    layout = Layout(**fx["layout"])
    grads, _, dZs = backward(run.params, run.X, run.Y, net)
    check_reference(run.params, run.X, run.Y, net, grads, np.random.default_rng(seed))
    if run.output is not None:
        A, cache = forward(run.params, run.X, net)
        want = (
            A
            if fx.get("output_is", "probabilities") == "probabilities"
            else cache[-1][1]
        )
        got = run.output if layout.samples == "columns" else run.output.T
        assert rel(got.reshape(want.shape), want) < MATCH, "the forward output"
    if run.loss is not None:
        assert abs(run.loss - total_loss(run.params, run.X, run.Y, net)) < 1e-8, (
            "the loss"
        )
    labels = fx["labels"]
    assert set(labels) == set(run.grads) == set(grads), "a label per gradient"
    for name, label in labels.items():
        true = layout.param(name, grads[name])
        g = run.grads[name]
        if label == "ok":
            assert rel(g, true) < MATCH, (
                f"{name} labelled ok: rel. error {rel(g, true):.2e}"
            )
            continue
        assert label in MISTAKES, label
        assert rel(g, true) > DIFFER, f"{name} labelled {label} but matches"
        assert signature_holds(label, name, g, true, run, net, layout, fx, dZs), (
            f"{name} is wrong but not by {label}"
        )


@pytest.mark.parametrize("key", sorted(FIXTURES))
def test_fixture_labels(key: str) -> None:
    fx = FIXTURES[key]
    needs_torch(fx)
    path = HERE / fx["file"]
    base = None if fx.get("runner") == "script" else load_namespace(path)
    for point in range(POINTS):
        seed = 1000 * point + sum(key.encode())
        if fx.get("runner") == "script":
            run = run_script(fx, path, seed)
        else:
            run = run_steps(fx, base, seed)
        verify(fx, run, seed)
    for check in fx.get("layer_checks", []):
        check_layer(check, base, np.random.default_rng(sum(key.encode())))


# ---------------------------------------------------------------- layer functions on their own


def check_layer(
    check: dict[str, Any], ns: dict[str, Any], rng: np.random.Generator
) -> None:
    """A layer function pair (forward -> (out, cache); backward(dout, cache) -> grads) against
    central differences of sum(out * dout), each input on its own."""
    fwd, bwd = ns[check["forward"]], ns[check["backward"]]
    inputs = [rng.standard_normal(tuple(shape)) for shape in check["shapes"]]
    out, cache = fwd(*[x.copy() for x in inputs])
    dout = rng.standard_normal(np.shape(out))
    got = bwd(dout.copy(), cache)
    got = list(got) if isinstance(got, tuple) else [got]
    eps = 1e-6

    def f(args: list[np.ndarray]) -> float:
        return float(np.sum(fwd(*[a.copy() for a in args])[0] * dout))

    for k, (name, label) in enumerate(check["labels"].items()):
        true = np.zeros_like(inputs[k])
        for i in np.ndindex(inputs[k].shape):
            up = [a.copy() for a in inputs]
            down = [a.copy() for a in inputs]
            up[k][i] += eps
            down[k][i] -= eps
            true[i] = (f(up) - f(down)) / (2 * eps)
        g = np.asarray(got[k], dtype=float)
        where = f"{check['backward']} {name}"
        if label == "ok":
            assert rel(g, true) < FD_MATCH, where
            continue
        assert rel(g, true) > DIFFER, f"{where} labelled {label} but matches"
        if label == "db_wrong_axis":
            assert rel(g.reshape(-1), dout.sum(axis=1)) < MATCH, where
        elif label == "relu_mask_from_upstream":
            assert rel(g, dout * (dout > 0)) < MATCH, where
        else:
            raise AssertionError(f"no layer-level signature for {label}")


# ---------------------------------------------------------------- the manifest itself


def test_manifest_is_complete() -> None:
    """Every fixture file is described once, every style has both kinds, about half are right."""
    files = {
        p.relative_to(HERE).as_posix()
        for p in HERE.rglob("*")
        if p.suffix in {".py", ".ipynb"}
    }
    described = [fx["file"] for fx in FIXTURES.values()]
    assert sorted(described) == sorted(files)
    styles: dict[str, list[bool]] = {}
    for key, fx in FIXTURES.items():
        assert key.split("/")[0] == fx["style"] == fx["file"].split("/")[0], key
        assert fx["description"] and fx["entry"], key
        right = all(v == "ok" for v in fx["labels"].values()) and all(
            v == "ok" for c in fx.get("layer_checks", []) for v in c["labels"].values()
        )
        assert right == (fx["verdict"] == "ok"), key
        if not right:
            wrong = {v for v in fx["labels"].values() if v != "ok"} | {
                v
                for c in fx.get("layer_checks", [])
                for v in c["labels"].values()
                if v != "ok"
            }
            assert len(wrong) == 1 and wrong <= MISTAKES, f"{key}: one mistake, {wrong}"
        styles.setdefault(fx["style"], []).append(right)
    assert len(styles) == 8
    for style, verdicts in styles.items():
        assert any(verdicts) and not all(verdicts), style
    share = sum(v for vs in styles.values() for v in vs) / len(FIXTURES)
    assert 0.35 <= share <= 0.65, share
    sizes = {tuple(fx["network"]["layers"]) for fx in FIXTURES.values()}
    assert (784, 128, 10) in sizes


def test_notebooks_are_valid_json_with_code_cells() -> None:
    for path in HERE.rglob("*.ipynb"):
        nb = json.loads(path.read_text())
        assert nb["nbformat"] == 4, path
        kinds = [c["cell_type"] for c in nb["cells"]]
        assert "markdown" in kinds and kinds.count("code") >= 3, path


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
