"""The truth check-code compares against, the probe points, and the student's array layouts.

Truth is the generated trainer (itself proven equal to SymPy's closed forms), built once per
spec. Probes are random float64 points whose pre-activations take both signs and stay away
from kinks, at batch sizes that differ from every layer width (where the seed's bugs show) and
at each hidden width (where a per-sample bias shows). Mistake models (no activation mask,
swapped product factors, per-sample bias) are computed here with the derivation's own rules.
"""

from __future__ import annotations

import functools
import itertools
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...derive import DerivationError
from ...spec import NetworkSpec, make_spec

POINTS_PER_BATCH = 2
GENERIC_BATCHES = (3, 5, 7)
KINK_MARGIN = 0.05

# W as (units, inputs) like the derivation, or transposed
WEIGHT_LAYOUTS = ("out_in", "in_out")
VECTOR = (
    "vec"  # a single unit's weights as a vector (inputs,): only when the file says so
)
BIAS_LAYOUTS = ("flat", "row", "col")  # (h,), (1, h), (h, 1)
TARGET_LAYOUTS = ("2d", "1d")  # y as (N, k), or (N,) for a single output


@dataclass(frozen=True)
class Truth:
    """The generated trainer of a spec, its derivation and NumPy forms of its entrywise rules."""

    spec: NetworkSpec
    module: types.ModuleType
    derivation: object
    activation: tuple[Callable[[np.ndarray], np.ndarray], ...]  # act_l(z), per layer
    derivative: tuple[
        Callable[[np.ndarray, np.ndarray], np.ndarray], ...
    ]  # act_l'(z, h)

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return self.spec.depth


def truth_spec(spec: NetworkSpec) -> NetworkSpec:
    """The part of a spec the gradients depend on, so the truth can be cached across specs."""
    fields = dict(layers=spec.layers, activations=spec.activations, loss=spec.loss)
    fields["reduction"] = spec.reduction
    if hasattr(spec, "alpha"):
        fields["alpha"] = spec.alpha
    return make_spec(**fields)


@functools.lru_cache(maxsize=8)
def _truth_cached(spec: NetworkSpec) -> Truth:
    from ...derive import H, Z
    from ...emit import trainer as codegen
    from ...printing import numpy as printing

    built = codegen.build_trainer(spec, command="symbackprop check-code")
    module = codegen.load_trainer(built.source, name="symbackprop_check_truth")
    acts, derivs = [], []
    for rule in built.derivation.layers:
        fwd = printing.numpy_expr(rule.forward, {Z: "z"})
        der = printing.numpy_expr(rule.derivative, {Z: "z", H: "h"})
        # our own derivation's printed NumPy, the same text the trainer is made of
        acts.append(eval(f"lambda z: {fwd}", {"np": np}))  # noqa: S307
        derivs.append(eval(f"lambda z, h: {der}", {"np": np}))  # noqa: S307
    return Truth(spec, module, built.derivation, tuple(acts), tuple(derivs))


def truth_for(spec: NetworkSpec) -> Truth:
    """The (cached) truth for a spec."""
    return _truth_cached(truth_spec(spec))


@dataclass
class Probe:
    """One random point: our-layout parameters and batch, the truth, and mistake models."""

    n: int
    params: dict[str, np.ndarray]
    X: np.ndarray
    y: np.ndarray
    forward: dict[str, np.ndarray]  # Z1, H1, ..., Y from the trainer
    grads: dict[str, np.ndarray]  # from the trainer
    dZ: dict[int, np.ndarray]  # d loss / d Z_l (scaled by the reduction)
    # mistake model "no activation derivative" (label: which layer's, or "all") -> gradients
    no_mask: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    # layers whose bias is added per sample -> that forward pass, None where NumPy raises
    per_sample_bias: dict[tuple[int, ...], dict[str, np.ndarray] | None] = field(
        default_factory=dict
    )


def batch_sizes(layers: tuple[int, ...]) -> list[int]:
    """Sizes off every width (3, 5, 7 shifted as needed), plus each hidden width above 1."""
    sizes: list[int] = []
    for n in GENERIC_BATCHES:
        while n in layers or n in sizes:
            n += 1
        sizes.append(n)
    widths = sorted({w for w in layers[1:] if w > 1})
    return sorted(set(sizes) | set(widths))


def _backward(
    truth: Truth,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    fwd: dict[str, np.ndarray],
    dZ_out: np.ndarray,
    masked: Callable[[int], bool],
) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
    """Backprop with the derivation's rules; act'(Z_l) is left out where masked(l) is False."""
    L = truth.depth
    grads: dict[str, np.ndarray] = {}
    dZ = {L: dZ_out}
    for l in range(L, 0, -1):  # noqa: E741 - the layer index, as in the notation W^(l)
        prev = X if l == 1 else fwd[f"H{l - 1}"]
        grads[f"W{l}"] = dZ[l].T @ prev
        grads[f"b{l}"] = dZ[l].sum(axis=0)
        if l > 1:
            back = dZ[l] @ params[f"W{l}"]
            if masked(l - 1):
                z, h = fwd[f"Z{l - 1}"], fwd[f"H{l - 1}"]
                back = back * np.broadcast_to(truth.derivative[l - 2](z, h), z.shape)
            dZ[l - 1] = back
    return grads, dZ


