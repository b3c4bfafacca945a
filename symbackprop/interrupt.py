"""Ctrl-C and TERM stop a run cleanly, even when a library swallowed the first KeyboardInterrupt.

The handler raises KeyboardInterrupt where the main thread happens to be; a library import can
catch and drop it there (seen inside NumPy's lazy `numpy.random`), so long waits also call
`check()`, which raises again once a stop was asked for.
"""

from __future__ import annotations

import signal

_requested = False


def _stop(signum: int, frame: object) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """Make TERM (a grader's timeout, a batch being stopped) and Ctrl-C unwind the same way."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def install_in_worker() -> None:
    """A pool worker told to stop unwinds (its sandbox killed, its folder removed) and exits
    without the traceback a KeyboardInterrupt would print."""
    signal.signal(signal.SIGTERM, _exit_quietly)
    signal.signal(signal.SIGINT, _exit_quietly)


def check() -> None:
    """Raise KeyboardInterrupt if a stop was asked for and got lost on the way."""
    if _requested:
        raise KeyboardInterrupt


def requested() -> bool:
    """Whether a stop was asked for in this process."""
    return _requested


def forget_unhandled_mark() -> None:
    """Undo CPython's mark that a KeyboardInterrupt went unhandled, once it was handled.

    CPython 3.11 sets that mark when the interrupt is raised inside source text run by exec
    (a dataclass being created while a module imports), even when the CLI catches it later;
    at exit the process then kills itself with SIGINT instead of exiting 130. Running any
    source text clears the mark."""
    exec("", {})
