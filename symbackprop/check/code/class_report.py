"""The page of `check-code --report FILE`: a class's grade distribution, the diagnoses per part
and each student's feedback, as one self-contained HTML file (inline CSS and SVG, no script).

Everything is computed here into plain dataclasses of strings; templates/class_report.html.jinja
only lays them out. Text from a submission is hostile: the template is rendered with autoescape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import __version__
from ...errors import UserError
from .. import diagnoses as dx
from .batch import status_of
from .grades import parts_of
from .result import NOT_CHECKED

TEMPLATE = "class_report.html.jinja"
STATUS_LABELS = {
    "ok": "correct",
    "wrong": "wrong",
    "error": "error",
    NOT_CHECKED: "not checked",
}
FEEDBACK_NOTES = {
    "full": "Feedback level full: each part's diagnoses, why, and the checker's message.",
    "hint": "Feedback level hint: each part's diagnoses, why, and the checker's message "
    "(the correct formulas are left out).",
    "verdict": "Feedback level verdict: only which parts are right; diagnoses and messages "
    "are not shown.",
}
MAX_SLOTS = (
    40  # integer scores up to this many points get a slot each, empty ones included
)
CHART_WIDTH, CHART_HEIGHT = 1030, 260  # the score distribution, in SVG units
PART_WIDTH, ROW_HEIGHT, LABEL_WIDTH = 380, 28, 170  # a part's horizontal bars


@dataclass(frozen=True)
class Rect:
    """One bar of a chart: SVG coordinates as text, a CSS kind, and its tooltip."""

    x: str
    y: str
    width: str
    height: str
    kind: str
    title: str


@dataclass(frozen=True)
class Label:
    """A text in a chart: where, its alignment (start/middle/end) and a CSS kind."""

    x: str
    y: str
    text: str
    anchor: str
    kind: str
    transform: str = ""


@dataclass(frozen=True)
class Line:
    """An axis or grid line of a chart."""

    x1: str
    y1: str
    x2: str
    y2: str
    kind: str


@dataclass(frozen=True)
class Chart:
    """One inline SVG: its name (for tests and CSS), heading, size, shapes, and a note."""

    name: str
    title: str
    width: int
    height: int
    rects: tuple[Rect, ...]
    labels: tuple[Label, ...]
    lines: tuple[Line, ...]
    note: str


@dataclass(frozen=True)
class Card:
    """A headline number at the top of the page."""

    label: str
    value: str
    kind: str


@dataclass(frozen=True)
class Cell:
    """A part's status in the table of students."""

    part: str
    status: str
    label: str


@dataclass(frozen=True)
class Finding:
    """A diagnosis code and the sentence explaining it."""

    code: str
    why: str


@dataclass(frozen=True)
class PartFeedback:
    """What one part of one submission got: status, score, message and diagnoses."""

    name: str
    status: str
    label: str
    score: str
    message: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Student:
    """A submission's table row and feedback section (`anchor` links the two)."""

    name: str
    anchor: str
    status: str
    label: str
    score: str
    cells: tuple[Cell, ...]
    parts: tuple[PartFeedback, ...]
    error: str


@dataclass(frozen=True)
class ClassReport:
    """Everything the page shows, as strings and numbers the template lays out."""

    title: str
    description: str
    feedback: str
    feedback_note: str
    points_line: str
    parts_note: str
    version: str
    cards: tuple[Card, ...]
    score_chart: Chart
    part_charts: tuple[Chart, ...]
    columns: tuple[str, ...]
    students: tuple[Student, ...]


def _num(x: float) -> str:
    """2 for 2.0, 1.5 for 1.5 (scores and points)."""
    return f"{x:g}"


def _px(x: float) -> str:
    """An SVG coordinate, short and locale-free."""
    return f"{x:.1f}".removesuffix(".0")


def describe(spec: Any) -> str:
    """The network checked, in one line: layers, activations, loss and reduction."""
    return (
        f"network {'-'.join(map(str, spec.layers))} ({', '.join(spec.activations)}), "
        f"loss {spec.loss}, reduction {spec.reduction}"
    )


