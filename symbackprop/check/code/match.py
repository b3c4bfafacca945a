"""Compare arrays the student's code returned at every probe with a model of them, up to one
constant factor: the matching every diagnosis is built on.

A Candidate is a model of what the student may have computed (the truth, its transpose, a
mistake model), one array per probe; `first_match` finds the first one that explains the
student's values, and `classify` names the factor (1, -1, a constant, k/N, k*N), which is how
`scaled` (1/N: a mean where the loss sums) and `sign_flipped` combine with the others.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ...derive.points import max_rel_error
from .. import diagnoses as dx
from .result import CallOutcome

RTOL = 1e-5  # relative to the largest entry: float32 students still pass
ATOL = 1e-10


@dataclass
class Candidate:
    """A model of what the student may have computed, per probe (None: NumPy would raise)."""

    codes: tuple[str, ...]
    label: str
    arrays: list[np.ndarray | None]
    scalable: bool = True  # may also be off by a constant factor
    layers: tuple[int, ...] = ()  # the layers a mistake model concerns


@dataclass
class Match:
    """A candidate that explains the student's values, and the factor it is off by."""

    candidate: Candidate
    codes: list[str]
    factor: str  # "" when 1, else "-1", "1/N", "2", ...
    # the factor is N/m: the code is right only at batch size m (a fixed m where N belongs)
    fixed_n: int | None = None


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
    if s_max == 0.0:
        return 0.0  # all zeros: a factor of 0
    # on arrays scaled to at most 1, so that huge values cannot overflow to an inf factor
    sn, cn = s / s_max, c / c_max
    f = float(np.vdot(sn, cn) / np.vdot(cn, cn)) * (s_max / c_max)
    if not np.isfinite(f):
        return None
    if float(np.max(np.abs(s - f * c))) <= RTOL * max(s_max, abs(f) * c_max) + ATOL:
        return f
    return None


def _same(a: float, b: float) -> bool:
    return math.isfinite(a) and abs(a - b) <= 1e-5 * max(1.0, abs(a), abs(b))


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
        return [dx.SCALED, *sign], _with_n(_fraction(per_n[0]), over=True)
    times_n = [f / n for n, f in factors]
    if all(_same(k, times_n[0]) for k in times_n):
        return [dx.SCALED, *sign], _with_n(_fraction(times_n[0]), over=False)
    return None


def _with_n(k: str, over: bool) -> str:
    """k/N or k*N written so it reads one way: 1/2 * N -> N/2, 1/2 / N -> 1/(2N), 3 * N -> 3N."""
    sign, k = ("-", k[1:]) if k.startswith("-") else ("", k)
    top, _, bottom = k.partition("/")
    if over:
        return f"{sign}{top}/({bottom}N)" if bottom else f"{sign}{top}/N"
    n = "N" if top == "1" else f"{top}N"
    return f"{sign}{n}/{bottom}" if bottom else f"{sign}{n}"


def match(
    student: list[np.ndarray | CallOutcome | None], candidate: Candidate, ns: list[int]
) -> Match | None:
    """The candidate explains the student when it does at every probe, up to one factor rule."""
    factors = []
    zero = []  # probes where both are zero (a layer dead at that point): any factor fits
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
        if not np.any(c) and float(np.max(np.abs(s2), initial=0.0)) <= ATOL:
            zero.append((n, 1.0))
            continue
        f = ratio(s2, c)
        if f is None:
            return None
        factors.append((n, f))
    factors = factors or zero
    if not factors:
        return None
    found = classify(factors, candidate.scalable)
    if found is None:
        return None
    codes, factor = found
    return Match(candidate, [*candidate.codes, *codes], factor, _fixed_n(factors))


def _fixed_n(factors: list[tuple[int, float]]) -> int | None:
    """m when the factor at every batch size N is N/m (m >= 2 a whole number), else None."""
    per = [f / n for n, f in factors]
    if len({n for n, _ in factors}) < 2 or not all(_same(k, per[0]) for k in per):
        return None
    m = 1 / abs(per[0])
    return round(m) if m >= 1.5 and _same(m, round(m)) else None


def first_match(
    student: list[np.ndarray | CallOutcome | None],
    candidates: Iterable[Candidate],
    ns: list[int],
) -> Match | None:
    """The first candidate, in order, that explains the student's values."""
    for candidate in candidates:
        found = match(student, candidate, ns)
        if found is not None:
            return found
    return None


def join(items: list[str]) -> str:
    """a, b and c."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def sizes(ns: list[int]) -> str:
    """batch size 2, or batch sizes 3, 5, 7; one example for code that takes one at a time."""
    ns = sorted(set(ns))
    if ns == [1]:
        return "one example at a time"
    return ("batch size " if len(ns) == 1 else "batch sizes ") + ", ".join(map(str, ns))


def at_size(n: int) -> str:
    """at batch size 3, or for one example (code that takes one at a time)."""
    return "for one example" if n == 1 else f"at batch size {n}"


def shapes_by_n(student: list[Any], truth: list[np.ndarray], ns: list[int]) -> str:
    """(3, 3) at N = 3, (5, 5) at N = 5: the wrong shapes seen, once per batch size."""
    seen: dict[int, str] = {}
    for s, t, n in zip(student, truth, ns, strict=True):
        if isinstance(s, np.ndarray) and fit(s, t) is None and n not in seen:
            seen[n] = f"{shape_of(s)} at N = {n}"
    return ", ".join(seen.values())


def shape_of(a: np.ndarray) -> str:
    """(3, 2), as messages show a shape."""
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
                f"first difference {at_size(n)}: {name}{where} = {s2[idx]:.6g}, "
                f"expected {t[idx]:.6g}"
            )
    return worst, first


def batch_advice(factor: str, reduction: str) -> str:
    """What a gradient off by the batch size means for the loss's reduction ('' otherwise)."""
    if factor.lstrip("-") == "1/N" and reduction == "sum":
        return (
            "you averaged over the batch (e.g. np.mean) where the loss sums over samples; use "
            "a sum, or check with --reduction mean if your course defines the loss as a mean"
        )
    if factor.lstrip("-") == "N" and reduction == "mean":
        return "you summed over the batch where the loss is a mean (reduction mean); divide by N"
    return ""


def factor_words(
    factor: str, reduction: str, ns: list[int], fixed_n: int | None = None
) -> str:
    """What a factor means: 1/N where the loss sums is a mean over the batch, and so on."""
    shown = sizes(ns)
    advice = batch_advice(factor, reduction)
    if advice:
        return f"{factor} times the correct value at every point ({shown}): {advice}"
    if factor == "-1":
        return "the correct value with the opposite sign at every point"
    words = f"{factor} times the correct value at every point ({shown})"
    if fixed_n is not None:  # right only when the batch has that many rows
        words += (
            f": right only at batch size {fixed_n}, as when the code divides by a fixed "
            f"{fixed_n} (a top-level N = {fixed_n}?) where the batch size belongs; use "
            "X.shape[0]"
        )
    return words
