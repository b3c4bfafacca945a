"""Decide whether a student's formula equals SymPy's gradient, and if not, what went wrong.

Equality is decided region by region (see regions.py): numerically at sample points
first (cheap, and it yields counterexamples), then proven with SymPy (`expand` of the
difference in each region). A wrong formula is compared with the usual mistakes: the negative,
a constant multiple, the gradient without the activation mask (the derivation's Program with
act'(Z) left out, `MaskModels`), the transposed entry's gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from ...derive import Derivation, LayerRule
from ...derive.closed_forms import readable_forms
from ...derive.program import Derivative, walk
from ...spec import names
from .. import diagnoses as dx
from .conditions import GRID
from .regions import (
    GATE_POINTS,
    MAX_CASES,
    MAX_REGIONS,
    Budget,
    Region,
    RegionSet,
)
from .values import (
    DIGITS,
    HUGE,
    MP,
    TINY,
    Inexact,
    Point,
    Value,
    evaluate,
    same,
    telling,
)
from .vocab import PIECEWISE, Vocabulary

# the method (and the status) of a formula neither shown right nor shown wrong
UNPROVEN = "unproven"


@dataclass
class Verdict:
    """The outcome for one entry: ok, wrong, or not proven, with the evidence."""

    ok: bool
    diagnoses: list[str] = field(default_factory=list)
    message: str = ""
    # "symbolic": proven equal in every region; "numeric": equal at every sample point (where
    # SymPy could not decide); "counterexample": wrong, shown by exact evaluation at a point;
    # "unproven": neither shown right nor wrong (a case of the formula's own conditions that
    # SymPy cannot decide and no point was found in)
    method: str = "symbolic"
    factor: str | None = None  # for `scaled`: the constant, e.g. "2" or "1/2"
    counterexample: dict | None = None
    regions_right: int = 0  # regions where the formula is right

    @property
    def status(self) -> str:
        """The entry's status in the report: ok, wrong or unproven."""
        if self.ok:
            return "ok"
        return "unproven" if self.method == UNPROVEN else "wrong"


@dataclass
class _Sample:
    """A point, the region it lies in, and its evaluation cache."""

    region: int
    point: Point
    memo: dict = field(default_factory=dict)
    gate: bool = False


def rationalize(expr: sp.Expr) -> sp.Expr:
    """Replace floats (0.01) by the decimal fractions they were written as (1/100)."""
    floats = expr.atoms(sp.Float)
    if not floats:
        return expr
    return expr.xreplace({f: sp.Rational(Fraction(repr(float(f)))) for f in floats})


