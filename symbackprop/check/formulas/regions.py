"""Where a piecewise network is smooth: sign regions, points inside them, exact evaluation.

A ReLU network is a different polynomial in every region where each piecewise unit's
pre-activation keeps its sign. `RegionSet` holds those regions, each with concrete witness
points: the ones sampling finds, and, for a pattern sampling misses, points built by moving
each unit's own bias or weights (every pattern is reachable, since each unit has its own bias).
`resolve` rewrites an expression for one region: Max(z, 0) becomes z or 0, Heaviside(z) becomes
1 or 0, Piecewise picks a branch. `split` cuts a region further at the conditions a student's
formula has of its own (step(x_1 + 1000)), so each case is decided on its own, and `witnesses`
finds points inside such a case.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.rings import PolyElement, ring

from .conditions import (
    EXPANSION_LIMIT,
    TooBig,
    algebraic,
    draw,
    expansion_bound,
    half_beyond,
    normal_form,
    point,
    sign_key,
    tries,
)
from .values import Point, evaluate, evaluate_array, strict_sign
from .vocab import PIECEWISE

# Up to 2**8 sign patterns are all checked; with more units, the MAX_REGIONS sampling finds.
MAX_ENUMERATED_UNITS = 8


MAX_REGIONS = 64


POINTS_PER_REGION = 12  # the first GATE_POINTS are checked for every entry


GATE_POINTS = 4


MARGIN = 1e-6  # a sample is inside a region when every |z| exceeds this


PRODUCT_LIMIT = 1_000_000


# Cases a formula's own conditions may cut one sign region into before it is "not proven".
MAX_CASES = 64


WITNESS_BASES = 12  # starting points tried when looking for a point inside a case


SEARCH_BUDGET = 5000  # candidate points one entry's witness searches may test in all


@dataclass
class Budget:
    """How many more candidate points witness searches may test (one entry's, together)."""

    left: int = SEARCH_BUDGET

    def spend(self) -> bool:
        """Use up one try; False when none is left."""
        self.left -= 1
        return self.left >= 0


class _NotPolynomial(Exception):
    """The expression is not a polynomial in the sample variables."""


Condition = tuple[sp.Expr, int]  # an expression and its sign (+1 or -1) in a case


@dataclass
class Region:
    """One sign pattern of the piecewise units, with sample points inside it.

    A case of a region (`RegionSet.split`) is a Region too: the same pattern, plus `extra`
    conditions of the student's own (x_1 + 1000 < 0) that hold throughout it.
    """

    pattern: tuple[bool, ...]  # unit is active (z > 0), per piecewise unit
    points: list[Point]
    signs: dict[sp.Expr, int] = field(default_factory=dict)  # normal form -> sign
    cache: dict[sp.Basic, sp.Basic] = field(default_factory=dict)  # resolved
    # piecewise-free expressions as polynomials (shared by all regions of a RegionSet)
    polys: dict[sp.Basic, PolyElement] = field(default_factory=dict)
    ready: bool = False
    extra: tuple[Condition, ...] = ()

    @property
    def gate(self) -> list[Point]:
        """The points every entry is evaluated at."""
        return self.points[:GATE_POINTS]

    def case(self, condition: sp.Expr, sign: int) -> Region:
        """The part of this region (already prepared) where `condition` has this sign."""
        key_lead = sign_key(condition)
        assert key_lead is not None, condition
        key, lead = key_lead
        return replace(
            self,
            points=[],
            signs={**self.signs, key: lead * sign},
            cache={},
            extra=(*self.extra, (condition, sign)),
        )


@dataclass
class RegionSet:
    """The sign regions of a network's piecewise units (one region if there are none).

    `units` are the pre-activations z of the piecewise units, by layer; `definitions` map z and
    h symbols to expressions in x and the params; `variables` are x, y and the parameters;
    `constraints` hold what the targets satisfy (one-hot targets sum to 1), `fixed` the
    variables a witness may not move (0/1 targets); `movers` are each unit's own bias and
    weights, in which its pre-activation is affine.
    """

    units: tuple[sp.Symbol, ...]
    definitions: dict[sp.Symbol, sp.Expr]
    regions: list[Region]
    # 2 ** len(units): every pattern occurs, as each unit has its own bias
    possible: int
    variables: tuple[sp.Symbol, ...] = ()
    constraints: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)
    fixed: frozenset[sp.Symbol] = frozenset()
    movers: dict[sp.Symbol, tuple[sp.Symbol, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """The polynomial ring over the variables, for fast exact comparisons."""
        self._ring = ring(list(self.variables), QQ)[0] if self.variables else None
        self._index = {v: k for k, v in enumerate(self.variables)}

    @property
    def complete(self) -> bool:
        """True when every sign pattern is one of the regions."""
        return len(self.regions) == self.possible

    @classmethod
    def sample(
        cls,
        variables: Sequence[sp.Symbol],
        targets: Sequence[sp.Symbol],
        units: Sequence[sp.Symbol],
        definitions: dict[sp.Symbol, sp.Expr],
        target_kind: str = "real",
        seed: int = 0,
        movers: dict[sp.Symbol, tuple[sp.Symbol, ...]] | None = None,
    ) -> RegionSet:
        """Sample points (nice grid values first) and group them by sign pattern.

        With up to MAX_ENUMERATED_UNITS units every pattern becomes a region: one that
        sampling misses gets witnesses built with `place`. With more, the MAX_REGIONS
        patterns sampling finds most often are the regions.
        """
        rng = np.random.default_rng(seed)
        n = len(units)
        possible = 2**n
        enumerate_all = n <= MAX_ENUMERATED_UNITS
        wanted = min(possible, MAX_REGIONS)
        found: dict[tuple[bool, ...], list[Point]] = {}
        counts: dict[tuple[bool, ...], int] = {}
        rounds = [
            ("grid", 4096),
            ("decimal", 2048),
            ("decimal", 8192),
            ("decimal", 32768),
        ]
        for number, (kind, size) in enumerate(rounds):
            if number >= 2 and len(found) >= wanted:
                break
            arrays = draw(rng, kind, size, variables, targets, target_kind)
            memo: dict = {}
            if n:
                with np.errstate(all="ignore"):
                    z = np.stack(
                        [evaluate_array(definitions[u], arrays, memo) for u in units]
                    )
                inside = np.all(np.isfinite(z) & (np.abs(z) > MARGIN), axis=0)
                patterns = z > 0
            else:
                inside = np.ones(size, dtype=bool)
                patterns = np.zeros((0, size), dtype=bool)
            limit = POINTS_PER_REGION if kind == "decimal" else POINTS_PER_REGION - 4
            for k in np.flatnonzero(inside):
                key = tuple(bool(b) for b in patterns[:, k])
                counts[key] = counts.get(key, 0) + 1
                bucket = found.setdefault(key, [])
                if len(bucket) < limit:
                    bucket.append(point(arrays, variables, k))
        constraints = {}
        if target_kind == "one_hot" and targets:  # targets sum to 1
            constraints[targets[-1]] = 1 - sp.Add(*targets[:-1])
        fixed = frozenset(targets) if target_kind != "real" else frozenset()
        out = cls(
            tuple(units),
            definitions,
            [],
            possible,
            tuple(variables),
            constraints,
            fixed,
            dict(movers or {}),
        )
        if enumerate_all:
            bases = [ps[0] for ps in found.values()] or [point(arrays, variables, 0)]
            for pattern in itertools.product((True, False), repeat=n):
                if pattern not in found:
                    built = (out.place(b, pattern) for b in bases[:POINTS_PER_REGION])
                    found[pattern] = [q for q in built if q is not None][:GATE_POINTS]
            chosen = [p for p in found if found[p]]
        else:
            chosen = sorted(found, key=lambda p: (-counts[p], p))[:MAX_REGIONS]
        # an expression's polynomial is the same in every region: one cache for all
        polys: dict[sp.Basic, PolyElement] = {}
        out.regions = [
            Region(p, found[p], polys=polys) for p in sorted(chosen, reverse=True)
        ]
        return out

    # -- points -----------------------------------------------------------------------
    def inside(self, region: Region, point: Point) -> bool:
        """True when the point lies strictly inside the region (and its extra conditions)."""
        memo: dict = {}
        for unit, active in zip(self.units, region.pattern, strict=True):
            if strict_sign(evaluate(self.definitions[unit], point, memo)) != (
                1 if active else -1
            ):
                return False
        return all(
            strict_sign(evaluate(c, point, memo)) == sign for c, sign in region.extra
        )

    def place(
        self,
        point: Point,
        pattern: tuple[bool, ...],
        frozen: Iterable[sp.Symbol] = (),
    ) -> Point | None:
        """The point moved into a sign pattern, or None.

        Unit by unit (by layer), a unit of the wrong sign gets one of its movers (its bias,
        else a weight; not a frozen one) set to the nearest half-integer on the wanted side
        of the value where its pre-activation is 0: z is affine in its own layer's bias and
        weights, and later layers are fixed after earlier ones.
        """
        p = dict(point)
        frozen = set(frozen)
        for unit, active in zip(self.units, pattern, strict=True):
            z = self.definitions[unit]
            want = 1 if active else -1
            if strict_sign(evaluate(z, p)) == want:
                continue
            for w in self.movers.get(unit, ()):
                if w in frozen:
                    continue
                at0, at1 = (
                    evaluate(z, {**p, w: Fraction(0)}),
                    evaluate(z, {**p, w: Fraction(1)}),
                )
                if at0 is None or at1 is None or at1 == at0:
                    continue
                slope = at1 - at0
                p[w] = half_beyond(-at0 / slope, above=(slope > 0) == active)
                break
            else:
                return None
        return p if self.inside(Region(pattern, []), p) else None

    def witnesses(
        self, region: Region, bases: Sequence[Point], want: int, budget: Budget
    ) -> list[Point]:
        """Up to `want` points inside a case of a region, moved there from the bases."""
        found: list[Point] = []
        for base in bases[:WITNESS_BASES]:
            p = self._satisfy(base, region, budget)
            if p is not None and p not in found:
                found.append(p)
                if len(found) >= want:
                    break
        return found

    def _satisfy(self, base: Point, region: Region, budget: Budget) -> Point | None:
        """The base point moved to satisfy each extra condition in turn, or None."""
        frozen = set().union(*(c.free_symbols for c, _ in region.extra))
        p: Point | None = base
        for n, (condition, sign) in enumerate(region.extra):
            if p is None:
                return None
            held = Region(region.pattern, [], extra=region.extra[: n + 1])
            if self.inside(held, p):
                continue
            p = next(
                (
                    q
                    for q in self._moves(p, (condition, sign), region, frozen, budget)
                    if self.inside(held, q)
                ),
                None,
            )
        return p if p is not None and self.inside(region, p) else None

    def _moves(
        self,
        p: Point,
        want: Condition,
        region: Region,
        frozen: set[sp.Symbol],
        budget: Budget,
    ) -> Iterable[Point]:
        """Points that differ from p in one variable of the condition, on its wanted side.

        The values tried are the variable's roots of the condition (the others fixed) moved a
        little either way, and far values; each is then placed back in the sign pattern.
        """
        condition, sign = want
        movable = [
            v
            for v in self.variables
            if v in condition.free_symbols and v not in self.fixed
        ]
        for v in movable:
            for value in tries(condition, v, p):
                if not budget.spend():
                    return
                q = {**p, v: value}
                if strict_sign(evaluate(condition, q)) != sign:
                    continue
                placed = self.place(q, region.pattern, frozen) or self.place(
                    q, region.pattern, {v}
                )
                if placed is not None:
                    yield placed

    def split(
        self, a: sp.Expr, b: sp.Expr, region: Region
    ) -> list[tuple[Region, bool | None]] | None:
        """Decide a == b in each case of the region (see `differ`); None past MAX_CASES.

        Where the region leaves a piecewise part of either side open (step(x_1 + 1000): the
        sign of x_1 + 1000 is not fixed by the z's), the region is cut at that condition and
        each side decided on its own, innermost conditions first.
        """
        self.prepare(region)
        cases: list[tuple[Region, bool | None]] = []
        # a case, and both sides as resolved in the case it was cut from
        todo = [(region, a, b)]
        while todo:
            case, x, y = todo.pop()
            rx, ry = self.resolve(x, case), self.resolve(y, case)
            condition = self._open_condition((rx, ry), case)
            if condition is None:
                cases.append((case, self.differ(x, y, case)))
            else:
                todo += [(case.case(condition, s), rx, ry) for s in (-1, 1)]
            if len(cases) + len(todo) > MAX_CASES:
                return None
        return cases

    def _open_condition(
        self, exprs: Iterable[sp.Basic], region: Region
    ) -> sp.Expr | None:
        """A condition of a piecewise part the region leaves open, innermost first."""
        for e in exprs:
            if not e.has(*PIECEWISE):
                continue
            for node in sp.postorder_traversal(e):
                for condition in _conditions(node, region, self.resolve):
                    if (
                        not condition.has(*PIECEWISE)
                        and sign_key(condition) is not None
                        and self.sign(condition, region) is None
                    ):
                        return condition
        return None

    # -- symbolic resolution ----------------------------------------------------------
    def prepare(self, region: Region) -> None:
        """Record the sign of every unit's pre-activation, as resolved inside the region."""
        if region.ready:
            return
        for unit, active in zip(self.units, region.pattern, strict=True):
            resolved = sp.expand(self.resolve(self.definitions[unit], region))
            if not resolved.is_number:
                key, lead = normal_form(resolved)
                region.signs[key] = lead * (1 if active else -1)
        region.ready = True

    def resolve(self, expr: sp.Basic, region: Region) -> sp.Basic:
        """The expression inside the region: piecewise pieces replaced where their sign is known."""
        if not expr.args:
            return expr
        cached = region.cache.get(expr)
        if cached is not None:
            return cached
        if isinstance(expr, sp.Piecewise):
            out = self._resolve_piecewise(expr, region)
        else:
            args = tuple(self.resolve(a, region) for a in expr.args)
            if isinstance(expr, sp.Heaviside):
                out = self._step(args, region)
            elif isinstance(expr, sp.Max | sp.Min):
                out = self._pick(expr, args, region)
            elif isinstance(expr, sp.Abs):
                s = self.sign(args[0], region)
                out = sp.Abs(args[0]) if s is None else s * args[0]
            else:
                out = expr.func(*args) if args != expr.args else expr
        region.cache[expr] = out
        return out

    def sign(self, expr: sp.Basic, region: Region) -> int | None:
        """+1, -1 or 0 when the sign of expr is fixed in the region, else None."""
        try:
            expansion_bound(expr, {})
        except TooBig:
            return None
        e = sp.expand(expr)
        if e.is_number:
            if e.is_zero:
                return 0
            try:
                return 1 if bool(e > 0) else -1
            except TypeError:
                return None
        if e.has(*PIECEWISE):
            return None
        key, lead = normal_form(e)
        known = region.signs.get(key)
        return None if known is None else known * lead

    def _poly(self, e: sp.Basic, region: Region) -> PolyElement:
        """e as an exact polynomial over the variables (cached in `region.polys`)."""
        cached = region.polys.get(e)
        if cached is not None:
            return cached
        R = self._ring
        if e.is_Symbol:
            if e not in self._index:
                raise _NotPolynomial
            p = R.gens[self._index[e]]
        elif e.is_Rational:
            p = R.ground_new(QQ(int(e.p), int(e.q)))
        elif e.is_Add:
            p = R.zero
            for arg in e.args:
                p = p + self._poly(arg, region)
        elif e.is_Mul:
            p = R.one
            for arg in e.args:
                factor = self._poly(arg, region)
                if len(p) * len(factor) > PRODUCT_LIMIT:
                    raise TooBig
                p = p * factor
        elif e.is_Pow and e.exp.is_Integer and e.exp >= 0:
            base = self._poly(e.base, region)
            if len(base) ** int(e.exp) > EXPANSION_LIMIT:
                # refuse (x_1 + ... + x_20)**10 before computing it
                expansion_bound(e, {})
            p = base ** int(e.exp)
        else:
            raise _NotPolynomial
        if len(p) > EXPANSION_LIMIT:
            raise TooBig
        region.polys[e] = p
        return p

    def _step(self, args: tuple, region: Region) -> sp.Basic:
        """Heaviside(a, h0) is 1, 0 or h0 where the sign of a is known."""
        s = self.sign(args[0], region)
        if s is None:
            return sp.Heaviside(*args)
        if s == 0:
            return args[1] if len(args) > 1 else sp.Rational(1, 2)
        return sp.Integer(1 if s > 0 else 0)

    def _pick(self, expr: sp.Basic, args: tuple, region: Region) -> sp.Basic:
        """Max/Min of arguments whose pairwise order is known in the region."""
        best = args[0]
        for candidate in args[1:]:
            s = self.sign(candidate - best, region)
            if s is None:
                return expr.func(*args)
            if (s > 0) == isinstance(expr, sp.Max) and s != 0:
                best = candidate
        return best

    def _resolve_piecewise(self, expr: sp.Piecewise, region: Region) -> sp.Basic:
        """The branch of a Piecewise that holds in the region, if known."""
        for branch, cond in expr.args:
            truth = self._condition(cond, region)
            if truth is None:
                pairs = [(self.resolve(b, region), c) for b, c in expr.args]
                return sp.Piecewise(*pairs)
            if truth:
                return self.resolve(branch, region)
        return expr

    def _condition(self, cond: sp.Basic, region: Region) -> bool | None:
        """Whether a comparison holds throughout the region (None: unknown)."""
        if cond is sp.true or cond is sp.false:
            return bool(cond)
        if isinstance(cond, sp.core.relational.Relational) and cond.rel_op in (
            ">",
            ">=",
            "<",
            "<=",
        ):
            s = self.sign(self.resolve(cond.lhs - cond.rhs, region), region)
            if s is None:
                return None
            return {">": s > 0, ">=": s >= 0, "<": s < 0, "<=": s <= 0}[cond.rel_op]
        return None

    def differ(self, a: sp.Expr, b: sp.Expr, region: Region) -> bool | None:
        """False when a == b is proven in the region, True when disproven, None if undecided."""
        self.prepare(region)
        ra, rb = self.resolve(a, region), self.resolve(b, region)
        if ra.has(*PIECEWISE) or rb.has(*PIECEWISE):
            return None
        if not self.constraints and self._ring is not None:
            try:
                return self._poly(ra, region) != self._poly(rb, region)
            except (_NotPolynomial, TooBig):
                pass
        d = (ra - rb).xreplace(self.constraints)
        try:
            expansion_bound(d, {})
        except TooBig:
            return None
        transcendental = d.has(sp.exp, sp.log, sp.tanh) or any(
            not p.exp.is_Integer for p in d.atoms(sp.Pow)
        )
        if transcendental:  # only a proof of equality is trusted here
            d = algebraic(d)
            if sp.count_ops(d) > 2000:
                return None
            return False if sp.cancel(sp.together(d)) == 0 else None
        if any(p.exp.is_negative for p in d.atoms(sp.Pow)):
            # a rational function: bring it over one denominator first (expanding the
            # quotient term by term can take minutes where `cancel` takes milliseconds)
            if sp.count_ops(d) > 2000:
                return None
            return sp.cancel(sp.together(d)) != 0
        return sp.expand(d) != 0  # a nonzero polynomial differs somewhere


def _conditions(
    node: sp.Basic, region: Region, resolve: Callable[[sp.Basic, Region], sp.Basic]
) -> list[sp.Expr]:
    """The expressions whose signs decide a piecewise node: Heaviside(a) and |a| need a's,
    Max and Min the pairwise differences, a Piecewise its comparisons' (resolved) sides."""
    if isinstance(node, sp.Heaviside | sp.Abs):
        return [node.args[0]]
    if isinstance(node, sp.Max | sp.Min):
        return [b - a for a, b in itertools.combinations(node.args, 2)]
    if isinstance(node, sp.Piecewise):
        return [
            resolve(c.lhs - c.rhs, region)
            for _, c in node.args
            if isinstance(c, sp.core.relational.Relational)
        ]
    return []