def _forward_per_sample(
    truth: Truth, params: dict[str, np.ndarray], X: np.ndarray, layers: tuple[int, ...]
) -> dict[str, np.ndarray] | None:
    """The forward pass when the biases of `layers` are (h, 1) columns added as NumPy does:
    per sample when N == h, an error (None) for any other N > 1."""
    out: dict[str, np.ndarray] = {}
    a = X
    n = X.shape[0]
    for l in range(1, truth.depth + 1):  # noqa: E741
        b = params[f"b{l}"]
        z = a @ params[f"W{l}"].T
        if l in layers:
            if n != b.shape[0]:
                return None
            z = z + b[:, None]
        else:
            z = z + b
        out[f"Z{l}"] = z
        a = np.asarray(truth.activation[l - 1](z), dtype=float) * np.ones_like(z)
        out["Y" if l == truth.depth else f"H{l}"] = a
    return out


def make_probes(truth: Truth, seed: int = 20240) -> list[Probe]:
    """POINTS_PER_BATCH random points at every batch size, with truth and mistake models."""
    rng = np.random.default_rng(seed)
    spec = truth.spec
    mean = spec.reduction == "mean"
    module = truth.module
    shapes = {name: spec.param_shape(name) for name in spec.param_names}
    hidden = range(1, truth.depth)
    kinked = [
        l
        for l in range(1, truth.depth + 1)  # noqa: E741
        if l < truth.depth or spec.activations[-1] != "identity"
    ]
    probes = []
    for n in batch_sizes(spec.layers):
        for _ in range(POINTS_PER_BATCH):
            for _attempt in range(2000):
                params = {k: rng.normal(size=s) for k, s in shapes.items()}
                for k in params:
                    if k.startswith(
                        "b"
                    ):  # biases clearly nonzero, so a misplaced one shows
                        params[k] = np.sign(params[k]) * (0.3 + np.abs(params[k]))
                X = rng.normal(size=(n, spec.layers[0]))
                y = _targets(spec, rng, n)
                fwd = module.forward(params, X)
                zs = [fwd[f"Z{l}"] for l in kinked]  # noqa: E741
                if all(np.min(np.abs(z)) > KINK_MARGIN for z in zs) and all(
                    (z > 0).any() and (z < 0).any()
                    for z in (fwd[f"Z{l}"] for l in hidden)  # noqa: E741
                ):
                    break
            else:
                raise DerivationError(
                    "could not draw probe points with mixed-sign activations"
                )
            probes.append(_probe(truth, params, X, y, fwd, mean))
    return probes


