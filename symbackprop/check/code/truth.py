"""The truth check-code compares against, the probe points, and the mistake models.

Truth is the derivation's Program (the one backprop recursion the trainer prints, proven equal
to SymPy's closed forms) run with the NumPy backend of `derive.evaluate`: no trainer is built,
nothing printed is evaluated. Probes are random float64 points whose pre-activations take both
signs and stay away from kinks, at batch sizes that differ from every layer width (where the
seed's bugs show) and at each hidden width (where a per-sample bias shows). The mistake models
come from the derivation too: "act'(Z_l) left out" is `program_for(unmasked=...)`, and the
per-sample bias is the Program's forward steps with those biases added as (h, 1) columns.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ...derive import DerivationError, evaluate
from ...derive import numeric as N
from ...derive import program as P
from ...derive.points import random_targets
from ...spec import NetworkSpec, make_spec, names, registry
from . import reference
from .layout import SAMPLE_LAYOUTS, is_weight
from .sizes import batch_sizes

if TYPE_CHECKING:
    from ...derive import Derivation
    from ...printing.program import PrintedRules

POINTS_PER_BATCH = 2
# points for code that takes one example at a time: as many as a batched check's, about
ONE_EXAMPLE_POINTS = 12
# |Z| at least this fraction of the layer's largest |Z|: no entry sits on a kink, where rounding
# could flip a sign between the student's arithmetic and ours (a fixed margin fails wide layers)
KINK_MARGIN = 1e-6
_SCRATCH = "_check_code_value"  # the name a single evaluated node is stored under
# sigmoid probabilities this close to 0 or 1 are redrawn, for the first attempts of a point
# (a wide input layer saturates at every draw: then its points are kept as they come)
PROBABILITY_MARGIN = 1e-6
SATURATED_ATTEMPTS = 20

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Truth:
    """A spec's correct Program and the mistake-model programs derived with it."""

    spec: NetworkSpec
    # the correct program, in the rows layout (one sample per row); its rules are SymPy's, or
    # their trees when it comes from the shipped reference
    program: P.Program
    # hidden layers whose act'(Z) is left out -> the backward program without them
    unmasked: dict[tuple[int, ...], P.Program]
    derivation: Derivation | None = field(default=None, compare=False)
    # from the shipped reference: the correct program in each layout, its rules printed
    shipped: reference.Shipped | None = field(default=None, compare=False)

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return self.spec.depth

    def derived_program(self, layout: str) -> P.Program:
        """The Program in a layout with SymPy's rules, for the printers: derived now when the
        truth was read from the shipped reference (a wrong answer's feedback needs it)."""
        if self.shipped is not None and layout in self.shipped.programs:
            return self.shipped.programs[layout]
        d = self.derivation if self.derivation is not None else _derivation(self.spec)
        return d.program_for(layout=layout)

    @property
    def printed(self) -> PrintedRules | None:
        """The rules of the shipped programs, printed when the reference was built."""
        return self.shipped.printed if self.shipped is not None else None


def truth_spec(spec: NetworkSpec) -> NetworkSpec:
    """The part of a spec the gradients depend on, so the truth can be cached across specs."""
    return make_spec(
        layers=spec.layers,
        activations=spec.activations,
        loss=spec.loss,
        reduction=spec.reduction,
        alpha=spec.alpha,
        l2=spec.l2,
    )


@functools.lru_cache(maxsize=8)
def _derivation(spec: NetworkSpec) -> Derivation:
    # the closed forms are not needed: the Program is what the trainer prints and the proof
    # checks; the checker only runs it
    from ...derive import network  # SymPy: only for a spec the reference does not hold

    return network.derive(spec, closed_forms=False)


@functools.lru_cache(maxsize=8)
def _truth_cached(spec: NetworkSpec) -> Truth:
    shipped = reference.read_reference(spec)
    if shipped is not None:  # the seed network: no SymPy
        return Truth(spec, shipped.program, shipped.unmasked, shipped=shipped)
    return _truth_from(spec, _derivation(spec))


def _truth_from(spec: NetworkSpec, d: Derivation) -> Truth:
    """The truth and its mistake models, all Programs of one derivation."""
    hidden = tuple(range(1, spec.depth))
    models = [(k,) for k in hidden] if len(hidden) > 1 else []
    models.append(hidden)  # one layer's act' left out, then all of them
    unmasked = {m: d.program_for(unmasked=frozenset(m)) for m in models}
    return Truth(spec, d.program, unmasked, d)


