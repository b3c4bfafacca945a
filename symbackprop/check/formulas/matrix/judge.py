"""Judge each matrix equation against the derivation: numerically at the real sizes, proven for
generic matrices at small distinct sizes, diagnosed by the one edit that makes it right.

An equation is judged as written: the names it uses from earlier lines stand for their true
values, so a correct `dW1 = 1/m dZ1 X^T` on a wrong dZ1 is correct (and says what it is built
on). An intermediate is right in either reading of truth.py (with or without a mean's 1/m).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy as sp

from ....spec import NetworkSpec, names
from ...diagnoses import (
    ELEMENTWISE_PRODUCT,
    MISSING_ACTIVATION_MASK,
    PENALTY_FACTOR,
    PRODUCT_ORDER,
    SCALED,
    SIGN_FLIPPED,
    TRANSPOSED,
    USES_ACTIVATION,
    WRONG_AXIS,
    WRONG_SHAPE,
)
from . import ast as A
from .equations import Equation
from .evaluate import Evaluator, NameError_, ShapeError, shape
from .truth import CONVENTIONS, World, build_world, derivations, proxy_layers

MAX_REGIONS_ALL = 8  # piecewise entries up to which every sign pattern is checked
SAMPLED_REGIONS = 64


@dataclass
class Verdict:
    """One equation's result."""

    name: str
    line: int | None
    status: str  # ok, wrong, error, missing
    diagnoses: list[str] = field(default_factory=list)
    message: str = ""
    fix: str = ""
    method: str = ""
    counterexample: dict | None = None
    built_on: list[str] = field(default_factory=list)
    convention: str = "J"
    per_sample: bool = False


