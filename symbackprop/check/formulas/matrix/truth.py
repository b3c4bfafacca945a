"""The answer key of matrix mode: the derivation's Program run in the course's layout, at the
real sizes on random NumPy arrays and at small distinct sizes on generic SymPy matrices.

Values are keyed by course meaning, ("dW", 2), ("dZ", 1), ("A", 1), in the student's
orientation (a bias is a column in the columns layout; W is (inputs, units) with
`weights="inputs_first"`, CS231n's). An intermediate dZ/dA has two readings: "sum" (one sample's
loss gradient per column, deeplearning.ai's dZ2 = A2 - Y) and "J" (the gradient of the reduced
loss, which carries the 1/m of a mean); for a sum reduction they are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ....derive import Derivation, derive
from ....derive import evaluate as E
from ....derive import program as P
from ....spec import NetworkSpec, make_spec, names, registry
from .evaluate import Functions

Key = tuple[str, int]
CONVENTIONS = ("sum", "J")


@dataclass
class World:
    """One network's arrays at one size: every course quantity, in the student's orientation."""

    spec: NetworkSpec
    layout: str
    symbolic: bool
    batch: int
    values: dict[
        Key, Any
    ]  # forward quantities and gradients (dW, db: of the reduced loss)
    intermediates: dict[
        tuple[str, int, str], Any
    ]  # (dZ|dA, layer, convention) -> value
    functions: Functions
    z_symbols: list[sp.Symbol] = field(
        default_factory=list
    )  # piecewise units (symbolic)
    # symbolic: a smooth activation's (or the link's) entries are symbols of their own, h = act(z)
    definitions: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)
    # symbolic: each pre-activation entry's definition (W A + b, expanded) -> its z symbol, so
    # a line that writes relu'(W1 @ X + b1) out is judged in the same sign regions as Z1
    preactivations: dict[sp.Expr, sp.Symbol] = field(default_factory=dict)

    @property
    def columns(self) -> bool:
        """True when samples are columns."""
        return self.layout == "columns"

    def sample(self, value: Any, s: int) -> Any:
        """One sample's column vector of a batch array."""
        column = value[:, s] if self.columns else value[s, :]
        return column.reshape(-1, 1)

    def truth(self, key: Key, convention: str = "J") -> Any:
        """A quantity's true value; an intermediate in the given convention."""
        if key[0] in ("dZ", "dA"):
            return self.intermediates[(key[0], key[1], convention)]
        return self.values[key]


def proxy_layers(spec: NetworkSpec) -> tuple[tuple[int, ...], int]:
    """Small sizes distinct from each other, and a batch size distinct from them all."""
    sizes = tuple(range(2, 2 + len(spec.layers)))
    return sizes, sizes[-1] + 1


def real_batch(spec: NetworkSpec) -> int:
    """A batch size for the numeric checks that no layer has, so a transpose shows."""
    n = 5
    while n in spec.layers:
        n += 1
    return n


def proxy_spec(spec: NetworkSpec) -> NetworkSpec:
    """The same activations, loss, reduction and penalty at small distinct sizes."""
    sizes, _ = proxy_layers(spec)
    return make_spec(
        layers=list(sizes),
        activations=list(spec.activations),
        loss=spec.loss,
        reduction=spec.reduction,
        alpha=spec.alpha,
        l2=spec.l2,
    )


