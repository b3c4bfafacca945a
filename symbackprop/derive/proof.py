"""Prove the vectorized program equal to SymPy's closed forms: symbolically, and on emitted code.

`prove_symbolic` runs the Program on SymPy matrices of one sample and expands the difference to
the closed forms. `prove_module` runs the generated trainer itself (not a re-implementation of
it) against `lambdify` of the closed forms at random points whose pre-activations take both
signs and stay away from the kinks; past the closed forms' size, narrow proxies stand in.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import numpy as np
import sympy as sp

from ..errors import DerivationError
from ..spec import NetworkSpec, make_spec, names, optimizers
from . import evaluate
from .closed_forms import PROXY_WIDTH, SCALAR_COST_LIMIT, ScalarForms, closed_form_cost
from .derivation import Derivation
from .points import max_rel_error, random_targets
from .program import Program

POINTS = 4  # random parameter/data draws per proof
RTOL = 1e-10
# a float32 trainer computes the same maths rounded to ~6e-8 per operation: its gradients are
# compared normwise (the largest difference over the largest entry), within this
RTOL_FLOAT32 = 1e-4


def _dtype(module: types.ModuleType) -> type:
    """The trainer's dtype (float64 when it names none)."""
    return getattr(module, "DTYPE", np.float64)


def _tolerance(module: types.ModuleType) -> float:
    """RTOL, or RTOL_FLOAT32 for a float32 trainer."""
    return RTOL if _dtype(module) == np.float64 else RTOL_FLOAT32


def _error(module: types.ModuleType, got: np.ndarray, want: np.ndarray) -> float:
    """The error in units of the tolerance (above 1 fails): entrywise relative for float64,
    normwise for float32, whose tiny entries carry the rounding of the large ones."""
    if _dtype(module) == np.float64:
        return max_rel_error(got, want) / RTOL
    diff = np.max(np.abs(np.asarray(got, float) - want), initial=0.0)
    return float(diff / max(np.max(np.abs(want), initial=0.0), 1e-12)) / RTOL_FLOAT32


KINK_MARGIN = 1e-2


def batch_size(layers: tuple[int, ...]) -> int:
    """A batch size different from every layer width (the seed's bugs hide at N = h = d)."""
    n = 5
    while n in layers:
        n += 1
    return n


def random_point(
    module: types.ModuleType, rng: np.random.Generator, layers: tuple[int, ...]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Parameters and a batch whose every pre-activation is mixed in sign and off the kinks."""
    n = batch_size(layers)
    for _ in range(1000):
        params = {
            name: rng.normal(size=np.shape(value))
            for name, value in module.init_params(0).items()
        }
        X = rng.normal(size=(n, layers[0]))
        y = random_targets(module.TARGETS, module.LAYERS[-1], rng, n)
        dtype = _dtype(module)
        params = {k: v.astype(dtype) for k, v in params.items()}
        X, y = X.astype(dtype), y.astype(dtype)
        cache = module.forward(params, X)
        zs = [cache[names.pre_activation(k)] for k in range(1, len(layers))]
        if all(np.min(np.abs(z)) > KINK_MARGIN for z in zs) and all(
            (z > 0).any() and (z < 0).any() for z in zs
        ):
            return params, X, y
    raise DerivationError("could not draw a point with mixed-sign pre-activations")


def closed_form_function(d: Derivation) -> Callable[..., list[object]]:
    """lambdify of every closed-form gradient entry (with CSE), over one sample's symbols."""
    assert d.scalar is not None
    s = d.scalar
    args = [*s.x, *s.y, *[p for name in d.spec.param_names for p in s.params[name]]]
    flat = [g for name in d.spec.param_names for g in s.gradients[name]]
    return sp.lambdify(args, flat, modules="numpy", cse=True)


def closed_form_gradients(
    d: Derivation,
    fn: Callable[..., list[object]],
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
) -> dict[str, np.ndarray]:
    """Batch gradients from the closed forms: each sample's entries, summed (or averaged)."""
    flat_params = [
        float(v) for name in d.spec.param_names for v in np.ravel(params[name])
    ]
    n = X.shape[0]
    values = fn(*X.T, *y.T, *flat_params)
    out = {}
    k = 0
    for name in d.spec.param_names:
        shape = np.shape(params[name])
        size = int(np.prod(shape))
        entries = [
            np.broadcast_to(np.asarray(v, dtype=float), (n,)).sum()
            for v in values[k : k + size]
        ]
        k += size
        total = np.array(entries).reshape(shape)
        out[name] = total / n if d.spec.reduction == "mean" else total
    return out


def check_against_closed_forms(
    d: Derivation, module: types.ModuleType, seed: int = 0
) -> float:
    """Raise DerivationError unless the module's gradients match the closed forms everywhere tried."""
    fn = closed_form_function(d)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(POINTS):
        params, X, y = random_point(module, rng, d.spec.layers)
        got = module.gradients(params, X, y)
        want = closed_form_gradients(d, fn, params, X, y)
        plain = module.backward(params, X, y)
        for name in d.spec.param_names:
            err = _error(module, plain[name], want[name])
            if plain[name].shape != want[name].shape or err > 1:
                raise DerivationError(
                    f"backward(): gradient {name} differs from SymPy's closed form"
                )
            if got[name].shape != want[name].shape:
                raise DerivationError(
                    f"gradient {name} has shape {got[name].shape}, expected {want[name].shape}"
                )
            err = _error(module, got[name], want[name]) * _tolerance(module)
            worst = max(worst, err)
            if err > _tolerance(module):
                raise DerivationError(
                    f"gradient {name}: emitted code differs from SymPy's closed form (rel. error {err:.2e})"
                )
    return worst


def directional_check(
    module: types.ModuleType, layers: tuple[int, ...], seed: int = 0
) -> float:
    """Central finite difference of the loss along one random direction vs the gradient's dot product."""
    rng = np.random.default_rng(seed)
    params, X, y = random_point_cheap(module, rng, layers)
    grads = module.gradients(params, X, y)
    direction = {k: rng.normal(size=v.shape) for k, v in params.items()}
    eps = 1e-6
    plus = {k: v + eps * direction[k] for k, v in params.items()}
    minus = {k: v - eps * direction[k] for k, v in params.items()}
    numeric = (module.loss(plus, X, y) - module.loss(minus, X, y)) / (2 * eps)
    analytic = sum(float(np.sum(grads[k] * direction[k])) for k in params)
    err = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-12)
    if err > (1e-5 if _dtype(module) == np.float64 else 1e-3):
        raise DerivationError(
            f"directional derivative differs from finite differences (rel. error {err:.2e})"
        )
    return err