class Judge:
    """The worlds (real sizes, two random points; the proxy, generic and numeric) and the verdicts."""

    def __init__(
        self, spec: NetworkSpec, layout: str, weights: str, seed: int = 0
    ) -> None:
        self.spec, self.layout, self.weights = spec, layout, weights
        self.derivation, proxy = derivations(spec)
        self.real = [
            build_world(self.derivation, layout, weights, seed=seed + i) for i in (0, 1)
        ]
        _, m = proxy_layers(spec)
        self.generic = build_world(proxy, layout, weights, symbolic=True, batch=m)
        self.small = build_world(proxy, layout, weights, seed=seed + 7, batch=m)
        self.regions = (0, 0)  # (checked, possible) for the last proof
        self.defined: dict[str, tuple[tuple[str, int], bool, str, bool]] = {}

    # -- evaluating one equation in one world ----------------------------------------------
    def per_sample(self, eq: Equation) -> bool:
        """Whether a line is written for one sample (x, a1, delta2 as column vectors)."""
        assert eq.rhs is not None
        for name in A.names_in(eq.rhs):
            if name in self.defined:
                if self.defined[name][1]:
                    return True
                continue
            parsed = names.parse_course(name, self.spec.depth)
            if parsed is not None and parsed.per_sample:
                return True
        return False

    def value(
        self, eq: Equation, world: World, conv: str, tree: A.Node | None = None
    ) -> Any:
        """The line's value with earlier names at their true values (reading `conv`)."""
        tree = tree if tree is not None else eq.rhs
        assert tree is not None
        sample = self.per_sample(eq)

        def resolve(name: str) -> tuple[tuple[str, int], bool]:
            if name in self.defined:
                key, ps, own_conv, _ = self.defined[name]
                return key, ps
            parsed = names.parse_course(name, self.spec.depth)
            if parsed is None:
                raise NameError_(f"unknown name {name!r}")
            return (parsed.kind, parsed.layer), parsed.per_sample

        def base(name: str) -> Any:
            key, ps = resolve(name)
            if key[0] == "m":
                return world.values[key]
            c = (
                self.defined[name][2]
                if name in self.defined and self.defined[name][3]
                else conv
            )
            return world.truth(key, c), ps

        def layer_of(node: A.Node) -> int:
            if isinstance(node, A.Name):
                key, _ = resolve(node.text)
                if key[1]:
                    return key[1]
            raise NameError_(
                "say which layer's g: write g1'(...) or use Z1 as the argument"
            )

        if not sample:

            def lookup(name: str) -> Any:
                got = base(name)
                return got if not isinstance(got, tuple) else got[0]

            return Evaluator(
                lookup, layer_of, world.functions, world.symbolic, world.preactivations
            ).run(tree)
        results = []
        for s in range(world.batch):

            def lookup_s(name: str, s: int = s) -> Any:
                got = base(name)
                if not isinstance(got, tuple):
                    return got
                value, ps = got
                key, _ = resolve(name)
                if key[0] == "b":
                    return value.reshape(-1, 1)
                return world.sample(value, s) if ps else value

            ev = Evaluator(
                lookup_s,
                layer_of,
                world.functions,
                world.symbolic,
                world.preactivations,
            )
            results.append(ev.run(tree))
        if eq.key is not None and eq.key[0] in ("dW", "db"):
            total = sum(results[1:], results[0])
            return total / world.batch if self.spec.reduction == "mean" else total
        cols = np.hstack([np.reshape(r, (-1, 1)) for r in results])
        return cols if world.columns else cols.T

    def truths(self, eq: Equation, world: World) -> list[tuple[str, Any]]:
        """The accepted answers for the line's left side, with their reading."""
        assert eq.key is not None
        if eq.key[0] in ("dZ", "dA"):
            convs = CONVENTIONS if self.spec.reduction == "mean" else ("J",)
            if (eq.key[0], eq.key[1], "J") not in world.intermediates:
                raise NameError_(
                    f"{eq.name}: the output layer's dA is not an intermediate here"
                )
            return [(c, world.truth(eq.key, c)) for c in convs]
        if eq.key not in world.values:
            raise NameError_(f"{eq.name} is not a quantity of this network")
        return [("J", world.truth(eq.key))]

    # -- the verdict -------------------------------------------------------------------------
    def judge(self, eq: Equation) -> Verdict:
        """ok / wrong / error for one parsed line (recording its name for later lines)."""
        assert eq.rhs is not None and eq.key is not None
        v = Verdict(eq.name, eq.line, "ok", per_sample=self.per_sample(eq))
        try:
            match = self._numeric_match(eq, eq.rhs)
        except ShapeError as exc:
            v.status = "error"
            v.diagnoses = [WRONG_SHAPE]
            v.message = self.shape_message(eq, exc, self.real[0])
            self._diagnose(eq, v)
            self._record(eq, v, ok=False)
            return v
        except (NameError_, ZeroDivisionError) as exc:
            v.status, v.message = "error", str(exc)
            self._record(eq, v, ok=False)
            return v
        if match is None:
            v.status = "wrong"
            self._describe(eq, v)
            self._diagnose(eq, v)
            self._record(eq, v, ok=False)
            return v
        v.convention = match[1]
        proof = self.prove(eq, *match)
        if proof is not None:
            v.status = "wrong"
            v.message = (
                "right at this network's sizes only: for generic matrices of other sizes it "
                "differs (" + proof + ")"
            )
            self._diagnose(eq, v)
        else:
            v.method = "symbolic"
            checked, possible = self.regions
            v.message = "proven for generic matrices" + (
                f" ({checked} of {possible} sign patterns)" if possible > 1 else ""
            )
        self._record(eq, v, ok=v.status == "ok")
        return v

    def _record(self, eq: Equation, v: Verdict, ok: bool) -> None:
        assert eq.key is not None
        self.defined[eq.name] = (eq.key, v.per_sample, v.convention, ok)
        canonical = _course_name(eq.key)
        if canonical not in self.defined:
            self.defined[canonical] = self.defined[eq.name]

    def _numeric_match(self, eq: Equation, tree: A.Node) -> tuple[str, str] | None:
        """The readings (of the names used, of the left side) under which the line is right at
        both random points, or None."""
        convs = CONVENTIONS if self.spec.reduction == "mean" else ("J",)
        for conv in convs:
            for conv_truth, _ in self.truths(eq, self.real[0]):
                if all(
                    _same(
                        self.value(eq, w, conv, tree),
                        dict(self.truths(eq, w))[conv_truth],
                        eq,
                    )
                    for w in self.real
                ):
                    return conv, conv_truth
        return None

    def _describe(self, eq: Equation, v: Verdict) -> None:
        world = self.real[0]
        got = self.value(eq, world, "J")
        want = self.truths(eq, world)[0][1]
        gs, ws = shape(got), _want_shape(want, eq)
        if gs != ws and np.size(got) != np.size(want):
            v.diagnoses = [WRONG_SHAPE]
            v.message = f"{eq.name} must be {_fmt_shape(ws, world)} but this is {_fmt_shape(gs, world)}"
            return
        if gs != ws and gs[::-1] == ws and _same(np.transpose(got), want, eq):
            v.diagnoses = [TRANSPOSED]
            v.message = f"this is the transpose of {eq.name}: {_fmt_shape(gs, world)}"
            return
        factors = []  # under each reading of the names (1/m in dZ or not) and of the truth
        convs = CONVENTIONS if self.spec.reduction == "mean" else ("J",)
        for conv in convs:
            read = got if conv == "J" else self.value(eq, world, conv)
            for _, want in self.truths(eq, world):
                g, w = (
                    np.asarray(read, float).reshape(-1),
                    np.asarray(want, float).reshape(-1),
                )
                if g.shape != w.shape or not np.any(w):
                    continue
                c = float(g @ w / (w @ w))
                if c and np.allclose(
                    g, c * w, rtol=1e-7, atol=1e-12 * (1 + np.abs(w).max())
                ):
                    factors.append(c)
        if factors:
            m = world.batch
            _name_factor(v, min(factors, key=lambda c: _plainness(c, m)), m)
            return
        v.message = "the values differ from the derivation's"

    def _diagnose(self, eq: Equation, v: Verdict) -> None:
        """The first single edit that makes the line right names the mistake and the fix."""
        assert eq.rhs is not None
        tried = 0
        for code, tree in _edits(eq.rhs, eq, self.spec.depth, self.spec.l2):
            tried += 1
            if tried > 400:
                break
            try:
                if self._numeric_match(eq, tree) is not None:
                    if code not in v.diagnoses:
                        v.diagnoses = [code] + [
                            d for d in v.diagnoses if d != WRONG_SHAPE
                        ]
                    v.fix = _edit_text(tree, eq)
                    return
            except (ShapeError, NameError_, ValueError, ZeroDivisionError):
                continue

    def shape_message(self, eq: Equation, exc: ShapeError, world: World) -> str:
        """`dZ1 is (2, m) but W2^T dZ2 is (2, m) and g'(Z1) is (m, 2)`."""
        want = self.truths(eq, world)[0][1]
        what = {
            "matmul": "cannot be multiplied",
            "**": "cannot be raised to that power",
        }
        verb = what.get(exc.op, "do not broadcast together")
        left, right = _quote(eq, exc.left), _quote(eq, exc.right)
        return (
            f"{eq.name} is {_fmt_shape(_want_shape(want, eq), world)} but {left} is "
            f"{_fmt_shape(exc.lshape, world)} and {right} is {_fmt_shape(exc.rshape, world)}, "
            f"which {verb}"
        )

    # -- the proof ---------------------------------------------------------------------------
    def prove(self, eq: Equation, conv: str, conv_truth: str) -> str | None:
        """None when the line equals the derivation for generic matrices at the proxy sizes
        (in every sign pattern checked); else what differs, with a counterexample."""
        world = self.generic
        try:
            got = self.value(eq, world, conv)
        except ShapeError as exc:
            return self.shape_message(eq, exc, world)
        want = dict(self.truths(eq, world))[conv_truth]
        if shape(got) != _want_shape(want, eq) and np.size(got) != np.size(want):
            return f"shape {_fmt_shape(shape(got), world)}"
        g = np.reshape(np.asarray(got, dtype=object), -1)
        w = np.reshape(np.asarray(want, dtype=object), -1)
        if g.shape != w.shape:
            return "its shape"
        diffs = [sp.expand(sp.sympify(a - b)) for a, b in zip(g, w, strict=True)]
        diffs = [
            d for d in diffs if d != 0
        ]  # most entries cancel before any sign pattern
        self.regions = (1, 1)
        if not diffs:
            return None
        pieces = sorted(
            {s for d in diffs for s in d.free_symbols if s in set(world.z_symbols)},
            key=str,
        )
        for pattern in self._patterns(len(pieces)):
            sub = {
                z: (sp.Symbol(f"u_{z}", positive=True) * (1 if up else -1))
                for z, up in zip(pieces, pattern, strict=True)
            }
            for i, d in enumerate(diffs):
                if not _is_zero(d.xreplace(sub) if sub else d, world.definitions):
                    return f"entry {i + 1} differs"
        return None

    def _patterns(self, n: int) -> Iterator[tuple[bool, ...]]:
        if n <= MAX_REGIONS_ALL:
            self.regions = (2**n, 2**n)
            yield from itertools.product((True, False), repeat=n)
            return
        rng = random.Random(self.spec.seed)
        self.regions = (SAMPLED_REGIONS, 2**n)
        yield (True,) * n
        yield (False,) * n
        for _ in range(SAMPLED_REGIONS - 2):
            yield tuple(rng.random() < 0.5 for _ in range(n))


