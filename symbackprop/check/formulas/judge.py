"""Decide whether a student's formula equals SymPy's gradient, and if not, what went wrong.

Equality is decided region by region (see regions.py): numerically at sample points
first (cheap, and it yields counterexamples), then proven with SymPy (`expand` of the
difference in each region). A wrong formula is compared with the usual mistakes: the negative,
a constant multiple, the gradient without the activation mask (the derivation's Program with
act'(Z) left out, `MaskModels`), the transposed entry's gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from ...derive import Derivation, LayerRule
from ...derive.closed_forms import readable_forms
from ...derive.program import Derivative, walk
from ...spec import names
from .. import diagnoses as dx
from .regions import GRID, Point, Region, RegionSet, Value, evaluate, same
from .vocab import PIECEWISE, Vocabulary


@dataclass
class Verdict:
    """The outcome for one entry: ok or wrong, with the evidence."""

    ok: bool
    diagnoses: list[str] = field(default_factory=list)
    message: str = ""
    # "symbolic": proven equal in every region; "numeric": equal at every sample point (where
    # SymPy could not decide); "counterexample": wrong, shown by exact evaluation at a point
    method: str = "symbolic"
    factor: str | None = None  # for `scaled`: the constant, e.g. "2" or "1/2"
    counterexample: dict | None = None
    regions_right: int = 0  # regions where the formula is right


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
    ) -> None:
        """Sample the regions once; entries are then judged against `gradients`."""
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
        )
        self.samples = [
            _Sample(r, p, gate=k < len(region.gate))
            for r, region in enumerate(self.regions.regions)
            for k, p in enumerate(region.points)
        ]
        self._truth_values: dict[sp.Symbol, list[Value]] = {}
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
        """Compare a student's formula (any notation) with the true gradient of one entry."""
        s = self.expand_intermediates(student)
        t = self.truth[entry]
        gate = [k for k, sample in enumerate(self.samples) if sample.gate]
        if not all(map(same, self._values(s, gate), self._truth(entry, gate))):
            return self._diagnose(entry, s)
        method = "symbolic"
        for r, region in enumerate(self.regions.regions):
            verdict = self.regions.differ(s, t, region)
            if verdict is False:
                continue
            points = [k for k, sample in enumerate(self.samples) if sample.region == r]
            agree = all(map(same, self._values(s, points), self._truth(entry, points)))
            if not agree:
                return self._diagnose(entry, s)
            if verdict is True:  # SymPy says different, yet no point shows it
                return Verdict(
                    ok=False,
                    diagnoses=[dx.WRONG],
                    message="SymPy finds that your formula differs from the gradient in the "
                    f"region {self.describe_region(region)}, although it agrees at the "
                    f"sample points; {dx.EXPLANATIONS[dx.WRONG]}",
                )
            method = "numeric"
        n = len(self.regions.regions)
        how = (
            "proven with SymPy" if method == "symbolic" else "checked at sample points"
        )
        where = f" in all {n} sign regions" if self.regions.units else ""
        return Verdict(
            ok=True, message=f"correct ({how}{where})", method=method, regions_right=n
        )

    def describe_region(self, region: Region) -> str:
        """`z1_1 > 0, z1_2 < 0`."""
        return ", ".join(
            f"{u} {'>' if on else '<'} 0"
            for u, on in zip(self.regions.units, region.pattern, strict=True)
        )

    # -- evaluation ----------------------------------------------------------------------
    def _values(self, expr: sp.Expr, which: Sequence[int]) -> list[Value]:
        """An expression's values at the given samples."""
        return [
            evaluate(expr, self.samples[k].point, self.samples[k].memo) for k in which
        ]

    def _truth(self, entry: sp.Symbol, which: Sequence[int]) -> list[Value]:
        """The true gradient's values at the given samples (cached)."""
        cached = self._truth_values.setdefault(entry, [None] * len(self.samples))
        for k in which:
            if cached[k] is None:
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
        if not codes:
            codes = [dx.WRONG]
            extra = "your formula differs from the gradient"
            if self.regions.units:
                extra += f" in {len(wrong_in)} of {n} sign regions"
        sentence = "; ".join(dx.EXPLANATIONS[c] for c in codes)
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
    ) -> tuple[list[str], str, Fraction | float | None]:
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


def _common_ratio(sv: list[Value], tv: list[Value]) -> Fraction | float | None:
    """c with s = c * t at every point (t = 0 needs s = 0), or None."""
    ratio: Fraction | float | None = None
    for s, t in zip(sv, tv, strict=True):
        if s is None or t is None:
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


def _fmt(value: Fraction | float) -> str:
    """A factor as written: `2`, `-1/2`, or 6 significant digits."""
    if isinstance(value, Fraction):
        return str(value)
    return f"{value:.6g}"


def _num(value: Value) -> float | None:
    """A JSON number (None when undefined)."""
    return None if value is None else float(value)


def _niceness(point: Point) -> tuple[int, float]:
    """Fewer non-grid values, then smaller values: the counterexample a student can check."""
    values = [float(v) for v in point.values()]
    return (sum(v not in GRID for v in values), sum(abs(v) for v in values))


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
