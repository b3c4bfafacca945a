"""The matrix-mode report: ✓/✗ per equation with what is wrong, the counterexample and the fix;
or `--json` in the issue's schema."""

from __future__ import annotations

import json
from collections.abc import Callable

from ....errors import EXIT_FAILED, EXIT_OK
from ..report import _can_print, network_line
from .check import MatrixReport
from .counterexample import describe

# the "counterexample" of a wrong equation in --json
COUNTEREXAMPLE = (
    '{"layers": sizes, "m": samples, "network": {X, Y, W1, b1, ...: nested lists}, '
    '"inputs": {each name the line uses: its value there}, "yours": the line\'s result, '
    '"correct": the derivation\'s}; short numbers, no pre-activation at a kink'
)


def to_json(report: MatrixReport) -> dict:
    """{"ok", "layout", "equations": [{"name", "line", "status", "diagnoses", "message"}]}, plus
    the fix, the method and a wrong line's counterexample (see COUNTEREXAMPLE) or null."""
    return {
        "ok": report.ok,
        "layout": report.layout,
        "equations": [
            {
                "name": v.name,
                "line": v.line,
                "status": v.status,
                "diagnoses": list(v.diagnoses),
                "message": v.message,
                "fix": v.fix or None,
                "method": v.method or None,
                "built_on": list(v.built_on),
                "counterexample": v.counterexample,
            }
            for v in report.verdicts
        ],
    }


def human(report: MatrixReport, unicode: bool = True) -> str:
    """One line per equation, the fix under a wrong one, then a count."""
    marks = {"ok": "✓", "wrong": "✗", "error": "✗", "missing": "?"}
    if not unicode:
        marks = {"ok": "ok", "wrong": "XX", "error": "XX", "missing": "??"}
    lines = [f"{report.source}: {network_line(report.spec)}, layout {report.layout}"]
    width = max((len(v.name) for v in report.verdicts), default=4)
    for v in report.verdicts:
        where = f"line {v.line}: " if v.line and v.status != "ok" else ""
        codes = f"[{', '.join(v.diagnoses)}] " if v.diagnoses else ""
        status = "" if v.status == "ok" else f"{v.status}: "
        lines.append(
            f"{marks[v.status]} {v.name.ljust(width)}  {where}{status}{codes}{v.message}"
        )
        if v.counterexample:
            lines += ["    " + line for line in describe(v.counterexample, v.name)]
        if v.fix:
            lines.append(f"    fix: {v.fix}")
    counts = {s: sum(v.status == s for v in report.verdicts) for s in marks}
    lines.append(
        f"{counts['ok']} of {len(report.verdicts)} correct, {counts['wrong']} wrong, "
        f"{counts['error']} errors, {counts['missing']} missing (matrix equations, proven for "
        "generic matrices at small sizes and checked at this network's sizes)"
    )
    return "\n".join(lines)


def print_matrix_report(
    report: MatrixReport, as_json: bool, say: Callable[[str], None] = print
) -> int:
    """Print the report and return the exit code: 0 all correct, else 1."""
    say(
        json.dumps(to_json(report), indent=2)
        if as_json
        else human(report, _can_print("✓✗"))
    )
    return EXIT_OK if report.ok else EXIT_FAILED
