"""The types check-code hands between its stages: a call's outcome, a report PART, the
student's names, and the result the reports print.

A PART is {"status": "ok"|"wrong"|"error"|"not_checked", "diagnoses": [codes], "message": str,
"max_rel_error": float|None}; the JSON report is {"ok", "reduction", "forward", "gradients"}.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...spec import NetworkSpec
from .. import diagnoses as dx
from .layout import Layout

CODE_ORDER = [
    dx.TRANSPOSED, dx.SCALED, dx.SIGN_FLIPPED, dx.MISSING_ACTIVATION_MASK, dx.WRONG_SHAPE,
    dx.PRODUCT_ORDER, dx.BIAS_BROADCAST, dx.PENALTY_FACTOR, dx.PROBABILITIES, dx.WRONG,
]  # fmt: skip

# a traceback frame -> "file:line `code`" in the student's file, or ""
Where = Callable[[dict[str, Any] | None], str]


@dataclass
class CallOutcome:
    """One call's outcome: its value, or the exception / hang / crash that stopped it."""

    state: str  # "done", "raised", "hung", "died", "bad_value", "not_run"
    value: Any = None
    error: dict[str, Any] | None = None  # type, message, where (file and line)

    @property
    def ok(self) -> bool:
        """True when the call returned."""
        return self.state == "done"


# the status of a part nothing was compared for (no such function was given): never "ok"
NOT_CHECKED = "not_checked"


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


def error_message(
    what: str, outcome: CallOutcome, n: int | None, where: Where, timeout: float
) -> str:
    """One sentence for a call that raised, hung or crashed, with the student's file and line."""
    error = outcome.error or {}
    at = where(error.get("where"))
    at = f" at {at}" if at else ""
    size = "" if n is None else " (one example)" if n == 1 else f" (batch size {n})"
    reason = error.get("message", "")
    if outcome.state == "hung":
        return f"{what} did not finish within {timeout:g} s{at}{size}: an endless loop?"
    if outcome.state == "died":
        return f"{what} crashed{at}{size}: {reason}"
    if outcome.state == "bad_value":
        return f"{what} returned {reason} instead of arrays{size}"
    if outcome.state == "not_run":
        return f"{what} was not run: {reason}"
    reason = f": {reason}" if reason else ""
    return f"{what} raised {error['type']}{reason}{at}{size}"


@dataclass(frozen=True)
class Namer:
    """The student's names for values in messages: y_pred for Y, b1_grad for b1's gradient."""

    forward_names: dict[str, str]
    backward_names: dict[str, str]
    grads: dict[str, str]

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


@dataclass
class CheckResult:
    """The report and what the human-readable output adds to it."""

    report: dict[str, Any]
    source: str
    spec: NetworkSpec
    layout: Layout | None
    batch_sizes: list[int]
    points: int
    # "forward", "W1", ...: the correct lines, in the student's names and layout
    formulas: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sandbox: str = "in-process"  # "bwrap" (isolated), "process" (not isolated)
    warning: str = ""  # one line when the submission was not isolated

    @property
    def ok(self) -> bool:
        """True when every part is correct."""
        return bool(self.report["ok"])


@dataclass
class Outcome:
    """Everything the child reported: per-call events, and how it ended."""

    loaded: dict[str, Any] | None = None  # globals, load errors, missing functions
    # id -> {"event": "done", "value": decoded} or {"event": "raised", "error": {...}}
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    started: list[int] = field(default_factory=list)
    finished: bool = False
    timed_out: bool = False
    ended: str = (
        ""  # "killed by SIGSEGV", a malformed message, ... when the child stopped
    )
    # the student's frame when it hung or crashed
    stuck_at: dict[str, Any] | None = None
    runner_error: str = ""
    seconds: float = 0.0

    @property
    def unfinished(self) -> int | None:
        """The call that was running when the child stopped, if any."""
        for call_id in reversed(self.started):
            if call_id not in self.events:
                return call_id
        return None
