"""Compare what the student's code returned at every probe with the truth and with models of
the usual mistakes, and turn the result into one report PART per checked piece.

A PART is {"status": "ok"|"wrong"|"error", "diagnoses": [codes], "message": str,
"max_rel_error": float|None}. Mistake models are tried in a fixed order (orientation, missing
activation mask, product order, per-sample bias), each up to a constant factor, which is how
`scaled` (1/N: a mean where the loss sums) and `sign_flipped` combine with the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ...derive.proof import max_rel_error
from .. import diagnoses as dx
from .probe import Layout, Probe

RTOL = 1e-5  # relative to the largest entry: float32 students still pass
ATOL = 1e-10
CODE_ORDER = [
    dx.TRANSPOSED, dx.SCALED, dx.SIGN_FLIPPED, dx.MISSING_ACTIVATION_MASK, dx.WRONG_SHAPE,
    dx.PRODUCT_ORDER, dx.BIAS_BROADCAST, dx.WRONG,
]  # fmt: skip


@dataclass
class CallOutcome:
    """One call's outcome: its value, or the exception / hang / crash that stopped it."""

    state: str  # "done", "raised", "hung", "died", "not_run"
    value: Any = None
    error: dict[str, Any] | None = None  # type, message, where (file and line)

    @property
    def ok(self) -> bool:
        """True when the call returned."""
        return self.state == "done"


@dataclass
class Candidate:
    """A model of what the student may have computed, per probe (None: NumPy would raise)."""

    codes: tuple[str, ...]
    label: str
    arrays: list[np.ndarray | None]
    scalable: bool = True  # may also be off by a constant factor


@dataclass
class Match:
    """A candidate that explains the student's values, and the factor it is off by."""

    candidate: Candidate
    codes: list[str]
    factor: str  # "" when 1, else "-1", "1/N", "2", ...


def part(
    status: str, codes: list[str], message: str, error: float | None = None
) -> dict[str, Any]:
    """A report PART, with codes in the documented order."""
    ordered = sorted(set(codes), key=CODE_ORDER.index)
    return {
        "status": status,
        "diagnoses": ordered,
        "message": message,
        "max_rel_error": error,
    }


def benign_shape(param_shape: tuple[int, ...], got: tuple[int, ...]) -> bool:
    """True when `param -= lr * grad` keeps the parameter's shape: (h,) for a (1, h) bias."""
    if int(np.prod(got)) != int(np.prod(param_shape)):
        return False
    try:
        return np.broadcast_shapes(tuple(param_shape), tuple(got)) == tuple(param_shape)
    except ValueError:
        return False


def fit(s: np.ndarray, c: np.ndarray) -> np.ndarray | None:
    """The student's array in the candidate's shape, when it has it or a benign equivalent."""
    if s.shape == c.shape:
        return s
    if benign_shape(c.shape, s.shape):
        return s.reshape(c.shape)
    return None


def ratio(s: np.ndarray, c: np.ndarray) -> float | None:
    """f with s == f * c entrywise (least squares, then checked), or None."""
    if not np.all(np.isfinite(s)):
        return None
    c_max = float(np.max(np.abs(c))) if c.size else 0.0
    s_max = float(np.max(np.abs(s))) if s.size else 0.0
    if c_max == 0.0:
        return 1.0 if s_max <= ATOL else None
    f = float(np.vdot(s, c) / np.vdot(c, c))
    if float(np.max(np.abs(s - f * c))) <= RTOL * max(s_max, abs(f) * c_max) + ATOL:
        return f
    return None


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-5 * max(1.0, abs(a), abs(b))


def _fraction(x: float) -> str:
    fr = Fraction(x).limit_denominator(64)
    if abs(float(fr) - x) <= 1e-6 * max(1.0, abs(x)):
        return str(fr)
    return f"{x:.4g}"


