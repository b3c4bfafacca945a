"""check-code --dask-scheduler: a class checked on a LocalCluster gets the rows a local --jobs 1
run gets; an unreachable scheduler or a missing extra is one line and exit 2; the worker's side
and the client's checks of what comes back, in-process."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from symbackprop import __version__
from symbackprop.check.code import dask_executor as dx
from symbackprop.check.code.batch import Submission, error_row
from symbackprop.spec import default_spec

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = ROOT / "tests" / "fixtures" / "students"
FIXTURES = [
    "correct.py",
    "missing_mask.py",
    "correct_in_out.ipynb",
    "unbindable.py",
    "hang.py",
    "seed_notebook_221_relu.txt",
]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A two-worker LocalCluster (worker processes, as on a real cluster) for this module."""
    distributed = pytest.importorskip(
        "distributed", reason="distributed is not installed (pip install '.[dask]')"
    )
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def klass(tmp_path: Path) -> Path:
    """Fixtures as one class, with a student's folder, an empty one and a file without
    functions (its error names the file's path, which must be the client's)."""
    root = tmp_path / "export"
    root.mkdir()
    for name in FIXTURES:
        shutil.copy(STUDENTS / name, root / name)
    (root / "carol").mkdir()
    shutil.copy(STUDENTS / "wrong.py", root / "carol" / "hw.py")
    (root / "frank").mkdir()
    (root / "nofunc.py").write_text("x = 1\n", encoding="utf-8")
    return root


def _rows(out: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.stdout.splitlines()]


def _verdicts(row: dict[str, Any]) -> dict[str, Any]:
    """What a grade depends on: the error, or each part's status and diagnoses."""
    if "error" in row:
        return row
    parts = {"forward": row["forward"], **row["gradients"]}
    return {
        "submission": row["submission"],
        "ok": row["ok"],
        "sandbox": row["sandbox"],
        "parts": {n: (p["status"], p["diagnoses"]) for n, p in parts.items()},
    }


def test_a_class_on_a_local_cluster_gets_the_local_rows(
    scheduler: str, klass: Path
) -> None:
    common = ["check-code", str(klass), "--jsonl", "--probe-seed", "11"]
    common += ["--timeout", "3"]
    local = run_cli(*common, "--jobs", "1", timeout=120)
    remote = run_cli(*common, "--dask-scheduler", scheduler, timeout=120)
    assert remote.returncode == local.returncode == 1, remote.stderr
    here, there = _rows(local), _rows(remote)
    assert [r.get("submission") for r in there] == [r.get("submission") for r in here]
    assert [_verdicts(r) for r in there[:-1]] == [_verdicts(r) for r in here[:-1]]
    assert there[-1] == here[-1]  # the class summary
    by = {r["submission"]: r for r in there[:-1]}
    if shutil.which("bwrap"):
        assert by["correct"]["sandbox"] == "bwrap"  # the sandbox runs in a dask worker
    assert by["hang"]["gradients"]["W1"]["status"] == "error"
    assert str(klass / "nofunc.py") in by["nofunc"]["error"]  # not the worker's copy
    assert "no .py" in by["frank"]["error"]
    left = list(Path(tempfile.gettempdir()).glob("symbackprop-dask-*"))
    assert not left, left  # each worker removed its copy of the files


def test_an_unreachable_scheduler_is_one_line_and_exit_2() -> None:
    pytest.importorskip("distributed", reason="distributed is not installed")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    out = run_cli(
        "check-code", str(STUDENTS / "correct.py"), "--dask-scheduler", address
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"symbackprop: error: --dask-scheduler {address}: cannot connect "
        "(ConnectionRefusedError: [Errno 111] Connection refused)"
    ]


def test_without_distributed_the_flag_names_the_extra(tmp_path: Path) -> None:
    shadow = tmp_path / "distributed"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('not here')\n")
    pythonpath = os.pathsep.join([str(tmp_path), str(ROOT)])
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "symbackprop",
            "check-code",
            str(STUDENTS / "correct.py"),
        ]
        + ["--dask-scheduler", "tcp://127.0.0.1:8786"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )
    assert out.returncode == 2
    assert out.stderr.strip().endswith("pip install 'symbackprop[dask]'")
    assert len(out.stderr.strip().splitlines()) == 1


def _task(**fields: Any) -> dx.Task:
    base = dx.Task(
        name="nofunc",
        file_name="nofunc.py",
        content=b"x = 1\n",
        shown="/class/nofunc.py",
        spec=default_spec(),
        options={"timeout": 3.0, "probe_seed": 1},
        sandbox="auto",
        version=__version__,
    )
    return dataclasses.replace(base, **fields)