class Judge:
    """Everything needed to check formulas for one network; build once, judge every entry."""

    def __init__(
        self,
        vocab: Vocabulary,
        definitions: dict[sp.Symbol, sp.Expr],
        gradients: dict[sp.Symbol, sp.Expr],
        piecewise_units: Sequence[sp.Symbol],
        target_kind: str = "real",
        seed: int = 0,
        masks: MaskModels | None = None,
        error_slope: Fraction | None = None,
    ) -> None:
        """Sample the regions once; entries are then judged against `gradients`."""
        # the loss's dL/dyhat = k (yhat - y), when it has one: what a scaled entry is measured by
        self.error_slope = error_slope
        self.vocab = vocab
        self.definitions = {s: rationalize(e) for s, e in definitions.items()}
        self.truth = {s: rationalize(g) for s, g in gradients.items()}
        variables = [*vocab.inputs, *vocab.targets, *vocab.entries]
        self.regions = RegionSet.sample(
            variables,
            vocab.targets,
            piecewise_units,
            self.definitions,
            target_kind,
            seed,
            movers=unit_movers(vocab),
        )
        # the gate: the first points of the first MAX_REGIONS regions, for a quick "wrong"
        self.samples = [
            _Sample(r, p, gate=k < len(region.gate) and r < MAX_REGIONS)
            for r, region in enumerate(self.regions.regions)
            for k, p in enumerate(region.points)
        ]
        self._truth_values: dict[sp.Symbol, dict[int, Value]] = {}
        # sample indices inside a case of a region, by (region, extra conditions)
        self._cases: dict[tuple[int, tuple], list[int]] = {}
        self.masks = masks  # the "missing activation mask" mistake models
        self._unmasked: dict[frozenset[int], dict[sp.Symbol, sp.Expr]] = {}

    # -- public --------------------------------------------------------------------------
    def expand_intermediates(self, expr: sp.Expr) -> sp.Expr:
        """Substitute z, h and yhat by their definitions until only x, y and params remain."""
        for _ in range(2 * self.vocab.depth + 2):
            new = expr.xreplace(self.definitions)
            if new == expr:
                break
            expr = new
        return expr

    def judge(self, entry: sp.Symbol, student: sp.Expr) -> Verdict:
        """Compare a student's formula (any notation) with the true gradient of one entry.

        Each sign region is cut further at the formula's own conditions (`RegionSet.split`);
        a case SymPy does not prove equal is tested at points inside it, and a case with no
        point found in it leaves the formula "not proven".
        """
        s = self.expand_intermediates(student)
        t = self.truth[entry]
        gate = [k for k, sample in enumerate(self.samples) if sample.gate]
        if not all(map(same, self._values(s, gate), self._truth(entry, gate))):
            return self._diagnose(entry, s)
        method = "symbolic"
        own: list[sp.Expr] = []  # the formula's own conditions that cut a region
        # a "not proven" is kept while a later region may still show "wrong"
        unproven: Verdict | None = None
        budget = Budget()
        for r, region in enumerate(self.regions.regions):
            cases = self.regions.split(s, t, region)
            if cases is None:
                unproven = unproven or self._unproven(
                    f"your formula's own conditions cut the region "
                    f"{self.describe_region(region)} into more than {MAX_CASES} cases"
                )
                continue
            for case, verdict in cases:
                own += [c for c, _ in case.extra if c not in own]
                if verdict is False:
                    continue
                points = self._case_points(r, case, budget)
                if not points:
                    doubt = (
                        "SymPy finds it differs from the gradient there"
                        if verdict
                        else "SymPy cannot decide it there"
                    )
                    unproven = unproven or self._unproven(
                        f"no point was found where {self.describe_region(case)} to test "
                        f"your formula, and {doubt}"
                    )
                    continue
                sv, tv = self._values(s, points), self._truth(entry, points)
                if not all(map(same, sv, tv)):
                    return self._diagnose(entry, s)
                if verdict is None and not any(map(telling, sv, tv)):
                    unproven = unproven or self._unproven(
                        f"where {self.describe_region(case)} SymPy cannot decide it, and "
                        "at the points found there both values are too small to compare "
                        f"(below {MP.nstr(TINY, 1)})"
                    )
                    continue
                if verdict is True:  # SymPy says different, yet no point shows it
                    return Verdict(
                        ok=False,
                        diagnoses=[dx.WRONG],
                        message="SymPy finds that your formula differs from the gradient "
                        f"where {self.describe_region(case)}, although it agrees at the "
                        f"sample points; {dx.EXPLANATIONS[dx.WRONG]}",
                    )
                method = "numeric"
        if unproven is not None:
            return unproven
        n = len(self.regions.regions)
        how = (
            "proven with SymPy"
            if method == "symbolic"
            else f"checked at sample points, to {DIGITS} significant digits"
        )
        return Verdict(
            ok=True,
            message=f"correct ({how}{self._where(own)})",
            method=method,
            regions_right=n,
        )

    def describe_region(self, region: Region) -> str:
        """`z1_1 > 0, z1_2 < 0`, then a case's own conditions (`x_1 + 1000 < 0`)."""
        parts = [
            f"{u} {'>' if on else '<'} 0"
            for u, on in zip(self.regions.units, region.pattern, strict=True)
        ]
        parts += [
            f"{_short(c)} {'>' if sign > 0 else '<'} 0" for c, sign in region.extra
        ]
        return ", ".join(parts)

    def _where(self, own: Sequence[sp.Expr]) -> str:
        """Where an ok formula was shown right: how many sign regions, of how many."""
        n, possible = len(self.regions.regions), self.regions.possible
        if not self.regions.units:
            where = ""
        elif self.regions.complete:
            where = f" in all {n} sign regions"
        else:
            where = (
                f" in the {n} sign regions sampled, of the {possible} that exist; the "
                "others were not checked"
            )
        if own:
            shown = ", ".join(f"{_short(c)} = 0" for c in own[:3]) + (
                ", ..." if own[3:] else ""
            )
            where += f", and on both sides of your formula's own breakpoints ({shown})"
        return where

    def _unproven(self, why: str) -> Verdict:
        """Neither shown right nor wrong: say why, and how to make it checkable."""
        return Verdict(
            ok=False,
            method=UNPROVEN,
            message=f"not proven: {why}; write the conditions with the z's "
            "(step(z1_1), where(z1_1 > 0, ...)) or simplify the formula",
        )

    def _case_points(self, r: int, case: Region, budget: Budget) -> list[int]:
        """Sample indices inside a case of region r: its own samples there, else witnesses
        moved there from them (added to the samples; cached per case once found)."""
        own = [k for k, sample in enumerate(self.samples) if sample.region == r]
        if not case.extra:
            return own
        key = (r, case.extra)
        if key in self._cases:
            return self._cases[key]
        inside = [k for k in own if self.regions.inside(case, self.samples[k].point)]
        if not inside:
            bases = [self.samples[k].point for k in own]
            for p in self.regions.witnesses(case, bases, GATE_POINTS, budget):
                self.samples.append(_Sample(r, p))
                inside.append(len(self.samples) - 1)
        if inside:  # none found may be the budget: a later entry searches again
            self._cases[key] = inside
        return inside

    # -- evaluation ----------------------------------------------------------------------
    def _values(self, expr: sp.Expr, which: Sequence[int]) -> list[Value]:
        """An expression's values at the given samples."""
        return [
            evaluate(expr, self.samples[k].point, self.samples[k].memo) for k in which
        ]

    def _truth(self, entry: sp.Symbol, which: Sequence[int]) -> list[Value]:
        """The true gradient's values at the given samples (cached)."""
        cached = self._truth_values.setdefault(entry, {})
        for k in which:
            if k not in cached:
                cached[k] = evaluate(
                    self.truth[entry], self.samples[k].point, self.samples[k].memo
                )
        return [cached[k] for k in which]

    # -- diagnosis -----------------------------------------------------------------------
    def _diagnose(self, entry: sp.Symbol, s: sp.Expr) -> Verdict:
        """A wrong formula: which common mistake it is, and the nicest counterexample."""
        every = list(range(len(self.samples)))
        sv = self._values(s, every)
        tv = self._truth(entry, every)
        bad = [k for k in every if not same(sv[k], tv[k])]
        wrong_in = {self.samples[k].region for k in bad}
        n = len(self.regions.regions)
        codes, extra, factor = self._classify(entry, sv, tv)
        sentence = "; ".join(
            dx.scaled_per_sample(
                abs(factor) if isinstance(factor, Fraction) else None, self.error_slope
            )
            if c == dx.SCALED
            else dx.EXPLANATIONS[c]
            for c in codes
        )
        if not codes:
            codes = [dx.WRONG]
            extra = "your formula differs from the gradient at sample points"
            if self.regions.units:
                sampled = "" if self.regions.complete else " sampled"
                extra += f" in {len(wrong_in)} of the {n} sign regions{sampled}"
            sentence = dx.EXPLANATIONS[dx.WRONG]
            if bad and all(sv[k] is None for k in bad):
                where = (
                    "everywhere, once z, h and yhat are written out in x and the parameters"
                    if s.is_Atom
                    else "at points where the gradient is defined"
                )
                sentence = (
                    f"it is undefined {where} (it divides by zero, or takes the log or "
                    "square root of a number <= 0 there)"
                )
        best = min(bad, key=lambda k: _niceness(self.samples[k].point)) if bad else None
        return Verdict(
            ok=False,
            diagnoses=codes,
            message=f"{extra}: {sentence}",
            method="counterexample",
            factor=None if factor is None else _fmt(factor),
            counterexample=(
                None if best is None else self._counterexample(best, sv[best], tv[best])
            ),
            regions_right=n - len(wrong_in),
        )

    def _classify(
        self, entry: sp.Symbol, sv: list[Value], tv: list[Value]
    ) -> tuple[list[str], str, Fraction | Inexact | None]:
        """(codes, what the formula is, factor) for a known mistake, or ([], "", None)."""
        every = range(len(self.samples))
        other = self._transposed(entry)
        if other is not None and all(map(same, sv, self._truth(other, every))):
            w = names.weight(names.parse(entry.name).layer)
            return (
                [dx.TRANSPOSED],
                f"your formula is the gradient of {other}, not of {entry} "
                f"({w}_i_j connects input j to unit i)",
                None,
            )
        for layers, variant in self._mask_variants(entry):
            if all(map(same, sv, self._values(variant, every))):
                numbers = " and ".join(str(n) for n in layers)
                which = f"layer{'s' if len(layers) > 1 else ''} {numbers}"
                return (
                    [dx.MISSING_ACTIVATION_MASK],
                    f"your formula is the gradient without the activation derivative of {which}",
                    None,
                )
        factor = _common_ratio(sv, tv)
        if factor is None or factor in (0, 1):
            return [], "", None
        if factor == -1:
            return [dx.SIGN_FLIPPED], "your formula is minus the gradient", factor
        codes = [dx.SIGN_FLIPPED, dx.SCALED] if factor < 0 else [dx.SCALED]
        return codes, f"your formula is {_fmt(factor)} times the gradient", factor

    def _counterexample(self, k: int, got: Value, expected: Value) -> dict:
        """The JSON counterexample at sample k: the point, both values, z and yhat."""
        sample = self.samples[k]
        values = {s.name: _num(v) for s, v in sample.point.items()}
        shown = [*self.regions.units, *self.vocab.h[-1]]
        intermediates = {
            s.name: _num(evaluate(self.definitions[s], sample.point, sample.memo))
            for s in shown
        }
        return {
            "values": values,
            "expected": _num(expected),
            "got": _num(got),
            "intermediates": intermediates,
        }

    def _transposed(self, entry: sp.Symbol) -> sp.Symbol | None:
        """W{l}_j_i for W{l}_i_j when it exists and differs, else None."""
        name = names.parse(entry.name)
        if name is None or name.kind != "W" or name.indices[0] == name.indices[1]:
            return None
        W = self.vocab.params[names.weight(name.layer)]
        j, i = name.indices
        return W[i - 1, j - 1] if i <= W.rows and j <= W.cols else None

    def _without_masks(self, layers: frozenset[int]) -> dict[sp.Symbol, sp.Expr]:
        """Every entry's gradient with act'(z) of these hidden layers left out (cached)."""
        if layers not in self._unmasked:
            assert self.masks is not None
            self._unmasked[layers] = {
                entry: rationalize(self.expand_intermediates(g))
                for entry, g in self.masks.gradients(layers).items()
            }
        return self._unmasked[layers]

    def _mask_variants(self, entry: sp.Symbol) -> list[tuple[list[int], sp.Expr]]:
        """The gradient without act'(z) of one hidden layer, or of all of them."""
        if self.masks is None:
            return []
        t = self.truth[entry]
        singles = [
            ([n], self._without_masks(frozenset([n]))[entry]) for n in self.masks.hidden
        ]
        singles = [(layers, g) for layers, g in singles if g != t]
        if len(singles) > 1:
            every = [n for layers, _ in singles for n in layers]
            singles.append((every, self._without_masks(frozenset(every))[entry]))
        return singles


