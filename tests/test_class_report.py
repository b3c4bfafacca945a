"""`check-code --report FILE`: the class page's model (counts, anchors, escaping) and the page as
Debian's headless chromium shows it (names in the table, links that land, one bar per score, no
script run by a hostile name or message). Update the README's picture with
`python -m pytest tests/test_class_report.py --update-screenshots`."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli

from symbackprop.check.code import batch, class_report, grades

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = ROOT / "tests" / "fixtures" / "students"
SCREENSHOT = ROOT / "tests" / "screenshots" / "class_report.png"
WINDOW = (1200, 1600)
PARTS = ["forward", "W1", "b1", "W2", "b2"]
POINTS = {"forward": 2.0, "W1": 1.0, "b1": 1.0, "W2": 1.0, "b2": 1.0}
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_MESSAGE = '<b id="injected">bold</b><script>document.title="pwned"</script>'


def _part(status: str, diagnoses: tuple[str, ...] = (), message: str = "") -> dict:
    return {
        "status": status,
        "diagnoses": list(diagnoses),
        "message": message,
        "max_rel_error": None,
    }


def _row(name: str, **parts: dict) -> dict[str, Any]:
    """A scored row as check_all and grades.scored make it (parts not given are ok)."""
    got = {p: parts.get(p, _part("ok", message="matches")) for p in PARTS}
    ok = all(p["status"] == "ok" for p in got.values())
    row = {
        "submission": name,
        "ok": ok,
        "forward": got.pop("forward"),
        "gradients": got,
    }
    return grades.scored(row, POINTS)


def _class() -> list[dict[str, Any]]:
    error = {"submission": "dave", "ok": False, "error": "no forward", "exit_code": 2}
    return [
        _row("alice"),
        _row("bob", W1=_part("wrong", ("missing_activation_mask",), "W1 is off")),
        _row(
            HOSTILE_NAME,
            W1=_part("wrong", ("scaled",), HOSTILE_MESSAGE),
            b1=_part("wrong", ("scaled",), "b1 is off"),
        ),
        grades.scored(error, POINTS),
    ]


def test_the_model_counts_scores_and_parts() -> None:
    rows = _class()
    report = class_report.build(rows, batch.summary(rows), POINTS, "net", "full")
    bars = report.score_chart.rects
    assert [b.title for b in bars] == [
        "1 submission scored 0",
        "1 submission scored 4",
        "1 submission scored 5",
        "1 submission scored 6",
    ]
    w1 = next(c for c in report.part_charts if c.name == "part-W1")
    assert w1.title == "W1: 1 of 3 correct"
    assert [r.title for r in w1.rects] == [
        "correct: 1 of 3",
        "not correct: 2 of 3",
        "missing_activation_mask: 1 of 3",
        "scaled: 1 of 3",
    ]
    assert [c.value for c in report.cards[:4]] == ["4", "1", "2", "1"]
    assert report.columns == tuple(PARTS)
    anchors = [s.anchor for s in report.students]
    assert anchors == [
        "student-1-alice",
        "student-2-bob",
        "student-3-script-alert-1-script",
        "student-4-dave",
    ]
    dave = report.students[3]
    assert dave.error == "no forward" and [c.label for c in dave.cells] == ["—"] * 5
    assert report.students[1].parts[1].findings[0].why.startswith("the activation's")


def test_hostile_text_is_shown_as_text() -> None:
    rows = _class()
    page = class_report.render(
        class_report.build(rows, batch.summary(rows), POINTS, "<i>net</i>", "hint")
    )
    assert "<script" not in page and "<b id" not in page and "<i>net" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b id=&#34;injected&#34;&gt;bold&lt;/b&gt;" in page
    assert "http://" not in page and "https://" not in page  # nothing to load
    assert 'href="#student-3-script-alert-1-script"' in page


def test_the_verdict_level_shows_statuses_only() -> None:
    crash = _part("error")  # a crash's parts, with their message cut at this level
    seen = [_row("bob", W1=_part("wrong")), _row("carol", W1=crash, b1=crash)]
    page = class_report.render(
        class_report.build(seen, batch.summary(seen), POINTS, "net", "verdict")
    )
    assert "only which parts are right" in page
    assert "Diagnoses are not shown at the verdict feedback level." in page
    assert 'class="message"' not in page and 'class="code"' not in page
    assert "the same error" not in page and "no diagnoses" not in page


def test_a_report_that_cannot_be_written_is_refused_before_checking(
    tmp_path: Path,
) -> None:
    out = run_cli(
        "check-code",
        str(STUDENTS / "correct.py"),
        "--report",
        str(tmp_path / "no" / "report.html"),
    )
    assert out.returncode == 2 and out.stdout == ""
    assert "--report" in out.stderr and len(out.stderr.strip().splitlines()) == 1


# --- the page in a real browser -------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "the class-report test needs Debian's chromium on PATH: "
        "apt-get install -y chromium"
    )


def _browse(page: Path, scratch: Path, *how: str) -> str:
    """Run headless chromium on the page, in a fresh profile, with no network of its own."""
    profile = scratch / f"profile-{len(list(scratch.glob('profile-*')))}"
    out = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *how,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture(scope="module")
def class_page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A class of a dozen (one hostile name, one hostile message) checked with --report."""
    tmp = tmp_path_factory.mktemp("class-report")
    root = tmp / "export"
    root.mkdir()
    for name, fixture in [
        ("alice", "correct.py"),
        ("bob", "missing_mask.py"),
        ("carol", "transposed.py"),
        ("dave", "scaled_by_two.py"),
        ("erin", "crash.py"),
        ("frank", "unbindable.py"),
        ("grace", "sign_flipped.py"),
        ("ivan", "product_order.py"),
        ("judy", "mean_instead_of_sum.py"),
        ("<img src=x onerror=document.title=1>", "wrong.py"),
    ]:
        shutil.copy(STUDENTS / fixture, root / f"{name}.py")
    (root / "heidi").mkdir()
    shutil.copy(STUDENTS / "correct_in_out.ipynb", root / "heidi" / "hw.ipynb")
    source = (STUDENTS / "correct.py").read_text()
    hostile = source.replace(
        "    dZ2 = y_pred - y_true\n",
        f"    raise RuntimeError({HOSTILE_MESSAGE!r})\n",
        1,
    )
    (root / "mallory.py").write_text(hostile)
    report = tmp / "report.html"
    out = run_cli(
        "check-code",
        str(root),
        "--jsonl",
        "--points",
        "forward=2",
        "--jobs",
        "2",
        "--report",
        str(report),
    )
    assert out.returncode == 1, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert f"report: wrote {report}" in out.stderr.splitlines()
    return {"path": report, "rows": lines[:-1], "summary": lines[-1], "tmp": tmp}


