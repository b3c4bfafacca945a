"""Layer-level checks: a course's layer functions (CS231n's affine_/relu_backward,
deeplearning.ai's linear_/relu_backward), each run on its own in the sandbox and compared
with the derivation.

Each layer's truth is the derivation's Program of a two-layer network built to be that layer:
an affine layer is its second layer (the first the identity with W1 = I), an activation is its
first (both weight matrices I); with the loss 1/2 * sum((Y - T)**2) and T = Y - dout, the
output's error dZ2 is dout, so dZ1, gW2 and gb2 are the layer's dx, dw and db. The adapter run
in the sandbox calls the student's forward and hands its own cache to the student's backward.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...spec import NetworkSpec, make_spec, names
from .. import diagnoses as dx
from . import runner, view
from .calls import outcomes
from .layer_find import present, student_where
from .match import benign_shape, ratio, shape_of
from .profiles import LayerApi, LayerPair
from .result import NOT_CHECKED, CallOutcome, CheckResult, error_message, part
from .sandbox import cpu_budget
from .spare import child_for
from .student_file import Statement, StudentFile

ADAPTER_PREFIX = "_check_code_layer_"
# the probe's sizes: a batch that differs from both widths, so a sum over the wrong axis shows
BATCH, FAN_IN, UNITS = 4, 6, 5
POINTS = 3
ZEROS = 3  # entries set to exactly 0 in an activation's last probe: ReLU'(0) = 0 here
RTOL, ATOL = 1e-6, 1e-10

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class LayerProbe:
    """One point of a layer check: the student's arguments and the derivation's answers."""

    inputs: tuple[np.ndarray, ...]
    dout: np.ndarray
    out: np.ndarray
    grads: tuple[np.ndarray, ...]
    zeros: np.ndarray | None = (
        None  # where the input is exactly 0 (an activation's kink)
    )


def _reference(layer: str, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None,
               dout: np.ndarray) -> Arrays:  # fmt: skip
    """The derivation's values of one layer, rows layout: Y (out), dZ1 (dx), gW2, gb2."""
    from ...derive import evaluate
    from .truth import truth_for

    d = x.shape[1]
    if layer == "affine":
        assert w is not None and b is not None
        spec = make_spec(
            layers=(d, d, w.shape[0]),
            activations=("identity", "identity"),
            loss="half_sse",
            reduction="sum",
        )
        params = {"W1": np.eye(d), "b1": np.zeros(d), "W2": w, "b2": b}
    else:
        spec = make_spec(
            layers=(d, d, d),
            activations=(layer, "identity"),
            loss="half_sse",
            reduction="sum",
        )
        params = {
            "W1": np.eye(d),
            "b1": np.zeros(d),
            "W2": np.eye(d),
            "b2": np.zeros(d),
        }
    prog = truth_for(spec).program
    inputs = {names.INPUTS: x, **params}
    fwd = evaluate.run(
        prog, {**inputs, names.TARGETS: np.zeros_like(dout)}, steps=prog.forward
    )
    target = fwd[names.OUTPUTS] - dout  # the output's error is then dout
    return evaluate.run(prog, {**inputs, names.TARGETS: target})


def make_probes(pair: LayerPair, api: LayerApi, seed: int) -> list[LayerProbe]:
    """POINTS random points of one layer in the course's layout, with the derivation's answers."""
    rng = np.random.default_rng(seed)
    cols = api.samples == "columns"
    probes = []
    for i in range(POINTS):
        if pair.layer == "affine":
            x = rng.normal(size=(BATCH, FAN_IN))
            w = rng.normal(size=(UNITS, FAN_IN))  # the derivation's: (units, inputs)
            b = rng.normal(size=UNITS)
            dout = rng.normal(size=(BATCH, UNITS))
            v = _reference("affine", x, w, b, dout)
            dw, db = v[names.grad("W2")], v[names.grad("b2")]
            if (
                api.averaged
            ):  # deeplearning.ai: dZ per sample, dW and db over the m samples
                dw, db = dw / BATCH, db / BATCH
            if cols:
                inputs = (x.T, w, b.reshape(-1, 1))
                grads = (v[names.delta(1)].T, dw, db.reshape(-1, 1))
            else:
                inputs = (x, w.T, b)
                grads = (v[names.delta(1)], dw.T, db)
            out = v[names.OUTPUTS]
            probes.append(
                LayerProbe(
                    inputs, dout.T if cols else dout, out.T if cols else out, grads
                )
            )
            continue
        x = rng.normal(size=(BATCH, UNITS))
        zeros = None
        if i == POINTS - 1:
            x.flat[rng.choice(x.size, ZEROS, replace=False)] = 0.0
            zeros = x == 0.0
        dout = rng.normal(size=x.shape)
        v = _reference(pair.layer, x, None, None, dout)
        dz, out = v[names.delta(1)], v[names.OUTPUTS]
        if cols:
            x, dout, dz, out = x.T, dout.T, dz.T, out.T
            zeros = None if zeros is None else zeros.T
        probes.append(LayerProbe((x,), dout, out, (dz,), zeros))
    return probes


