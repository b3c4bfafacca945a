"""Run a Program: on NumPy arrays (the checkers' truth) or on SymPy matrices (proof, readable forms).

One interpreter with two backends, so the recursion the trainer prints is the very one the
checkers compare with. Entrywise rules are SymPy expressions; `numeric` evaluates them on
arrays by walking the expression tree (nothing printed is parsed or evaluated).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._lazy import sympy as sp
from ..spec import registry
from . import program as P
from .rules import YHAT, H, T, W, Z

Value = Any  # np.ndarray or sympy.Matrix


def run(
    prog: P.Program,
    inputs: Mapping[str, Value],
    backend: str = "numpy",
    steps: tuple[P.Step, ...] | None = None,
) -> dict[str, Value]:
    """Every step's value, given X, y and the parameters (and any step already known).

    NumPy: X, y and the steps are 2-D arrays in the program's layout, biases and their
    gradients 1-D. SymPy: everything is a Matrix, biases and their gradients columns.
    """
    ops = _NumPy(prog.layout) if backend == "numpy" else _SymPy(prog.layout)
    values = dict(inputs)
    for step in prog.steps if steps is None else steps:
        if step.name not in values:
            values[step.name] = ops.eval(step.expr, values)
    return values


class _Backend:
    def __init__(self, layout: str) -> None:
        self.rows = layout == "rows"

    def eval(self, node: P.Node, env: dict[str, Value]) -> Value:
        method: Callable[[Any, dict[str, Value]], Value] = getattr(
            self, "_" + type(node).__name__
        )
        return method(node, env)

    def _Ref(self, node: P.Ref, env: dict[str, Value]) -> Value:
        return env[node.name]


class _NumPy(_Backend):
    def _MatMul(self, node: P.MatMul, env: dict[str, Value]) -> Value:
        return self.eval(node.left, env) @ self.eval(node.right, env)

    def _Transpose(self, node: P.Transpose, env: dict[str, Value]) -> Value:
        return self.eval(node.arg, env).T

    def _Hadamard(self, node: P.Hadamard, env: dict[str, Value]) -> Value:
        return self.eval(node.left, env) * self.eval(node.right, env)

    def _AddBias(self, node: P.AddBias, env: dict[str, Value]) -> Value:
        b = np.asarray(self.eval(node.bias, env)).reshape(-1)
        return self.eval(node.arg, env) + (b if self.rows else b[:, None])

    def _SumSamples(self, node: P.SumSamples, env: dict[str, Value]) -> Value:
        return self.eval(node.arg, env).sum(axis=0 if self.rows else 1)

    def _Activate(self, node: P.Activate, env: dict[str, Value]) -> Value:
        z = self.eval(node.arg, env)
        return np.broadcast_to(numeric(node.rule, {Z: z}), z.shape).astype(float)

    def _Derivative(self, node: P.Derivative, env: dict[str, Value]) -> Value:
        z = self.eval(node.z, env)
        values = {Z: z, H: self.eval(node.h, env)}
        return np.broadcast_to(numeric(node.rule, values), z.shape).astype(float)

    def _OutputError(self, node: P.OutputError, env: dict[str, Value]) -> Value:
        z = self.eval(node.z, env)
        values = {
            Z: z,
            YHAT: self.eval(node.prediction, env),
            T: self.eval(node.target, env),
        }
        return np.broadcast_to(numeric(node.rule, values), z.shape).astype(float)

    def _Link(self, node: P.Link, env: dict[str, Value]) -> Value:
        z = self.eval(node.arg, env)
        zk = z.T if self.rows else z  # one row per output
        symbols, exprs = _link_forms(node.kind, zk.shape[0])
        env_k = dict(zip(symbols, zk, strict=True))
        out = np.stack([numeric(e, env_k) * np.ones(zk.shape[1]) for e in exprs])
        return out.T if self.rows else out

    def _Mean(self, node: P.Mean, env: dict[str, Value]) -> Value:
        if isinstance(node.arg, P.Loss):
            return float(np.mean(self._per_sample(node.arg, env)))
        value = self.eval(node.arg, env)
        return value / value.shape[0 if self.rows else 1]

    def _Loss(self, node: P.Loss, env: dict[str, Value]) -> Value:
        return float(np.sum(self._per_sample(node, env)))

    def _Penalty(self, node: P.Penalty, env: dict[str, Value]) -> Value:
        extra = sum(
            float(np.sum(numeric(node.rule, {W: self.eval(w, env)})))
            for w in node.weights
        )
        return self.eval(node.arg, env) + extra

    def _PenaltyGrad(self, node: P.PenaltyGrad, env: dict[str, Value]) -> Value:
        w = self.eval(node.weight, env)
        return self.eval(node.arg, env) + np.broadcast_to(
            numeric(node.rule, {W: w}), w.shape
        )

    def _per_sample(self, node: P.Loss, env: dict[str, Value]) -> Value:
        out, tgt = self.eval(node.outputs, env), self.eval(node.targets, env)
        if self.rows:
            out, tgt = out.T, tgt.T  # one row per output
        outs, tgts, expr = _loss_forms(registry.loss(node.loss), node.count)
        values = dict(zip(outs, out, strict=True)) | dict(zip(tgts, tgt, strict=True))
        return numeric(expr, values) * np.ones(out.shape[1])


class _SymPy(_Backend):
    def _MatMul(self, node: P.MatMul, env: dict[str, Value]) -> Value:
        return self.eval(node.left, env) * self.eval(node.right, env)

    def _Transpose(self, node: P.Transpose, env: dict[str, Value]) -> Value:
        return self.eval(node.arg, env).T

    def _Hadamard(self, node: P.Hadamard, env: dict[str, Value]) -> Value:
        return self.eval(node.left, env).multiply_elementwise(
            self.eval(node.right, env)
        )

    def _AddBias(self, node: P.AddBias, env: dict[str, Value]) -> Value:
        z, b = self.eval(node.arg, env), self.eval(node.bias, env)
        if self.rows:
            return z + sp.ones(z.rows, 1) * b.T
        return z + b * sp.ones(1, z.cols)

    def _SumSamples(self, node: P.SumSamples, env: dict[str, Value]) -> Value:
        d = self.eval(node.arg, env)
        return d.T * sp.ones(d.rows, 1) if self.rows else d * sp.ones(d.cols, 1)

    def _Activate(self, node: P.Activate, env: dict[str, Value]) -> Value:
        return self.eval(node.arg, env).applyfunc(lambda v: node.rule.xreplace({Z: v}))

    def _Derivative(self, node: P.Derivative, env: dict[str, Value]) -> Value:
        z, h = self.eval(node.z, env), self.eval(node.h, env)
        return sp.Matrix(
            z.rows,
            z.cols,
            [node.rule.xreplace({Z: a, H: b}) for a, b in zip(z, h, strict=True)],
        )

    def _OutputError(self, node: P.OutputError, env: dict[str, Value]) -> Value:
        z = self.eval(node.z, env)
        p, t = self.eval(node.prediction, env), self.eval(node.target, env)
        entries = [
            node.rule.xreplace({Z: a, YHAT: b, T: c})
            for a, b, c in zip(z, p, t, strict=True)
        ]
        return sp.Matrix(z.rows, z.cols, entries)

    def _Link(self, node: P.Link, env: dict[str, Value]) -> Value:
        z = self.eval(node.arg, env)
        link = _link_function(node.kind)
        if self.rows:
            return sp.Matrix([link(list(z.row(i))) for i in range(z.rows)])
        return sp.Matrix([link(list(z.col(j))) for j in range(z.cols)]).T

    def _Mean(self, node: P.Mean, env: dict[str, Value]) -> Value:
        if isinstance(node.arg, P.Loss):
            samples = self._per_sample(node.arg, env)
            return sp.Add(*samples) / len(samples)
        value = self.eval(node.arg, env)
        return value / (value.rows if self.rows else value.cols)

    def _Loss(self, node: P.Loss, env: dict[str, Value]) -> Value:
        return sp.Add(*self._per_sample(node, env))

    def _Penalty(self, node: P.Penalty, env: dict[str, Value]) -> Value:
        weights = [self.eval(w, env) for w in node.weights]
        extra = [node.rule.xreplace({W: e}) for m in weights for e in m]
        return self.eval(node.arg, env) + sp.Add(*extra)

    def _PenaltyGrad(self, node: P.PenaltyGrad, env: dict[str, Value]) -> Value:
        w = self.eval(node.weight, env)
        return self.eval(node.arg, env) + w.applyfunc(
            lambda e: node.rule.xreplace({W: e})
        )

    def _per_sample(self, node: P.Loss, env: dict[str, Value]) -> list[sp.Expr]:
        out, tgt = self.eval(node.outputs, env), self.eval(node.targets, env)
        entry = registry.loss(node.loss)
        if self.rows:
            return [
                entry.expr(list(out.row(i)), list(tgt.row(i))) for i in range(out.rows)
            ]
        return [entry.expr(list(out.col(j)), list(tgt.col(j))) for j in range(out.cols)]


def _link_function(kind: str) -> Callable[[list[sp.Expr]], list[sp.Expr]]:
    for entry in registry.LOSSES.values():
        if entry.link == kind and entry.link_expr is not None:
            return entry.link_expr
    raise KeyError(kind)


@functools.lru_cache(maxsize=32)
def _loss_forms(
    entry: registry.Loss, k: int
) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...], sp.Expr]:
    """One sample's loss over symbols for its k outputs and targets (cached by entry)."""
    outs = tuple(sp.Symbol(f"out_{i}", real=True) for i in range(k))
    tgts = tuple(sp.Symbol(f"tgt_{i}", real=True) for i in range(k))
    return outs, tgts, entry.expr(list(outs), list(tgts))