def classify(
    factors: list[tuple[int, float]], scalable: bool
) -> tuple[list[str], str] | None:
    """Codes for the factors seen at each probe (batch size, f): 1, -1, constant, k/N, k*N."""
    fs = [f for _, f in factors]
    if all(_same(f, 1.0) for f in fs):
        return [], ""
    if not scalable:
        return None
    if all(_same(f, -1.0) for f in fs):
        return [dx.SIGN_FLIPPED], "-1"
    if all(abs(f) < 1e-9 for f in fs):
        return None
    sign = [dx.SIGN_FLIPPED] if fs[0] < 0 else []
    if all(_same(f, fs[0]) for f in fs):
        return [dx.SCALED, *sign], _fraction(fs[0])
    per_n = [f * n for n, f in factors]
    if all(_same(k, per_n[0]) for k in per_n):
        k = _fraction(per_n[0])
        return [dx.SCALED, *sign], {"1": "1/N", "-1": "-1/N"}.get(k, f"{k}/N")
    times_n = [f / n for n, f in factors]
    if all(_same(k, times_n[0]) for k in times_n):
        k = _fraction(times_n[0])
        return [dx.SCALED, *sign], {"1": "N", "-1": "-N"}.get(k, f"{k}*N")
    return None


def match(
    student: list[np.ndarray | CallOutcome | None], candidate: Candidate, ns: list[int]
) -> Match | None:
    """The candidate explains the student when it does at every probe, up to one factor rule."""
    factors = []
    for s, c, n in zip(student, candidate.arrays, ns, strict=True):
        if c is None:
            if isinstance(s, CallOutcome) and s.state == "raised":
                continue
            return None
        if not isinstance(s, np.ndarray):
            return None
        s2 = fit(s, c)
        if s2 is None:
            return None
        f = ratio(s2, c)
        if f is None:
            return None
        factors.append((n, f))
    if not factors:
        return None
    found = classify(factors, candidate.scalable)
    if found is None:
        return None
    codes, factor = found
    return Match(candidate, [*candidate.codes, *codes], factor)


def first_match(
    student: list[np.ndarray | CallOutcome | None],
    candidates: list[Candidate],
    ns: list[int],
) -> Match | None:
    """The first candidate, in order, that explains the student's values."""
    for candidate in candidates:
        found = match(student, candidate, ns)
        if found is not None:
            return found
    return None


def rename(code: str, names: dict[str, str]) -> str:
    """Replace whole-word canonical names (Z1, H1, Y, y, X, W1, ...) by the student's."""
    names = {k: v for k, v in names.items() if v and v != k}
    if not names:
        return code
    words = "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))
    return re.sub(rf"\b({words})\b", lambda m: names[m.group(1)], code)