def adapter(pair: LayerPair, chunk: int) -> Statement:
    """The `def` the sandbox runs: the student's forward, its cache to the student's backward."""
    return Statement(
        chunk,
        1,
        f"def {ADAPTER_PREFIX}{pair.backward}(inputs, dout):\n"
        f"    _out, _cache = {pair.forward}(*inputs)\n"
        f"    return (_out, {pair.backward}(dout, _cache))\n",
    )


def grad_names(student: StudentFile, pair: LayerPair) -> tuple[str, ...]:
    """The student's names for what the backward returns (`dx, dw, db`), else the course's."""
    own = student.functions[pair.backward].returns
    if own and len(own) == len(pair.grads) and all(own):
        return tuple(str(n) for n in own)
    return pair.grads


def compare(label: str, got: Any, want: list[np.ndarray],
            zeros: list[np.ndarray | None]) -> dict[str, Any]:  # fmt: skip
    """One part: the student's arrays at every probe against the derivation's."""
    if not all(isinstance(g, np.ndarray) for g in got):
        kind = next(type(g).__name__ for g in got if not isinstance(g, np.ndarray))
        return part("error", [], f"{label} is a {kind}, not an array")
    points = f"{len(want)} random points"
    if any(g.shape != w.shape and not benign_shape(w.shape, g.shape)
           for g, w in zip(got, want, strict=True)):  # fmt: skip
        return part(
            "wrong",
            [dx.WRONG_SHAPE],
            f"{label} has shape {shape_of(got[0])} where {shape_of(want[0])} is needed",
        )
    got = [g.reshape(w.shape) for g, w in zip(got, want, strict=True)]
    err = max(_rel_error(g, w) for g, w in zip(got, want, strict=True))
    if all(_close(g, w) for g, w in zip(got, want, strict=True)):
        return part("ok", [], f"{label} matches the derivation at all {points}", err)
    where_zero = [
        z is not None and _close(np.where(z, w, g), w)
        for g, w, z in zip(got, want, zeros, strict=True)
    ]
    if all(
        _close(g, w) or zero for g, w, zero in zip(got, want, where_zero, strict=True)
    ):
        return part(
            "wrong",
            [dx.WRONG],
            f"{label} differs from the derivation only where the input is exactly 0: "
            "the derivative there is the z <= 0 side's (ReLU'(0) = 0)",
            err,
        )
    if want[0].ndim == 2 and all(
        g.T.shape == w.shape and _close(g.T, w) for g, w in zip(got, want, strict=True)
    ):
        return part(
            "wrong",
            [dx.TRANSPOSED],
            f"{label} is the transpose of the derivation's",
            err,
        )
    factors = [ratio(g, w) for g, w in zip(got, want, strict=True)]
    if all(f is not None for f in factors) and np.allclose(
        factors, factors[0], rtol=1e-5
    ):
        return part(
            "wrong",
            [dx.SCALED],
            f"{label} is {_factor_words(factors[0])} the derivation's",  # type: ignore[arg-type]
            err,
        )
    return part("wrong", [dx.WRONG], f"{label} differs from the derivation "
                f"(max rel. error {err:.3g})", err)  # fmt: skip


def _factor_words(f: float) -> str:
    """`m times` or `1/m times` when the factor is the batch size, else the number."""
    for k, words in ((BATCH, "m (the batch size) times"), (1 / BATCH, "1/m times")):
        if abs(f - k) <= 1e-6 * k:
            return words
    return f"{f:.4g} times"


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return bool(np.all(np.isfinite(a))) and float(
        np.max(np.abs(a - b), initial=0.0)
    ) <= (RTOL * scale + ATOL)


def _rel_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-12)
    return float(np.max(np.abs(a - b), initial=0.0)) / scale