def build_world(
    derivation: Derivation,
    layout: str,
    weights: str = "units_first",
    symbolic: bool = False,
    seed: int = 0,
    batch: int | None = None,
    inputs: dict[str, Any] | None = None,
) -> World:
    """Run the Program in `layout` (numeric: random point at the real sizes, or the given
    `inputs`; symbolic: generic entries at the derivation's own sizes) and read every course
    quantity off it."""
    spec = derivation.spec
    prog = derivation.program_for(layout)
    m = batch or real_batch(spec)
    cols = layout == "columns"
    if inputs is not None:
        z_symbols: list[sp.Symbol] = []
        defs: dict[sp.Symbol, sp.Expr] = {}
    else:
        inputs, z_symbols, defs = (_symbolic if symbolic else _numeric)(
            spec, prog, m, cols, seed
        )
    backend = "sympy" if symbolic else "numpy"
    run = E.run(prog, inputs, backend)
    conv = _converter(symbolic, cols)
    depth = spec.depth
    link = registry.loss(spec.loss).link
    values: dict[Key, Any] = {
        ("X", 0): conv(run[names.INPUTS]),
        ("Y", 0): conv(run[names.TARGETS]),
        ("Yhat", 0): conv(run[prog.prediction]),
        ("m", 0): sp.Integer(m) if symbolic else float(m),
    }
    flip = weights == "inputs_first"
    for k in range(1, depth + 1):
        a = prog.prediction if k == depth else names.activation(k, depth)
        values[("A", k)] = conv(run[a])
        values[("Z", k)] = conv(run[names.pre_activation(k)])
        W, gW = conv(run[names.weight(k)]), conv(run[names.grad(names.weight(k))])
        values[("W", k)], values[("dW", k)] = (W.T, gW.T) if flip else (W, gW)
        values[("b", k)] = conv(run[names.bias(k)], bias=True)
        values[("db", k)] = conv(run[names.grad(names.bias(k))], bias=True)
    scale = m if spec.reduction == "mean" else 1
    intermediates: dict[tuple[str, int, str], Any] = {}
    for k in range(1, depth + 1):
        dz = conv(run[names.delta(k)])
        upstream = _upstream(prog, run, k, backend)
        for kind, value in (
            ("dZ", dz),
            ("dA", None if upstream is None else conv(upstream)),
        ):
            if value is None:
                continue
            intermediates[(kind, k, "J")] = value
            intermediates[(kind, k, "sum")] = value * scale
    functions = Functions(tuple(spec.activations), link, spec.alpha, cols)
    world = World(
        spec, layout, symbolic, m, values, intermediates, functions, z_symbols, defs
    )
    if symbolic:
        world.preactivations = _preactivations(values, depth, cols, flip)
    return world


def _preactivations(
    values: dict[Key, Any], depth: int, cols: bool, flip: bool
) -> dict[sp.Expr, sp.Symbol]:
    """Each layer's W A + b, entry by entry and expanded, mapped to that entry's z symbol."""
    out: dict[sp.Expr, sp.Symbol] = {}
    for k in range(1, depth + 1):
        prev = values[("X", 0)] if k == 1 else values[("A", k - 1)]
        W = values[("W", k)].T if flip else values[("W", k)]  # (units, inputs)
        b = np.reshape(values[("b", k)], (-1, 1) if cols else (1, -1))
        defined = W @ prev + b if cols else prev @ W.T + b
        for d, z in zip(np.ravel(defined), np.ravel(values[("Z", k)]), strict=True):
            if isinstance(z, sp.Symbol):
                out[sp.expand(d)] = z
    return out


def _upstream(prog: P.Program, run: dict[str, Any], k: int, backend: str) -> Any:
    """d loss / d A_k of a hidden layer: the Program's backpropagated error before act'(Z)."""
    if k == prog.depth:
        return None
    expr = prog.step(names.delta(k)).expr
    back = expr.left if isinstance(expr, P.Hadamard) else expr
    step = P.Step("dA", back, (), P.DELTA, k)
    return E.run(prog, run, backend, steps=(step,))["dA"]


def _converter(symbolic: bool, cols: bool) -> Any:
    def conv(value: Any, bias: bool = False) -> Any:
        if symbolic:
            arr = np.array(value.tolist(), dtype=object)
            if bias:  # SymPy biases are columns
                arr = arr.reshape(-1)
        else:
            arr = np.asarray(value, dtype=float)
        if bias:
            return arr.reshape(-1, 1) if cols else arr.reshape(-1)
        return arr

    return conv


