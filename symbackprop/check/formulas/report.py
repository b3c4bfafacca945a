"""The check-formulas report: one result per parameter entry, for people or as JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ...spec import NetworkSpec
from .judge import Verdict
from .values import HUGE

TOO_LARGE = repr(HUGE)  # a counterexample's value too large to evaluate


@dataclass
class EntryResult:
    """The verdict for one parameter entry."""

    name: str
    status: (
        str  # "ok", "wrong", "unproven" (neither shown right nor wrong) or "missing"
    )
    line: int | None = None
    formula: str | None = None
    verdict: Verdict | None = None

    def to_json(self) -> dict:
        """The JSON object of one entry."""
        v = self.verdict
        return {
            "status": self.status,
            "line": self.line,
            "formula": self.formula,
            "diagnoses": [] if v is None else v.diagnoses,
            "message": self.message,
            "method": None if v is None else v.method,
            "factor": None if v is None else v.factor,
            "counterexample": None if v is None else v.counterexample,
        }

    @property
    def message(self) -> str:
        """One sentence a student can act on."""
        if self.status == "missing":
            how = "the formula is empty" if self.line else "there is no line for it"
            return f"missing: {how}; write `dL/d{self.name} = ...`"
        return self.verdict.message if self.verdict else ""


@dataclass
class FormulaReport:
    """All entries of one answer file, judged; `human()` and `to_json()` present it."""

    source: str
    spec: NetworkSpec
    entries: list[EntryResult]
    units: list[str] = field(default_factory=list)
    regions_checked: int = 1
    regions_possible: int = 1
    # lines that could not be read (each judged apart from the others): exit code 2
    refused: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every entry is answered and correct and no line was refused."""
        return not self.refused and all(e.status == "ok" for e in self.entries)

    @property
    def exit_code(self) -> int:
        """0 all correct, 1 a wrong, not proven or missing formula, 2 a line refused."""
        if self.refused:
            return EXIT_USAGE
        return EXIT_OK if self.ok else EXIT_FAILED

    def counts(self) -> dict[str, int]:
        """How many entries are ok, wrong, not proven and missing."""
        out = {
            "total": len(self.entries),
            "ok": 0,
            "wrong": 0,
            "unproven": 0,
            "missing": 0,
        }
        for e in self.entries:
            out[e.status] += 1
        return out

    def to_json(self) -> dict:
        """The whole report as one JSON-ready object."""
        s = self.spec
        return {
            "ok": self.ok,
            "file": self.source,
            "network": {
                "name": s.name,
                "layers": list(s.layers),
                "activations": list(s.activations),
                "loss": s.loss,
            },
            "reduction": s.reduction,
            "per_sample": True,
            "regions": {
                "units": self.units,
                "checked": self.regions_checked,
                "possible": self.regions_possible,
            },
            "summary": self.counts(),
            "entries": {e.name: e.to_json() for e in self.entries},
            "refused": list(self.refused),
        }

    def human(self, unicode: bool = True) -> str:
        """One line per entry (with a counterexample under a wrong one), then a summary."""
        mark = (
            {"ok": "✓", "wrong": "✗", "unproven": "!", "missing": "?"}
            if unicode
            else {"ok": "ok", "wrong": "XX", "unproven": "!!", "missing": "??"}
        )
        width = max(len(f"dL/d{e.name}") for e in self.entries)
        lines = [f"{self.source}: {network_line(self.spec)}"]
        for e in self.entries:
            key = f"dL/d{e.name}".ljust(width)
            where = f"line {e.line}: " if e.line and e.status != "ok" else ""
            codes = (
                f"[{', '.join(e.verdict.diagnoses)}] " if e.status == "wrong" else ""
            )
            lines.append(f"{mark[e.status]} {key}  {where}{codes}{e.message}")
            if e.verdict and e.verdict.counterexample:
                lines.extend(
                    "      " + t
                    for t in _counterexample_lines(e.verdict.counterexample)
                )
        lines.extend(f"{mark['wrong']} refused: {message}" for message in self.refused)
        c = self.counts()
        region_note = (
            f"; {self.regions_checked} of {self.regions_possible} sign regions of "
            f"{', '.join(self.units)} checked"
            if self.units
            else ""
        )
        unproven = f", {c['unproven']} not proven" if c["unproven"] else ""
        lines.append(
            f"{c['ok']} of {c['total']} correct, {c['wrong']} wrong{unproven}, "
            f"{c['missing']} missing (formulas per sample{region_note})"
        )
        return "\n".join(lines)


def network_line(spec: NetworkSpec) -> str:
    """One line naming the network: layers, activations, loss, reduction."""
    return (
        f"{spec.name} (layers {'-'.join(map(str, spec.layers))}, activations "
        f"{', '.join(spec.activations)}, loss {spec.loss}, reduction {spec.reduction})"
    )


def _fmt(value: float | str | None) -> str:
    """A value for people: 6 significant digits, or 'undefined'; text is shown as it is."""
    if isinstance(value, str):
        return value  # past a float's range, already written out (`3.03322e+434294`)
    return "undefined" if value is None else f"{value:.6g}"


def _counterexample_lines(cx: dict) -> list[str]:
    """The counterexample under a wrong entry: the point, then both values."""
    values = ", ".join(f"{k} = {_fmt(v)}" for k, v in cx["values"].items())
    pre = ", ".join(f"{k} = {_fmt(v)}" for k, v in cx.get("intermediates", {}).items())
    got = cx["got"]
    if got is None or got == TOO_LARGE:
        got = f"is {'undefined' if got is None else got} there"
    else:
        got = f"gives {_fmt(got)}"
    out = [f"counterexample: {values}"]
    out.append(
        (f"(there {pre}) " if pre else "")
        + f"the gradient is {_fmt(cx['expected'])}, your formula {got}"
    )
    return out


def print_report(
    report: FormulaReport, as_json: bool, say: Callable[[str], None] = print
) -> int:
    """Print the report (human or one JSON object) and return the exit code."""
    if as_json:
        say(json.dumps(report.to_json(), indent=2))
    else:
        say(report.human(unicode=_can_print("✓✗")))
    return report.exit_code


def _can_print(chars: str) -> bool:
    """True when stdout can encode these characters (else ASCII marks)."""
    try:
        chars.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
