"""The loss a `(loss, grads)` function returns (CS231n's TwoLayerNet.loss, EECS 498's), compared
with the derivation's batch loss at every probe: the data loss after the reduction, plus the
L2 penalty when the spec has one."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...derive import program as P
from .. import diagnoses as dx
from . import channel
from .bind import RETURNED_LOSS
from .match import at_size, sizes
from .result import NOT_CHECKED, part
from .truth import Probe, Truth, value

RTOL = 1e-6  # a float64 loss; float32 students still pass at this tolerance of the sum
# the factors a penalty term is commonly off by: dropped, doubled, halved
PENALTY_FACTORS = (0.0, 2.0, 0.5)


def _number(v: Any) -> float | None:
    """The returned loss as a float: a number, or an array (a tensor) of one entry."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, np.ndarray) and v.size == 1 and v.dtype.kind in "fiu":
        return float(v.reshape(()))
    return None


def _kind(v: Any) -> str:
    """`a str`, `None`, `an array of 3 entries`: what a returned value is, for a message."""
    if isinstance(v, channel.Opaque):
        return "None" if v.kind == "NoneType" else f"a {v.kind}"
    if isinstance(v, np.ndarray):
        return f"an array of {v.size} entries"
    return "None" if v is None else f"a {type(v).__name__}"


def _close(a: float, b: float) -> bool:
    return math.isfinite(a) and abs(a - b) <= RTOL * max(abs(a), abs(b)) + 1e-12


def _terms(truth: Truth, probe: Probe) -> tuple[float, float]:
    """(the batch loss, its L2 penalty term) at one probe."""
    prog = truth.program
    total = float(probe.values[prog.loss.name])
    expr = prog.loss.expr
    if not isinstance(expr, P.Penalty):
        return total, 0.0
    data = float(value(prog, probe.values, expr.arg))
    return total, total - data


def diagnose_loss(
    truth: Truth, probes: list[Probe], returned: list[dict[str, Any]], shown: str
) -> dict[str, Any] | None:
    """The loss PART, or None when the function returns no loss. `shown`: how the message
    names the function (`TwoLayerNet.loss(X, y, reg)`)."""
    if not any(RETURNED_LOSS in r for r in returned):
        return None
    got = [_number(r.get(RETURNED_LOSS)) for r in returned]
    if any(g is None for g in got):
        kind = next(
            _kind(r.get(RETURNED_LOSS))
            for r, g in zip(returned, got, strict=True)
            if g is None
        )
        return part("error", [], f"the loss {shown} returns is {kind}, not a number")
    # where the derivation's own loss overflows (a wide softmax at random points: its form
    # is SymPy's, not the shifted one), there is nothing to compare with
    kept = [
        (float(g), t, p)
        for g, p in zip(got, probes, strict=True)
        if g is not None and all(map(math.isfinite, t := _terms(truth, p)))
    ]
    if not kept:
        return part(
            NOT_CHECKED,
            [],
            "the loss was not checked: the derivation's own loss overflows at these points",
        )
    student = [s for s, _, _ in kept]
    terms = [t for _, t, _ in kept]
    probes = [p for _, _, p in kept]
    want = [t for t, _ in terms]
    err = max(
        abs(s - w) / max(abs(w), 1e-12) for s, w in zip(student, want, strict=True)
    )
    where = sizes([p.n for p in probes])
    if all(_close(s, w) for s, w in zip(student, want, strict=True)):
        return part(
            "ok",
            [],
            f"the loss matches the derivation at all {len(probes)} points ({where})",
            err,
        )
    if any(pen for _, pen in terms):
        for factor in PENALTY_FACTORS:
            if all(
                _close(s, t - pen + factor * pen)
                for s, (t, pen) in zip(student, terms, strict=True)
            ):
                how = (
                    "leaves the L2 penalty out"
                    if factor == 0.0
                    else f"has {factor:g} times the L2 penalty"
                )
                return part(
                    "wrong",
                    [dx.PENALTY_FACTOR],
                    f"the loss {shown} returns {how}: the batch loss is the data loss plus "
                    f"l2/2 * sum(W**2) over every weight matrix ({where})",
                    err,
                )
    reduction = truth.spec.reduction
    for per_n, words in (
        (
            lambda n: n,
            f"adds the samples' losses up where the batch loss is their {reduction}",
        ),
        (
            lambda n: 1 / n,
            f"divides by N where the batch loss is the samples' {reduction}",
        ),
    ):
        if all(
            _close(s, per_n(p.n) * (t - pen) + pen)
            for s, (t, pen), p in zip(student, terms, probes, strict=True)
        ):
            return part(
                "wrong",
                [dx.SCALED],
                f"the loss {shown} returns {words} (its data loss is off by the batch size "
                f"at {where})",
                err,
            )
    ratios = [s / w for s, w in zip(student, want, strict=True) if w]
    if len(ratios) == len(want) and all(_close(r, ratios[0]) for r in ratios):
        return part(
            "wrong",
            [dx.SCALED],
            f"the loss {shown} returns is {ratios[0]:.4g} times the derivation's at every "
            f"point ({where})",
            err,
        )
    first = next(
        (
            i
            for i, (s, w) in enumerate(zip(student, want, strict=True))
            if not _close(s, w)
        ),
        0,
    )
    return part(
        "wrong",
        [dx.WRONG],
        f"the loss {shown} returns differs from the derivation (max rel. error {err:.3g}); "
        f"{at_size(probes[first].n)} it is {student[first]:.6g}, expected "
        f"{want[first]:.6g}",
        err,
    )