def _is_zero(d: sp.Expr, definitions: dict) -> bool:
    """Whether an entry's difference vanishes: exactly after expanding, or, for exp/log/tanh
    forms that expanding cannot match up, at random points to 30 digits."""
    if d == 0:
        return True
    e = sp.expand(d)
    if e == 0:
        return True
    if definitions and e.free_symbols & set(definitions):
        e = sp.expand(e.xreplace(definitions))  # tanh'(Z1) written out meets 1 - H1**2
        if e == 0:
            return True
    if not e.has(sp.exp, sp.tanh, sp.log):
        return False
    rng = random.Random(0)
    for _ in range(3):
        point = {s: sp.Float(rng.uniform(0.2, 1.5), 30) for s in e.free_symbols}
        value = e.xreplace(point).evalf(30)
        if not value.is_number or abs(value) > 1e-20:
            return False
    return True


def _same(got: Any, want: Any, eq: Equation) -> bool:
    gs, ws = shape(got), _want_shape(want, eq)
    if gs != ws:
        if not (
            eq.key
            and eq.key[0] == "db"
            and np.size(got) == np.size(want)
            and _bias_ok(gs, ws)
        ):
            return False
    g = np.asarray(got, float).reshape(-1)
    w = np.asarray(want, float).reshape(-1)
    return bool(np.allclose(g, w, rtol=1e-7, atol=1e-10 * (1 + np.abs(w).max())))


