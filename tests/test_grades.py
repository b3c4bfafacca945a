"""Points per part, scores, the class CSV's score columns and Gradescope's results.json.

The fixtures' labels (which gradient is right) are worked out here by finite differences of
the half squared error, independently of the checker, before its scores are asserted.
"""

from __future__ import annotations

import csv
import fcntl
import importlib.util
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, run_cli

from symbackprop.check.code import grades
from symbackprop.errors import UserError

STUDENTS = ROOT / "tests" / "fixtures" / "students"
PARTS = ["forward", "W1", "b1", "W2", "b2"]


def _labels(path: Path) -> dict[str, bool]:
    """Which of a seed-style file's gradients equal central differences of its own loss."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # our own fixture, not a stranger's file
    rng = np.random.default_rng(7)
    p = {
        "W1": rng.normal(size=(2, 2)),
        "b1": rng.normal(size=2),
        "W2": rng.normal(size=(1, 2)),
        "b2": rng.normal(size=1),
    }
    X, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 1))

    def loss(q: dict[str, np.ndarray]) -> float:
        out = module.forward(q["W1"], q["W2"], q["b1"], q["b2"], X)[2]
        return float(0.5 * np.sum((out - y) ** 2))

    H, Z, out = module.forward(p["W1"], p["W2"], p["b1"], p["b2"], X)
    dW1, dW2, db1, db2 = module.backward(out, y, p["W2"], H, Z, X)
    given = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    labels = {}
    for name, value in p.items():
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            up = {k: v.copy() for k, v in p.items()}
            down = {k: v.copy() for k, v in p.items()}
            up[name][i] += 1e-6
            down[name][i] -= 1e-6
            numeric[i] = (loss(up) - loss(down)) / 2e-6
        labels[name] = bool(np.allclose(given[name], numeric, atol=1e-5))
    return labels


def test_points_default_to_one_and_take_a_part_each() -> None:
    assert grades.parse_points(None, PARTS) == dict.fromkeys(PARTS, 1.0)
    points = grades.parse_points(" forward = 2 ,W1=2.5", PARTS)
    assert points == {"forward": 2.0, "W1": 2.5, "b1": 1.0, "W2": 1.0, "b2": 1.0}
    assert grades.parse_points("b2=0", PARTS)["b2"] == 0.0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("W9=1", "no part 'W9'; its parts are forward, W1, b1, W2, b2"),
        ("W1=1,W1=2", "W1 is given twice"),
        ("W1", "is not PART=NUMBER"),
        ("W1=-1", "not a number from 0 to 1,000,000"),
        ("W1=nan", "not a number from 0"),
        ("W1=inf", "not a number from 0"),
        ("W1=1e400", "not a number from 0"),
        ("W1=" + "9" * 50, "not a number from 0"),
    ],
)
def test_bad_points_are_refused_in_one_line(text: str, words: str) -> None:
    with pytest.raises(UserError, match="--points") as info:
        grades.parse_points(text, PARTS)
    assert words in info.value.message and "\n" not in info.value.message


def _part(status: str) -> dict[str, Any]:
    return {"status": status, "diagnoses": [], "message": "", "max_rel_error": None}


def test_a_part_scores_its_points_only_when_correct() -> None:
    row = {
        "ok": False,
        "forward": _part("ok"),
        "gradients": {
            "W1": _part("wrong"),
            "b1": _part("error"),
            "W2": _part("ok"),
            "b2": _part("not_checked"),
        },
    }
    points = {"forward": 2.0, "W1": 3.0, "b1": 1.0, "W2": 0.5, "b2": 1.0}
    out = grades.scored(row, points)
    assert (out["score"], out["max_score"]) == (2.5, 7.5)
    assert [out["gradients"][n]["score"] for n in ("W1", "b1", "W2", "b2")] == [
        0,
        0,
        0.5,
        0,
    ]
    unreadable = grades.scored({"ok": False, "error": "cannot read"}, points)
    assert (unreadable["score"], unreadable["max_score"]) == (0.0, 7.5)


# Gradescope's documented results.json: top-level and per-test fields, their types and values
_TOP = {
    "score": (int, float),
    "execution_time": (int, float),
    "output": str,
    "visibility": str,
    "stdout_visibility": str,
    "tests": list,
    "extra_data": dict,
    "output_format": str,
    "leaderboard": list,
}
_TEST = {
    "score": (int, float),
    "max_score": (int, float),
    "status": str,
    "name": str,
    "number": str,
    "output": str,
    "tags": list,
    "visibility": str,
    "extra_data": dict,
    "output_format": str,
    "name_format": str,
}
_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def _validate_gradescope(results: dict[str, Any]) -> None:
    assert set(results) <= set(_TOP), set(results) - set(_TOP)
    for key, kind in _TOP.items():
        if key in results:
            assert isinstance(results[key], kind), key
    assert results["visibility"] in _VISIBILITY
    assert results["stdout_visibility"] in _VISIBILITY
    for test in results["tests"]:
        assert set(test) <= set(_TEST), set(test) - set(_TEST)
        for key, kind in _TEST.items():
            if key in test:
                assert isinstance(test[key], kind), key
        assert test["status"] in {"passed", "failed"}
        assert test["visibility"] in _VISIBILITY
        assert 0 <= test["score"] <= test["max_score"]
    assert results["score"] == sum(t["score"] for t in results["tests"])


def test_gradescope_results_score_each_part_as_the_labels_say(tmp_path: Path) -> None:
    labels = _labels(STUDENTS / "missing_mask.py")
    assert labels == {"W1": False, "b1": False, "W2": True, "b2": True}
    out_file = tmp_path / "results.json"
    out = run_cli(
        "check-code",
        str(STUDENTS / "missing_mask.py"),
        "--gradescope",
        str(out_file),
        "--points",
        "forward=2,W1=3",
        "--feedback",
        "hint",
    )
    assert out.returncode == 1, out.stderr
    results = json.loads(out_file.read_text(encoding="utf-8"))
    _validate_gradescope(results)
    by = {t["name"]: t for t in results["tests"]}
    assert list(by) == [
        "forward pass",
        "gradient of W1",
        "gradient of b1",
        "gradient of W2",
        "gradient of b2",
    ]
    for name, right in labels.items():
        test = by[f"gradient of {name}"]
        assert test["status"] == ("passed" if right else "failed")
        assert test["score"] == (test["max_score"] if right else 0)
    assert by["gradient of W1"]["max_score"] == 3.0
    assert "missing_activation_mask" in by["gradient of W1"]["output"]
    assert results["score"] == 2 + 1 + 1  # forward, W2 and b2
    assert "W1 gradient  WRONG" in results["output"]
    assert "correct:" in results["output"]


def test_gradescope_gets_a_zero_with_the_reason_for_an_unreadable_file(
    tmp_path: Path,
) -> None:
    out_file = tmp_path / "results.json"
    out = run_cli(
        "check-code", str(STUDENTS / "unbindable.py"), "--gradescope", str(out_file)
    )
    assert out.returncode == 2
    results = json.loads(out_file.read_text(encoding="utf-8"))
    _validate_gradescope(results)
    assert results["score"] == 0 and len(results["tests"]) == 5
    assert "cannot bind backward" in results["output"]
    assert all("cannot bind" in t["output"] for t in results["tests"])


def test_gradescope_is_for_one_submission_and_checks_its_path_first(
    tmp_path: Path,
) -> None:
    out = run_cli(
        "check-code",
        str(STUDENTS / "correct.py"),
        str(STUDENTS / "wrong.py"),
        "--gradescope",
        str(tmp_path / "r.json"),
    )
    assert out.returncode == 2 and "--gradescope is for one submission" in out.stderr
    out = run_cli(
        "check-code",
        str(STUDENTS / "correct.py"),
        "--gradescope",
        str(tmp_path / "no" / "r.json"),
    )
    assert out.returncode == 2 and "not a file in an existing folder" in out.stderr
    assert not (tmp_path / "r.json").exists()


def test_the_class_csv_has_a_score_per_part_and_a_total(tmp_path: Path) -> None:
    files = ["correct.py", "missing_mask.py", "sign_flipped.py"]
    labels = {f: _labels(STUDENTS / f) for f in files}
    table_file = tmp_path / "grades.csv"
    out = run_cli(
        "check-code",
        *(str(STUDENTS / f) for f in files),
        "--points",
        "W1=4,b1=2",
        "--csv",
        str(table_file),
        "--jobs",
        "2",
    )
    assert out.returncode == 1, out.stderr
    table = {
        r["submission"]: r for r in csv.DictReader(table_file.open(encoding="utf-8"))
    }
    worth = {"W1": 4, "b1": 2, "W2": 1, "b2": 1}
    for f in files:
        row = table[Path(f).stem]
        expected = 1 + sum(worth[n] for n, right in labels[f].items() if right)
        assert row["score"] == f"{expected:g}" and row["max_score"] == "9"
        for name, right in labels[f].items():
            assert row[name] == ("ok" if right else "wrong")
            assert row[f"{name}_score"] == (f"{worth[name]:g}" if right else "0")
    assert "mean score" in out.stdout


def _stderr_on_a_terminal(*args: str) -> tuple[bytes, str]:
    """Run the CLI with stderr on a pseudo-terminal 100 columns wide."""
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "symbackprop", *args],
        stdout=subprocess.PIPE,
        stderr=child,
        cwd=ROOT,
    )
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(parent, 1 << 16)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(parent)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    proc.wait(timeout=120)
    return seen, stdout


def test_a_terminal_shows_a_progress_bar_and_a_pipe_does_not() -> None:
    files = [str(STUDENTS / f) for f in ("correct.py", "wrong.py")]
    seen, stdout = _stderr_on_a_terminal("check-code", *files)
    assert b"2/2" in seen and b"submission/s" in seen
    assert "class: 2 submissions" in stdout and "submission/s" not in stdout
    plain = run_cli("check-code", *files)
    assert "submission/s" not in plain.stderr + plain.stdout
    seen, stdout = _stderr_on_a_terminal("check-code", *files, "--jsonl")
    assert b"submission/s" not in seen
    assert all(json.loads(line) for line in stdout.splitlines())


def test_hint_feedback_does_not_spell_out_the_right_formula() -> None:
    """The transposed diagnosis's message names the right product; at hint it is left out."""
    path = STUDENTS / "transposed.py"
    full = run_cli("check-code", str(path), "--json")
    hint = run_cli("check-code", str(path), "--json", "--feedback", "hint")
    said = json.loads(full.stdout)["gradients"]["W1"]
    hinted = json.loads(hint.stdout)["gradients"]["W1"]
    assert said["diagnoses"] == hinted["diagnoses"] == ["transposed"]
    assert "transpose" in said["message"]
    assert hinted["message"] == "does not match the derivation at the probe points"
    text = run_cli("check-code", str(path), "--feedback", "hint").stdout
    assert said["message"] not in text and "correct (from the derivation)" not in text
    assert "why: " in text  # the hint itself stays
