"""An entrywise SymPy rule as a plain tree that NumPy evaluates, with no SymPy needed to run it.

`lower` turns a SymPy expression into nested tuples once (SymPy is imported for that step);
`run` evaluates such a tree on arrays. A tree is plain data: the checker's shipped reference
stores its rules this way, so that check-code runs the truth without importing SymPy. Nothing
printed is parsed: the tree is read straight off SymPy's expression nodes.

A tree is `("sym", name)`, `("num", value)`, `("bool", value)`, or `(op, *operands)` with `op`
one of the keys of `_OPERATIONS`, "heaviside", "piecewise" (operands alternate value and
condition) or a relation (">", ">=", ...).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._lazy import sympy as sp
from ..spec import names

Tree = tuple[Any, ...]


def run(tree: Tree, values: Mapping[str, Any]) -> Any:
    """The tree's value, its symbols given by name (NumPy arrays or numbers).

    Heaviside(x, h0) is h0 at x = 0 exactly as stated, so ReLU'(0) = 0 holds here too.
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _run(tree, values)


def _run(tree: Tree, values: Mapping[str, Any]) -> Any:
    op = tree[0]
    if op == "sym":
        return values[tree[1]]
    if op in ("num", "bool"):
        return tree[1]
    if op == "piecewise":
        out: Any = np.nan  # outside every piece: undefined
        pieces = list(zip(tree[1::2], tree[2::2], strict=True))
        for value, cond in reversed(pieces):
            val = _run(value, values)
            out = (
                val
                if cond == ("bool", True)
                else np.where(_run(cond, values), val, out)
            )
        return out
    args = [_run(a, values) for a in tree[1:]]
    if op == "heaviside":
        x, at_zero = args
        return np.where(x > 0, 1.0, np.where(x < 0, 0.0, at_zero))
    return _OPERATIONS[op](*args)


def _fold(f: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    return lambda *args: functools.reduce(f, args)


_OPERATIONS: dict[str, Callable[..., Any]] = {
    "add": _fold(np.add),
    "mul": _fold(np.multiply),
    "pow": np.power,
    "max": _fold(np.maximum),
    "min": _fold(np.minimum),
    "and": _fold(np.logical_and),
    "or": _fold(np.logical_or),
    "not": np.logical_not,
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "abs": np.abs,
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


def is_identity(rule: Any) -> bool:
    """Whether an activation's rule, in the placeholder z, is z itself (SymPy's or its tree;
    a tree needs no SymPy)."""
    return as_tree(rule) == ("sym", names.RULE_Z)


def as_tree(rule: Any) -> Tree:
    """A rule's tree: the rule itself when it is one already, else `lower(rule)`."""
    return rule if isinstance(rule, tuple) else lower(rule)


@functools.lru_cache(maxsize=1024)
def lower(expr: Any) -> Tree:
    """A SymPy expression as a tree (TypeError for a function NumPy has no form of here)."""
    e = expr
    if e.is_Symbol:
        return ("sym", e.name)
    if e.is_Number or isinstance(e, sp.NumberSymbol):
        return ("num", float(e))
    if e is sp.true or e is sp.false:
        return ("bool", bool(e))
    if isinstance(e, sp.Piecewise):
        return ("piecewise", *(lower(part) for piece in e.args for part in piece))
    args = tuple(lower(a) for a in e.args)
    if isinstance(e, sp.core.relational.Relational):
        return (e.rel_op, *args)
    for kind, op in _KINDS:
        if getattr(e, kind, False):
            return (op, *args)
    for cls, op in (("Heaviside", "heaviside"), ("Max", "max"), ("Min", "min")):
        if isinstance(e, getattr(sp, cls)):
            return (op, *args)
    for cls, op in (("And", "and"), ("Or", "or"), ("Not", "not")):
        if isinstance(e, getattr(sp, cls)):
            return (op, *args)
    name = type(e).__name__
    op = "abs" if name == "Abs" else name
    if op in _OPERATIONS:
        return (op, *args)
    raise TypeError(f"numeric: no NumPy form for {name}")


_KINDS = (("is_Add", "add"), ("is_Mul", "mul"), ("is_Pow", "pow"))


def from_json(data: Any) -> Any:
    """A tree read back from JSON, whose lists stand for the tree's tuples."""
    if isinstance(data, list):
        return tuple(from_json(d) for d in data)
    return data