def _join(items: list[str]) -> str:
    """a, b and c."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sizes(ns: list[int]) -> str:
    ns = sorted(set(ns))
    return ("batch size " if len(ns) == 1 else "batch sizes ") + ", ".join(map(str, ns))


def _shapes_by_n(student: list[Any], truth: list[np.ndarray], ns: list[int]) -> str:
    """(3, 3) at N = 3, (5, 5) at N = 5: the wrong shapes seen, once per batch size."""
    seen: dict[int, str] = {}
    for s, t, n in zip(student, truth, ns, strict=True):
        if isinstance(s, np.ndarray) and fit(s, t) is None and n not in seen:
            seen[n] = f"{_shape(s)} at N = {n}"
    return ", ".join(seen.values())


def _shape(a: np.ndarray) -> str:
    return str(tuple(a.shape))


def first_difference(
    student: list[Any], truth: list[np.ndarray], ns: list[int], name: str
) -> tuple[float | None, str]:
    """Max relative error over the probes where shapes agree, and the first entry that differs."""
    worst: float | None = None
    first = ""
    for s, t, n in zip(student, truth, ns, strict=True):
        if not isinstance(s, np.ndarray):
            continue
        s2 = fit(s, t)
        if s2 is None:
            continue
        err = max_rel_error(s2, t)
        worst = err if worst is None else max(worst, err)
        scale = (
            max(float(np.max(np.abs(t))), float(np.max(np.abs(s2)))) if t.size else 0.0
        )
        bad = np.argwhere(np.abs(s2 - t) > RTOL * scale + ATOL)
        if not first and len(bad):
            idx = tuple(int(i) for i in bad[0])
            where = ("" if name.isidentifier() else " at ") + str(list(idx))
            first = (
                f"first difference at batch size {n}: {name}{where} = {s2[idx]:.6g}, "
                f"expected {t[idx]:.6g}"
            )
    return worst, first


def _factor_words(factor: str, reduction: str, ns: list[int]) -> str:
    sizes = ", ".join(map(str, sorted(set(ns))))
    if factor in ("1/N", "-1/N") and reduction == "sum":
        return (
            f"{factor} times the correct value at every point (batch sizes {sizes}): you "
            "averaged over the batch (e.g. np.mean) where the loss sums over samples; use a "
            "sum, or check with --reduction mean if your course defines the loss as a mean"
        )
    if factor in ("N", "-N") and reduction == "mean":
        return (
            f"{factor} times the correct value at every point (batch sizes {sizes}): you "
            "summed over the batch where the loss is a mean (reduction mean); divide by N"
        )
    if factor == "-1":
        return "the correct value with the opposite sign at every point"
    return f"{factor} times the correct value at every point (batch sizes {sizes})"


class Namer:
    """The student's names for values in messages: y_pred for Y, b1_grad for b1's gradient."""

    def __init__(
        self,
        forward_names: dict[str, str],
        backward_names: dict[str, str],
        grads: dict[str, str],
    ):
        self.forward_names = forward_names
        self.backward_names = backward_names
        self.grads = grads

    def value(self, canonical: str) -> str:
        """What the student calls Z1, H1, Y, X, y, W1, ..."""
        return (
            self.backward_names.get(canonical)
            or self.forward_names.get(canonical)
            or canonical
        )

    def grad(self, param: str) -> str:
        """What the student calls the gradient of a parameter."""
        return self.grads.get(param) or f"the gradient of {param}"


def error_message(
    what: str,
    outcome: CallOutcome,
    n: int | None,
    where: Callable[[dict[str, Any] | None], str],
    timeout: float,
) -> str:
    """One sentence for a call that raised, hung or crashed, with the student's file and line."""
    at = where(outcome.error.get("where") if outcome.error else None)
    at = f" at {at}" if at else ""
    size = f" (batch size {n})" if n is not None else ""
    if outcome.state == "hung":
        return f"{what} did not finish within {timeout:g} s{at}{size}: an endless loop?"
    if outcome.state == "died":
        reason = outcome.error.get("message", "") if outcome.error else ""
        return f"{what} crashed{at}{size}: {reason}"
    if outcome.state == "bad_value":
        reason = outcome.error.get("message", "") if outcome.error else ""
        return f"{what} returned {reason} instead of arrays{size}"
    if outcome.state == "not_run":
        reason = outcome.error.get("message", "") if outcome.error else ""
        return f"{what} was not run: {reason}"
    assert outcome.error is not None
    return (
        f"{what} raised {outcome.error['type']}: {outcome.error['message']}{at}{size}"
    )


def forward_candidates(
    probes: list[Probe], layout: Layout, output: str
) -> list[Candidate]:
    """Truth, its transpose, and the per-sample-bias models of one forward output."""

    def student_form(value: np.ndarray) -> np.ndarray:
        return layout.targets_to_student(value) if output == "Y" else value

    truth = _forward_truth(probes, layout, output)
    out = [Candidate((), "the correct forward pass", truth)]
    if truth[0].ndim == 2:
        out.append(Candidate((dx.TRANSPOSED,), "its transpose", [t.T for t in truth]))
    keys = sorted({k for p in probes for k in p.per_sample_bias})
    for layers in keys:
        arrays = []
        for p in probes:
            model = p.per_sample_bias.get(layers)
            arrays.append(None if model is None else student_form(model[output]))
        label = ", ".join(f"b{l}" for l in layers)  # noqa: E741
        out.append(Candidate((dx.BIAS_BROADCAST,), label, arrays, scalable=False))
    return out


