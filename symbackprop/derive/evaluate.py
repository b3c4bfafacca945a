"""Run a Program: on NumPy arrays (the checkers' truth) or on SymPy matrices (proof, readable forms).

One interpreter with two backends, so the recursion the trainer prints is the very one the
checkers compare with. Entrywise rules are SymPy expressions or their trees (numeric.py); the
NumPy backend runs the trees, so a Program read from the shipped reference needs no SymPy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._lazy import LazyModule
from .._lazy import sympy as sp
from ..spec import names, registry
from . import numeric as N
from . import program as P

Value = Any  # np.ndarray or sympy.Matrix
R = LazyModule(__package__ + ".rules")  # the placeholder symbols: SymPy backend only


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
        return _entrywise(node.rule, {names.RULE_Z: z}, z.shape)

    def _Derivative(self, node: P.Derivative, env: dict[str, Value]) -> Value:
        z = self.eval(node.z, env)
        values = {names.RULE_Z: z, names.RULE_H: self.eval(node.h, env)}
        return _entrywise(node.rule, values, z.shape)

    def _OutputError(self, node: P.OutputError, env: dict[str, Value]) -> Value:
        z = self.eval(node.z, env)
        values = {
            names.RULE_Z: z,
            names.RULE_YHAT: self.eval(node.prediction, env),
            names.RULE_T: self.eval(node.target, env),
        }
        return _entrywise(node.rule, values, z.shape)

    def _Link(self, node: P.Link, env: dict[str, Value]) -> Value:
        z = self.eval(node.arg, env)
        zk = z.T if self.rows else z  # one row per output
        symbols, trees = link_form(node.kind, zk.shape[0])
        env_k = dict(zip(symbols, zk, strict=True))
        out = np.stack([N.run(t, env_k) * np.ones(zk.shape[1]) for t in trees])
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
            float(
                np.sum(N.run(N.as_tree(node.rule), {names.RULE_W: self.eval(w, env)}))
            )
            for w in node.weights
        )
        return self.eval(node.arg, env) + extra

    def _PenaltyGrad(self, node: P.PenaltyGrad, env: dict[str, Value]) -> Value:
        w = self.eval(node.weight, env)
        return self.eval(node.arg, env) + _entrywise(
            node.rule, {names.RULE_W: w}, w.shape
        )

    def _per_sample(self, node: P.Loss, env: dict[str, Value]) -> Value:
        out, tgt = self.eval(node.outputs, env), self.eval(node.targets, env)
        if self.rows:
            out, tgt = out.T, tgt.T  # one row per output
        if registry.loss(node.loss).shift_invariant:  # the same loss, without overflow
            out = out - np.max(out, axis=0, keepdims=True)
        outs, tgts, tree = loss_form(node.loss, node.count)
        values = dict(zip(outs, out, strict=True)) | dict(zip(tgts, tgt, strict=True))
        return N.run(tree, values) * np.ones(out.shape[1])


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
        return self.eval(node.arg, env).applyfunc(
            lambda v: node.rule.xreplace({R.Z: v})
        )

    def _Derivative(self, node: P.Derivative, env: dict[str, Value]) -> Value:
        z, h = self.eval(node.z, env), self.eval(node.h, env)
        return sp.Matrix(
            z.rows,
            z.cols,
            [node.rule.xreplace({R.Z: a, R.H: b}) for a, b in zip(z, h, strict=True)],
        )

    def _OutputError(self, node: P.OutputError, env: dict[str, Value]) -> Value:
        z = self.eval(node.z, env)
        p, t = self.eval(node.prediction, env), self.eval(node.target, env)
        entries = [
            node.rule.xreplace({R.Z: a, R.YHAT: b, R.T: c})
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
        extra = [node.rule.xreplace({R.W: e}) for m in weights for e in m]
        return self.eval(node.arg, env) + sp.Add(*extra)

    def _PenaltyGrad(self, node: P.PenaltyGrad, env: dict[str, Value]) -> Value:
        w = self.eval(node.weight, env)
        return self.eval(node.arg, env) + w.applyfunc(
            lambda e: node.rule.xreplace({R.W: e})
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


# (kind, name, k) -> the form's symbol names and trees: lowered from the registry's SymPy forms on
# first use, or preloaded from a shipped reference (check/code/reference.py) so none is needed
_FORMS: dict[tuple[str, str, int], Any] = {}


def loss_form(loss: str, k: int) -> tuple[tuple[str, ...], tuple[str, ...], N.Tree]:
    """One sample's loss over k outputs and k targets: their symbol names and its tree."""
    key = ("loss", loss, k)
    if key not in _FORMS:
        _FORMS[key] = lower_loss_form(loss, k)
    return _FORMS[key]


def link_form(kind: str, k: int) -> tuple[tuple[str, ...], tuple[N.Tree, ...]]:
    """A link (sigmoid, softmax) of k logits: their symbol names and each output's tree."""
    key = ("link", kind, k)
    if key not in _FORMS:
        _FORMS[key] = lower_link_form(kind, k)
    return _FORMS[key]


def lower_loss_form(
    loss: str, k: int
) -> tuple[tuple[str, ...], tuple[str, ...], N.Tree]:
    """`loss_form` made now from the registry's SymPy definition (never the memo)."""
    outs = tuple(sp.Symbol(f"out_{i}", real=True) for i in range(k))
    tgts = tuple(sp.Symbol(f"tgt_{i}", real=True) for i in range(k))
    entry = registry.loss(loss)
    expr = entry.expr(list(outs), list(tgts))
    if entry.shift_invariant:
        # log(exp(z_k) / sum(exp(z))) as z_k - log(sum(exp(z))) (every factor is positive):
        # with the logits shifted by their largest, no term underflows to log(0)
        expr = sp.expand_log(expr, force=True)
    return _names(outs), _names(tgts), N.lower(expr)


def lower_link_form(kind: str, k: int) -> tuple[tuple[str, ...], tuple[N.Tree, ...]]:
    """`link_form` made now from the registry's SymPy definition (never the memo)."""
    symbols = tuple(sp.Symbol(f"link_{i}", real=True) for i in range(k))
    exprs = _link_function(kind)(list(symbols))
    return _names(symbols), tuple(N.lower(e) for e in exprs)


def preload_forms(forms: dict[tuple[str, str, int], Any]) -> None:
    """Take loss and link forms lowered elsewhere (a shipped reference's)."""
    for key, form in forms.items():
        _FORMS.setdefault(key, form)


def _names(symbols: tuple[sp.Symbol, ...]) -> tuple[str, ...]:
    return tuple(s.name for s in symbols)


def _entrywise(rule: Any, values: dict[str, Any], shape: tuple[int, ...]) -> Any:
    """An entrywise rule (SymPy or its tree) on arrays of `shape`, as float arrays."""
    return np.broadcast_to(N.run(N.as_tree(rule), values), shape).astype(float)


def numeric(expr: sp.Expr, values: Mapping[sp.Symbol, Any]) -> Any:
    """Evaluate a SymPy expression on NumPy arrays, node by node (no printing, no eval)."""
    return N.run(N.lower(expr), {symbol.name: v for symbol, v in values.items()})
