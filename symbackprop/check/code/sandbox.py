"""Run untrusted student code in a child process: wall-clock and memory limits, a temporary
working folder, a minimal environment, no writes outside that folder.

One child per check. It loads the file and reports the shapes of its arrays (so the parent
can pick the layouts to probe), then runs every probe call. A hang is killed at the deadline
after faulthandler has said where it was; a crash is reported with the student's line.
"""

from __future__ import annotations

import json
import math
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import runner

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space
FILE_SIZE_LIMIT = 64 * 1024**2
OPEN_FILES_LIMIT = 64
DUMP_GRACE = 0.5  # seconds to let faulthandler write where a hung child was


@dataclass
class Outcome:
    """Everything the child reported: per-call events, and how it ended."""

    loaded: dict[str, Any] | None = None  # globals, load errors, missing functions
    events: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> done/raised
    started: list[int] = field(default_factory=list)
    finished: bool = False
    timed_out: bool = False
    ended: str = ""  # "killed by SIGSEGV", ... when the child died on its own
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


def _limits(timeout: float) -> Callable[[], None]:
    def apply() -> None:
        import resource

        cpu = math.ceil(timeout) + 1
        for limit, value in (
            (resource.RLIMIT_AS, MEMORY_LIMIT),
            (resource.RLIMIT_CPU, cpu),
            (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT),
            (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT),
            (resource.RLIMIT_CORE, 0),
        ):
            try:
                _, hard = resource.getrlimit(limit)
                soft = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(limit, (soft, hard))
            except (ValueError, OSError):
                pass

    return apply


