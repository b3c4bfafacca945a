"""One booted child kept ready per process, so a batch worker's next submission does not wait
for bwrap, Python and NumPy to start (the parent's work overlaps the child's boot).

Each submission still gets its own child (fresh namespaces, tmpfs and process): a spare is
booted with nothing of any submission, given exactly one (`ChildRun.take` refuses a second),
and only when it was booted for the same sandbox, view (view.OPTIONAL packages) and CPU
budget. The CPU limit set at exec covers the boot plus the budget; the runner lowers it when
the job arrives, so the budget counts from when the submission's work begins.

Where zygote.available holds (bwrap, Landlock), a worker keeps a zygote instead: each
submission's child is forked from it (NumPy already imported), shut in as a fresh sandbox is.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator

from . import view, zygote
from .sandbox import ChildRun, cpu_budget

_spare: ChildRun | None = None
_zygote: zygote.Zygote | None = None  # forks each submission's child (zygote.py)
_keep: tuple[str, int] | None = None  # (sandbox, CPU seconds) while spares are kept


def keep_spare(sandbox: str, timeout: float) -> None:
    """From now on keep one booted child ready for the next submission (a batch worker's
    start: `initializer=keep_spare, initargs=(mode, timeout)`); it is killed at exit."""
    global _keep
    if _keep is None:
        atexit.register(discard_spare)
        try:  # a pool worker leaves by os._exit, after its finalizers: not by atexit
            from multiprocessing import util

            util.Finalize(None, discard_spare, exitpriority=100)
        except ImportError:
            pass
    _keep = (sandbox, cpu_budget(timeout))
    _boot_spare()


def stop_keeping_spare() -> None:
    """No more spares in this process; the one waiting is killed and its folder removed."""
    global _keep
    _keep = None
    discard_spare()


def discard_spare() -> None:
    """Kill the spare and the zygote, if any, and remove what they left (safe at any time)."""
    global _spare, _zygote
    if _spare is None and _zygote is None:
        return
    with _signals_held():
        spare, _spare = _spare, None
        kept, _zygote = _zygote, None
        if spare is not None:
            spare.close()
        if kept is not None:
            kept.kill()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """TERM and Ctrl-C wait until the block ends, then arrive: at a pool's end its workers get
    a TERM while their spares are removed, which must not stop half-way (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGTERM, signal.SIGINT)
    before = {
        n: signal.signal(n, lambda number, _: caught.append(number)) for n in held
    }
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])


def _forget() -> None:
    """In a forked child: the parent's spare is the parent's (never taken or killed here)."""
    global _spare, _keep, _zygote
    _spare, _keep, _zygote = None, None, None


os.register_at_fork(after_in_child=_forget)


def _boot_spare() -> None:
    global _spare, _zygote
    if _keep is not None and zygote.available(_keep[0], view.PACKAGES):
        if _zygote is None or not _zygote.usable(_keep[1]):
            discard_spare()
            _zygote = zygote.Zygote(_keep[1])
        return
    discard_spare()
    if _keep is not None:
        _spare = ChildRun(_keep[0], view.PACKAGES, _keep[1])


def _forked(cpu_seconds: int) -> ChildRun | None:
    """A child of the kept zygote, or None when it cannot give one (then it is dropped)."""
    global _zygote
    if _zygote is None or not _zygote.usable(cpu_seconds):
        return None
    try:
        child = zygote.ZygoteChild(_zygote, cpu_seconds)
    except OSError:
        _zygote.kill()
        _zygote = None
        return None
    if _zygote.spent:  # its last child: the next zygote boots while this one runs
        _zygote = None
        _boot_next()
    return child


def child_for(sandbox: str, packages: tuple[str, ...], cpu_seconds: int) -> ChildRun:
    """A booted child for one submission (the caller gives it with `take`): the spare when it
    was booted for the same sandbox, view and at least this CPU budget and is still up, else a
    new one; then the next spare boots. Where a zygote is kept, a child it forks."""
    global _spare
    if _keep is None and zygote.forced() and zygote.available(sandbox, packages):
        return zygote.ZygoteChild(zygote.Zygote(cpu_seconds, folders=1), cpu_seconds)
    if _keep is not None and zygote.available(sandbox, packages):
        child = _forked(cpu_seconds)
        if child is None:  # it stopped, or was booted for a smaller budget: a new one
            _boot_next()
            child = _forked(cpu_seconds)
        if child is not None:
            return child
    spare, _spare = _spare, None
    if spare is not None and _fits(spare, sandbox, packages, cpu_seconds):
        _boot_next()
        return spare
    if spare is not None:
        spare.close()
    child = ChildRun(sandbox, packages, cpu_seconds)
    _boot_next()
    return child


def _fits(
    spare: ChildRun, sandbox: str, packages: tuple[str, ...], cpu_seconds: int
) -> bool:
    """The spare is up, untaken, and was booted for this sandbox, view and CPU budget."""
    return (
        spare.alive()
        and not spare.taken
        and (spare.sandbox, spare.packages) == (sandbox, packages)
        and spare.cpu_seconds >= cpu_seconds
    )


def _boot_next() -> None:
    """Boot the next spare; a failure here is the next submission's to report, not this one's."""
    try:
        _boot_spare()
    except (OSError, subprocess.SubprocessError):
        pass