def diagnose_forward(
    probes: list[Probe],
    layout: Layout,
    results: list[dict[str, Any] | CallOutcome],
    namer: Namer,
    where: Callable[[dict[str, Any] | None], str],
    timeout: float,
    signature: str,
) -> dict[str, Any]:
    """The forward PART: every intermediate the student returns, against the truth."""
    ns = [p.n for p in probes]
    failures = [
        (r, p.n)
        for r, p in zip(results, probes, strict=True)
        if isinstance(r, CallOutcome)
    ]
    returned = [r for r in results if isinstance(r, dict)]
    if not returned:
        outcome, n = failures[0]
        return part("error", [], error_message(signature, outcome, n, where, timeout))
    depth = len(probes[0].params) // 2
    names = [k for k in (*_layer_names(depth), "Y") if k in returned[0]]
    for name in names:
        for r, p in zip(results, probes, strict=True):
            value = r.get(name) if isinstance(r, dict) else None
            if isinstance(r, dict) and not isinstance(value, np.ndarray):
                kind = getattr(value, "kind", type(value).__name__)
                kind = "None" if kind == "NoneType" else f"a {kind}"
                return part(
                    "error",
                    [],
                    f"{signature} returned {kind} for {namer.value(name)}, not an array "
                    f"(batch size {p.n})",
                )
    findings: list[tuple[str, Match | None, list[Any]]] = []
    for name in names:
        student = [r.get(name) if isinstance(r, dict) else r for r in results]
        student = [np.asarray(s) if isinstance(s, np.ndarray) else s for s in student]
        findings.append(
            (
                name,
                first_match(student, forward_candidates(probes, layout, name), ns),
                student,
            )
        )
    hard_failures = [f for f in failures if f[0].state != "raised"]
    unexplained = [m for _, m, _ in findings if m is None]
    if hard_failures or (
        failures
        and (
            unexplained
            or not any(
                m is not None and dx.BIAS_BROADCAST in m.codes for _, m, _ in findings
            )
        )
    ):
        outcome, n = (hard_failures or failures)[0]
        return part("error", [], error_message(signature, outcome, n, where, timeout))
    wrong = [(name, m, s) for name, m, s in findings if m is None or m.codes]
    worst = None
    for name, _, s in findings:
        truth = _forward_truth(probes, layout, name)
        err, _ = first_difference(s, truth, ns, namer.value(name))
        if err is not None:
            worst = err if worst is None else max(worst, err)
    if not wrong:
        shown = ", ".join(namer.value(n) for n in names)
        return part(
            "ok",
            [],
            f"{shown} match the derivation at all {len(probes)} points "
            f"(batch sizes {', '.join(map(str, sorted(set(ns))))})",
            worst,
        )
    codes: list[str] = []
    sentences = []
    broadcast = [
        (n, m) for n, m, _ in wrong if m is not None and dx.BIAS_BROADCAST in m.codes
    ]
    if broadcast:
        codes.append(dx.BIAS_BROADCAST)
        layers = broadcast[0][1].candidate.label
        shapes = ", ".join(
            f"{b} of shape {tuple(layout.to_student(b, probes[0].params[b]).shape)}"
            for b in layers.split(", ")
        )
        same = [
            p.n
            for p, a in zip(probes, broadcast[0][1].candidate.arrays, strict=True)
            if a is not None
        ]
        raised = [n for _, n in failures]
        text = (
            f"{shapes} is added per sample, not per unit: at {_sizes(same)} your "
            f"{_join([namer.value(n) for n, _ in broadcast])} equal the forward pass with "
            f"{layers.split(', ')[0]}[i] added to sample i"
        )
        if raised:
            outcome = failures[0][0]
            at = where(outcome.error.get("where") if outcome.error else None)
            text += (
                f"; at {_sizes(raised)} {signature} raises "
                f"{outcome.error['type'] if outcome.error else 'an error'}"
                + (f" ({at})" if at else "")
            )
        sentences.append(text)
    for name, m, s in wrong:
        if m is not None and dx.BIAS_BROADCAST in m.codes:
            continue
        label = namer.value(name)
        if m is None:
            truth = _forward_truth(probes, layout, name)
            err, first = first_difference(s, truth, ns, label)
            if err is None:
                codes.append(dx.WRONG_SHAPE)
                sentences.append(
                    f"{label} has shape {_shapes_by_n(s, truth, ns)} where (N, ...) "
                    f"{_shape(truth[0])} is expected at N = {ns[0]}"
                )
            else:
                codes.append(dx.WRONG)
                sentences.append(
                    f"{label} differs from the derivation (max rel. error {err:.3g}); {first}"
                )
            continue
        codes.extend(m.codes)
        if dx.TRANSPOSED in m.codes:
            sentences.append(f"{label} is the transpose of the correct one")
        if m.factor:
            sentences.append(f"{label} is {_factor_words(m.factor, 'forward', ns)}")
    return part("wrong", codes, "; ".join(sentences), worst)


