"""A zygote per batch worker: one bwrap sandbox whose Python has NumPy imported and forks one
child per submission (forkserver.py), so a class does not pay NumPy's import per file.

Used only where it isolates as a fresh sandbox does (`available`): bwrap, a known seccomp table
and Landlock ABI >= 6 (file, TCP, signal and socket scoping). Each child gets a tmpfs no other
child used, the full seccomp filter plus a System V IPC ban, Landlock, the sandbox's hard limits
with its own CPU budget, and its three pipes sent explicitly (SCM_RIGHTS); children never run
side by side. The zygote never sees a submission: the job goes from the parent to the child's
own stdin. What the zygote reports (a child's end) is checked like any child's message. A child
that overruns is stopped by killing the whole zygote; a new one boots for the next submission.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import platform
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

from . import forkserver, limits, seccomp, view
from .sandbox import STARTUP_CPU, ChildRun, _memfd, _runner_source, kill_and_reap

FOLDERS = (
    64  # children per zygote, each with a tmpfs of its own; then a new zygote boots
)
ZYGOTE = "/sandbox/zygote.py"
LANDLOCK_ABI = 6  # signal and abstract-socket scoping
SETTLE = 1.0  # seconds a finished child has to exit before its zygote is killed


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 without Landlock."""
    if platform.machine() not in ("x86_64", "aarch64"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    return max(0, libc.syscall(444, None, 0, 1))  # landlock_create_ruleset(VERSION)


def forced() -> bool:
    """SYMBACKPROP_ZYGOTE=always: a single check's child comes from a zygote too (the red-team
    tests run every attack that way)."""
    return os.environ.get("SYMBACKPROP_ZYGOTE") == "always"


def available(sandbox: str, packages: tuple[str, ...]) -> bool:
    """A zygote isolates here as a fresh sandbox does (SYMBACKPROP_ZYGOTE=0 turns it off)."""
    return (
        sandbox == "bwrap"
        and packages == view.PACKAGES
        and os.environ.get("SYMBACKPROP_ZYGOTE", "1") != "0"
        and seccomp.no_new_processes() is not None
        and landlock_abi() >= LANDLOCK_ABI
    )


def folder(index: int) -> str:
    """Child `index`'s folder: a tmpfs of its own."""
    return f"{view.WORK}/{index}"


def _readable() -> list[str]:
    """What a child may read: the read-only binds of the view, /proc and /dev."""
    args = view.mount_args(view.PACKAGES)
    binds = [args[i + 2] for i, a in enumerate(args) if a == "--ro-bind"]
    return sorted({*binds, "/proc", "/dev"})


def _command(
    bwrap: str, seccomp_fd: int, runner_fd: int, own_fd: int, control: int, count: int
) -> list[str]:
    """The sandbox's bubblewrap command with a tmpfs per child and the zygote as its program."""
    command = view.bwrap_command(bwrap, seccomp_fd, runner_fd, view.PACKAGES)
    work = ["--size", str(view.WORK_BYTES), "--tmpfs", view.WORK, "--chdir", view.WORK]
    at = next(i for i in range(len(command)) if command[i : i + len(work)] == work)
    folders = [
        a
        for f in map(folder, range(count))
        for a in ("--size", str(view.WORK_BYTES), "--tmpfs", f)
    ]
    command[at : at + len(work)] = [*folders, "--ro-bind-data", str(own_fd), ZYGOTE]
    end = command.index("--")
    return [
        *command[: end + 1],
        view.interpreter(),
        "-I",
        "-S",
        "-B",
        ZYGOTE,
        str(control),
    ]


class ZygoteGone(OSError):
    """The zygote stopped, or sent what it never sends; it is killed and not used again."""


class Zygote:
    """One booted zygote sandbox; `fork()` starts a child for the next submission."""

    def __init__(self, cpu_seconds: int, folders: int = FOLDERS) -> None:
        self.cpu_seconds = cpu_seconds
        self.folders = folders
        self.given = 0
        self.dead = False
        self._buffer = bytearray()
        self._ended: dict[int, int] = {}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        extra = [theirs.fileno()]
        try:
            extra.append(_memfd("runner", _runner_source()))
            extra.append(_memfd("zygote", _own_source()))
            program = seccomp.no_new_processes(fork=True)
            assert program is not None
            extra.append(_memfd("seccomp", program))
            command = _command(
                view.bwrap_path() or "bwrap",
                extra[3],
                extra[1],
                extra[2],
                extra[0],
                folders,
            )
            command, preexec = limits.limited(command, cpu_seconds + STARTUP_CPU)
            self.proc = subprocess.Popen(
                command,
                cwd="/",
                env=dict(view.ENVIRONMENT),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=extra,
                start_new_session=True,
                preexec_fn=preexec,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            for fd in extra[1:]:
                os.close(fd)
        self.control = ours
        child_filter = seccomp.no_new_processes(ipc=False)
        assert child_filter is not None
        boot = {
            "site": view.SITE,
            "folders": [folder(i) for i in range(folders)],
            "readable": _readable(),
            "filter": child_filter.hex(),
        }
        self.control.sendall(json.dumps(boot).encode() + b"\n")

    @property
    def spent(self) -> bool:
        """Every folder was given: no more children."""
        return self.given >= self.folders

    def usable(self, cpu_seconds: int) -> bool:
        """Up, with folders left, and booted with at least this CPU budget."""
        return (
            not self.dead
            and not self.spent
            and self.proc.poll() is None
            and self.cpu_seconds >= cpu_seconds
        )

    def fork(self) -> tuple[int, int, int, int]:
        """Ask for the next child: (its index, its stdin's, results' and stderr's parent ends).

        ZygoteGone when it cannot be asked (it stopped)."""
        if not self.usable(0) or (self.given and self.given - 1 not in self._ended):
            raise ZygoteGone("the zygote cannot start another child")
        stdin_r, stdin_w = os.pipe()
        results_r, results_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            socket.send_fds(self.control, [b"f"], [stdin_r, results_w, err_w])
        except OSError:
            for fd in (stdin_w, results_r, err_r):
                os.close(fd)
            self.kill()
            raise ZygoteGone("the zygote stopped") from None
        finally:
            for fd in (stdin_r, results_w, err_w):
                os.close(fd)
        self.given += 1
        return self.given - 1, stdin_w, results_r, err_r

    def ended(self, index: int, timeout: float) -> int | None:
        """Child `index`'s return code (negative: the signal) once the zygote says it ended;
        None while it runs after `timeout` seconds. A zygote that stopped ended it too."""
        deadline = time.monotonic() + timeout
        while index not in self._ended:
            if self.dead:
                return -signal.SIGKILL
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.control], [], [], max(0.0, remaining))
            if not ready:
                return None
            try:
                self._read()
            except (OSError, ValueError):
                self.kill()
        return self._ended[index]

    def _read(self) -> None:
        chunk = self.control.recv(4096)
        if not chunk:
            raise ZygoteGone("the zygote stopped")
        self._buffer += chunk
        if len(self._buffer) > 1 << 16:
            raise ValueError("too much from the zygote")
        *lines, rest = self._buffer.split(b"\n")
        self._buffer = bytearray(rest)
        for line in lines:
            self._parse(bytes(line))

    def _parse(self, line: bytes) -> None:
        """One line from the zygote, checked: ValueError for anything it never sends."""
        event = json.loads(line)
        if not isinstance(event, dict) or event.get("event") not in ("forked", "ended"):
            raise ValueError("not a zygote's message")
        index = event.get("index")
        if type(index) is not int or not 0 <= index < self.given:
            raise ValueError("a child that was not asked for")
        if event["event"] == "ended":
            status = event.get("status")
            if type(status) is not int or not 0 <= status < 1 << 16:
                raise ValueError("not a wait status")
            self._ended[index] = os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        """Kill the zygote and the child it runs, and reap them (safe to call twice)."""
        self.dead = True
        kill_and_reap(self.proc)
        self.control.close()

    close = kill


