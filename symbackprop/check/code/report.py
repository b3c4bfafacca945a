"""Human-readable and JSON check-code output: each finding in a sentence, and the correct
formula from the derivation, written in the student's names and array layout."""

from __future__ import annotations

import json
import math
from typing import Any

from .. import diagnoses as dx
from .result import NOT_CHECKED, CheckResult

# how much a student is told: everything; what is wrong and why, without the correct formula;
# or only which parts are right (a course can run it before the deadline)
FEEDBACK = ("full", "hint", "verdict")


HINT_MESSAGE = "does not match the derivation at the probe points"


def restrict(report: dict[str, Any], feedback: str) -> dict[str, Any]:
    """The JSON report with only what this feedback level shows (`hint`: a wrong part's
    message, which may spell out the right formula, becomes a plain one; `verdict`: statuses
    only)."""
    if feedback == "full":
        return report
    if feedback == "hint":

        def plain(p: dict[str, Any]) -> dict[str, Any]:
            return {**p, "message": HINT_MESSAGE} if p["status"] == "wrong" else p

        gradients = {n: plain(p) for n, p in report["gradients"].items()}
        layers = {n: plain(p) for n, p in report.get("layers", {}).items()}
        return {
            **report,
            "forward": plain(report["forward"]),
            **({"loss": plain(report["loss"])} if "loss" in report else {}),
            "gradients": gradients,
            **({"layers": layers} if layers else {}),
        }

    def bare(p: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": p["status"],
            "diagnoses": [],
            "message": "",
            "max_rel_error": None,
        }

    gradients = {n: bare(p) for n, p in report["gradients"].items()}
    layers = {n: bare(p) for n, p in report.get("layers", {}).items()}
    return {
        **report,
        "forward": bare(report["forward"]),
        **({"loss": bare(report["loss"])} if "loss" in report else {}),
        "gradients": gradients,
        **({"layers": layers} if layers else {}),
    }


def format_human(result: CheckResult, feedback: str = "full") -> str:
    """The verdict a student reads: one block per part, with why and the correct formula
    (`hint`: without the formula; `verdict`: which parts are right, nothing more)."""
    r = restrict(result.report, feedback)
    spec = result.spec
    lines = [
        f"check-code {result.source}: network {'-'.join(map(str, spec.layers))} "
        f"({', '.join(spec.activations)}), loss {spec.loss}, reduction {r['reduction']}",
    ]
    if result.layout is not None:
        lines.append(f"your layout: {result.layout.describe(spec)}")
    if r.get(
        "script"
    ):  # a tutorial script: its own point, not probes (the note says where)
        lines.append(
            "run on the script's own data and initial weights, batch size "
            f"{', '.join(map(str, result.batch_sizes)) or '?'}"
        )
    else:
        sizes = ", ".join(map(str, result.batch_sizes))
        probed = (
            f"{result.points} random examples, one at a time"
            if result.batch_sizes == [1]
            else f"{result.points} random points, batch sizes {sizes}"
        )
        lines.append(
            f"probed at {probed}; backward is fed the correct Z, H and predictions, so a "
            "forward bug cannot hide or fake a backward bug"
        )
    for note in result.notes:
        lines.append(f"note: {note}")
    lines.append("")
    parts = [
        *r.get("layers", {}).items(),  # each layer function on its own, first
        ("forward", r["forward"]),
        *((("loss", r["loss"]),) if "loss" in r else ()),  # a (loss, grads) function's
        *((f"{n} gradient", p) for n, p in r["gradients"].items()),
    ]
    width = max(len(name) for name, _ in parts)
    shown_errors: set[str] = set()
    for name, p in parts:
        status = {
            "ok": "ok",
            "wrong": "WRONG",
            "error": "ERROR",
            NOT_CHECKED: "not checked",
        }[p["status"]]
        codes = f"  [{', '.join(p['diagnoses'])}]" if p["diagnoses"] else ""
        if feedback == "verdict":
            codes = ""
        lines.append(f"{name.ljust(width)}  {status}{codes}")
        if p["status"] == "ok" or feedback == "verdict":
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
        if formula and p["status"] == "wrong" and feedback == "full":
            if key == "forward":
                lines.append(f"    correct (from the derivation): {formula[0]}")
                lines += [f"        {line}" for line in formula[1:]]
            else:
                lines.append(f"    correct (from the derivation): {formula[-1]}")
                lines += [f"        with {line}" for line in reversed(formula[:-1])]
    bad = [name for name, p in parts if p["status"] not in ("ok", NOT_CHECKED)]
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
