"""Run callables already imported into this process (the autograder helper's mode): the same
protocol as the sandbox, with the deadline enforced by SIGALRM from the main thread."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from . import channel, runner
from .result import Outcome


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
            elif event["event"] == "done":
                out.events[event["id"]] = {
                    "event": "done",
                    "value": channel.decode(event["value"]),
                }
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
