"""A gradient's PART: what the student's backward returned for one parameter against the
truth, its other orientations, the "act'(Z) left out" models and the swapped products.

Backward is fed the correct Z, H and predictions, so a forward bug cannot hide or fake a
backward bug. The models come from the derivation's Program: the unmasked programs of
`truth.py` and the Program's own nodes (dZ.T @ X in its other orders, evaluated with NumPy).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ...derive import program as P
from ...spec import names
from .. import diagnoses as dx
from .layout import Layout, is_weight, layer_of
from .match import (
    Candidate,
    batch_advice,
    benign_shape,
    factor_words,
    first_difference,
    first_match,
    fit,
    match,
    shape_of,
    shapes_by_n,
    sizes,
)
from .result import part
from .student_form import StudentForm
from .truth import Probe, Truth, value


def _layer_input(layer: int, depth: int) -> str:
    """X for the first layer, else the activations below."""
    return names.INPUTS if layer == 1 else names.activation(layer - 1, depth)


def _products(layer: int, depth: int) -> list[P.Node]:
    """dZ.T @ X's factors in every other order or orientation, as Program nodes."""
    d, a = P.Ref(names.delta(layer)), P.Ref(_layer_input(layer, depth))
    T = P.Transpose
    return [
        P.MatMul(d, T(a)),
        P.MatMul(d, a),
        P.MatMul(T(d), T(a)),
        P.MatMul(a, T(d)),
        P.MatMul(a, d),
        P.MatMul(T(a), T(d)),
    ]


def gradient_candidates(
    truth: Truth, probes: list[Probe], form: StudentForm, name: str
) -> Iterator[Candidate]:
    """Truth, its other orientations, without the activation mask, and swapped products: made
    one by one, so a correct answer stops at the first (no formula is printed for it)."""
    layout = form.layout
    correct = [layout.to_student(name, p.grads[name]) for p in probes]
    yield Candidate((), "the correct gradient", correct)
    shape = correct[0].shape
    weight = is_weight(name)
    if weight:
        if correct[0].ndim == 2 and shape != (1, 1):
            yield Candidate((dx.TRANSPOSED,), "its transpose", [t.T for t in correct])
    else:
        h = correct[0].size
        for other in ((h,), (1, h), (h, 1)):
            if other == shape or benign_shape(shape, other):
                continue
            code = dx.TRANSPOSED if len(other) == len(shape) == 2 else dx.WRONG_SHAPE
            reshaped = [t.reshape(other) for t in correct]
            yield Candidate((code,), f"shape {other}", reshaped)
    for layers in truth.unmasked:
        arrays = [layout.to_student(name, p.no_mask[layers][name]) for p in probes]
        if all(
            np.allclose(a, t, rtol=1e-9, atol=1e-12)
            for a, t in zip(arrays, correct, strict=True)
        ):
            continue  # the mask does not reach this gradient
        derivatives = [d for d in map(form.derivative, layers) if d is not None]
        what = "the activation derivative " + " and ".join(derivatives)
        yield Candidate(
            (dx.MISSING_ACTIVATION_MASK,), f"the gradient without {what}", arrays
        )
        if weight and shape != (1, 1):
            yield Candidate(
                (dx.MISSING_ACTIVATION_MASK, dx.TRANSPOSED),
                f"the transposed gradient without {what}",
                [a.T for a in arrays],
            )
    if weight and truth.spec.l2:
        yield from _penalty_candidates(
            truth.spec.l2, probes, layout, name, correct, truth.spec.reduction
        )
    if weight:
        for product in _products(layer_of(name), truth.depth):
            try:
                arrays = [value(truth.program, p.values, product) for p in probes]
            except ValueError:  # the factors do not fit at some batch size
                continue
            codes = (dx.PRODUCT_ORDER,)
            if any(a.shape != t.shape for a, t in zip(arrays, correct, strict=True)):
                codes = (dx.WRONG_SHAPE, dx.PRODUCT_ORDER)
            yield Candidate(codes, form.expr(product), arrays)


def _penalty_candidates(
    l2: float,
    probes: list[Probe],
    layout: Layout,
    name: str,
    correct: list[np.ndarray],
    reduction: str = "sum",
) -> list[Candidate]:
    """The L2 term at half or twice its strength, and the data term alone off by the batch
    size (a missing 1/m with the penalty added correctly)."""
    terms = [layout.to_student(name, l2 * p.params[name]) for p in probes]
    out = [
        Candidate(
            (dx.PENALTY_FACTOR,),
            f"the gradient with {words} the L2 term",
            [c + (f - 1) * t for c, t in zip(correct, terms, strict=True)],
            scalable=False,
        )
        for f, words in ((0.5, "half"), (2.0, "twice"), (0.0, "none of"))
    ]
    for f, factor in ((None, "N"), (0, "1/N")):
        arrays = [
            (c - t) * (p.n if f is None else 1 / p.n) + t
            for c, t, p in zip(correct, terms, probes, strict=True)
        ]
        advice = batch_advice(factor, reduction)
        out.append(
            Candidate(
                (dx.SCALED,),
                f"the data term {factor} times the correct one (the L2 term right)"
                + (f": {advice}" if advice else ""),
                arrays,
                scalable=False,
            )
        )
    return out