def random_point_cheap(
    module: types.ModuleType, rng: np.random.Generator, layers: tuple[int, ...]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Initialised parameters and a random batch: for wide networks, where exact sign patterns don't matter."""
    params = module.init_params(int(rng.integers(1 << 31)))
    params = {k: v + 0.1 * rng.normal(size=v.shape) for k, v in params.items()}
    n = batch_size(layers)
    return (
        params,
        rng.normal(size=(n, layers[0])),
        random_targets(module.TARGETS, module.LAYERS[-1], rng, n),
    )


def prove_symbolic(
    spec: NetworkSpec, program: Program, scalar: ScalarForms
) -> tuple[int, int]:
    """Prove entry by entry that the Program, run on one symbolic sample, gives the closed forms.

    Returns (entries proven symbolically, entries in all). An entry whose difference does not
    expand to 0 (exp/log forms, or softmax where equality needs sum(y) = 1) is left to the
    numeric proof, which runs on every emitted trainer.
    """
    row = sp.Matrix.transpose if program.layout == "rows" else (lambda m: m)
    inputs = {
        names.INPUTS: row(sp.Matrix(scalar.x)),
        names.TARGETS: row(sp.Matrix(scalar.y)),
        **scalar.params,
    }
    out = evaluate.run(program, inputs, backend="sympy")
    proven = total = 0
    for name in spec.param_names:
        vec = out[program.grads[name]]
        for v, c in zip(vec, scalar.gradients[name], strict=True):
            total += 1
            proven += sp.expand(v - c) == 0
    return proven, total


def proxy_specs(spec: NetworkSpec) -> list[NetworkSpec]:
    """Narrow networks with the same activations, loss and reduction, small enough for closed forms.

    The same depth at width 2 when that is cheap; else one 2-hidden-layer network per distinct
    hidden activation (enough to exercise every rule: the output error, and the delta recursion
    through each activation into the layer below).
    """
    common = dict(
        loss=spec.loss, reduction=spec.reduction, alpha=spec.alpha, dtype=spec.dtype
    )
    narrow = make_spec(
        layers=tuple(min(n, PROXY_WIDTH) for n in spec.layers),
        activations=spec.activations,
        name=f"{spec.name}_proxy",
        **common,
    )
    if closed_form_cost(narrow) <= SCALAR_COST_LIMIT:
        return [narrow]
    out_width = min(spec.layers[-1], PROXY_WIDTH)
    return [
        make_spec(
            layers=(PROXY_WIDTH, PROXY_WIDTH, PROXY_WIDTH, out_width),
            activations=(act, act, spec.activations[-1]),
            name=f"{spec.name}_proxy_{act}",
            **common,
        )
        for act in dict.fromkeys(spec.activations[:-1])
    ]


UPDATE_STEPS = 3  # steps of every optimizer checked against its rules


def check_updates(module: types.ModuleType, seed: int = 0) -> float:
    """Run each optimizer of the trainer UPDATE_STEPS times on random weights, gradients and
    state, against its registry rules evaluated node by node; raise unless they agree.

    The updates are entrywise, so small arrays of each parameter's rank prove them: each axis
    is cut to at most 2, 3, ... entries (distinct, so a wrong axis still shows, and a 1 stays
    a 1), which keeps the cost the same at every width."""
    rng = np.random.default_rng(seed)
    dtype = _dtype(module)
    worst = 0.0
    shapes = {
        k: tuple(min(n, 2 + axis) for axis, n in enumerate(np.shape(v)))
        for k, v in module.init_params(0).items()
    }

    def draw(shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(size=shape).astype(dtype)

    for entry in optimizers.OPTIMIZERS.values():
        params = {k: draw(shape) for k, shape in shapes.items()}
        state = module.init_state(params, entry.name)
        # nonzero state (a second moment positive), so every term of a rule counts
        for key in entry.state:
            state[key] = {k: np.abs(draw(v.shape)) for k, v in params.items()}
        want = {k: v.astype(np.float64) for k, v in params.items()}
        kept = {
            key: {k: v.astype(np.float64) for k, v in state[key].items()}
            for key in entry.state
        }
        for t in range(1, UPDATE_STEPS + 1):
            grads = {k: draw(v.shape) for k, v in params.items()}
            lr = float(rng.uniform(0.01, 0.1))
            module.UPDATES[entry.name](
                params, state, tuple(grads[k].copy() for k in module.PARAM_NAMES), lr
            )
            for k in want:
                env = {
                    optimizers.symbol("theta"): want[k],
                    optimizers.symbol("g"): grads[k].astype(np.float64),
                    optimizers.symbol("eta"): lr,
                    optimizers.symbol("t"): float(t),
                    **{optimizers.symbol(h): state[h] for h in entry.hyper},
                    **{optimizers.symbol(key): kept[key][k] for key in entry.state},
                }
                for name, expr in entry.rules():
                    env[optimizers.symbol(name)] = evaluate.numeric(expr, env)
                want[k] = env[optimizers.symbol("theta")]
                for key in entry.state:
                    kept[key][k] = env[optimizers.symbol(key)]
        for k in want:
            err = _error(module, params[k], want[k])
            worst = max(worst, err * _tolerance(module))
            if err > 1:
                raise DerivationError(
                    f"optimizer {entry.name}: the update of {k} differs from its rules "
                    f"(rel. error {err * _tolerance(module):.2e})"
                )
    return worst


def prove_module(
    d: Derivation,
    module: types.ModuleType,
    proxy: Callable[[NetworkSpec], tuple[Derivation, types.ModuleType]],
) -> str:
    """Run the numeric proof that fits the derivation's route; return a sentence saying what
    was proven. `proxy` derives a proxy spec (with closed forms) and loads its trainer."""
    updates = check_updates(module)
    rules = (
        f"; every optimizer's update ({', '.join(optimizers.OPTIMIZERS)}) equals its "
        f"rules over {UPDATE_STEPS} steps (max rel. error {updates:.1e})"
    )
    return _prove_gradients(d, module, proxy) + rules


def _prove_gradients(
    d: Derivation,
    module: types.ModuleType,
    proxy: Callable[[NetworkSpec], tuple[Derivation, types.ModuleType]],
) -> str:
    """The gradients' part of prove_module."""
    if d.scalar is not None:
        err = check_against_closed_forms(d, module)
        numeric = (
            f"emitted code equals the closed forms at {POINTS} random mixed-sign points, "
            f"batch {batch_size(d.spec.layers)} (max rel. error {err:.1e})"
        )
        return f"{d.proof}; {numeric}" if d.symbolic is not None else numeric
    worst = 0.0
    shown = []
    for spec in proxy_specs(d.spec):
        worst = max(worst, check_against_closed_forms(*proxy(spec)))
        shown.append("-".join(map(str, spec.layers)))
    fd = directional_check(module, d.spec.layers)
    return (
        f"vectorized route: the same rules, emitted for the {', '.join(shown)} "
        f"prox{'y' if len(shown) == 1 else 'ies'} (same activations and loss), equal their "
        f"closed forms at {POINTS} random mixed-sign points (max rel. error {worst:.1e}); "
        f"full-size gradient agrees with a directional finite difference (rel. error {fd:.1e})"
    )