def _bias_ok(got: tuple, want: tuple) -> bool:
    """A bias gradient may be (n,) or in the bias's own orientation."""
    return len(got) == 1 or len(want) == 1


def _want_shape(want: Any, eq: Equation) -> tuple:
    return shape(want)


def _fmt_shape(s: tuple, world: World) -> str:
    batch = "m" if world.columns else "N"
    parts = [batch if d == world.batch else str(d) for d in s]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _quote(eq: Equation, node: A.Node) -> str:
    start, end = getattr(node, "span", (0, 0))
    text = eq.text[start:end].strip()
    return text or "it"


def _course_name(key: tuple[str, int]) -> str:
    kind, layer = key
    return f"{kind}{layer}" if layer else kind


def _edit_text(tree: A.Node, eq: Equation) -> str:
    from .printer import show

    return f"{eq.name} = {show(tree, eq.style)}"


def _edits(
    tree: A.Node, eq: Equation, depth: int, l2: float = 0.0
) -> Iterator[tuple[str, A.Node]]:
    """Single edits of a tree, each with the diagnosis it stands for, likeliest first."""
    key = eq.key
    if key and key[0] == "dZ" and key[1] < depth:
        mask = A.Call("g", (A.Name(f"Z{key[1]}"),), True, key[1])
        yield MISSING_ACTIVATION_MASK, A.Binary("mul", tree, mask)
    if key and key[0] == "dW" and l2:
        yield from ((PENALTY_FACTOR, t) for t in _penalty_edits(tree, key[1], l2))
    yield from _local_edits(tree)
    m = A.Name("m")
    yield SCALED, A.Binary("matmul", A.Binary("/", A.Num(1.0), m), tree)
    yield SCALED, A.Binary("matmul", m, tree)
    yield SIGN_FLIPPED, _negated(tree)