def _slots(counts: dict[str, int], max_score: float) -> list[float]:
    """The scores on the x axis: every whole score from 0 when the points are whole and few
    (so a gap shows), else only the scores someone got."""
    got = sorted(float(s) for s in counts)
    whole = all(s.is_integer() for s in got) and float(max_score).is_integer()
    if whole and max_score <= MAX_SLOTS:
        return [float(s) for s in range(int(max_score) + 1)]
    return got


def score_chart(scores: dict[str, Any]) -> Chart:
    """A vertical bar per score: how many submissions got it (a bar only where someone did)."""
    counts = {float(s): int(k) for s, k in scores["counts"].items()}
    slots = _slots(scores["counts"], scores["max_score"])
    left, right, top, bottom = 56.0, 16.0, 24.0, 52.0
    plot_w, plot_h = CHART_WIDTH - left - right, CHART_HEIGHT - top - bottom
    base = top + plot_h
    tallest = max(counts.values(), default=0)
    step = _tick_step(tallest)
    ceiling = max(step, -(-tallest // step) * step)
    rects, labels, lines = [], [], []
    for tick in range(0, ceiling + 1, step):
        y = base - plot_h * tick / ceiling
        lines.append(Line(_px(left), _px(y), _px(left + plot_w), _px(y), "grid"))
        labels.append(Label(_px(left - 8), _px(y + 4), str(tick), "end", "tick"))
    slot_w = plot_w / max(len(slots), 1)
    bar_w = min(slot_w * 0.72, 64.0)
    for i, score in enumerate(slots):
        centre = left + slot_w * (i + 0.5)
        labels.append(Label(_px(centre), _px(base + 18), _num(score), "middle", "tick"))
        k = counts.get(score, 0)
        if not k:
            continue
        h = plot_h * k / ceiling
        who = "submission" if k == 1 else "submissions"
        rects.append(
            Rect(
                _px(centre - bar_w / 2),
                _px(base - h),
                _px(bar_w),
                _px(h),
                "bar-score",
                f"{k} {who} scored {_num(score)}",
            )
        )
        labels.append(Label(_px(centre), _px(base - h - 6), str(k), "middle", "value"))
    lines.append(Line(_px(left), _px(base), _px(left + plot_w), _px(base), "axis"))
    x_title = f"score (of {_num(scores['max_score'])})"
    labels.append(
        Label(
            _px(left + plot_w / 2),
            _px(CHART_HEIGHT - 8),
            x_title,
            "middle",
            "axis-title",
        )
    )
    middle = _px(top + plot_h / 2)
    turn = f"rotate(-90 16 {middle})"
    labels.append(Label("16", middle, "students", "middle", "axis-title", turn))
    shapes = (tuple(rects), tuple(labels), tuple(lines))
    note = "" if counts else "no submissions"
    return Chart(
        "scores", "Score distribution", CHART_WIDTH, CHART_HEIGHT, *shapes, note
    )


def _tick_step(tallest: int) -> int:
    """A grid step giving at most about 5 lines: 1, 2, 5, 10, 20, 50, ..."""
    step = 1
    while tallest / step > 5:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return step


def part_chart(name: str, part: dict[str, Any], feedback: str) -> Chart:
    """A part's horizontal bars, out of the submissions checked: correct, not correct, and its
    most common diagnoses."""
    checked = part["checked"]
    bars = [
        ("correct", part["ok"], "bar-ok"),
        ("not correct", checked - part["ok"], "bar-bad"),
    ]
    bars += [(code, k, "bar-diagnosis") for code, k in part["diagnoses"].items()]
    top = 8.0
    bar_x, bar_room = LABEL_WIDTH + 8.0, PART_WIDTH - LABEL_WIDTH - 48.0
    rects, labels, lines = [], [], []
    for i, (label, k, kind) in enumerate(bars):
        y = top + i * ROW_HEIGHT
        w = bar_room * k / checked if checked else 0.0
        labels.append(Label(_px(LABEL_WIDTH), _px(y + 15), label, "end", "bar-label"))
        rects.append(
            Rect(
                _px(bar_x),
                _px(y + 3),
                _px(w),
                _px(ROW_HEIGHT - 10),
                kind,
                f"{label}: {k} of {checked}",
            )
        )
        labels.append(Label(_px(bar_x + w + 6), _px(y + 15), str(k), "start", "value"))
    height = top * 2 + len(bars) * ROW_HEIGHT
    lines.append(Line(_px(bar_x), "2", _px(bar_x), _px(height - 4), "axis"))
    note = "no diagnoses" if feedback != "verdict" and not part["diagnoses"] else ""
    title = f"{name}: {part['ok']} of {checked} correct"
    shapes = (tuple(rects), tuple(labels), tuple(lines))
    return Chart(f"part-{name}", title, PART_WIDTH, int(height), *shapes, note)


def _anchor(i: int, name: str) -> str:
    """A safe, unique id for a student's section: their position and a slug of the name."""
    kept = "".join(c if c.isascii() and c.isalnum() else " " for c in name.lower())
    slug = "-".join(kept.split())[:40]
    return f"student-{i}" + (f"-{slug}" if slug else "")


def student(i: int, row: dict[str, Any], columns: Sequence[str]) -> Student:
    """A scored row as a table row and a feedback section (error rows: the error's text)."""
    parts = parts_of(row)
    cells = []
    for name in columns:
        status = parts[name]["status"] if name in parts else ""
        cells.append(Cell(name, status or "none", STATUS_LABELS.get(status, "—")))
    feedback = []
    said: set[str] = set()
    for name, p in parts.items():
        message = p["message"]
        if p["status"] == "ok":
            message = ""
        elif p["status"] == "error" and message and message in said:
            message = "(the same error)"  # one crash stops every gradient: say it once
        said.add(p["message"])
        findings = tuple(Finding(c, dx.EXPLANATIONS.get(c, "")) for c in p["diagnoses"])
        feedback.append(
            PartFeedback(
                name,
                p["status"],
                STATUS_LABELS.get(p["status"], p["status"]),
                f"{_num(p['score'])} / {_num(p['max_score'])}",
                message,
                findings,
            )
        )
    status = status_of(row)
    return Student(
        row["submission"],
        _anchor(i, row["submission"]),
        status,
        {"ok": "all correct", "wrong": "needs work", "error": "error"}[status],
        f"{_num(row['score'])} / {_num(row['max_score'])}",
        tuple(cells),
        tuple(feedback),
        row.get("error", ""),
    )


def build(
    rows: Sequence[dict[str, Any]],
    totals: dict[str, Any],
    points: dict[str, float],
    description: str,
    feedback: str,
) -> ClassReport:
    """The page's model from the scored rows and batch.summary's totals."""
    n = totals["submissions"]
    statuses = totals["statuses"]
    sc = totals["scores"]
    cards = (
        Card("submissions", str(n), "total"),
        Card("all correct", str(statuses.get("ok", 0)), "ok"),
        Card("need work", str(statuses.get("wrong", 0)), "wrong"),
        Card("could not be checked", str(statuses.get("error", 0)), "error"),
        Card("mean score", f"{sc['mean']:.2f} / {_num(sc['max_score'])}", "total"),
    )
    return ClassReport(
        title=f"Class report: {n} submission{'s' if n != 1 else ''}",
        description=description,
        feedback=feedback,
        feedback_note=FEEDBACK_NOTES[feedback],
        points_line=", ".join(f"{p} {_num(v)}" for p, v in points.items()),
        parts_note="Diagnoses are not shown at the verdict feedback level."
        if feedback == "verdict"
        else "",
        version=__version__,
        cards=cards,
        score_chart=score_chart(sc),
        part_charts=tuple(
            part_chart(name, e, feedback) for name, e in totals["parts"].items()
        ),
        columns=tuple(points),
        students=tuple(student(i, r, tuple(points)) for i, r in enumerate(rows, 1)),
    )


def render(report: ClassReport) -> str:
    """The page's HTML: the project's Jinja2 environment with autoescape on (hostile text)."""
    from ...emit.render import environment  # Jinja2 is imported only for a report

    env = environment().overlay(autoescape=True)
    return env.get_template(TEMPLATE).render(report=report)


def write_report(
    path: Path,
    rows: Sequence[dict[str, Any]],
    totals: dict[str, Any],
    points: dict[str, float],
    spec: Any,
    feedback: str,
) -> None:
    """Write the class's page to `path` atomically (a failure leaves no half page)."""
    from ...files import write_atomic

    page = render(build(rows, totals, points, describe(spec), feedback))
    try:
        write_atomic(path, page)
    except OSError as exc:
        raise UserError(
            f"--report {path}: cannot write it ({exc.strerror or exc})"
        ) from None