def test_the_worker_checks_a_private_copy_and_names_the_clients_path() -> None:
    row = json.loads(dx.run_task(_task()))
    assert row["exit_code"] == 2
    assert row["error"].startswith("/class/nofunc.py: no function named 'forward'")
    old = json.loads(dx.run_task(_task(version="0.0.1")))
    assert "the client 0.0.1" in old["error"]
    odd = json.loads(dx.run_task(_task(file_name="../x.py")))
    assert "not a file name" in odd["error"]


class _Future:
    """A finished task: its value, or the exception it ended with."""

    def __init__(self, value: Any = None, exc: Exception | None = None) -> None:
        self.value, self.exc, self.cancelled = value, exc, False

    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> Any:
        if self.exc is not None:
            raise self.exc
        return self.value

    def cancel(self) -> None:
        self.cancelled = True


class _Client:
    """Hands back error rows as a worker would, and a dead worker for `bob`."""

    def submit(self, function: Any, task: dx.Task, pure: bool) -> _Future:
        if task.name == "bob":
            return _Future(exc=RuntimeError("worker died"))
        return _Future(json.dumps(error_row(task.name, "cannot bind", 2)))


def test_a_lost_task_is_its_own_error_row_and_the_rest_stream_in_order(
    tmp_path: Path,
) -> None:
    subs = []
    for name in ("alice", "bob", "carol"):
        (tmp_path / f"{name}.py").write_text("x = 1\n")
        subs.append(Submission(name, tmp_path / f"{name}.py"))
    rows = list(dx._stream(_Client(), subs, default_spec(), "auto", {}, 2))
    assert [r["submission"] for r in rows] == ["alice", "bob", "carol"]
    assert rows[1]["exit_code"] == 4 and "worker died" in rows[1]["error"]
    assert rows[0]["error"] == rows[2]["error"] == "cannot bind"


def _report(**changes: Any) -> dict[str, Any]:
    part = {"status": "ok", "diagnoses": [], "message": "fine", "max_rel_error": 0.0}
    row = {
        "submission": "alice",
        "ok": True,
        "reduction": "sum",
        "forward": dict(part),
        "gradients": {n: dict(part) for n in ("W1", "b1", "W2", "b2")},
        "sandbox": "bwrap",
        "probe_seed": 3,
    }
    return {**row, **changes}


@pytest.mark.parametrize(
    "row",
    [
        [],
        _report(submission="bob"),
        _report(ok="yes"),
        _report(sandbox="process"),  # bwrap was asked for
        _report(reduction="mean"),
        _report(gradients={"W1": {}}),
        _report(
            forward={
                "status": "great",
                "diagnoses": [],
                "message": "",
                "max_rel_error": None,
            }
        ),
        _report(
            forward={
                "status": "wrong",
                "diagnoses": ["rm -rf"],
                "message": "",
                "max_rel_error": None,
            }
        ),
        _report(
            forward={
                "status": "wrong",
                "diagnoses": [],
                "message": "",
                "max_rel_error": None,
            }
        ),
        {"submission": "alice", "ok": False, "error": "x", "exit_code": 0},
    ],
)
def test_a_row_that_is_not_one_check_one_makes_is_refused(row: Any) -> None:
    with pytest.raises(ValueError):
        dx.valid_row(row, "alice", default_spec(), "auto")


def test_a_valid_row_passes_with_its_text_made_inert() -> None:
    row = _report()
    row["forward"]["message"] = "fine\x1b[2J"
    checked = dx.valid_row(row, "alice", default_spec(), "bwrap")
    assert checked["forward"]["message"] == "fine\\x1b[2J"
    assert checked["gradients"] == row["gradients"]


def test_rows_with_loss_and_layer_parts_are_checked_like_the_others() -> None:
    part = {"status": "ok", "diagnoses": [], "message": "fine", "max_rel_error": 0.0}
    skipped = {**part, "status": "not_checked", "max_rel_error": None}
    wrong = {**part, "status": "wrong", "diagnoses": ["scaled"]}
    layers = {"affine_backward: dw": dict(part)}
    # a file of layer functions alone: no gradients, forward not checked, its layers ok
    alone = _report(forward=dict(skipped), gradients={}, layers=layers)
    assert dx.valid_row(alone, "alice", default_spec(), "bwrap")["layers"] == layers
    assert dx.valid_row(_report(loss=dict(part)), "alice", default_spec(), "bwrap")[
        "loss"
    ]
    for forged in (
        _report(
            forward=dict(part), gradients={}, layers=layers
        ),  # forward with nothing
        _report(loss=dict(wrong)),  # ok with a wrong loss
        _report(layers={"affine_backward: dw": dict(wrong)}),  # ok with a wrong layer
        _report(file=3),  # the worker's word on which file it was
    ):
        with pytest.raises(ValueError):
            dx.valid_row(forged, "alice", default_spec(), "bwrap")