class _Dom(HTMLParser):
    """What the rendered DOM shows: the elements, the table's links, the score bars, texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (href, text) of the students' table
        self.score_bars = 0
        self.title = ""
        self.text: list[str] = []
        self._open: list[str] = []
        self._in_table = self._in_scores = False
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] += 1
        if a.get("id"):
            self.ids.add(a["id"] or "")
        self._in_table = self._in_table or a.get("id") == "students"
        self._in_scores = self._in_scores or a.get("data-chart") == "scores"
        if tag == "a" and self._in_table:
            self._href = a.get("href") or ""
        if tag == "rect" and self._in_scores and "bar-score" in (a.get("class") or ""):
            self.score_bars += 1
        if tag not in ("meta", "link", "br", "img", "input", "hr"):  # no end tag
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        if tag == "svg":
            self._in_scores = False
        if tag == "a":
            self._href = None
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._href is not None:
            self.links.append((self._href, data))
        if self._open and self._open[-1] == "title" and "svg" not in self._open:
            self.title += data


def test_the_browser_shows_the_class(class_page: dict[str, Any]) -> None:
    dom = _Dom()
    dom.feed(_browse(class_page["path"], class_page["tmp"], "--dump-dom"))
    rows = class_page["rows"]
    names = [r["submission"] for r in rows]
    assert [text for _, text in dom.links] == names  # each student, in order, as text
    assert all(href.startswith("#") and href[1:] in dom.ids for href, _ in dom.links)
    assert dom.score_bars == len({r["score"] for r in rows}) > 2
    assert dom.score_bars == len(class_page["summary"]["scores"]["counts"])
    assert dom.title == f"Class report: {len(rows)} submissions"  # no script renamed it
    assert (
        dom.tags["script"] == 0 and dom.tags["img"] == 0 and "injected" not in dom.ids
    )
    shown = "".join(dom.text)
    assert "<img src=x onerror=document.title=1>" in names and HOSTILE_MESSAGE in shown
    for name, e in class_page["summary"]["parts"].items():
        assert f"{name}: {e['ok']} of {e['checked']} correct" in shown


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA PNG (all five row filters)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, rows = np.zeros(stride, np.uint8), []
    for y in range(height):
        start = y * (stride + 1) + 1
        kind, line = (
            raw[start - 1],
            np.frombuffer(raw[start : start + stride], np.uint8),
        )
        if kind == 1:  # Sub and Up in NumPy; Average and Paeth byte by byte
            line = (line.reshape(-1, bpp).cumsum(axis=0, dtype=np.uint8)).ravel()
        elif kind == 2:
            line = line + prev
        elif kind in (3, 4):
            out, up = bytearray(line.tobytes()), prev.tolist()
            for i in range(stride):
                a = out[i - bpp] if i >= bpp else 0
                b, c = up[i], up[i - bpp] if i >= bpp else 0
                if kind == 3:
                    out[i] = (out[i] + (a + b) // 2) & 255
                    continue
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                near = a if pa <= pb and pa <= pc else b if pb <= pc else c
                out[i] = (out[i] + near) & 255
            line = np.frombuffer(bytes(out), np.uint8)
        rows.append(line.reshape(-1, bpp)[:, :3].tobytes())
        prev = line
    return width, height, rows


def test_the_screenshot_shows_the_page(
    class_page: dict[str, Any], update_screenshots: bool, tmp_path: Path
) -> None:
    shot = SCREENSHOT if update_screenshots else tmp_path / "class_report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    size = f"--window-size={WINDOW[0]},{WINDOW[1]}"
    _browse(class_page["path"], class_page["tmp"], f"--screenshot={shot}", size)
    width, height, rows = _pixels(shot.read_bytes())
    assert (width, height) == WINDOW
    colours = Counter(
        row[i : i + 3] for row in rows[::4] for i in range(0, len(row), 12)
    )
    assert len(colours) > 50  # text and charts, not a blank page
    assert colours.most_common(1)[0][1] < 0.9 * sum(colours.values())
    everything = b"".join(rows)
    for bar in (
        "3559c7",
        "2e7d32",
        "c62828",
        "e08e0b",
    ):  # score, correct, not correct, dx
        assert bytes.fromhex(bar) in everything, f"no #{bar} bar in the screenshot"