def _targets(kind: str, n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Targets (n, m) of the loss's kind: real, binary 0/1, or one-hot columns."""
    if kind == "binary":
        return rng.integers(0, 2, size=(n, m)).astype(float)
    if kind == "one_hot":
        out = np.zeros((n, m))
        out[rng.integers(0, n, size=m), np.arange(m)] = 1.0
        return out
    return rng.normal(size=(n, m))


def _numeric(
    spec: NetworkSpec, prog: P.Program, m: int, cols: bool, seed: int
) -> tuple[dict[str, Any], list[sp.Symbol], dict]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(spec.layers[0], m))
    y = _targets(registry.loss(spec.loss).targets, spec.layers[-1], m, rng)
    inputs: dict[str, Any] = {
        names.INPUTS: x if cols else x.T,
        names.TARGETS: y if cols else y.T,
    }
    for k in range(1, spec.depth + 1):
        fan_in, units = spec.layers[k - 1], spec.layers[k]
        inputs[names.weight(k)] = rng.normal(size=(units, fan_in)) / np.sqrt(fan_in)
        inputs[names.bias(k)] = rng.normal(size=units) * 0.5
    return inputs, [], {}


def _symbolic(
    spec: NetworkSpec, prog: P.Program, m: int, cols: bool, seed: int
) -> tuple[dict[str, Any], list[sp.Symbol], dict]:
    """Generic entries: x, y, W, b and every Z its own real symbol; a smooth activation's
    entries (and the link's) symbols too, defined as act(z), so sigmoid's h(1 - h) expands."""

    def matrix(base: str, rows: int, cols_: int) -> sp.Matrix:
        return sp.Matrix(
            rows, cols_, lambda i, j: sp.Symbol(f"{base}_{i + 1}_{j + 1}", real=True)
        )

    def batch(base: str, n: int) -> sp.Matrix:
        return matrix(base, n, m) if cols else matrix(base, m, n)

    inputs: dict[str, Any] = {
        names.INPUTS: batch("x", spec.layers[0]),
        names.TARGETS: batch("y", spec.layers[-1]),
    }
    pieces: list[sp.Symbol] = []
    defs: dict[sp.Symbol, sp.Expr] = {}
    depth = spec.depth
    for k in range(1, spec.depth + 1):
        fan_in, units = spec.layers[k - 1], spec.layers[k]
        inputs[names.weight(k)] = matrix(f"W{k}", units, fan_in)
        inputs[names.bias(k)] = matrix(f"b{k}", units, 1)
        z = batch(f"z{k}", units)
        inputs[names.pre_activation(k)] = z
        act = registry.activation(spec.activations[k - 1])
        if act.name in ("relu", "leaky_relu"):
            pieces += list(z)
        elif act.vector is not None:  # softmax: each sample's outputs together
            h = batch(f"h{k}", units)
            defs.update(_per_sample(act.vector, z, h, cols))
            inputs[names.activation(k, depth)] = h
        elif not act.is_identity:
            h = batch(f"h{k}", units)
            for hs, zs in zip(h, z, strict=True):
                defs[hs] = act.expr(zs, sp.Float(spec.alpha))
            inputs[names.activation(k, depth)] = h
    link = registry.loss(spec.loss)
    if link.link is not None and link.link_expr is not None:
        p = batch("p", spec.layers[-1])
        defs.update(
            _per_sample(link.link_expr, inputs[names.pre_activation(depth)], p, cols)
        )
        inputs[names.PREDICTION] = p
    return inputs, pieces, defs


def _per_sample(
    fn: Callable[[list[sp.Expr]], list[sp.Expr]],
    z: sp.Matrix,
    out: sp.Matrix,
    cols: bool,
) -> dict[sp.Symbol, sp.Expr]:
    """out's symbols defined as fn of their sample's z (a column, or a row): softmax's."""
    samples = z.cols if cols else z.rows
    defs = {}
    for s in range(samples):
        zs = list(z.col(s)) if cols else list(z.row(s))
        for i, e in enumerate(fn(zs)):
            defs[out[i, s] if cols else out[s, i]] = e
    return defs


def derivations(spec: NetworkSpec) -> tuple[Derivation, Derivation]:
    """The real network's derivation (vectorized route) and its small proxy's."""
    return derive(spec, closed_forms=False), derive(
        proxy_spec(spec), closed_forms=False
    )