@functools.lru_cache(maxsize=32)
def _link_forms(kind: str, k: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Expr, ...]]:
    symbols = tuple(sp.Symbol(f"link_{i}", real=True) for i in range(k))
    return symbols, tuple(_link_function(kind)(list(symbols)))


def numeric(expr: sp.Expr, values: Mapping[sp.Symbol, Any]) -> Any:
    """Evaluate a SymPy expression on NumPy arrays, node by node (no printing, no eval).

    Heaviside(x, h0) is h0 at x = 0 exactly as stated, so ReLU'(0) = 0 holds here too.
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _numeric(expr, values)


def _numeric(e: sp.Basic, v: Mapping[sp.Symbol, Any]) -> Any:
    if e.is_Symbol:
        return v[e]
    if e.is_Number or isinstance(e, sp.NumberSymbol):
        return float(e)
    if e is sp.true or e is sp.false:
        return bool(e)
    args = [_numeric(a, v) for a in e.args] if not isinstance(e, sp.Piecewise) else []
    if e.is_Add:
        return functools.reduce(np.add, args)
    if e.is_Mul:
        return functools.reduce(np.multiply, args)
    if e.is_Pow:
        return np.power(args[0], args[1])
    if isinstance(e, sp.Heaviside):
        x, at_zero = args
        return np.where(x > 0, 1.0, np.where(x < 0, 0.0, at_zero))
    if isinstance(e, sp.Max):
        return functools.reduce(np.maximum, args)
    if isinstance(e, sp.Min):
        return functools.reduce(np.minimum, args)
    if isinstance(e, sp.Piecewise):
        out: Any = np.nan  # outside every piece: undefined
        for value, cond in reversed(e.args):
            val = _numeric(value, v)
            out = val if cond == sp.true else np.where(_numeric(cond, v), val, out)
        return out
    if isinstance(e, sp.core.relational.Relational):
        return _RELATIONS[e.rel_op](args[0], args[1])
    if isinstance(e, sp.And | sp.Or | sp.Not):
        return _LOGIC[type(e).__name__](*args)
    name = type(e).__name__
    if name in _FUNCTIONS:
        return _FUNCTIONS[name](*args)
    raise TypeError(f"numeric: no NumPy form for {name}")


_RELATIONS = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_LOGIC: dict[str, Callable[..., Any]] = {
    "And": lambda *a: functools.reduce(np.logical_and, a),
    "Or": lambda *a: functools.reduce(np.logical_or, a),
    "Not": np.logical_not,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "Abs": np.abs,
    "sign": np.sign,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "atan": np.arctan,
    "asinh": np.arcsinh,
    "atanh": np.arctanh,
    "expm1": np.expm1,
    "log1p": np.log1p,
    "logaddexp": np.logaddexp,
}