def reference_text(spec: NetworkSpec) -> str:
    """The shipped reference file's text for a spec, from a fresh derivation."""
    d = _derivation(truth_spec(spec))
    truth = _truth_from(truth_spec(spec), d)
    layouts = {layout: d.program_for(layout=layout) for layout in SAMPLE_LAYOUTS}
    return reference.reference_text(truth.spec, truth.program, truth.unmasked, layouts)


def truth_for(spec: NetworkSpec, derivation: Derivation | None = None) -> Truth:
    """The (cached) truth for a spec; from `derivation` when the caller has derived it."""
    if derivation is not None and truth_spec(derivation.spec) == truth_spec(spec):
        return _truth_from(spec, derivation)
    return _truth_cached(truth_spec(spec))


def value(prog: P.Program, env: Arrays, node: P.Node) -> np.ndarray:
    """One node of `prog`'s kind evaluated on known arrays (ValueError where NumPy raises)."""
    step = P.Step(_SCRATCH, node, (), "", 0)
    return evaluate.run(prog, env, steps=(step,))[_SCRATCH]


@dataclass
class Probe:
    """One random point: parameters and batch in our layout, the truth, and mistake models."""

    n: int
    params: Arrays
    X: np.ndarray
    y: np.ndarray
    values: Arrays  # every step of the program: Z1, H1, ..., Y[, P], dZ2, gW2, ...
    forward: Arrays  # Z1, H1, ..., Y[, P]
    grads: Arrays  # W1, b1, ... -> the gradient (scaled by the reduction)
    # hidden layers whose act'(Z) is left out -> the gradients then
    no_mask: dict[tuple[int, ...], Arrays] = field(default_factory=dict)
    # layers whose bias is added per sample -> that forward pass, None where NumPy raises
    per_sample_bias: dict[tuple[int, ...], Arrays | None] = field(default_factory=dict)


def _gradients(prog: P.Program, values: Arrays) -> Arrays:
    return {param: values[step] for param, step in prog.grads.items()}


def forward_with_column_bias(
    prog: P.Program, inputs: Arrays, layers: tuple[int, ...]
) -> Arrays | None:
    """The program's forward steps with the biases of `layers` as (h, 1) columns added the
    way NumPy broadcasts them: per sample when N == h; None where NumPy raises."""
    env = dict(inputs)
    for step in prog.forward:
        if step.role == P.PRE_ACTIVATION and step.layer in layers:
            assert isinstance(step.expr, P.AddBias)
            bias = value(prog, env, step.expr.bias).reshape(-1, 1)
            try:
                env[step.name] = value(prog, env, step.expr.arg) + bias
            except ValueError:
                return None
        else:
            env = evaluate.run(prog, env, steps=(step,))
    return {s.name: env[s.name] for s in prog.forward}


def make_probes(
    truth: Truth, seed: int = 20240, one_example: bool = False
) -> list[Probe]:
    # check-code passes a new seed at every run; the default keeps tests repeatable
    """POINTS_PER_BATCH random points at every batch size, with truth and mistake models;
    `one_example`: ONE_EXAMPLE_POINTS points of batch size 1, for code that takes one
    training example at a time (Nielsen's backprop(x, y))."""
    rng = np.random.default_rng(seed)
    spec, prog = truth.spec, truth.program
    depth = truth.depth
    shapes = {name: spec.param_shape(name) for name in spec.param_names}
    kinked = [k for k in range(1, depth + 1) if k < depth or not _is_identity(prog)]
    probes = []
    sizes = [1] if one_example else batch_sizes(spec.layers)
    points = ONE_EXAMPLE_POINTS if one_example else POINTS_PER_BATCH
    for n in sizes:
        for _ in range(points):
            for _attempt in range(2000):
                params = {k: rng.normal(size=s) for k, s in shapes.items()}
                for k in params:
                    # biases clearly nonzero: a misplaced one shows
                    if not is_weight(k):
                        params[k] = np.sign(params[k]) * (0.3 + np.abs(params[k]))
                X = rng.normal(size=(n, spec.layers[0]))
                kind = registry.loss(spec.loss).targets
                y = random_targets(kind, spec.layers[-1], rng, n)
                inputs = {names.INPUTS: X, names.TARGETS: y, **params}
                fwd = evaluate.run(prog, inputs, steps=prog.forward)
                zs = [fwd[names.pre_activation(k)] for k in kinked]
                hidden = [fwd[names.pre_activation(k)] for k in range(1, depth)]
                finite = all(np.isfinite(v).all() for v in fwd.values())  # wide softmax
                if (
                    finite
                    # the first attempts keep sigmoid probabilities off 0 and 1
                    and (_attempt >= SATURATED_ATTEMPTS or not _saturated(spec, fwd))
                    and all(
                        np.min(np.abs(z)) > KINK_MARGIN * np.max(np.abs(z)) for z in zs
                    )
                    and all(
                        (z > 0).any() and (z < 0).any() for z in hidden if z.size > 1
                    )
                ):
                    break
            else:
                raise DerivationError(
                    "could not draw probe points with mixed-sign activations"
                )
            probes.append(_probe(truth, params, X, y, fwd))
    return probes


