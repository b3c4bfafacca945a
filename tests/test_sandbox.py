"""check-code's sandbox from the parent's side: which sandbox runs, what the child may send, what
it sees, and the inputs that used to end in an internal error. The attacks are in
tests/test_redteam.py."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from symbackprop.check.code import channel, sandbox, view
from symbackprop.check.code.channel import ProtocolError
from symbackprop.check.inert import inert
from symbackprop.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = ROOT / "tests" / "fixtures" / "students"
HAS_BWRAP = shutil.which("bwrap") is not None


def test_without_bwrap_one_file_runs_unisolated_with_a_one_line_warning() -> None:
    out = run_cli(
        "check-code", str(STUDENTS / "correct.py"), "--json", path="/nonexistent"
    )
    assert out.returncode == 0, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "NOT isolated" in line and "bubblewrap" in line
    assert json.loads(out.stdout)["sandbox"] == "process"


def test_a_batch_refuses_to_run_unisolated_unless_asked(monkeypatch) -> None:
    monkeypatch.setattr(view, "bwrap_path", lambda: None)
    with pytest.raises(UserError, match="--sandbox process"):
        sandbox.choose_sandbox("auto", several=True)
    mode, warning = sandbox.choose_sandbox("process", several=True)
    assert mode == "process" and "NOT isolated" in warning
    with pytest.raises(UserError, match="bwrap is not on PATH"):
        sandbox.choose_sandbox("bwrap")


def test_bwrap_that_cannot_build_a_sandbox_is_named_not_blamed_on_the_student(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\n"
    )
    fake.chmod(0o755)
    out = run_cli(
        "check-code", str(STUDENTS / "correct.py"), path=f"{tmp_path}:/usr/bin:/bin"
    )
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "could not start" in line and "No permissions" in line
    assert "--sandbox process" in line and "Traceback" not in out.stderr


@pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed")
def test_the_default_sandbox_is_bwrap_when_it_is_on_path() -> None:
    out = run_cli("check-code", str(STUDENTS / "correct.py"), "--json")
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert json.loads(out.stdout)["sandbox"] == "bwrap"


def test_the_view_hides_every_package_folder_and_symbackprop() -> None:
    args = view.mount_args()
    hidden = {args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"}
    sources = {args[i + 1] for i, a in enumerate(args) if a in ("--ro-bind", "--bind")}
    package = str(Path(sandbox.__file__).resolve().parents[2])
    assert not any(s == package or s.startswith(package + "/") for s in sources)
    assert not any(
        s.startswith(("/etc/", "/home", "/root/.ssh"))
        for s in sources - {"/etc/ld.so.cache"}
    )
    for folder in sys.path:
        real = os.path.realpath(folder)
        if "-packages" in real and any(real.startswith(s + "/") for s in sources):
            assert real in hidden, f"{real} is visible in the sandbox"
    assert "--bind" not in args  # nothing of the host is writable
    shown = {args[i + 2] for i, a in enumerate(args) if a == "--ro-bind"}
    assert f"{view.SITE}/numpy" in shown


def _array(values: np.ndarray) -> dict[str, object]:
    raw = np.ascontiguousarray(values, dtype="<f8").tobytes()
    return {"__nd__": list(values.shape), "b64": base64.b64encode(raw).decode()}


def test_arrays_from_the_child_are_checked_before_use() -> None:
    good = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(channel.decode(_array(good)), good)
    bad = [
        {"__nd__": [2, 3], "b64": base64.b64encode(b"\0" * 40).decode()},  # too short
        {"__nd__": [10**6, 10**6], "b64": ""},  # declares 10^12 entries
        {"__nd__": [-1], "b64": ""},
        {"__nd__": [2], "b64": "not base64!"},
        {"__nd__": "2", "b64": ""},
        {"__seq__": [{"__seq__": []}] * (channel.MAX_ITEMS + 1)},
        {"__dict__": [["a"]]},
        {"__what__": 1},
        True,
        None,
        10**100,
    ]
    for value in bad:
        with pytest.raises(ProtocolError):
            channel.decode(value)
    deep: dict[str, object] = {"__seq__": []}
    for _ in range(channel.MAX_DEPTH + 2):
        deep = {"__seq__": [deep]}
    with pytest.raises(ProtocolError):
        channel.decode(deep)


def test_messages_and_frames_from_the_child_are_checked() -> None:
    for line in (b"not json", b"[1, 2]", b'{"no": "event"}', b"[" * 100000):
        with pytest.raises(ProtocolError):
            channel.parse_line(line)
    assert channel.where({"file": "/etc/passwd", "line": 1, "function": "f"}) is None
    frame = channel.where({"file": "<student 2>", "line": 7, "function": "f\x1b[2J"})
    assert frame == {"file": "<student 2>", "line": 7, "function": "f\\x1b[2J"}
    with pytest.raises(ProtocolError):
        channel.where({"file": "<student 2>", "line": "7"})
    err = channel.error(
        {"type": "ValueError", "message": "a\nforward  ok\x1b[0m", "where": None}
    )
    assert "\n" not in err["message"] and "\x1b" not in err["message"]


def test_inert_text_cannot_start_a_line_colour_or_reorder() -> None:
    text = "ok\n\rverdict\x1b[32m \u202eevil\u2066 \u2028x"
    shown = inert(text)
    assert all(c not in shown for c in "\n\r\x1b\u202e\u2066\u2028")
    assert shown.startswith("ok\\n\\rverdict\\x1b[32m")
    assert len(inert("x" * 10_000, 50)) == 50
    assert inert("résumé 网络 ∂L/∂W") == "résumé 网络 ∂L/∂W"


@pytest.mark.parametrize("timeout", ["inf", "nan", "-1", "0", "1e400", "3601"])
def test_a_timeout_out_of_range_is_refused_in_one_line(timeout: str) -> None:
    out = run_cli("check-code", str(STUDENTS / "correct.py"), "--timeout", timeout)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "--timeout" in line and "3600" in line


def test_a_wide_hidden_layer_is_checked() -> None:
    out = run_cli(
        "check-code", str(STUDENTS / "correct.py"), "--layers", "2,24,1", "--json"
    )
    assert out.returncode == 2  # the file's initial W1 is (2, 2): named, not exit 4
    assert "W1" in out.stderr and "2-24-1" in out.stderr


MNIST_STUDENT = """import numpy as np


