"""check-code on a whole class: folders and files, one row each, a grade file, a summary, and
bad input as one JSON object. The expected verdicts are the fixtures' own labels (each fixture
says in its first line what it is, and tests/test_check_code.py verifies each by hand)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = ROOT / "tests" / "fixtures" / "students"


@pytest.fixture
def klass(tmp_path: Path) -> Path:
    """A class export: files named after students, a student's folder, an empty folder."""
    root = tmp_path / "export"
    root.mkdir()
    shutil.copy(STUDENTS / "correct.py", root / "alice.py")
    shutil.copy(STUDENTS / "missing_mask.py", root / "bob.py")
    (root / "carol").mkdir()
    shutil.copy(STUDENTS / "correct_in_out.ipynb", root / "carol" / "hw.ipynb")
    shutil.copy(STUDENTS / "unbindable.py", root / "dave.py")
    shutil.copy(STUDENTS / "hang.py", root / "erin.py")
    (root / "frank").mkdir()
    (root / ".ipynb_checkpoints").mkdir()  # not a student
    return root


def test_a_class_gets_one_row_each_and_a_summary(klass: Path, tmp_path: Path) -> None:
    grades = tmp_path / "grades.csv"
    out = run_cli(
        "check-code", str(klass), "--jsonl", "--csv", str(grades), "--timeout", "3"
    )
    assert out.returncode == 1, out.stderr  # not everyone is correct
    *rows, totals = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["submission"] for r in rows] == [
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "frank",
    ]
    by = {r["submission"]: r for r in rows}
    assert by["alice"]["ok"] and by["carol"]["ok"]
    assert "missing_activation_mask" in by["bob"]["gradients"]["W1"]["diagnoses"]
    assert by["dave"]["exit_code"] == 2 and "cannot bind" in by["dave"]["error"]
    assert by["erin"]["gradients"]["W1"]["status"] == "error"  # the hang, not the class
    assert "no .py" in by["frank"]["error"]
    assert totals["summary"] and totals["submissions"] == 6
    seeds = {r["probe_seed"] for r in rows if "error" not in r}
    assert len(seeds) == 1  # one run, one new set of points, made once
    assert totals["statuses"] == {"ok": 2, "wrong": 2, "error": 2}
    assert totals["parts"]["W1"] == {
        "ok": 2,
        "checked": 4,
        "diagnoses": {"missing_activation_mask": 1},
    }
    table = list(csv.DictReader(grades.open(encoding="utf-8")))
    assert [t["submission"] for t in table] == [r["submission"] for r in rows]
    bob = table[1]
    assert (bob["status"], bob["W1"], bob["W1_score"], bob["W2"], bob["W2_score"]) == (
        "wrong",
        "wrong",
        "0",
        "ok",
        "1",
    )
    assert (bob["score"], bob["max_score"]) == (
        "3",
        "5",
    )  # forward, W2, b2: a point each
    dave = table[3]
    assert (dave["status"], dave["score"], dave["max_score"]) == ("error", "0", "5")
    assert "W1: missing_activation_mask" in bob["diagnoses"]


def test_the_human_summary_counts_each_part(klass: Path) -> None:
    out = run_cli(
        "check-code", str(klass / "alice.py"), str(klass / "bob.py"), "--jobs", "2"
    )
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["alice", "5/5", "ok"]
    assert lines[1].startswith("bob") and "missing_activation_mask" in lines[1]
    assert "class: 2 submissions (1 ok, 1 wrong, 0 error)" in out.stdout
    assert any(line.split()[:4] == ["W1", "1", "of", "2"] for line in lines)


