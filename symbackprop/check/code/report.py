"""Human-readable check-code output: each finding in a sentence, and the correct formula from
the derivation, written in the student's names and array layout."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from .. import diagnoses as dx
from .diagnose import rename
from .probe import VECTOR

if TYPE_CHECKING:
    from .core import CheckResult
    from .diagnose import Namer
    from .probe import Layout, Truth


def correct_lines(truth: Truth, layout: Layout, namer: Namer) -> dict[str, list[str]]:
    """The derivation's forward and backward lines, adapted to the student's layout and names.

    "forward" -> the forward pass; "W1", "b1", ... -> the chain of lines ending in that gradient.
    """
    from ...printing import numpy as printing

    d = truth.derivation
    L = truth.depth
    canon = ["X", "y", "Y"] + [f"{k}{i}" for i in range(1, L + 1) for k in "WbZH"]
    names = {c: namer.value(c) for c in canon}
    forward = []
    for line in printing.forward_lines(d):  # type: ignore[arg-type]
        code = line.code
        for i in range(1, L + 1):
            if layout.of(f"W{i}") != "out_in":
                code = code.replace(f"@ W{i}.T", f"@ W{i}")
            if layout.of(f"b{i}") == "col":
                code = re.sub(rf"\+ b{i}\b", f"+ b{i}.T", code)
        if layout.targets == "1d" and code.startswith("Y = "):
            code += ".ravel()"  # (N,) like the student's targets
        forward.append(rename(code, names))
    backward = printing.backward_lines(d)  # type: ignore[arg-type]
    delta: dict[int, str] = {}
    for line in backward:
        m = re.match(r"dZ(\d+) = (.*)$", line.code)
        if m:
            l = int(m.group(1))  # noqa: E741
            code = line.code
            if l < L and layout.of(f"W{l + 1}") == "in_out":
                code = code.replace(f"@ W{l + 1}", f"@ W{l + 1}.T")
            if l < L and layout.of(f"W{l + 1}") == VECTOR:
                code = code.replace(f"@ W{l + 1}", f"@ W{l + 1}[None, :]")
            if (
                l == L and layout.targets == "1d"
            ):  # the student's (N,) targets as a column
                code = f"dZ{l} = ({m.group(2)})[:, None]"
            delta[l] = rename(code, names)
    out = {"forward": forward}
    for l in range(1, L + 1):  # noqa: E741
        prev = "X" if l == 1 else f"H{l - 1}"
        chain = [delta[k] for k in range(L, l - 1, -1)]
        if re.search(r"\bn\b", chain[0]):  # the mean's 1/n
            chain.insert(0, f"n = {names['X']}.shape[0]")
        w = {
            "out_in": f"dZ{l}.T @ {prev}",
            "in_out": f"{prev}.T @ dZ{l}",
            VECTOR: f"(dZ{l}.T @ {prev}).ravel()",
        }[layout.of(f"W{l}")]
        bias = {
            "flat": f"dZ{l}.sum(axis=0)",
            "row": f"dZ{l}.sum(axis=0, keepdims=True)",
            "col": f"dZ{l}.sum(axis=0).reshape(-1, 1)",
        }[layout.of(f"b{l}")]
        for param, rhs in ((f"W{l}", w), (f"b{l}", bias)):
            name = namer.grads.get(param) or f"g{param}"
            out[param] = [*chain, f"{name} = {rename(rhs, names)}"]
    return out


def format_human(result: CheckResult) -> str:
    """The verdict a student reads: one block per part, with why and the correct formula."""
    r = result.report
    spec = result.spec
    lines = [
        f"check-code {result.source}: network {'-'.join(map(str, spec.layers))} "
        f"({', '.join(spec.activations)}), loss {spec.loss}, reduction {r['reduction']}",
    ]
    if result.layout is not None:
        lines.append(f"your layout: {result.layout.describe(spec)}")
    lines.append(
        f"probed at {result.points} random points, batch sizes "
        f"{', '.join(map(str, result.batch_sizes))}; backward is fed the correct Z, H and "
        "predictions, so a forward bug cannot hide or fake a backward bug"
    )
    for note in result.notes:
        lines.append(f"note: {note}")
    lines.append("")
    parts = [("forward", r["forward"])] + [
        (f"{n} gradient", p) for n, p in r["gradients"].items()
    ]
    width = max(len(name) for name, _ in parts)
    shown_errors: set[str] = set()
    for name, p in parts:
        status = {"ok": "ok", "wrong": "WRONG", "error": "ERROR"}[p["status"]]
        codes = f"  [{', '.join(p['diagnoses'])}]" if p["diagnoses"] else ""
        lines.append(f"{name.ljust(width)}  {status}{codes}")
        if p["status"] == "ok" and not p["message"].startswith("not checked"):
            continue
        if p["status"] == "error":  # one crash stops every gradient: say it once
            lines.append(
                f"    {p['message']}"
                if p["message"] not in shown_errors
                else "    (the same error)"
            )
            shown_errors.add(p["message"])
            continue
        lines.append(f"    {p['message']}")
        for code in p["diagnoses"]:
            if code in dx.EXPLANATIONS:
                lines.append(f"    why: {dx.EXPLANATIONS[code]}")
        key = "forward" if name == "forward" else name.split()[0]
        formula = result.formulas.get(key)
        if formula and p["status"] == "wrong":
            if key == "forward":
                lines.append(f"    correct (from the derivation): {formula[0]}")
                lines += [f"        {line}" for line in formula[1:]]
            else:
                lines.append(f"    correct (from the derivation): {formula[-1]}")
                lines += [f"        with {line}" for line in reversed(formula[:-1])]
    bad = [name for name, p in parts if p["status"] != "ok"]
    lines.append("")
    if not bad:
        lines.append("verdict: everything matches the derivation")
    else:
        good = [name for name, p in parts if p["status"] == "ok"]
        lines.append(
            f"verdict: {len(bad)} of {len(parts)} parts need work ({', '.join(bad)})"
            + (f"; correct: {', '.join(good)}" if good else "")
        )
    return "\n".join(lines)


def format_json(report: dict[str, Any]) -> str:
    """Exactly one JSON object (non-finite errors become null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(report), indent=2)
