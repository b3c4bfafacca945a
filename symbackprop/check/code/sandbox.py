"""Run untrusted student code in a child process, isolated by the operating system.

`bwrap` (the default where bubblewrap is on PATH): Linux namespaces with a read-only view that
shows only the system libraries, Python and NumPy (see view.py), a private size-limited tmpfs as
the only writable folder, new PID, network, IPC and user namespaces, a new session, a cleared
environment, a seccomp filter that refuses new processes (seccomp.py), and hard resource limits.
`process`: a plain child with the same hard limits and a temporary folder, NOT isolated (for
machines without bubblewrap; said so in the report).

The parent talks to the child over pipes only: the job and each phase of calls on the child's
stdin; events back on fd 3, read with a byte limit and a deadline and checked by channel.py;
stderr (faulthandler's dumps) kept to its last STDERR_BYTES. Nothing is read from a path the
child could replace. The forward calls run first; the backward calls, which carry the true
intermediate values, are sent only after the forward results are in.

A child boots (sandbox built, NumPy imported) before it is given a submission, so a batch
worker keeps one spare ready (`keep_spare`): each submission takes a child that has never run
anything, and the next spare starts while this one runs. A child is given one submission only.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import interrupt
from ...errors import UserError
from ..inert import inert
from . import channel, limits, runner, seccomp, view
from .channel import ProtocolError
from .result import Outcome

STDERR_BYTES = 256 * 1024
DUMP_MARGIN = 0.3  # seconds before the deadline the child writes where it is
# the longest wait in one select: a TERM or Ctrl-C the kernel hands to one of NumPy's BLAS
# threads wakes no select, and one a library swallowed is only seen by interrupt.check()
SIGNAL_POLL = 0.25
SANDBOXES = ("auto", "bwrap", "process")
INSTALL_BWRAP = "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap)"


class SandboxUnavailable(UserError):
    """bubblewrap is there but could not build the sandbox (no namespaces in this container)."""


def choose_sandbox(requested: str, several: bool = False) -> tuple[str, str]:
    """The sandbox to use and a one-line warning when the submission will not be isolated.

    `several`: a batch of strangers' files, which never runs unisolated unless asked for.
    """
    if requested not in SANDBOXES:
        raise UserError(
            f"--sandbox must be one of {', '.join(SANDBOXES)}, not {requested!r}"
        )
    found = view.bwrap_path() is not None
    if requested == "bwrap" and not found:
        raise UserError(f"--sandbox bwrap: bwrap is not on PATH; {INSTALL_BWRAP}")
    if several and requested == "auto" and not found:
        raise UserError(
            f"bwrap is not on PATH, and several submissions are not run unisolated: "
            f"{INSTALL_BWRAP}, or pass --sandbox process to run them unisolated anyway"
        )
    if requested == "process" or not found:
        why = "--sandbox process" if requested == "process" else "bwrap is not on PATH"
        return "process", (
            f"warning: the submission runs NOT isolated ({why}): it can read and write "
            f"your files; {INSTALL_BWRAP}"
        )
    return "bwrap", ""


_FRAME = re.compile(
    r'File "(?P<file>[^"]{1,200})", line (?P<line>\d{1,9}) in (?P<function>\S{1,200})'
)


def _frame_from_dump(text: str) -> dict[str, Any] | None:
    """The innermost student frame of the last faulthandler dump (innermost listed first)."""
    last = text.rsplit("most recent call first", 1)[-1]
    for m in _FRAME.finditer(last):
        if runner.is_child_student_file(m.group("file")):
            return channel.where(
                {
                    "file": m.group("file"),
                    "line": int(m.group("line")),
                    "function": m.group("function"),
                }
            )
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


# CPU seconds a child may spend booting (bwrap, Python, NumPy) before its submission's budget
STARTUP_CPU = 2


def cpu_budget(seconds: float) -> int:
    """The RLIMIT_CPU seconds a submission with `seconds` of wall-clock time left gets."""
    return math.ceil(max(0.05, seconds)) + 1


class ChildRun:
    """A booted child (sandbox built, NumPy importing) waiting for its one submission, given by
    `take(...)`; then `loaded()` waits for its report and `run(calls)` runs them to the end.

    `cpu_seconds`: the most CPU the submission it is given may use (see cpu_budget).
    """

    def __init__(
        self,
        sandbox: str,
        packages: tuple[str, ...] = view.PACKAGES,
        cpu_seconds: int = 11,
    ) -> None:
        self._boot(sandbox, packages, cpu_seconds)

    def _boot(self, sandbox: str, packages: tuple[str, ...], cpu_seconds: int) -> None:
        self.start = time.monotonic()
        self.deadline = math.inf
        self.functions: list[str] = []
        self.chunks = 0
        self.outcome = Outcome()
        self.sandbox = sandbox
        self.packages = packages
        self.cpu_seconds = cpu_seconds
        self.taken = False
        self._done = False
        self._folder: str | None = None
        self._pending: list[bytes] = []  # the start of a line not yet complete
        self._pending_bytes = 0
        self._received = 0
        self._stderr = bytearray()
        self._phase: tuple[int, set[int]] | None = None  # running phase, its call ids
        self._phase_done = False
        self._eof = False
        self._started = False  # the runner said it is up (so bwrap built the sandbox)
        try:
            self._spawn(sandbox, packages, cpu_seconds)
        except (
            BaseException
        ):  # a TERM or Ctrl-C mid-start: leave no child and no folder
            self._abandon()
            raise

    def _spawn(self, sandbox: str, packages: tuple[str, ...], cpu_seconds: int) -> None:
        """Start the child (bwrap or a plain process) and write its boot line to its stdin."""
        results_r, results_w = os.pipe()
        extra: list[int] = [results_w]
        if sandbox == "bwrap":
            runner_fd = _memfd("runner", _runner_source())
            program = seccomp.no_new_processes()
            seccomp_fd = _memfd("seccomp", program) if program is not None else None
            extra += [runner_fd] + ([seccomp_fd] if seccomp_fd is not None else [])
            command = view.bwrap_command(
                view.bwrap_path() or "bwrap", seccomp_fd, runner_fd, packages
            )
            cwd, work, site = "/", view.WORK, view.SITE
        else:
            self._folder = tempfile.mkdtemp(prefix="symbackprop-check-")
            command = [view.interpreter(), "-I", "-S", "-B", _runner_path()]
            cwd, work, site = self._folder, self._folder, _numpy_site()
        env = dict(view.ENVIRONMENT, HOME=work, TMPDIR=work)
        # the boot's CPU on top of the submission's; the runner lowers it when the job comes
        command, preexec = limits.limited(command, cpu_seconds + STARTUP_CPU)
        try:
            self.proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=extra,
                start_new_session=True,
                preexec_fn=preexec,  # None with prlimit; else the parent is single-threaded
            )
        finally:
            for fd in extra:
                os.close(fd)
        self._connect(results_r, results_w, site, work, sandbox != "bwrap")

    def _connect(
        self, results_r: int, results_fd: int, site: str, work: str, guard: bool
    ) -> None:
        """Read results from `results_r` and send the boot line (`results_fd`: the child's)."""
        assert self.proc.stdin and self.proc.stderr
        self._results = results_r
        self._outbox = bytearray()
        for stream in (self.proc.stdin, self.proc.stderr):
            os.set_blocking(stream.fileno(), False)
        os.set_blocking(results_r, False)
        boot = {
            "threads": limits.THREAD_LIMIT,
            "site": site,
            "work": work,
            "results_fd": results_fd,
            "guard": guard,
        }
        self._send(boot)
        self._write_now()  # so the child imports NumPy while nobody waits for it

    def take(
        self,
        statements: list[dict[str, Any]],
        functions: list[str],
        deadline: float,
        chunks: int,
    ) -> None:
        """Give the child its one submission; the deadline and the CPU budget count from now."""
        if self.taken or self._done:
            raise RuntimeError("a child runs one submission only")
        self.taken = True
        self.start = time.monotonic()
        self.deadline = deadline
        self.functions = functions
        self.chunks = chunks
        remaining = max(0.05, deadline - self.start)
        job = {
            "statements": statements,
            "functions": functions,
            "dump_after": max(0.05, remaining - DUMP_MARGIN),
            # the same instant on the shared monotonic clock: a child that reads its job late
            # (it was importing NumPy) still writes where it is before the deadline
            "dump_at": deadline - DUMP_MARGIN,
            "cpu_seconds": min(self.cpu_seconds, cpu_budget(remaining)),
        }
        self._send(job)
        self._write_now()  # the child loads the file while the parent derives the truth

    def _write_now(self) -> None:
        """Write what the pipe takes without waiting; the pump writes the rest."""
        assert self.proc.stdin
        try:
            sent = os.write(self.proc.stdin.fileno(), self._outbox[: 1 << 16])
            del self._outbox[:sent]
        except (BlockingIOError, BrokenPipeError, OSError):
            pass  # the pump finds a full pipe writable later, or the child gone

    def alive(self) -> bool:
        """True while the child runs and has not been given up."""
        return not self._done and self.proc.poll() is None

    # --- the channel -------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        self._outbox += json.dumps(message).encode() + b"\n"

    def _pump(self, until: Callable[[], bool]) -> bool:
        """Move bytes both ways until `until()` holds; False at the deadline, EOF or an error."""
        assert self.proc.stdin and self.proc.stderr
        stderr = self.proc.stderr.fileno()
        stdin = -1 if self.proc.stdin.closed else self.proc.stdin.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(self._results, selectors.EVENT_READ, "results")
            sel.register(stderr, selectors.EVENT_READ, "stderr")
            writing = False
            while not until():
                interrupt.check()
                if self._eof:
                    return False
                if self._outbox and not writing and stdin >= 0:
                    sel.register(stdin, selectors.EVENT_WRITE, "stdin")
                    writing = True
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    self._stop(timed_out=True)
                    return False
                for key, _ in sel.select(min(remaining, SIGNAL_POLL)):
                    try:
                        if key.data == "stdin":
                            sent = os.write(stdin, self._outbox[: 1 << 16])
                            del self._outbox[:sent]
                            if not self._outbox:
                                sel.unregister(stdin)
                                writing = False
                        elif key.data == "stderr":
                            chunk = os.read(stderr, 1 << 16)
                            if not chunk:
                                sel.unregister(stderr)
                            self._stderr += chunk
                            del self._stderr[:-STDERR_BYTES]
                        else:
                            self._receive(os.read(self._results, 1 << 20))
                    except (BlockingIOError, InterruptedError):
                        continue
                    except (BrokenPipeError, OSError):
                        self._eof = True  # the child is gone
                    except ProtocolError as exc:
                        self.outcome.ended = (
                            f"the check process sent a malformed message ({exc}); "
                            "the submission tampered with the checker"
                        )
                        self._stop(timed_out=False)
                        return False
                    if self._done:
                        return False
        return True

    def _receive(self, chunk: bytes) -> None:
        if not chunk:
            self._eof = True
            return
        self._received += len(chunk)
        if self._received > channel.MAX_TOTAL_BYTES:
            raise ProtocolError(
                f"more than {channel.MAX_TOTAL_BYTES >> 20} MiB of results"
            )
        if b"\n" not in chunk:  # most of a long line: no search of what came before
            self._pending.append(chunk)
            self._pending_bytes += len(chunk)
            if self._pending_bytes > channel.MAX_LINE_BYTES:
                raise ProtocolError(
                    f"a message longer than {channel.MAX_LINE_BYTES >> 20} MiB"
                )
            return
        head, *lines = chunk.split(b"\n")
        lines[-1:], rest = [], lines[-1]
        self._pending.append(head)
        complete = [b"".join(self._pending), *lines]
        self._pending, self._pending_bytes = [rest], len(rest)
        for line in complete:
            if len(line) > channel.MAX_LINE_BYTES:
                raise ProtocolError(
                    f"a message longer than {channel.MAX_LINE_BYTES >> 20} MiB"
                )
            self._handle(channel.parse_line(line))

    def _handle(self, event: dict[str, Any]) -> None:
        """Check one event against the protocol's state, and record it."""
        out, kind = self.outcome, event["event"]
        if kind == "started":
            if self._started:
                raise ProtocolError("a second start")
            self._started = True
            return
        if not self._started:
            raise ProtocolError("a message before the runner started")
        if kind == "runner_error":
            out.runner_error = channel.text(event.get("message"), "a runner error")
            return
        if kind == "loaded":
            if out.loaded is not None or self._phase is not None:
                raise ProtocolError("a second loading report")
            out.loaded = channel.loaded(event, self.functions, self.chunks)
            return
        if kind == "finished":
            if self._phase is None or not self._phase_done:
                raise ProtocolError("finished before its calls")
            out.finished = True
            return
        if self._phase is None or self._phase_done:
            raise ProtocolError(f"an unexpected {inert(kind, 40)!r} message")
        phase, ids = self._phase
        if kind == "phase_done":
            if event.get("phase") != phase:
                raise ProtocolError("the end of another phase")
            self._phase_done = True
            return
        call_id = event.get("id")
        if type(call_id) is not int or call_id not in ids:
            raise ProtocolError("a call id that was not asked for")
        if kind == "start":
            if call_id in out.started:
                raise ProtocolError("a call started twice")
            out.started.append(call_id)
        elif kind in ("done", "raised"):
            if call_id not in out.started or call_id in out.events:
                raise ProtocolError("a result for a call that is not running")
            if kind == "done":
                out.events[call_id] = {
                    "event": "done",
                    "value": channel.decode(event.get("value")),
                }
            else:
                out.events[call_id] = {
                    "event": "raised",
                    "error": channel.error(event.get("error")),
                }
        else:
            raise ProtocolError(f"an unknown message {inert(kind, 40)!r}")

    # --- the protocol --------------------------------------------------------------------

    def loaded(self) -> dict[str, Any] | None:
        """The child's report after loading the file, or None if it hung or died first.

        SandboxUnavailable when bwrap stopped before the runner started (no student code ran).
        """
        if not self.taken:
            raise RuntimeError("the child was not given a submission")
        if self._pump(lambda: self.outcome.loaded is not None):
            return self.outcome.loaded
        self._finish()
        if not self._started and self.sandbox == "bwrap" and not self.outcome.timed_out:
            said = self._stderr.decode("utf-8", "replace").strip().splitlines()
            raise SandboxUnavailable(
                "the bwrap sandbox could not start"
                + (f" ({inert(said[-1], 200)})" if said else "")
                + "; run where unprivileged namespaces are allowed, or pass --sandbox process "
                "to run the submission unisolated"
            )
        return None

    def run(self, calls: list[dict[str, Any]]) -> Outcome:
        """Run the calls phase by phase (forward first), until done or the deadline."""
        phases: dict[int, list[dict[str, Any]]] = {}
        for call in calls:
            phases.setdefault(call.get("phase", 0), []).append(call)
        for number in sorted(phases):
            batch = [
                {k: c[k] for k in ("id", "func", "kwargs")} for c in phases[number]
            ]
            self._phase = (number, {c["id"] for c in batch})
            self._phase_done = False
            self._send({"phase": number, "calls": batch})
            if not self._pump(lambda: self._phase_done):
                self._finish()
                return self.outcome
        assert self.proc.stdin
        try:
            self.proc.stdin.close()  # no more phases: the child reports "finished" and exits
        except OSError:
            pass
        self._pump(lambda: self.outcome.finished)
        self._finish()
        return self.outcome

    def _abandon(self) -> None:
        """Undo a start that was interrupted: kill what started, remove the folder."""
        self._done = True
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, onerror=_unlock)
            self._folder = None

    def close(self) -> None:
        """Kill the child if it still runs and remove what it left (safe to call twice)."""
        if not self._done:
            self._stop(timed_out=False)

    def _stop(self, timed_out: bool) -> None:
        """Kill the sandbox (bwrap's --die-with-parent takes everything in it along)."""
        self.outcome.timed_out = self.outcome.timed_out or timed_out
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._collect()
        finally:  # removed even when a TERM lands while the outcome is collected
            if self._folder is not None:
                shutil.rmtree(self._folder, onerror=_unlock)
                self._folder = None

    def _collect(self) -> None:
        """Reap the child and turn how it ended into the outcome's words."""
        kill_and_reap(self.proc)
        assert self.proc.stderr
        try:
            while len(tail := os.read(self.proc.stderr.fileno(), 1 << 16)):
                self._stderr += tail
                del self._stderr[:-STDERR_BYTES]
        except (BlockingIOError, OSError):
            pass
        for fd in (self._results,):
            os.close(fd)
        for stream in (self.proc.stdin, self.proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        out = self.outcome
        out.seconds = time.monotonic() - self.start
        code = self.proc.returncode
        if code and not out.timed_out and not out.ended:
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
        elif not out.ended and not out.finished and not out.timed_out:
            out.ended = "the check process stopped early"
        out.stuck_at = _frame_from_dump(self._stderr.decode("utf-8", "replace"))


def _unlock(function: Any, path: str, _exc: Any) -> None:
    """rmtree's error handler: a folder the child made unwritable is made writable again."""
    try:
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        function(path)
    except OSError:
        pass


@functools.cache
def _runner_path() -> str:
    return str(Path(runner.__file__).resolve())


@functools.cache
def _runner_source() -> bytes:
    return Path(runner.__file__).read_bytes()


@functools.cache
def _numpy_site() -> str:
    """The folder NumPy is installed in, for the unisolated child (which runs with -I -S)."""
    import numpy

    return str(Path(numpy.__file__).resolve().parents[1])


def kill_and_reap(proc: subprocess.Popen) -> None:
    """SIGKILL a child's whole process group if it still runs, then reap the child."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()