@dataclass(frozen=True)
class MaskModels:
    """The "missing activation mask" mistake: the derivation's Program with act'(Z) left out.

    `derivation.program_for(unmasked=...)` is the backprop recursion with those hidden layers'
    Hadamard factor dropped; it runs on one sample's symbols as the readable forms do.
    """

    derivation: Derivation

    @property
    def hidden(self) -> list[int]:
        """The hidden layers whose act'(Z) the Program multiplies by (not identity's 1)."""
        backward = self.derivation.program.backward
        return sorted(
            s.layer
            for s in backward
            if any(isinstance(n, Derivative) for n in walk(s.expr))
        )

    def gradients(self, unmasked: frozenset[int]) -> dict[sp.Symbol, sp.Expr]:
        """Each parameter entry's gradient, in z, h and yhat, with those layers unmasked."""
        forms = self.derivation.scalar
        assert forms is not None
        program = self.derivation.program_for(unmasked=unmasked)
        grads = readable_forms(
            program, forms.x, forms.y, forms.params, forms.z, forms.h
        )
        return {
            entry: g
            for name, matrix in forms.params.items()
            for entry, g in zip(matrix, grads[name], strict=True)
        }


def _common_ratio(sv: list[Value], tv: list[Value]) -> Fraction | Inexact | None:
    """c with s = c * t at every point (t = 0 needs s = 0), or None."""
    ratio: Fraction | Inexact | None = None
    for s, t in zip(sv, tv, strict=True):
        if s is None or t is None or s is HUGE or t is HUGE:
            return None
        if t == 0:
            if not same(s, 0 * t):
                return None
            continue
        r = s / t
        if ratio is None:
            ratio = r
        elif not same(r, ratio):
            return None
    return ratio