def test_an_all_correct_class_exits_0(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        shutil.copy(STUDENTS / "correct.py", tmp_path / f"{name}.py")
    out = run_cli("check-code", str(tmp_path), "--jsonl")
    assert out.returncode == 0, out.stdout
    assert len(out.stdout.splitlines()) == 4


def test_bad_input_in_json_mode_is_one_json_object(tmp_path: Path) -> None:
    for args in (
        ("check-code", str(tmp_path / "missing.py"), "--json"),
        ("check-code", str(STUDENTS / "correct.py"), "--json", "--timeout", "inf"),
        ("check-code", str(STUDENTS / "unbindable.py"), "--json"),
        ("check-code", str(tmp_path / "missing.py"), "--jsonl"),
    ):
        out = run_cli(*args)
        assert out.returncode == 2, args
        (line,) = out.stdout.splitlines()
        report = json.loads(line)
        assert report["ok"] is False and report["error"] and report["exit_code"] == 2


def test_several_submissions_never_run_unisolated_unless_asked(klass: Path) -> None:
    files = [str(klass / "alice.py"), str(klass / "bob.py")]
    out = run_cli("check-code", *files, path="/nonexistent")
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "--sandbox process" in line
    out = run_cli(
        "check-code", *files, "--sandbox", "process", "--jsonl", path="/nonexistent"
    )
    assert out.returncode == 1  # bob is wrong; both were checked
    assert "NOT isolated" in out.stderr
    assert len(out.stdout.splitlines()) == 3


def test_a_grade_file_that_cannot_be_written_is_refused_before_checking(
    klass: Path, tmp_path: Path
) -> None:
    out = run_cli(
        "check-code", str(klass), "--csv", str(tmp_path / "no" / "grades.csv")
    )
    assert out.returncode == 2 and out.stdout == ""
    assert "--csv" in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("flag", "name"), [("--csv", "mine.csv"), ("--report", "mine.html")]
)
def test_a_file_symbackprop_did_not_write_is_kept_unless_forced(
    tmp_path: Path, flag: str, name: str
) -> None:
    root = tmp_path / "class"
    root.mkdir()
    shutil.copy(STUDENTS / "correct.py", root / "alice.py")
    mine = tmp_path / name
    mine.write_text("the TA's own notes\n")
    out = run_cli("check-code", str(root), flag, str(mine))
    assert out.returncode == 2 and out.stdout == ""
    assert "was not written by symbackprop" in out.stderr and "--force" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert mine.read_text() == "the TA's own notes\n"
    # our own file of an earlier run is replaced; --force replaces the TA's
    assert run_cli("check-code", str(root), flag, str(mine), "--force").returncode == 0
    written = mine.read_text()
    assert written != "the TA's own notes\n"
    assert run_cli("check-code", str(root), flag, str(mine)).returncode == 0


def test_feedback_levels_hide_the_answer_on_request() -> None:
    seed = str(ROOT / "symbackprop" / "data" / "notebook_221_relu.txt")
    full = run_cli("check-code", seed).stdout
    hint = run_cli("check-code", seed, "--feedback", "hint").stdout
    verdict = run_cli("check-code", seed, "--feedback", "verdict").stdout
    assert "correct (from the derivation)" in full and "why:" in full
    assert "correct (from the derivation)" not in hint and "why:" in hint
    assert "[bias_broadcast]" in hint
    assert "why:" not in verdict and "[" not in verdict.split("\n\n")[1]
    assert "b1 gradient  WRONG" in verdict and "W2 gradient  ok" in verdict
    report = json.loads(
        run_cli("check-code", seed, "--json", "--feedback", "verdict").stdout
    )
    parts = [report["forward"], *report["gradients"].values()]
    assert all(p["message"] == "" and p["diagnoses"] == [] for p in parts)
    assert [p["status"] for p in parts] == ["wrong", "wrong", "wrong", "ok", "wrong"]


def test_a_zip_export_is_a_class_and_leaves_nothing_behind(tmp_path: Path) -> None:
    import zipfile

    export = tmp_path / "export.zip"
    with zipfile.ZipFile(
        export, "w"
    ) as z:  # one folder per student, inside one top folder
        z.write(STUDENTS / "correct.py", "submissions/alice/hw.py")
        z.write(STUDENTS / "missing_mask.py", "submissions/bob/hw.py")
        z.write(STUDENTS / "correct_in_out.ipynb", "submissions/carol/hw.ipynb")
        # a second notebook in carol's folder, and a file that is not a notebook
        z.writestr("submissions/carol/scratch.ipynb", "{not json")
        z.writestr("submissions/dave.ipynb", "{not json")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    out = subprocess.run(
        [sys.executable, "-m", "symbackprop", "check-code", str(export), "--jsonl"],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, TMPDIR=str(temporary)),
    )
    *rows, totals = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["submission"] for r in rows] == ["alice", "bob", "carol", "dave"]
    assert [r["ok"] for r in rows] == [True, False, True, False]
    assert totals["statuses"] == {"ok": 2, "wrong": 1, "error": 1}
    assert list(temporary.iterdir()) == []  # the unpacked export is removed
    # files are named as they are in the export, never by the temporary copy
    assert rows[0]["file"] == f"{export}: submissions/alice/hw.py"
    assert rows[3]["error"].startswith(f"{export}: submissions/dave.ipynb: not a valid")
    assert str(temporary) not in out.stdout
    # the folder with two notebooks: which was checked, and why
    assert (
        "the first of 2 .ipynb files in the folder (also scratch.ipynb)"
        in rows[2]["chosen"]
    )