def _penalty_edits(tree: A.Node, layer: int, l2: float) -> Iterator[A.Node]:
    """A weight gradient with its L2 term put right: a term `c W1` of its sum given the
    penalty's factor l2, or, when it has none, `+ l2 W1` added."""
    weight = A.Name(names.weight(layer))
    term = A.Binary("matmul", A.Num(l2), weight)

    def scaled_weight(node: A.Node) -> bool:
        if not (isinstance(node, A.Binary) and node.op in ("mul", "matmul")):
            return False
        pair = {type(node.left), type(node.right)}
        return pair == {A.Num, A.Name} and weight in (node.left, node.right)

    def swap(node: A.Node) -> A.Node | None:
        if scaled_weight(node):
            return term
        if isinstance(node, A.Binary) and node.op in ("+", "-"):
            right = swap(node.right)
            if right is not None:  # `... - c W1` becomes `... + l2 W1`
                return A.Binary("+", node.left, right)
            left = swap(node.left)
            return None if left is None else replace(node, left=left)
        return None

    swapped = swap(tree)
    yield swapped if swapped is not None else A.Binary("+", tree, term)


def _local_edits(node: A.Node) -> Iterator[tuple[str, A.Node]]:
    """Edits at this node, then inside each child (rebuilt around the edited child)."""
    if isinstance(node, A.Transpose):
        yield TRANSPOSED, node.arg
    elif not isinstance(node, A.Num):
        yield TRANSPOSED, A.Transpose(node)
    if isinstance(node, A.Binary) and node.op == "matmul":
        yield PRODUCT_ORDER, replace(node, left=node.right, right=node.left)
        yield (
            PRODUCT_ORDER,
            A.Binary("matmul", A.Transpose(node.right), A.Transpose(node.left)),
        )
        yield ELEMENTWISE_PRODUCT, replace(node, op="mul")
    if isinstance(node, A.Binary) and node.op == "mul":
        yield ELEMENTWISE_PRODUCT, replace(node, op="matmul")
        yield ELEMENTWISE_PRODUCT, A.Binary("matmul", node.right, node.left)
    if (
        isinstance(node, A.Name)
        and len(node.text) > 1
        and node.text[0] in "AHah"
        and node.text[1:].isdigit()
    ):
        yield (
            USES_ACTIVATION,
            A.Name(
                "Z" + node.text[1:] if node.text[0] in "AH" else "z" + node.text[1:]
            ),
        )
    if isinstance(node, A.Sum):
        for axis in (0, 1, None):
            if axis != node.axis:
                yield WRONG_AXIS, replace(node, axis=axis, keepdims=True)
    for i, child in enumerate(A.children(node)):
        for code, new in _local_edits(child):
            yield code, _with_child(node, i, new)


def _with_child(node: A.Node, i: int, child: A.Node) -> A.Node:
    if isinstance(node, A.Binary | A.Compare):
        return replace(node, left=child) if i == 0 else replace(node, right=child)
    if isinstance(node, A.Neg | A.Transpose | A.Sum):
        return replace(node, arg=child)
    if isinstance(node, A.Call):
        args = list(node.args)
        args[i] = child
        return replace(node, args=tuple(args))
    if isinstance(node, A.Where):
        parts = [node.cond, node.a, node.b]
        parts[i] = child
        return A.Where(*parts)
    return node


def _plainness(c: float, m: int) -> tuple[bool, bool]:
    """Sort key: a sign flip names the mistake first, then a missing or extra 1/m."""
    return (not np.isclose(c, -1), not (np.isclose(c, m) or np.isclose(c, 1 / m)))


def _name_factor(v: Verdict, c: float, m: int) -> None:
    """A line that is the truth times c: the sign, the 1/m, or the factor itself."""
    if np.isclose(c, -1):
        v.diagnoses, v.message = [SIGN_FLIPPED], "every entry has the wrong sign"
        return
    named = "1/m" if np.isclose(c, 1 / m) else "m" if np.isclose(c, m) else f"{c:.6g}"
    hint = " (a 1/m is missing)" if named == "m" else ""
    v.diagnoses = [SCALED]
    v.message = f"off by the factor {named}{hint}"


def _negated(node: A.Node) -> A.Node:
    """-node as a student would write it: a leading minus dropped, not a second one added."""
    if isinstance(node, A.Neg):
        return node.arg
    if isinstance(node, A.Binary) and node.op in ("/", "mul", "matmul"):
        left = node.left
        if isinstance(left, A.Neg) or (
            isinstance(left, A.Binary) and left.op in ("/", "mul", "matmul")
        ):
            return A.Binary(node.op, _negated(left), node.right)
    return A.Neg(node)
