"""A wrong equation's counterexample: a small network point with short numbers (integers and
halves, no pre-activation at a kink), the values the equation uses there, and both results.

The point is tried at the smallest sizes first (every layer at most 2 wide, 3 samples), then at the
proof's distinct sizes. Both results are recomputed from the printed, rounded numbers with the
same evaluator, and the example is given only when they still differ where it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ....derive import Derivation, derive
from ....spec import make_spec, names, registry
from . import ast as A
from .equations import Equation
from .evaluate import NameError_, ShapeError, shape
from .judge import Judge
from .truth import World, build_world, proxy_layers

ATTEMPTS = 30  # random points tried at each size
KINK_GAP = 0.25  # how far every pre-activation of a kinked layer stays from 0
SHOWN = 0.01  # the smallest difference the printed numbers show


@dataclass
class Counterexamples:
    """Counterexamples for one Judge's equations (the small derivations made once)."""

    judge: Judge
    _derived: dict[tuple[int, ...], Derivation] = field(default_factory=dict)

    def sizes(self) -> list[tuple[tuple[int, ...], int]]:
        """The sizes tried, smallest first: every layer at most 2 wide with 3 samples, then the
        proof's distinct sizes."""
        spec = self.judge.spec
        return [(tuple(min(n, 2) for n in spec.layers), 3), proxy_layers(spec)]

    def derivation(self, layers: tuple[int, ...]) -> Derivation:
        """The spec's derivation at other layer sizes."""
        if layers not in self._derived:
            spec = self.judge.spec
            small = make_spec(
                layers=list(layers),
                activations=list(spec.activations),
                loss=spec.loss,
                reduction=spec.reduction,
                alpha=spec.alpha,
                l2=spec.l2,
            )
            self._derived[layers] = derive(small, closed_forms=False)
        return self._derived[layers]

    def find(self, eq: Equation) -> dict | None:
        """{"layers", "m", "network", "inputs", "yours", "correct"} for a wrong line, or None."""
        for layers, m in self.sizes():
            d = self.derivation(layers)
            for attempt in range(ATTEMPTS):
                point = short_point(d, m, self.judge.layout, attempt)
                try:
                    found = self._at(eq, d, m, point)
                except (ShapeError, NameError_, ValueError, ZeroDivisionError):
                    break
                if found is not None:
                    return found
        return None

    def _world(self, d: Derivation, m: int, point: dict[str, Any]) -> World:
        j = self.judge
        return build_world(d, j.layout, j.weights, batch=m, inputs=point)

    def _results(self, eq: Equation, world: World) -> tuple[Any, Any, str]:
        conv = self._convention(eq)
        assert eq.key is not None
        return self.judge.value(eq, world, conv), world.truth(eq.key, conv), conv

    def _at(
        self, eq: Equation, d: Derivation, m: int, point: dict[str, Any]
    ) -> dict | None:
        world = self._world(d, m, point)
        if at_a_kink(world):
            return None
        yours, correct, conv = self._results(eq, world)
        if not differs(yours, correct):
            return None
        printed = {k: np.vectorize(short)(v) for k, v in point.items()}
        again = self._world(
            d, m, printed
        )  # from the printed numbers, as a reader would
        yours2, correct2, _ = self._results(eq, again)
        assert differs(yours2, correct2), "the printed counterexample must still differ"
        return {
            "layers": list(d.spec.layers),
            "m": m,
            "network": network_values(again),
            "inputs": self._inputs(eq, again, conv),
            "yours": listed(yours2),
            "correct": listed(correct2),
        }

    def _convention(self, eq: Equation) -> str:
        """The reading of dZ/dA the line's own earlier names use (else deeplearning.ai's)."""
        assert eq.rhs is not None
        for name in A.names_in(eq.rhs):
            if name in self.judge.defined and self.judge.defined[name][3]:
                return self.judge.defined[name][2]
        return "sum"

    def _inputs(self, eq: Equation, world: World, conv: str) -> dict[str, Any]:
        """The arrays the line's names stand for at this point, as the line is judged."""
        assert eq.rhs is not None
        whole = replace(eq, key=None)  # a name's batch array, even in a per-sample line
        out: dict[str, Any] = {}
        depth = world.spec.depth
        for name in dict.fromkeys(A.names_in(eq.rhs)):
            parsed = names.parse_course(name, depth)
            if parsed is not None and parsed.kind in (
                "W",
                "b",
                "m",
            ):  # one for all samples
                out[name] = listed(world.values[(parsed.kind, parsed.layer)])
                continue
            out[name] = listed(self.judge.value(whole, world, conv, A.Name(name)))
        return out