def _environment(folder: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": folder,
        "TMPDIR": folder,
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')


def _frame_from_dump(text: str) -> dict[str, Any] | None:
    """The innermost student frame of a faulthandler dump (it lists the innermost first)."""
    for m in _FRAME.finditer(text):
        if runner.is_child_student_file(m.group("file")):
            return {
                "file": m.group("file"),
                "line": int(m.group("line")),
                "function": m.group("function"),
            }
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class ChildRun:
    """A started child: `loaded()` waits for its report, `run(calls)` runs them to the end."""

    def __init__(
        self, statements: list[dict[str, Any]], functions: list[str], timeout: float
    ) -> None:
        self.timeout = timeout
        self.start = time.monotonic()
        self.deadline = self.start + timeout
        self._folder = tempfile.TemporaryDirectory(prefix="symbackprop-check-")
        self.folder = self._folder.name
        with open(os.path.join(self.folder, "job.json"), "w", encoding="utf-8") as f:
            json.dump({"statements": statements, "functions": functions}, f)
        script = Path(runner.__file__).resolve()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(script), self.folder],
            cwd=self.folder,
            env=_environment(self.folder),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_limits(timeout),  # safe: the parent is single-threaded
        )
        self.outcome = Outcome()
        self._done = False

    def loaded(self) -> dict[str, Any] | None:
        """The child's report after loading the file, or None if it hung or died first."""
        assert self.proc.stdout is not None
        buffer = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    self._stop(timed_out=True)
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    self._finish()
                    return None
                buffer += chunk
        try:
            self.outcome.loaded = json.loads(buffer.split(b"\n", 1)[0])
        except json.JSONDecodeError:
            self._stop(timed_out=False)
            return None
        return self.outcome.loaded

    def run(self, calls: list[dict[str, Any]]) -> Outcome:
        """Send the calls, wait until the deadline, and collect what the child reported."""
        data = json.dumps(calls).encode()
        try:
            self.proc.communicate(
                data, timeout=max(0.01, self.deadline - time.monotonic())
            )
        except subprocess.TimeoutExpired:
            self._stop(timed_out=True)
            return self.outcome
        except (BrokenPipeError, OSError):
            pass
        self._finish()
        return self.outcome

    def close(self) -> None:
        """Kill the child if it still runs and remove its folder (safe to call twice)."""
        if not self._done:
            self._stop(timed_out=False, ask_where=False)

    def _stop(self, timed_out: bool, ask_where: bool = True) -> None:
        """Ask the hung child where it is (SIGUSR1 -> faulthandler), then kill its group."""
        self.outcome.timed_out = timed_out
        if ask_where and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGUSR1)
            except ProcessLookupError:
                pass
            faults = os.path.join(self.folder, "faults.txt")
            stop = time.monotonic() + DUMP_GRACE
            while time.monotonic() < stop and not (
                os.path.exists(faults) and os.path.getsize(faults)
            ):
                time.sleep(0.02)
            time.sleep(0.05)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self.proc.wait()
        out = self.outcome
        out.seconds = time.monotonic() - self.start
        code = self.proc.returncode
        if code and not out.timed_out:
            if code < 0:
                name = _signal_name(-code)
                reason = {
                    "SIGXCPU": " (CPU time limit)",
                    "SIGKILL": " (memory or time limit)",
                }
                out.ended = (
                    f"the check process was killed by {name}{reason.get(name, '')}"
                )
            else:
                out.ended = f"the check process exited with code {code}"
        results = os.path.join(self.folder, "results.jsonl")
        if os.path.exists(results):
            with open(results, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        event = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a line cut short by the kill
                    kind = event.get("event")
                    if kind == "start":
                        out.started.append(event["id"])
                    elif kind in ("done", "raised"):
                        out.events[event["id"]] = event
                    elif kind == "finished":
                        out.finished = True
                    elif kind == "runner_error":
                        out.runner_error = event.get("message", "")
        faults = os.path.join(self.folder, "faults.txt")
        if os.path.exists(faults):
            with open(faults, encoding="utf-8", errors="replace") as f:
                out.stuck_at = _frame_from_dump(f.read())
        self._folder.cleanup()


class InProcessRun:
    """The same protocol for callables already imported into this process (autograder use).

    They run here, not in a child: the instructor's test process has imported them already.
    The timeout is enforced with SIGALRM when called from the main thread.
    """

    def __init__(
        self,
        functions: dict[str, Callable[..., Any] | None],
        namespace: dict[str, Any],
        timeout: float,
    ) -> None:
        self.functions = functions
        self.namespace = namespace
        self.timeout = timeout
        self.outcome = Outcome()

    def loaded(self) -> dict[str, Any]:
        """Shapes of the arrays in the callables' module, like the child's report."""
        self.outcome.loaded = {
            "globals": runner.global_shapes(self.namespace),
            "errors": [],
            "missing": [k for k, v in self.functions.items() if v is None],
        }
        return self.outcome.loaded

    def run(self, calls: list[dict[str, Any]]) -> Outcome:
        """Run the calls here, stopping at the deadline when SIGALRM is available."""
        import threading

        out = self.outcome
        start = time.monotonic()
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        numpy_dir = os.path.dirname(os.path.abspath(__import__("numpy").__file__))

        def is_student(filename: str) -> bool:
            path = os.path.abspath(filename)
            return not (
                path.startswith(here)
                or path.startswith(numpy_dir)
                or filename.startswith("<frozen")
            )

        def emit(event: dict[str, Any]) -> None:
            if event["event"] == "start":
                out.started.append(event["id"])
            else:
                out.events[event["id"]] = event

        use_alarm = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "SIGALRM"
        )
        previous = None
        if use_alarm:

            def on_alarm(signum: int, frame: Any) -> None:
                raise _Deadline

            previous = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            runner.run_calls(
                self.functions, calls, emit, is_student, catch=(Exception, SystemExit)
            )
            out.finished = True
        except _Deadline as exc:
            out.timed_out = True
            out.stuck_at = runner.student_frame(exc.__traceback__, is_student)
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        out.seconds = time.monotonic() - start
        return out


class _Deadline(BaseException):
    """Raised by SIGALRM inside an in-process call that ran past the timeout."""
