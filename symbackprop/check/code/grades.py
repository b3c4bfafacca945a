"""Points per part (`--points forward=2,W1=2`), a submission's score, and Gradescope's file.

A part scores its points when its status is "ok" and nothing otherwise; a part left out of
`--points` is worth DEFAULT_POINTS. A submission that could not be checked scores 0 of the
same total, so every row of a class has the same maximum.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import UserError
from ..inert import inert

DEFAULT_POINTS = 1.0
MAX_POINTS = 1_000_000.0

Points = dict[str, float]


# parts only some functions have: graded when --points names them (CS231n's loss(X, y)
# returns (loss, grads), and its loss is then checked too)
OPTIONAL_PARTS = ("loss",)


def part_names(param_names: tuple[str, ...] | list[str]) -> list[str]:
    """The graded parts of a network, in report order: forward, then each gradient."""
    return ["forward", *param_names]


def parse_points(text: str | None, parts: list[str]) -> Points:
    """Each part's points from `forward=2,W1=2,b1=1` (the rest DEFAULT_POINTS each; an
    optional part, `loss=2`, only when named)."""
    points = {name: DEFAULT_POINTS for name in parts}
    if text is None:
        return points
    seen: set[str] = set()
    for entry in text.split(","):
        name, equals, number = (w.strip() for w in entry.partition("="))
        if not equals or not name.isidentifier() or not number:
            raise UserError(
                f"--points: {inert(entry.strip(), 80)!r} is not PART=NUMBER "
                f"(e.g. --points forward=2,{parts[1]}=1)"
            )
        if name not in points and name not in OPTIONAL_PARTS:
            raise UserError(
                f"--points: this network has no part {name!r}; its parts are "
                + ", ".join([*parts, *OPTIONAL_PARTS])
            )
        if name in seen:
            raise UserError(f"--points: {name} is given twice")
        seen.add(name)
        try:
            value = float(number) if len(number) <= 40 else math.nan
        except ValueError:
            value = math.nan
        if not 0 <= value <= MAX_POINTS:
            raise UserError(
                f"--points: {name}={inert(number, 40)} is not a number from 0 to "
                f"{MAX_POINTS:,.0f}"
            )
        points[name] = value
    return points


def parts_of(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A row's parts by name: forward, loss (when checked), W1, b1, ... (none for an error)."""
    if "error" in row:
        return {}
    loss = {name: row[name] for name in OPTIONAL_PARTS if name in row}
    return {"forward": row["forward"], **loss, **row["gradients"]}


def scored(row: dict[str, Any], points: Points) -> dict[str, Any]:
    """The row with `score` and `max_score`, for the submission and for each part."""
    parts = parts_of(row)
    for name in OPTIONAL_PARTS:  # graded, but not there: its points are not earned
        if name in points and parts and name not in parts:
            parts = {**parts, name: _absent(name)}
    total = 0.0
    new: dict[str, dict[str, Any]] = {}
    for name, part in parts.items():
        if name not in points:  # an optional part the course does not grade
            new[name] = part
            continue
        worth = points[name]
        got = worth if part["status"] == "ok" else 0.0
        total += got
        new[name] = {**part, "score": got, "max_score": worth}
    out = {**row, "score": total, "max_score": sum(points.values())}
    if parts:
        out["forward"] = new.pop("forward")
        for name in OPTIONAL_PARTS:
            if name in new:
                out[name] = new.pop(name)
        out["gradients"] = new
    return out


def _absent(name: str) -> dict[str, Any]:
    """The part of a graded optional part the submission does not have."""
    why = {"loss": "the function returns no loss (or its call failed)"}[name]
    return {
        "status": "not_checked",
        "diagnoses": [],
        "message": why,
        "max_rel_error": None,
    }


def _test_name(name: str) -> str:
    if name in ("forward", *OPTIONAL_PARTS):
        return {"forward": "forward pass", "loss": "loss"}[name]
    return f"gradient of {name}"


def gradescope(
    row: dict[str, Any], points: Points, verdict: str, seconds: float
) -> dict[str, Any]:
    """Gradescope's results.json for one scored row: a test per part, the verdict as output."""
    parts = parts_of(row)
    tests = []
    for number, (name, worth) in enumerate(points.items(), start=1):
        part = parts.get(name)
        if part is None:  # the submission could not be checked: every part scores 0
            status, output, got = "failed", row.get("error", ""), 0.0
        else:
            status = "passed" if part["status"] == "ok" else "failed"
            got = part["score"]
            words = [part["message"], *part["diagnoses"]]
            output = "\n".join(w for w in words if w)
        tests.append(
            {
                "name": _test_name(name),
                "number": str(number),
                "score": got,
                "max_score": worth,
                "status": status,
                "output": output,
                "visibility": "visible",
            }
        )
    return {
        "score": sum(t["score"] for t in tests),
        "execution_time": round(seconds, 3),
        "output": verdict,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