def _saturated(spec: NetworkSpec, fwd: Arrays) -> bool:
    """Whether a sigmoid or softmax output's probabilities come within PROBABILITY_MARGIN of
    0 or 1, where a course's dA = -(Y/A - (1-Y)/(1-A)) divides by zero or loses its digits
    (a wide layer's always do: then they are drawn anyway, after SATURATED_ATTEMPTS)."""
    if registry.loss(spec.loss).output is None:
        return False
    Y = fwd[names.OUTPUTS]
    return bool(np.any((Y < PROBABILITY_MARGIN) | (Y > 1 - PROBABILITY_MARGIN)))


def _is_identity(prog: P.Program) -> bool:
    """The output layer's act(z) = z, read off the program's own rule (no SymPy needed)."""
    step = prog.step(names.activation(prog.depth, prog.depth))
    if isinstance(step.expr, P.Link):  # softmax over the outputs
        return False
    assert isinstance(step.expr, P.Activate)
    return N.is_identity(step.expr.rule)


_KEPT: dict[tuple[int, int, bool], tuple[Truth, list[Probe]]] = {}


def probes_for(truth: Truth, seed: int, one_example: bool = False) -> list[Probe]:
    """`make_probes(truth, seed, one_example)`, kept for the next call with the same
    arguments (a batch's submissions share its points); the kept arrays are read-only."""
    key = (id(truth), seed, one_example)
    kept = _KEPT.get(key)
    if kept is None or kept[0] is not truth:
        _KEPT.clear()  # one run's points at a time
        probes = make_probes(truth, seed, one_example)
        for probe in probes:
            _freeze(probe)
        kept = _KEPT[key] = (truth, probes)
    return kept[1]


def _freeze(probe: Probe) -> None:
    """Make every array of a probe read-only, so one submission's check cannot change the
    points the next is judged at."""
    arrays = [probe.X, probe.y, *probe.params.values(), *probe.values.values()]
    arrays += [*probe.forward.values(), *probe.grads.values()]
    for group in [*probe.no_mask.values(), *probe.per_sample_bias.values()]:
        arrays += list((group or {}).values())
    for array in arrays:
        if isinstance(array, np.ndarray):
            array.setflags(write=False)


def _probe(
    truth: Truth, params: Arrays, X: np.ndarray, y: np.ndarray, fwd: Arrays
) -> Probe:
    prog = truth.program
    values = evaluate.run(prog, fwd)
    forward = {s.name: values[s.name] for s in prog.forward}
    probe = Probe(len(X), params, X, y, values, forward, _gradients(prog, values))
    for layers, model in truth.unmasked.items():  # the forward pass is the same
        probe.no_mask[layers] = _gradients(model, evaluate.run(model, fwd))
    wide = [k for k in range(1, truth.depth + 1) if truth.spec.layers[k] > 1]
    inputs = {names.INPUTS: X, names.TARGETS: y, **params}
    for layers in sorted({tuple(wide)} | {(k,) for k in wide}):
        if layers:
            probe.per_sample_bias[layers] = forward_with_column_bias(
                prog, inputs, layers
            )
    return probe
