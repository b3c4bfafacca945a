"""The forward PART: every intermediate the student's forward returns (Z1, H1, ..., Y) against
the truth, its transpose and the per-sample-bias models."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...spec import names
from .. import diagnoses as dx
from . import channel
from .layout import Layout
from .match import (
    Candidate,
    Match,
    factor_words,
    first_difference,
    first_match,
    join,
    shape_of,
    shapes_by_n,
    sizes,
)
from .result import CallOutcome, Namer, Where, error_message, part
from .truth import Probe


def forward_candidates(
    probes: list[Probe], layout: Layout, output: str
) -> list[Candidate]:
    """Truth, its transpose, and the per-sample-bias models of one forward output."""

    def student_form(value: np.ndarray) -> np.ndarray:
        if output == names.OUTPUTS:
            return layout.targets_to_student(value)
        return layout.samples_to_student(value)

    truth = _forward_truth(probes, layout, output)
    out = [Candidate((), "the correct forward pass", truth)]
    if truth[0].ndim == 2:
        out.append(Candidate((dx.TRANSPOSED,), "its transpose", [t.T for t in truth]))
    if output == names.OUTPUTS and names.PREDICTION in probes[0].forward:
        # a loss with a link: the student may return the link's probabilities as the output
        probabilities = _forward_truth(probes, layout, names.PREDICTION)
        out.append(
            Candidate((dx.PROBABILITIES,), "the probabilities", probabilities, False)
        )
    keys = sorted({k for p in probes for k in p.per_sample_bias})
    for layers in keys:
        arrays = []
        for p in probes:
            model = p.per_sample_bias.get(layers)
            arrays.append(None if model is None else student_form(model[output]))
        label = ", ".join(names.bias(k) for k in layers)
        out.append(
            Candidate(
                (dx.BIAS_BROADCAST,), label, arrays, scalable=False, layers=layers
            )
        )
    return out


def diagnose_forward(
    probes: list[Probe],
    layout: Layout,
    results: list[dict[str, Any] | CallOutcome],
    namer: Namer,
    where: Where,
    timeout: float,
    signature: str,
    needed: list[str],
) -> dict[str, Any]:
    """The forward PART: every intermediate the student returns, against the truth.

    `needed` (the output, and what backward takes) must all be returned: a forward that returns
    less cannot be judged correct, since nothing would be compared."""
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
    missing = [k for k in needed if any(k not in r for r in returned)]
    if missing:
        shown = join([namer.value(k) for k in missing])
        why = (
            "the prediction"
            if missing == [names.OUTPUTS]
            else "values the backward takes"
        )
        return part(
            "wrong",
            [dx.WRONG],
            f"{signature} does not return {shown} ({why}), so it cannot be compared with "
            "the derivation; return every value the backward pass uses",
        )
    outputs = [k for k in _outputs(probes[0]) if k in returned[0]]
    for name in outputs:
        for r, p in zip(results, probes, strict=True):
            value = r.get(name) if isinstance(r, dict) else None
            if isinstance(r, dict) and not isinstance(value, np.ndarray):
                kind = (
                    value.kind
                    if isinstance(value, channel.Opaque)
                    else type(value).__name__
                )
                kind = "None" if kind == "NoneType" else f"a {kind}"
                return part(
                    "error",
                    [],
                    f"{signature} returned {kind} for {namer.value(name)}, not an array "
                    f"(batch size {p.n})",
                )
    findings: list[tuple[str, Match | None, list[Any]]] = []
    for name in outputs:
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
        shown = ", ".join(namer.value(n) for n in outputs)
        return part(
            "ok",
            [],
            f"{shown} match the derivation at all {len(probes)} points ({sizes(ns)})",
            worst,
        )
    codes: list[str] = []
    sentences = []
    broadcast = [
        (n, m) for n, m, _ in wrong if m is not None and dx.BIAS_BROADCAST in m.codes
    ]
    if broadcast:
        codes.append(dx.BIAS_BROADCAST)
        biases = [names.bias(k) for k in broadcast[0][1].candidate.layers]
        shapes = ", ".join(
            f"{b} of shape {tuple(layout.to_student(b, probes[0].params[b]).shape)}"
            for b in biases
        )
        same = [
            p.n
            for p, a in zip(probes, broadcast[0][1].candidate.arrays, strict=True)
            if a is not None
        ]
        raised = [n for _, n in failures]
        text = (
            f"{shapes} is added per sample, not per unit: at {sizes(same)} your "
            f"{join([namer.value(n) for n, _ in broadcast])} equal the forward pass with "
            f"{biases[0]}[i] added to sample i"
        )
        if raised:
            outcome = failures[0][0]
            at = where(outcome.error.get("where") if outcome.error else None)
            text += (
                f"; at {sizes(raised)} {signature} raises "
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
                    f"{label} has shape {shapes_by_n(s, truth, ns)} where (N, ...) "
                    f"{shape_of(truth[0])} is expected at N = {ns[0]}"
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
        if dx.PROBABILITIES in m.codes:
            sentences.append(
                f"{label} holds the probabilities, not the logits the spec's loss takes"
            )
        if m.factor:
            sentences.append(
                f"{label} is {factor_words(m.factor, 'forward', ns, m.fixed_n)}"
            )
    return part("wrong", codes, "; ".join(sentences), worst)


def _forward_truth(probes: list[Probe], layout: Layout, name: str) -> list[np.ndarray]:
    """One forward output at every probe, in the student's layout."""
    return [
        layout.targets_to_student(p.forward[name])
        if name in (names.OUTPUTS, names.PREDICTION)
        else layout.samples_to_student(p.forward[name])
        for p in probes
    ]


def _outputs(probe: Probe) -> list[str]:
    """Z1, H1, ..., Y: the forward arrays a student's forward may return, in order."""
    return [k for k in probe.forward if k != names.PREDICTION]