def diagnose_gradient(
    name: str,
    truth: Truth,
    probes: list[Probe],
    form: StudentForm,
    results: list[dict[str, Any]],
) -> dict[str, Any]:
    """One gradient's PART (the backward calls all returned; failures are handled before)."""
    ns = [p.n for p in probes]
    layout = form.layout
    label = form.namer.grad(name)
    correct = [layout.to_student(name, p.grads[name]) for p in probes]
    if not all(name in r for r in results):
        return part("error", [], f"backward does not return a gradient for {name}")
    student: list[Any] = []
    for r in results:
        got = r[name]
        student.append(np.asarray(got) if isinstance(got, np.ndarray) else got)
    if not all(isinstance(s, np.ndarray) for s in student):
        kind = next(s for s in student if not isinstance(s, np.ndarray))
        return part("error", [], f"{label} is {kind!r}, not an array")
    err, first = first_difference(student, correct, ns, label)
    m = first_match(student, gradient_candidates(truth, probes, form, name), ns)
    points = f"{len(probes)} points ({sizes(ns)})"
    if m is not None and not m.codes:
        note = ""
        if student[0].shape != correct[0].shape and layout.samples == "columns":
            # the courses that lay samples out as columns assert grads' shapes equal params'
            return part(
                "wrong",
                [dx.WRONG_SHAPE],
                f"{label} has shape {shape_of(student[0])} where {name} is "
                f"{shape_of(correct[0])}: the values are right, the shape is not (a sum "
                "without keepdims=True?); correct: "
                f"{label} = {form.gradient(name)}",
                err,
            )
        if student[0].shape != correct[0].shape:
            note = f" (shape {shape_of(student[0])} broadcasts onto {name}'s {shape_of(correct[0])})"
        return part(
            "ok", [], f"{label} matches the derivation at all {points}{note}", err
        )
    if m is None:
        shapes_fit = all(
            fit(s, t) is not None for s, t in zip(student, correct, strict=True)
        )
        other = _other_gradient(student, probes, layout, name)
        if not shapes_fit and other:
            return part(
                "wrong",
                [dx.WRONG_SHAPE],
                f"{label} has shape {shapes_by_n(student, correct, ns)} where {name} is "
                f"{shape_of(correct[0])}, and it equals the gradient of {other}: backward returns its "
                "gradients in another order than check-code assumed; name them in the return "
                "statement (dW1, db1, ...) or declare the order with --returns",
                err,
            )
        if not shapes_fit:
            one_number = all(np.size(s) == 1 for s in student) and correct[0].size > 1
            return part(
                "wrong",
                [dx.WRONG_SHAPE],
                f"{label} has shape {shapes_by_n(student, correct, ns)} where {name} is "
                f"{shape_of(correct[0])}"
                + (
                    ": one number, as a sum without an axis gives (it adds up the units "
                    f"too); sum over the samples only: {label} = {form.gradient(name)}"
                    if one_number
                    else ""
                )
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
    shapes = sorted({shape_of(s) for s in student})
    if dx.PRODUCT_ORDER in m.codes:
        text = f"{label} is {m.candidate.label}, not {form.gradient(name)}"
        if dx.WRONG_SHAPE in m.codes:
            text += (
                f": its shape follows the batch size where {name} is "
                f"{shape_of(correct[0])}: {shapes_by_n(student, correct, ns)}"
            )
        sentences.append(text)
    elif dx.MISSING_ACTIVATION_MASK in m.codes or not m.candidate.scalable:
        sentences.append(f"{label} equals {m.candidate.label}")
    if dx.TRANSPOSED in m.codes:
        shape_words = (
            f"has shape {', '.join(shapes)} where {name} is {shape_of(correct[0])}"
            if student[0].shape != correct[0].shape
            else "has its entries transposed"
        )
        sentences.append(
            f"{label} {shape_words}: it is the transpose of the correct gradient"
        )
    if dx.WRONG_SHAPE in m.codes and dx.PRODUCT_ORDER not in m.codes:
        sentences.append(
            f"{label} has the right values but shape {', '.join(shapes)} where {name} is {shape_of(correct[0])}"
        )
    if m.factor:
        subject = "it" if sentences else label
        reduction = truth.spec.reduction
        sentences.append(
            f"{subject} is {factor_words(m.factor, reduction, ns, m.fixed_n)}"
        )
    return part("wrong", m.codes, "; ".join(sentences), err)


def _other_gradient(
    student: list[np.ndarray], probes: list[Probe], layout: Layout, name: str
) -> str:
    """The parameter whose gradient the student's array really is (a mixed-up return order)."""
    for other in probes[0].grads:
        if other == name:
            continue
        correct = [layout.to_student(other, p.grads[other]) for p in probes]
        if match(
            list(student),
            Candidate((), other, correct, scalable=False),
            [p.n for p in probes],
        ):
            return other
    return ""