def check_layers(
    student: StudentFile,
    api: LayerApi,
    sandbox: str,
    timeout: float,
    where: Callable[[dict[str, Any] | None], str],
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Every layer's parts, `affine_forward: out`, `affine_backward: dw`, ...: the student's
    layer functions run in their own sandboxed child."""
    pairs = present(student, api)
    chunk = len(student.chunks)
    probes = {p.backward: make_probes(p, api, seed) for p in pairs}
    calls = []
    for p in pairs:
        for pr in probes[p.backward]:
            kwargs = {
                "inputs": runner.encode(pr.inputs),
                "dout": runner.encode(pr.dout),
            }
            calls.append(
                {
                    "id": len(calls),
                    "func": ADAPTER_PREFIX + p.backward,
                    "kwargs": kwargs,
                }
            )
    statements = [
        {"chunk": s.chunk, "line": s.line, "source": s.source}
        for s in [*student.statements, *(adapter(p, chunk) for p in pairs)]
    ]
    packages = view.PACKAGES + tuple(p for p in view.OPTIONAL if p in student.imports)
    child = child_for(sandbox, packages, cpu_budget(timeout))
    try:
        child.take(
            statements,
            [ADAPTER_PREFIX + p.backward for p in pairs],
            time.monotonic() + timeout,
            chunk + 1,
        )
        loaded = child.loaded()
        results = outcomes(child.run(calls), calls, timeout) if loaded else {}
    finally:
        child.close()
    out: dict[str, dict[str, Any]] = {}
    i = 0
    for p in pairs:
        n = len(probes[p.backward])
        got = [results.get(j, CallOutcome("not_run", error={"message": "loading the file failed"}))
               for j in range(i, i + n)]  # fmt: skip
        i += n
        out.update(_pair_parts(student, p, probes[p.backward], got, where, timeout))
    return out


def _pair_parts(
    student: StudentFile,
    pair: LayerPair,
    probes: list[LayerProbe],
    got: list[CallOutcome],
    where: Callable[[dict[str, Any] | None], str],
    timeout: float,
) -> dict[str, dict[str, Any]]:
    """The parts of one layer: its forward's output, then each gradient its backward returns."""
    labels = grad_names(student, pair)
    keys = [f"{pair.forward}: out"] + [f"{pair.backward}: {n}" for n in labels]
    failed = next((g for g in got if not g.ok), None)
    if failed is not None:
        what = f"{pair.forward} then {pair.backward}"
        message = error_message(what, failed, None, where, timeout)
        return {k: part("error", [], message) for k in keys}
    values = [g.value for g in got]
    shaped = all(isinstance(v, tuple | list) and len(v) == 2 for v in values)
    outs = [v[0] for v in values] if shaped else values
    parts = {
        keys[0]: compare(keys[0], outs, [p.out for p in probes], [None] * len(probes))
    }
    grads = [v[1] if shaped else None for v in values]
    if len(labels) > 1:
        if not all(
            isinstance(g, tuple | list) and len(g) == len(labels) for g in grads
        ):
            message = f"{pair.backward} must return {', '.join(labels)}"
            return {**parts, **{k: part("error", [], message) for k in keys[1:]}}
    else:
        grads = [(g,) for g in grads]
    for k, (key, label) in enumerate(zip(keys[1:], labels, strict=True)):
        parts[key] = compare(
            label,
            [g[k] for g in grads],  # type: ignore[index]
            [p.grads[k] for p in probes],
            [p.zeros for p in probes],
        )
    return parts


def add_parts(report: dict[str, Any], layers: dict[str, dict[str, Any]]) -> None:
    """The layer parts in the report, before the network's; ok only when they are ok too."""
    report["layers"] = layers
    report["ok"] = bool(report["ok"]) and all(
        p["status"] == "ok" for p in layers.values()
    )


def layers_only(
    student: StudentFile,
    api: LayerApi,
    spec: NetworkSpec,
    sandbox: str,
    timeout: float,
    seed: int,
    why: Exception,
) -> CheckResult:
    """The check of a file whose layer functions are all there is to check (no network
    function bound: `why` says what was missing)."""
    from ..inert import inert

    layers = check_layers(student, api, sandbox, timeout, student_where(student), seed)
    forward = part(NOT_CHECKED, [], "no network function was found")
    report = {
        "ok": True,
        "reduction": spec.reduction,
        "forward": forward,
        "gradients": {},
    }
    add_parts(report, layers)
    report["sandbox"] = sandbox
    report["probe_seed"] = seed
    note = f"the network was not checked, only the layer functions: {why}"
    result = CheckResult(
        report, inert(student.path.name, 200), spec, None, [BATCH], POINTS, {}, [note]
    )
    result.sandbox = sandbox
    return result