def forward(W1, W2, b1, b2, X):
    Z = X @ W1.T + b1
    H = np.maximum(Z, 0)
    return H, Z, H @ W2.T + b2


def backward(y_pred, y_true, W2, H, Z, X):
    dZ2 = y_pred - y_true
    dZ1 = (dZ2 @ W2) * (Z > 0)
    return dZ1.T @ X, dZ2.T @ H, dZ1.sum(axis=0), dZ2.sum(axis=0)
"""


@pytest.mark.slow
def test_an_mnist_sized_correct_submission_is_correct(tmp_path: Path) -> None:
    path = tmp_path / "mnist.py"
    path.write_text(MNIST_STUDENT, encoding="utf-8")
    out = run_cli(
        "check-code", str(path), "--layers", "784,128,10", "--json", "--timeout", "120"
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] and report["forward"]["status"] == "ok"
    wrong = path.read_text().replace("* (Z > 0)", "")
    path.write_text(wrong, encoding="utf-8")
    out = run_cli(
        "check-code", str(path), "--layers", "784,128,10", "--json", "--timeout", "120"
    )
    report = json.loads(out.stdout)
    assert out.returncode == 1
    assert "missing_activation_mask" in report["gradients"]["W1"]["diagnoses"]


def test_a_forward_that_returns_less_than_the_backward_takes_is_not_ok(
    tmp_path: Path,
) -> None:
    source = (STUDENTS / "correct.py").read_text(encoding="utf-8")
    for returned in ("{'X': X}", "{'Z1': Z}", "y_pred"):
        path = tmp_path / "partial.py"
        path.write_text(source.replace("return H, Z, y_pred", f"return {returned}"))
        out = run_cli("check-code", str(path), "--json")
        report = json.loads(out.stdout)
        assert report["forward"]["status"] != "ok", returned
        assert out.returncode == 1


def test_probe_points_are_new_at_every_run_and_repeatable_on_request() -> None:
    wrong = str(STUDENTS / "scaled_by_two.py")
    first = json.loads(run_cli("check-code", wrong, "--json").stdout)
    second = json.loads(run_cli("check-code", wrong, "--json").stdout)
    assert first["probe_seed"] != second["probe_seed"]  # a table of answers cannot pass
    again = json.loads(
        run_cli(
            "check-code", wrong, "--json", "--probe-seed", str(first["probe_seed"])
        ).stdout
    )
    assert again["probe_seed"] == first["probe_seed"]
    assert (
        again["gradients"] == first["gradients"]
    )  # the same points, the same messages


def test_a_terminated_check_removes_its_folder(tmp_path: Path) -> None:
    """SIGTERM (a grader's own timeout) unwinds like Ctrl-C: the child folder is removed."""
    import signal
    import time

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = dict(os.environ, TMPDIR=str(temporary))
    proc = subprocess.Popen(
        [sys.executable, "-m", "symbackprop", "check-code", str(STUDENTS / "hang.py")]
        + ["--sandbox", "process", "--timeout", "60"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(temporary.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the child's folder exists: it is running
    assert list(temporary.iterdir())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert list(temporary.iterdir()) == []


def test_a_term_at_any_moment_of_a_check_exits_130(tmp_path: Path) -> None:
    """TERM landing anywhere (often while a module that defines dataclasses is imported, which
    CPython 3.11 then marked as an unhandled interrupt: the process killed itself with SIGINT
    after printing 'interrupted') ends with exit 130, one line, and no folder left."""
    import signal
    import time

    for attempt in range(12):
        temporary = tmp_path / f"tmp{attempt}"
        temporary.mkdir()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "symbackprop",
                "check-code",
                str(STUDENTS / "hang.py"),
            ]
            + ["--sandbox", "process", "--timeout", "60"],
            env=dict(os.environ, TMPDIR=str(temporary)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not list(temporary.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.02 * (attempt % 4))  # a little later each time
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130, (attempt, proc.returncode)
        assert proc.stderr is not None
        assert proc.stderr.read().strip() == "symbackprop: interrupted"
        assert list(temporary.iterdir()) == []


def test_the_modules_a_file_imports_are_known_from_its_tree(tmp_path: Path) -> None:
    """PyTorch is shown in the sandbox only for a file that imports it at top level."""
    from symbackprop.check.code.load import read_student_file

    path = tmp_path / "hw.py"
    path.write_text(
        "import torch.nn as nn\nfrom numpy import zeros\nimport os, sys\n"
        "def f():\n    import json\n",
        encoding="utf-8",
    )
    assert read_student_file(path).imports == {"torch", "numpy", "os", "sys"}
    assert "torch" in view.OPTIONAL