def _short(expr: sp.Expr, limit: int = 60) -> str:
    """An expression for a message, cut after `limit` characters."""
    text = str(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: Fraction | Inexact) -> str:
    """A factor as written: `2`, `-1/2`, or 6 significant digits."""
    if isinstance(value, Fraction):
        return str(value)
    return MP.nstr(value, 6)


def _num(value: Value) -> float | str | None:
    """A JSON number; None when undefined, and text (`3.03322e+434294`) past a float's range."""
    if value is None:
        return None
    if value is HUGE:
        return repr(HUGE)
    f = float(value)
    if math.isfinite(f) and (f != 0 or value == 0):
        return f
    return MP.nstr(value, 6)


def _niceness(point: Point) -> tuple[int, float]:
    """Fewer non-grid values, then smaller values: the counterexample a student can check."""
    values = [float(v) for v in point.values()]
    return (sum(v not in GRID for v in values), sum(abs(v) for v in values))


def unit_movers(vocab: Vocabulary) -> dict[sp.Symbol, tuple[sp.Symbol, ...]]:
    """Each unit's own bias and weights (its row of W): its pre-activation is affine in them."""
    movers = {}
    for layer, units in enumerate(vocab.z, start=1):
        W, b = vocab.params[names.weight(layer)], vocab.params[names.bias(layer)]
        for i, unit in enumerate(units):
            movers[unit] = (b[i], *W.row(i))
    return movers


def piecewise_units(
    layers: Sequence[LayerRule], z: Sequence[Sequence[sp.Symbol]]
) -> list[sp.Symbol]:
    """The pre-activations of units whose activation is piecewise (ReLU, leaky ReLU, ...)."""
    return [
        unit
        for rule, units in zip(layers, z, strict=True)
        if rule.forward.has(*PIECEWISE)
        for unit in units
    ]
