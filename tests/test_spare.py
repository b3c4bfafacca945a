"""The booted spare child and the limits set without a preexec function: a spare runs one
submission only, only for the view it was booted with, and is killed with its folder at exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from symbackprop.check.code import limits, runner, spare, view
from symbackprop.check.code.core import run_check
from symbackprop.check.code.sandbox import ChildRun, choose_sandbox

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = Path(__file__).parent / "fixtures" / "students"
MODE = choose_sandbox("auto")[0]


def _folders(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("symbackprop-check-*"))


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TMPDIR of its own, so the unisolated child's folders can be counted."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield tmp_path
    spare.stop_keeping_spare()


def test_a_child_runs_one_submission_only() -> None:
    child = ChildRun(MODE, view.PACKAGES, 5)
    try:
        child.take([], ["forward", "backward"], time.monotonic() + 10, 1)
        with pytest.raises(RuntimeError):
            child.take([], ["forward", "backward"], time.monotonic() + 10, 1)
        assert child.loaded() is not None
    finally:
        child.close()
    with pytest.raises(RuntimeError):
        child.take([], ["forward"], time.monotonic() + 10, 1)


def test_each_submission_gets_a_new_child_and_the_next_spare_boots(
    scratch: Path,
) -> None:
    spare.keep_spare("process", 10)
    first = spare._spare
    assert first is not None and first.alive() and len(_folders(scratch)) == 1
    taken = spare.child_for("process", view.PACKAGES, 5)
    assert taken is first and spare._spare is not None
    assert spare._spare is not first
    assert spare._spare.proc.pid != first.proc.pid
    assert spare._spare._folder != first._folder
    taken.take([], ["forward", "backward"], time.monotonic() + 10, 1)
    taken.close()
    again = spare.child_for("process", view.PACKAGES, 5)
    assert again is not taken and not again.taken
    again.close()
    spare.stop_keeping_spare()
    assert _folders(scratch) == []


def test_a_spare_is_only_used_for_the_view_and_budget_it_was_booted_for(
    scratch: Path,
) -> None:
    spare.keep_spare("process", 10)
    booted = spare._spare
    assert booted is not None
    torch = spare.child_for("process", (*view.PACKAGES, "torch"), 5)
    try:
        assert torch is not booted and torch.packages == (*view.PACKAGES, "torch")
        assert not booted.alive()  # the unfitting spare was killed, its folder removed
        assert booted._folder is None
    finally:
        torch.close()
    booted = spare._spare
    longer = spare.child_for("process", view.PACKAGES, booted.cpu_seconds + 5)
    try:
        assert longer is not booted and not booted.alive()
    finally:
        longer.close()


def test_a_spare_is_killed_and_its_folder_removed_when_the_checker_is_terminated(
    tmp_path: Path,
) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from symbackprop import interrupt
        from symbackprop.check.code import spare
        interrupt.install()
        spare.keep_spare("process", 10)
        print(spare._spare.proc.pid, flush=True)
        time.sleep(60)
        """
    )
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    assert len(_folders(tmp_path)) == 1
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert _folders(tmp_path) == []
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # reaped by the checker; gone at once or within a moment
            os.kill(pid, 0)
            time.sleep(0.05)


def test_pool_workers_kill_their_spares_when_the_pool_ends(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import multiprocessing, sys
        from symbackprop import interrupt
        from symbackprop.check.code import spare
        from symbackprop.check.code.core import run_check
        interrupt.install()
        def one(path):
            return run_check(path, sandbox="process").report["ok"]
        with multiprocessing.get_context("fork").Pool(
            2, initializer=spare.keep_spare, initargs=("process", 10)
        ) as pool:
            print(pool.map(one, [sys.argv[1]] * 4), flush=True)
        """
    )
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", script, str(STUDENTS / "correct.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip() == "[True, True, True, True]", out.stderr
    deadline = time.monotonic() + 10
    while _folders(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _folders(tmp_path) == []


def test_a_forked_process_never_takes_its_parents_spare(scratch: Path) -> None:
    spare.keep_spare("process", 10)
    pid = os.fork()
    if pid == 0:  # the child: no spare of its own, nothing of the parent's to take
        os._exit(0 if spare._spare is None and spare._keep is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert spare._spare is not None and spare._spare.alive()


def test_checks_with_spares_give_the_same_verdicts(scratch: Path) -> None:
    files = ["correct.py", "wrong.py", "hang.py", "crash.py", "missing_mask.py"]
    plain = [
        run_check(STUDENTS / f, sandbox=MODE, probe_seed=7, timeout=3) for f in files
    ]
    spare.keep_spare(MODE, 3)
    warm = [
        run_check(STUDENTS / f, sandbox=MODE, probe_seed=7, timeout=3) for f in files
    ]
    for a, b in zip(plain, warm, strict=True):
        assert _timeless(a.report) == _timeless(b.report)


def _timeless(report: dict) -> dict:
    """The report without the line an endless loop was stopped at (`while True:` or its
    `pass`, whichever was running when the time ran out)."""
    out = json.loads(json.dumps(report))
    for section in ("forward", "gradients"):
        for entry in (out.get(section) or {}).values():
            if isinstance(entry, dict) and "did not finish" in (
                entry.get("message") or ""
            ):
                entry["message"] = entry["message"].split(" at ")[0]
    return out


def test_the_submissions_cpu_budget_counts_from_its_job() -> None:
    code = textwrap.dedent(
        """
        import resource, time
        import runner
        resource.setrlimit(resource.RLIMIT_CPU, (20, 21))
        end = time.process_time() + 1.2
        while time.process_time() < end:
            pass
        runner._rebase_cpu_limit(3)
        print(*resource.getrlimit(resource.RLIMIT_CPU))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(runner.__file__).parent,
        capture_output=True,
        text=True,
        check=True,
    )
    soft, hard = map(int, out.stdout.split())
    assert (soft, hard) == (5, 6)  # 1.2 s used, rounded up to 2, plus the budget of 3


@pytest.mark.parametrize("wrapper", [True, False])
def test_the_childs_hard_limits_are_set_with_or_without_prlimit(
    wrapper: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not wrapper:
        monkeypatch.setattr(limits, "_prlimit", lambda: None)
    elif limits._prlimit() is None:
        pytest.skip("prlimit is not installed")
    code = (
        "import resource as r; print(*[r.getrlimit(getattr(r, 'RLIMIT_' + n)) for n in "
        "('AS', 'CPU', 'FSIZE', 'NOFILE', 'CORE')], sep=';')"
    )
    command, preexec = limits.limited([sys.executable, "-c", code], 7)
    assert (preexec is None) == wrapper
    out = subprocess.run(
        command, preexec_fn=preexec, capture_output=True, text=True, check=True
    )
    got = [
        tuple(map(int, v.strip("()").split(","))) for v in out.stdout.strip().split(";")
    ]
    assert got == [(s, h) for _, s, h in limits.limit_values(7)]
    assert got[1] == (7, 8) and got[0] == (limits.MEMORY_LIMIT,) * 2


def test_the_child_boots_before_sympy_is_imported() -> None:
    code = textwrap.dedent(
        """
        import sys
        from symbackprop.check.code import sandbox
        seen = []
        boot = sandbox.ChildRun._boot
        def watch(self, *a):
            seen.append("sympy" in sys.modules)
            return boot(self, *a)
        sandbox.ChildRun._boot = watch
        from symbackprop.check.code.core import run_check
        assert run_check(sys.argv[1]).report["ok"]
        print(seen)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(STUDENTS / "correct.py")],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[False]"