def _targets(spec: NetworkSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    """Targets of the loss's kind: real values, 0/1 labels, or one-hot rows."""
    from ...spec import registry

    k = spec.layers[-1]
    kind = getattr(registry.loss(spec.loss), "targets", "real")
    if kind == "binary":
        return rng.integers(0, 2, size=(n, k)).astype(float)
    if kind == "one_hot":
        return np.eye(k)[rng.integers(0, k, size=n)]
    return rng.normal(size=(n, k))


def _probe(
    truth: Truth,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    fwd: dict[str, np.ndarray],
    mean: bool,
) -> Probe:
    module = truth.module
    L = truth.depth
    n = X.shape[0]
    grads = module.gradients(params, X, y)
    # the output error of each sample, as the trainer computes it: gb_L of a batch of one
    dZ_out = np.stack(
        [
            module.gradients(params, X[i : i + 1], y[i : i + 1])[f"b{L}"]
            for i in range(n)
        ]
    )
    scale = 1.0 / n if mean else 1.0
    ours, dZ = _backward(truth, params, X, fwd, dZ_out * scale, lambda _: True)
    for name, g in grads.items():
        if not np.allclose(ours[name], g, rtol=1e-10, atol=1e-12):
            raise DerivationError(
                f"check-code's backward model disagrees with the trainer on {name}"
            )
    probe = Probe(
        n, params, X, y, {k: np.asarray(v) for k, v in fwd.items()}, grads, dZ
    )
    hidden = list(range(1, L))
    labels: list[tuple[str, Callable[[int], bool]]] = []
    if len(hidden) > 1:  # one layer's mask missing, then all of them
        labels += [(f"H{k}", lambda l, k=k: l != k) for k in hidden]  # noqa: E741
    labels.append(("all", lambda _: False))
    for label, masked in labels:
        probe.no_mask[label] = _backward(truth, params, X, fwd, dZ_out * scale, masked)[
            0
        ]
    wide = [l for l in range(1, L + 1) if truth.spec.layers[l] > 1]  # noqa: E741
    subsets = {tuple(wide)} | {(l,) for l in wide}  # noqa: E741
    ours_fwd = _forward_per_sample(truth, params, X, ())
    if ours_fwd is not None and all(
        np.allclose(ours_fwd[k], probe.forward[k], rtol=1e-10, atol=1e-12)
        for k in ours_fwd
    ):
        for layers in sorted(s for s in subsets if s):
            probe.per_sample_bias[layers] = _forward_per_sample(
                truth, params, X, layers
            )
    return probe


@dataclass(frozen=True)
class Layout:
    """How the student stores each parameter and the targets."""

    weights: tuple[tuple[str, str], ...]  # (W1, "out_in"), ...
    biases: tuple[tuple[str, str], ...]  # (b1, "col"), ...
    targets: str

    def of(self, name: str) -> str:
        """The layout of one parameter."""
        return dict(self.weights + self.biases)[name]

    def to_student(self, name: str, value: np.ndarray) -> np.ndarray:
        """A parameter (or its gradient) in our layout -> the student's layout."""
        kind = self.of(name)
        if kind == "in_out":
            return value.T.copy()
        if kind == VECTOR:
            return value.reshape(-1)
        if kind == "row":
            return value.reshape(1, -1)
        if kind == "col":
            return value.reshape(-1, 1)
        return value

    def targets_to_student(self, value: np.ndarray) -> np.ndarray:
        """y or Y, (N, k) -> the student's layout."""
        return value.reshape(-1) if self.targets == "1d" else value

    def describe(self, spec: NetworkSpec) -> str:
        """`W1 (2, 2) and W2 (1, 2) as (units, inputs); b1 (2, 1) ... as columns (h, 1)`."""
        words = {
            "out_in": "as (units, inputs)",
            "in_out": "as (inputs, units)",
            VECTOR: "as a vector (inputs,)",
            "flat": "as vectors (h,)",
            "row": "as rows (1, h)",
            "col": "as columns (h, 1)",
        }
        parts = []
        for group in (self.weights, self.biases):
            by_kind: dict[str, list[str]] = {}
            for name, kind in group:
                shape = self.to_student(name, np.zeros(spec.param_shape(name))).shape
                by_kind.setdefault(kind, []).append(f"{name} {shape}")
            parts += [f"{' and '.join(v)} {words[k]}" for k, v in by_kind.items()]
        k = spec.layers[-1]
        parts.append(
            f"X (N, {spec.layers[0]}), y "
            + ("(N,)" if self.targets == "1d" else f"(N, {k})")
        )
        return "; ".join(parts)


def _shape_in(layout: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if layout == "in_out":
        return shape[::-1]
    if layout == VECTOR:
        return (shape[1],) if shape[0] == 1 else ()
    if layout == "row":
        return (1, shape[0])
    if layout == "col":
        return (shape[0], 1)
    return shape


def _fits(
    layout: str, our_shape: tuple[int, ...], student_shape: tuple[int, ...]
) -> bool:
    return _shape_in(layout, our_shape) == tuple(student_shape)


def candidate_layouts(
    spec: NetworkSpec, initial: dict[str, tuple[int, ...]]
) -> list[Layout]:
    """Layouts to try, best guess first: the file's initial arrays decide where they can
    (a parameter whose shape fits no layout is a UserError); otherwise every consistent one."""
    from ...errors import UserError

    L = spec.depth
    for name in spec.param_names:
        if name in initial:
            options = (*WEIGHT_LAYOUTS, VECTOR) if name[0] == "W" else BIAS_LAYOUTS
            if not any(
                _fits(o, spec.param_shape(name), initial[name]) for o in options
            ):
                want = spec.param_shape(name)
                ways = (
                    (f"{want} or {want[::-1]}" if want[0] != want[1] else str(want))
                    if name[0] == "W"
                    else f"({want[0]},), (1, {want[0]}) or ({want[0]}, 1)"
                )
                raise UserError(
                    f"the file's {name} has shape {tuple(initial[name])}, which does not fit the "
                    f"network {'-'.join(map(str, spec.layers))} ({name} should be {ways}); pass "
                    "--layers (and --activations) matching the notebook"
                )
    targets = ["2d"]
    if spec.layers[-1] == 1:
        y_shape = initial.get("y")
        targets = ["1d"] if y_shape is not None and len(y_shape) == 1 else ["2d"]
        if y_shape is None:
            targets = list(TARGET_LAYOUTS)
    overrides_of: dict[Layout, int] = {}  # in the order first met: the preferred first
    for w_kind, b_kind, t_kind in itertools.product(
        WEIGHT_LAYOUTS, BIAS_LAYOUTS, targets
    ):
        overrides = 0
        weights, biases = [], []
        for l in range(1, L + 1):  # noqa: E741
            for name, kind, options, out in (
                (f"W{l}", w_kind, (*WEIGHT_LAYOUTS, VECTOR), weights),
                (f"b{l}", b_kind, BIAS_LAYOUTS, biases),
            ):
                shape = spec.param_shape(name)
                if name in initial and not _fits(kind, shape, initial[name]):
                    kind = next(o for o in options if _fits(o, shape, initial[name]))
                    overrides += 1
                out.append((name, kind))
        layout = Layout(tuple(weights), tuple(biases), t_kind)
        overrides_of[layout] = min(overrides, overrides_of.get(layout, overrides))
    fewest = min(overrides_of.values())
    return [layout for layout, o in overrides_of.items() if o == fewest]