def test_a_zip_member_outside_the_archive_is_refused(tmp_path: Path) -> None:
    import zipfile

    export = tmp_path / "evil.zip"
    with zipfile.ZipFile(export, "w") as z:
        z.write(STUDENTS / "correct.py", "alice.py")
        z.writestr("../../outside.py", "print('x')\n")
    out = run_cli("check-code", str(export))
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "outside the archive" in line
    assert not (tmp_path.parent / "outside.py").exists()
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    out = run_cli("check-code", str(tmp_path / "broken.zip"))
    assert out.returncode == 2 and "not a readable .zip" in out.stderr


_PARENT: list[int] = []  # the pid of the test's own process


def _dies_in_a_worker_on_b(sub: Any) -> dict[str, object]:
    name = sub.name
    if name == "b" and os.getpid() not in _PARENT:
        os._exit(1)  # a worker killed while it checks b
    return {"submission": name, "ok": True, "pid": os.getpid()}


def test_a_worker_that_dies_loses_no_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """multiprocessing.Pool replaces a worker that dies (the OOM killer, a stray signal) and
    forgets its task: the run waited for that row forever. Now the rest is checked one by one
    in the parent, and every submission gets its row, in order."""
    from symbackprop.check.code import batch
    from symbackprop.spec import default_spec

    _PARENT[:] = [os.getpid()]
    monkeypatch.setattr(batch, "check_one", _dies_in_a_worker_on_b)
    subs = [batch.Submission(n, STUDENTS / "correct.py") for n in "abcd"]
    rows = list(batch.check_all(subs, default_spec(), 2, "process", {"timeout": 5.0}))
    assert [r["submission"] for r in rows] == ["a", "b", "c", "d"]
    assert (
        rows[1]["pid"] == _PARENT[0]
    )  # b was checked again, here, after its worker died


def test_links_and_odd_names_in_a_class_folder(tmp_path: Path) -> None:
    """A link in the class folder is not followed (it could bring in any file the TA can
    read); a second notebook's name, escape codes and all, reaches the terminal inert; an
    error row still says which of a student's files was checked."""
    root = tmp_path / "class"
    (root / "zoe").mkdir(parents=True)
    secret = tmp_path / "solution.py"
    shutil.copy(STUDENTS / "correct.py", secret)
    (root / "eve.py").symlink_to(secret)
    (root / "zoe" / "Untitled.ipynb").write_text("{not json")
    odd = "z\x1b[31mRED\x1b[0m\nmallory    5 of 5  ok.ipynb"
    (root / "zoe" / odd).write_text("{}")
    out = run_cli("check-code", str(root))
    lines = out.stdout.splitlines()
    eve = next(line for line in lines if line.startswith("eve"))
    assert "ERROR" in eve and "is a link: not followed" in eve
    zoe = next(line for line in lines if line.startswith("zoe"))
    assert "ERROR" in zoe and "checked Untitled.ipynb, the first of 2 .ipynb" in zoe
    assert "\x1b" not in out.stdout and not any(x.startswith("mallory") for x in lines)


def test_grade_files_that_would_block_or_clash_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "class"
    root.mkdir()
    shutil.copy(STUDENTS / "correct.py", root / "alice.py")
    fifo = tmp_path / "grades.csv"
    os.mkfifo(fifo)
    out = run_cli("check-code", str(root), "--csv", str(fifo))
    assert out.returncode == 2 and "not a regular file" in out.stderr
    same = tmp_path / "both.out"
    out = run_cli("check-code", str(root), "--csv", str(same), "--report", str(same))
    assert out.returncode == 2 and "name the same file" in out.stderr
    assert not same.exists()