def _forward_truth(probes: list[Probe], layout: Layout, name: str) -> list[np.ndarray]:
    """One forward output at every probe, in the student's layout."""
    return [
        layout.targets_to_student(p.forward[name]) if name == "Y" else p.forward[name]
        for p in probes
    ]


def _layer_names(depth: int) -> list[str]:
    out = []
    for i in range(1, depth + 1):
        out += [f"Z{i}", f"H{i}"]
    return out


def gradient_candidates(
    probes: list[Probe], layout: Layout, name: str, act_names: dict[int, str]
) -> list[Candidate]:
    """Truth, its other orientations, without the activation mask, and swapped products."""
    truth = [layout.to_student(name, p.grads[name]) for p in probes]
    out = [Candidate((), "the correct gradient", truth)]
    shape = truth[0].shape
    layer = int(name[1:])
    if name[0] == "W":
        if truth[0].ndim == 2 and shape != (1, 1):
            out.append(
                Candidate((dx.TRANSPOSED,), "its transpose", [t.T for t in truth])
            )
    else:
        h = truth[0].size
        for other in ((h,), (1, h), (h, 1)):
            if other == shape or benign_shape(shape, other):
                continue
            code = dx.TRANSPOSED if len(other) == len(shape) == 2 else dx.WRONG_SHAPE
            out.append(
                Candidate((code,), f"shape {other}", [t.reshape(other) for t in truth])
            )
    for label, _ in probes[0].no_mask.items():
        arrays = [layout.to_student(name, p.no_mask[label][name]) for p in probes]
        if all(
            np.allclose(a, t, rtol=1e-9, atol=1e-12)
            for a, t in zip(arrays, truth, strict=True)
        ):
            continue  # the mask does not reach this gradient
        layers = sorted(act_names) if label == "all" else [int(label[1:])]
        what = "the activation derivative " + " and ".join(act_names[k] for k in layers)
        out.append(
            Candidate(
                (dx.MISSING_ACTIVATION_MASK,), f"the gradient without {what}", arrays
            )
        )
        if name[0] == "W" and shape != (1, 1):
            out.append(
                Candidate(
                    (dx.MISSING_ACTIVATION_MASK, dx.TRANSPOSED),
                    f"the transposed gradient without {what}",
                    [a.T for a in arrays],
                )
            )
    if name[0] == "W":
        prev = "X" if layer == 1 else f"H{layer - 1}"
        d = f"dZ{layer}"
        products: list[tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = [
            (f"{d} @ {prev}.T", lambda dz, a: dz @ a.T),
            (f"{d} @ {prev}", lambda dz, a: dz @ a),
            (f"{d}.T @ {prev}.T", lambda dz, a: dz.T @ a.T),
            (f"{prev} @ {d}.T", lambda dz, a: a @ dz.T),
            (f"{prev} @ {d}", lambda dz, a: a @ dz),
            (f"{prev}.T @ {d}.T", lambda dz, a: a.T @ dz.T),
        ]
        for label, product in products:
            arrays: list[np.ndarray | None] = []
            for p in probes:
                a = p.X if layer == 1 else p.forward[f"H{layer - 1}"]
                try:
                    arrays.append(product(p.dZ[layer], a))
                except ValueError:
                    arrays.append(None)
            if any(a is None for a in arrays):
                continue
            codes = (dx.PRODUCT_ORDER,)
            if any(a.shape != t.shape for a, t in zip(arrays, truth, strict=True)):  # type: ignore[union-attr]
                codes = (dx.WRONG_SHAPE, dx.PRODUCT_ORDER)
            out.append(Candidate(codes, label, arrays))
    return out


def diagnose_gradient(
    name: str,
    probes: list[Probe],
    layout: Layout,
    results: list[dict[str, Any]],
    namer: Namer,
    reduction: str,
    act_names: dict[int, str],
) -> dict[str, Any]:
    """One gradient's PART (the backward calls all returned; failures are handled before)."""
    ns = [p.n for p in probes]
    label = namer.grad(name)
    truth = [layout.to_student(name, p.grads[name]) for p in probes]
    if not all(name in r for r in results):
        return part("error", [], f"backward does not return a gradient for {name}")
    student: list[Any] = []
    for r in results:
        value = r[name]
        student.append(np.asarray(value) if isinstance(value, np.ndarray) else value)
    if not all(isinstance(s, np.ndarray) for s in student):
        kind = next(s for s in student if not isinstance(s, np.ndarray))
        return part("error", [], f"{label} is {kind!r}, not an array")
    err, first = first_difference(student, truth, ns, label)
    m = first_match(student, gradient_candidates(probes, layout, name, act_names), ns)
    points = (
        f"{len(probes)} points (batch sizes {', '.join(map(str, sorted(set(ns))))})"
    )
    if m is not None and not m.codes:
        note = ""
        if student[0].shape != truth[0].shape:
            note = f" (shape {_shape(student[0])} broadcasts onto {name}'s {_shape(truth[0])})"
        return part(
            "ok", [], f"{label} matches the derivation at all {points}{note}", err
        )
    if m is None:
        shapes_fit = all(
            fit(s, t) is not None for s, t in zip(student, truth, strict=True)
        )
        other = _other_gradient(student, probes, layout, name)
        if not shapes_fit and other:
            return part(
                "wrong",
                [dx.WRONG_SHAPE],
                f"{label} has shape {_shapes_by_n(student, truth, ns)} where {name} is "
                f"{_shape(truth[0])}, and it equals the gradient of {other}: backward returns its "
                "gradients in another order than check-code assumed; name them in the return "
                "statement (dW1, db1, ...) or declare the order with --returns",
                err,
            )
        if not shapes_fit:
            return part(
                "wrong",
                [dx.WRONG_SHAPE],
                f"{label} has shape {_shapes_by_n(student, truth, ns)} where {name} is "
                f"{_shape(truth[0])}"
                + (f"; where the shape is right: {first}" if first else ""),
                err,
            )
        message = (
            f"{label} differs from the derivation (max rel. error {err:.3g}); {first}"
        )
        other = _other_gradient(student, probes, layout, name)
        if other:
            message += (
                f"; it equals the gradient of {other}: backward returns its gradients in another "
                "order than check-code assumed; name them in the return statement (dW1, db1, "
                "...) or declare the order with --returns"
            )
        return part("wrong", [dx.WRONG], message, err)
    sentences = []
    shapes = sorted({_shape(s) for s in student})
    names = {
        c: namer.value(c)
        for c in ("X", *(f"H{i}" for i in range(1, len(probes[0].params) // 2)))
    }
    if dx.PRODUCT_ORDER in m.codes:
        layer = int(name[1:])
        prev = "X" if layer == 1 else f"H{layer - 1}"
        right = (
            f"dZ{layer}.T @ {prev}"
            if layout.of(name) == "out_in"
            else f"{prev}.T @ dZ{layer}"
        )
        text = (
            f"{label} is {rename(m.candidate.label, names)}, not {rename(right, names)}"
        )
        if dx.WRONG_SHAPE in m.codes:
            text += (
                f": its shape follows the batch size ({_shapes_by_n(student, truth, ns)}) "
                f"where {name} is {_shape(truth[0])}"
            )
        sentences.append(text)
    elif dx.MISSING_ACTIVATION_MASK in m.codes:
        sentences.append(f"{label} equals {rename(m.candidate.label, names)}")
    if dx.TRANSPOSED in m.codes:
        shape_words = (
            f"has shape {', '.join(shapes)} where {name} is {_shape(truth[0])}"
            if student[0].shape != truth[0].shape
            else "has its entries transposed"
        )
        sentences.append(
            f"{label} {shape_words}: it is the transpose of the correct gradient"
        )
    if dx.WRONG_SHAPE in m.codes and dx.PRODUCT_ORDER not in m.codes:
        sentences.append(
            f"{label} has the right values but shape {', '.join(shapes)} where {name} is {_shape(truth[0])}"
        )
    if m.factor:
        subject = "it" if sentences else label
        sentences.append(f"{subject} is {_factor_words(m.factor, reduction, ns)}")
    return part("wrong", m.codes, "; ".join(sentences), err)


def _other_gradient(
    student: list[np.ndarray], probes: list[Probe], layout: Layout, name: str
) -> str:
    """The parameter whose gradient the student's array really is (a mixed-up return order)."""
    for other in probes[0].grads:
        if other == name:
            continue
        truth = [layout.to_student(other, p.grads[other]) for p in probes]
        if match(
            list(student),
            Candidate((), other, truth, scalable=False),
            [p.n for p in probes],
        ):
            return other
    return ""