class _Forked:
    """What ChildRun uses of a Popen, for a child of a zygote (its pid: the zygote's group)."""

    def __init__(self, zygote: Zygote, index: int, stdin_w: int, err_r: int) -> None:
        self._zygote = zygote
        self.index = index
        self.pid = zygote.proc.pid
        self.stdin = os.fdopen(stdin_w, "wb", buffering=0)
        self.stderr = os.fdopen(err_r, "rb", buffering=0)
        self.returncode: int | None = None

    def settle(self, timeout: float) -> int | None:
        """The return code, waiting up to `timeout` seconds for the zygote to report it."""
        if self.returncode is None:
            self.returncode = self._zygote.ended(self.index, timeout)
        return self.returncode

    def poll(self) -> int | None:
        """The return code, or None while the child runs."""
        return self.settle(0.0)

    def wait(self) -> int:
        """The return code; a child that does not end soon is killed with its zygote."""
        if self.settle(SETTLE) is None:
            self._zygote.kill()
            self.returncode = -signal.SIGKILL
        assert self.returncode is not None
        return self.returncode


class ZygoteChild(ChildRun):
    """A child forked by a zygote for one submission; the same protocol as ChildRun."""

    def __init__(self, zygote: Zygote, cpu_seconds: int) -> None:
        self._zygote = zygote
        super().__init__("bwrap", view.PACKAGES, cpu_seconds)

    def _spawn(self, sandbox: str, packages: tuple[str, ...], cpu_seconds: int) -> None:
        index, stdin_w, results_r, err_r = self._zygote.fork()
        self.proc = _Forked(self._zygote, index, stdin_w, err_r)  # type: ignore[assignment]
        self._connect(results_r, 3, view.SITE, folder(index), False)

    def _finish(self) -> None:
        if not self._done and (self.outcome.finished or self._eof):
            self.proc.settle(SETTLE)  # type: ignore[attr-defined]
        super()._finish()
        if self._zygote.spent and not self._zygote.dead:
            self._zygote.kill()  # its last child: it exits; reap it


@functools.cache
def _own_source() -> bytes:
    return Path(forkserver.__file__).read_bytes()


__all__ = ["FOLDERS", "Zygote", "ZygoteChild", "ZygoteGone", "available"]
