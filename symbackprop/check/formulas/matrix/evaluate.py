"""Run an equation's tree on arrays: NumPy floats (the numeric checks) or SymPy entries (the
proof), with NumPy's own shape rules; a product that does not fit is a ShapeError naming both.

One interpreter for both, so what is proven is what is checked. Functions come from the
registry (an activation and SymPy's derivative of it), evaluated by derive.evaluate.numeric.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ....derive.evaluate import numeric
from ....derive.rules import Z, apply_step_convention
from ....spec import registry
from . import ast as A

Array = Any  # np.ndarray of floats or of SymPy expressions, or a float


class ShapeError(ValueError):
    """Two operands whose shapes do not fit: where, and both shapes."""

    def __init__(
        self, op: str, left: A.Node, lshape: tuple, right: A.Node, rshape: tuple
    ):
        super().__init__(op)
        self.op, self.left, self.right = op, left, right
        self.lshape, self.rshape = lshape, rshape


class NameError_(ValueError):
    """A name the equation may not use here (the message says which names it may)."""


@dataclass(frozen=True)
class Functions:
    """The network's functions: each layer's activation, the loss's link, alpha, the layout."""

    activations: tuple[str, ...]
    link: str | None
    alpha: float
    columns: bool


def shape(value: Array) -> tuple[int, ...]:
    """NumPy's shape; () for a number."""
    return tuple(np.shape(value))


class Evaluator:
    """Evaluate trees with `lookup` giving each name's value; `symbolic` for SymPy entries."""

    def __init__(
        self,
        lookup: Callable[[str], Array],
        layer_of: Callable[[A.Node], int],
        functions: Functions,
        symbolic: bool = False,
        preactivations: Mapping[sp.Expr, sp.Symbol] | None = None,
    ) -> None:
        self.lookup = lookup
        self.layer_of = layer_of
        self.f = functions
        self.symbolic = symbolic
        self.preactivations = preactivations or {}

    def _as_z(self, value: Array) -> Array:
        """Symbolic: entries that are a layer's W A + b written out become its z symbols."""
        if not self.symbolic or not self.preactivations:
            return value

        def one(v: Any) -> Any:
            if isinstance(v, sp.Symbol) or not isinstance(v, sp.Expr):
                return v
            return self.preactivations.get(sp.expand(v), v)

        return _each(value, one)

    def run(self, node: A.Node) -> Array:
        """The value of a tree."""
        method = getattr(self, "_" + type(node).__name__)
        return method(node)

    def _Name(self, node: A.Name) -> Array:
        return self.lookup(node.text)

    def _Num(self, node: A.Num) -> Array:
        return sp.Rational(str(node.value)) if self.symbolic else node.value

    def _Neg(self, node: A.Neg) -> Array:
        return -self.run(node.arg)

    def _Transpose(self, node: A.Transpose) -> Array:
        value = self.run(node.arg)
        return value.T if isinstance(value, np.ndarray) else value

    def _Binary(self, node: A.Binary) -> Array:
        left, right = self.run(node.left), self.run(node.right)
        ls, rs = shape(left), shape(right)
        if node.op == "matmul":
            if not ls or not rs:
                return left * right
            if ls[-1] != rs[0]:
                raise ShapeError("matmul", node.left, ls, node.right, rs)
            return left @ right
        if node.op == "**":
            if rs:
                raise ShapeError("**", node.left, ls, node.right, rs)
            return left**right
        try:
            np.broadcast_shapes(ls, rs)
        except ValueError:
            raise ShapeError(node.op, node.left, ls, node.right, rs) from None
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "mul":
            return left * right
        return left / right

    def _Sum(self, node: A.Sum) -> Array:
        value = self.run(node.arg)
        if not shape(value):
            return value
        if node.axis == -1:  # every entry; keepdims keeps the rank, as NumPy does
            total = np.sum(value, keepdims=node.keepdims)
            count = np.size(value)
        else:
            axis = node.axis
            if axis is None:  # over the samples: the bias's orientation
                axis = 1 if self.f.columns else 0
                if len(shape(value)) == 1:
                    axis = 0
            if axis >= len(shape(value)):
                raise ShapeError("sum", node.arg, shape(value), node.arg, shape(value))
            total = np.sum(value, axis=axis, keepdims=node.keepdims)
            count = shape(value)[axis]
        return total / count if node.mean else total

    def _Compare(self, node: A.Compare) -> Array:
        left, right = self.run(node.left), self.run(node.right)
        flip = node.op in ("<", "<=")
        diff = self._as_z((right - left) if flip else (left - right))
        at_zero = 1 if "=" in node.op else 0
        if self.symbolic:
            return _each(diff, lambda v: sp.Heaviside(v, at_zero))
        return np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, float(at_zero)))

    def _Where(self, node: A.Where) -> Array:
        cond = self.run(node.cond)
        a, b = self.run(node.a), self.run(node.b)
        if self.symbolic:
            return cond * a + (1 - cond) * b
        return np.where(cond != 0, a, b)

    def _Call(self, node: A.Call) -> Array:
        args = [self.run(a) for a in node.args]
        if node.func in ("max", "min"):
            if self.symbolic:
                fn = sp.Max if node.func == "max" else sp.Min
                return _each2(args[0], args[1], fn)
            return (np.maximum if node.func == "max" else np.minimum)(args[0], args[1])
        value = args[0]
        func = node.func
        if func == "g":
            layer = node.layer or self.layer_of(node.args[0])
            func = self._layer_function(layer)
        if func in ("softmax", "sigmoid_link"):
            if node.prime:
                raise NameError_(
                    "softmax' is a Jacobian; write the output error A - Y instead"
                )
            return self._softmax(value)
        rule = _rule(func, self.f.alpha, node.prime)
        if self.symbolic:
            return _each(self._as_z(value), lambda v: rule.xreplace({Z: v}))
        with np.errstate(all="ignore"):
            return (
                np.broadcast_to(
                    numeric(rule, {Z: np.asarray(value, float)}), shape(value)
                )
                * 1.0
            )

    def _layer_function(self, layer: int) -> str:
        if not 1 <= layer <= len(self.f.activations):
            raise NameError_(f"g{layer}: the layers are 1 to {len(self.f.activations)}")
        if layer == len(self.f.activations) and self.f.link is not None:
            return "softmax" if self.f.link == "softmax" else "sigmoid"
        return self.f.activations[layer - 1]

    def _softmax(self, value: Array) -> Array:
        axis = 0 if self.f.columns else 1
        if self.symbolic:
            e = _each(value, sp.exp)
            return e / np.sum(e, axis=axis, keepdims=True)
        e = np.exp(value - np.max(value, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)


@functools.lru_cache(maxsize=64)
def _rule(func: str, alpha: float, prime: bool) -> sp.Expr:
    """f(z) or f'(z) in the placeholder Z: the registry's activation or a maths function."""
    maths = {
        "exp": sp.exp,
        "log": sp.log,
        "sqrt": sp.sqrt,
        "abs": sp.Abs,
        "tanh": sp.tanh,
    }
    if func in maths:
        expr = maths[func](Z)
    else:
        expr = registry.activation(func).expr(Z, sp.Float(alpha))
    return apply_step_convention(sp.diff(expr, Z)) if prime else expr


def _each(value: Array, fn: Callable[[Any], Any]) -> Array:
    if not isinstance(value, np.ndarray):
        return fn(value)
    return np.vectorize(fn, otypes=[object])(value)


def _each2(a: Array, b: Array, fn: Callable[[Any, Any], Any]) -> Array:
    return np.vectorize(fn, otypes=[object])(a, b)