def short_point(d: Derivation, m: int, layout: str, attempt: int) -> dict[str, Any]:
    """Inputs, targets and parameters of small integers, the biases halves (Program layout)."""
    spec = d.spec
    rng = np.random.default_rng(1000 + attempt)
    cols = layout == "columns"
    n_in, n_out = spec.layers[0], spec.layers[-1]
    x = rng.integers(-2, 3, size=(n_in, m)).astype(float)
    kind = registry.loss(spec.loss).targets
    if kind == "binary":
        y = rng.integers(0, 2, size=(n_out, m)).astype(float)
    elif kind == "one_hot":
        y = np.zeros((n_out, m))
        y[rng.integers(0, n_out, size=m), np.arange(m)] = 1.0
    else:
        y = rng.integers(-1, 2, size=(n_out, m)).astype(float)
    point: dict[str, Any] = {
        names.INPUTS: x if cols else x.T,
        names.TARGETS: y if cols else y.T,
    }
    for k in range(1, spec.depth + 1):
        units, fan_in = spec.layers[k], spec.layers[k - 1]
        point[names.weight(k)] = rng.integers(-1, 2, size=(units, fan_in)).astype(float)
        point[names.bias(k)] = rng.choice([-0.5, 0.5], size=units)
    return point


def at_a_kink(world: World) -> bool:
    """Whether a kinked layer's pre-activation is at (or too near) its kink at 0."""
    for k, act in enumerate(world.spec.activations, start=1):
        if registry.activation(act).kink:
            if np.min(np.abs(np.asarray(world.values[("Z", k)], float))) < KINK_GAP:
                return True
    return False


def differs(yours: Any, correct: Any) -> bool:
    """Whether the two results differ where the printed numbers show it (or in shape)."""
    g, w = np.asarray(yours, float), np.asarray(correct, float)
    if g.size != w.size:
        return True
    if shape(g) != shape(w) and g.ndim == w.ndim == 2 and 1 not in shape(w):
        return True
    return bool(np.max(np.abs(g.reshape(-1) - w.reshape(-1))) >= SHOWN)


def short(v: float) -> float:
    """A number as printed: an integer when it is one, else to 4 decimals."""
    r = round(float(v), 4)
    return float(int(r)) if r == int(r) else r


def listed(value: Any) -> Any:
    """An array (or a number) as nested lists of printed numbers."""
    arr = np.asarray(value, float)
    out = np.vectorize(short, otypes=[float])(arr).tolist() if arr.ndim else short(arr)
    return _ints(out)


def _ints(value: Any) -> Any:
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return int(value) if float(value).is_integer() else value


def network_values(world: World) -> dict[str, Any]:
    """X, Y and every W, b at the point, in the student's orientation and names."""
    out = {"X": listed(world.values[("X", 0)]), "Y": listed(world.values[("Y", 0)])}
    for k in range(1, world.spec.depth + 1):
        out[f"W{k}"] = listed(world.values[("W", k)])
        out[f"b{k}"] = listed(world.values[("b", k)])
    return out


def describe(example: dict, name: str) -> list[str]:
    """The counterexample for the human report, a few lines."""
    net = example["network"]
    sizes = "-".join(map(str, example["layers"]))
    lines = [
        f"counterexample (layers {sizes}, {example['m']} samples): at "
        + ", ".join(f"{k} = {_text(v)}" for k, v in net.items())
    ]
    used = [f"{k} = {_text(v)}" for k, v in example["inputs"].items() if k not in net]
    if used:
        lines.append("  where " + ", ".join(used))
    lines.append(f"  yours:   {name} = {_text(example['yours'])}")
    lines.append(f"  correct: {name} = {_text(example['correct'])}")
    return lines


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)
