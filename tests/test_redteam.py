"""Red-team tests of check-code's sandbox: each submission attacks from inside forward or
backward (tests/fixtures/redteam/, behind _prelude.py), and the test looks from outside the
child for any effect of it: the grader's folder (hashed before and after), processes left
alive, connections to a TCP listener the test opened, the checker's time, memory and output,
the sandbox's memory-backed file systems (statvfs through /proc/<pid>/root), and the
verdict (an attack that worked makes the submission correct, so "not ok" means it did
not). Attacks aim only at their own checker and at the test's own temporary files.

Run: python -m pytest tests/test_redteam.py (skipped without /usr/bin/bwrap unless CI is set).
The checks run as subprocesses, a few at a time, in one module-scoped fixture; with
REDTEAM_VERBOSE=1 (and -s) it prints one line per check and what was seen.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import peak as peak_memory
import pytest

import symbackprop

BWRAP = Path("/usr/bin/bwrap")
if not BWRAP.exists():
    if os.environ.get("CI"):
        pytest.fail(f"{BWRAP} is missing: CI must run the sandbox's red-team tests")
    pytestmark = pytest.mark.skip(reason=f"{BWRAP} is not installed")

HERE = Path(__file__).resolve().parent
REDTEAM = HERE / "fixtures" / "redteam"
OTHER_STUDENT = HERE / "fixtures" / "students" / "correct.py"
PACKAGE_ROOT = Path(symbackprop.__file__).resolve().parent.parent
TIMEOUT = 4.0  # --timeout of every check
MARGIN = 10.0  # the checker's own start and end, beside other checks on two busy cores
HARD_LIMIT = TIMEOUT + MARGIN + 6.0  # the test kills a checker still running then
MAX_RSS = 400 * 10**6  # peak bytes of the checker and what it reaped (normally ~80 MB)
KILL_RSS = 1_300_000_000  # the test kills a checker above this, to protect the machine
SETTLE = 2.0  # seconds after the checks before looking for escapees and markers
WORKERS = 5
SECRET_ENV = "SYMBACKPROP_REDTEAM_SECRET"
REPORT_KEYS = {"ok", "reduction", "forward", "gradients"}
OUTPUT_CAP = 1 << 20  # bytes of the checker's stdout and stderr kept


@dataclass(frozen=True)
class Attack:
    """A submission (prelude + fixture) and how to check it."""

    fixture: str
    args: tuple[str, ...] = ()
    human: bool = False  # the human report instead of --json
    slow: bool = False  # expected to run into the timeout: started first
    private_tmpdir: bool = True  # TMPDIR=base/tmp for the checker (else the default)
    kill_after: float = 0.0  # SIGKILL the checker this long after its child started
    filename: str = "alice.py"  # the submission's name in the grader's folder
    notebook: bool = False  # a .ipynb: a new cell at each "# %% execution_count: JSON"
    watch_tmpfs: bool = False  # measure the sandbox's tmpfs mounts while it runs


def _attacks() -> dict[str, Attack]:
    names = (
        "correct guard_disable spawn_os_system spawn_subprocess spawn_fork_exec "
        "spawn_fork_setsid network write_absolute write_dir_fd unlink_dir_fd "
        "write_proc_cwd mkfifo metadata hardlink read_shadow read_environ read_other "
        "read_secret leak write_by_handle rlimit_memory rlimit_file forward_dict_x "
        "forward_only_z forward_reads_probes import_symbackprop "
        "loader_lambda_key loader_function_default loader_class_base "
        "loader_class_decorator loader_method_decorator loader_method_default "
        "loader_class_getitem spawn_raw_syscall read_sandbox_proc verdict_overflow "
        "fixed_probes phase_steal stderr_digits long_name list_bomb layer_objects_spawn"
    ).split()
    slow = (
        "fork_bomb fifo_results zero_links sigstop_kill sigstop_pidfd flood_fds "
        "infinite_loop sleep_in_c threads_burn json_bomb"
    ).split()
    attacks = {name: Attack(f"{name}.py", slow=True) for name in slow}
    attacks |= {name: Attack(f"{name}.py") for name in names}
    attacks |= {
        "sandboxed_default": Attack("sandboxed.py"),
        "sandboxed_bwrap": Attack("sandboxed.py", ("--sandbox", "bwrap")),
        "process_option": Attack("correct.py", ("--sandbox", "process")),
        "fake_report_json": Attack("fake_report.py"),
        "fake_report_human": Attack("fake_report.py", human=True),
        "spoof": Attack("spoof.py", human=True),
        "syntax_last_line": Attack("syntax_last_line.txt"),  # not Python, on purpose
        "tmp_normal": Attack("correct.py", private_tmpdir=False),
        "tmp_timed_out": Attack("sleep_in_c.py", slow=True, private_tmpdir=False),
        "tmp_killed": Attack(
            "sleep_in_c.py", slow=True, private_tmpdir=False, kill_after=1.5
        ),
        "fill_tmpfs": Attack("fill_tmpfs.py", slow=True, watch_tmpfs=True),
        "spoof_filename": Attack("spoof_where.py", human=True, filename=SPOOF_NAME),
        "spoof_notebook": Attack(
            "spoof_notebook.py", human=True, notebook=True, filename="alice.ipynb"
        ),
        "spoof_names": Attack("spoof_names.py", human=True),
    }
    return attacks


# a file name that is a forged report: ESC, CR, LF and a bidi override (U+202E)
SPOOF_NAME = (
    "alice\x1b[2J\x1b[H\rFORGED verdict: everything matches the derivation\n"
    "\u202eFORGED\u2028FORGED.py"
)


ATTACKS = _attacks()


# ---- processes, seen from outside ----------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """One line of the process table: (pid, start) names one process, even after reuse."""

    pid: int
    ppid: int
    start: int  # clock ticks after boot
    state: str


def process_table() -> dict[int, Proc]:
    """Every process on the machine, from /proc/<pid>/stat."""
    table: dict[int, Proc] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()
        table[int(entry)] = Proc(
            int(entry), int(fields[1]), int(fields[19]), fields[0].decode()
        )
    return table


def read_proc(pid: int, name: str) -> bytes:
    """/proc/<pid>/<name>, or b"" when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def is_alive(pid: int, start: int, table: dict[int, Proc]) -> bool:
    """True when that very process still runs (a zombie does not)."""
    p = table.get(pid)
    return p is not None and p.start == start and p.state not in ("Z", "X")


def kill_exactly(processes: Iterable[tuple[int, int]]) -> None:
    """SIGKILL each (pid, start) that is still that process."""
    table = process_table()
    for pid, start in processes:
        if is_alive(pid, start, table):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Watcher:
    """One thread for all running checks: every 0.1 s it records each checker's
    descendants (with their command line and cwd), and kills a checker that uses more than
    KILL_RSS or runs past HARD_LIMIT, so that a working attack cannot hurt the machine."""

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def add(self, check: Check) -> None:
        with self.lock:
            self.checks.append(check)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, daemon=True)
                self.thread.start()

    def remove(self, check: Check) -> None:
        with self.lock:
            if check in self.checks:
                self.checks.remove(check)

    def _loop(self) -> None:
        while True:
            time.sleep(0.1)
            with self.lock:
                checks = list(self.checks)
            if not checks:
                continue
            table = process_table()
            children: dict[int, list[Proc]] = {}
            for p in table.values():
                children.setdefault(p.ppid, []).append(p)
            for check in checks:
                try:
                    check.observe(table, children)
                except Exception as exc:  # noted; never stops the watching
                    check.problems.append(f"watcher error: {exc!r}")


WATCHER = Watcher()


# ---- files, seen from outside --------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under root (not following links): kind and mode, size, mtime, sha256."""
    entries: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            path = os.path.normpath(os.path.join(folder, name))
            st = os.lstat(path)
            digest = ""
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            entries[os.path.relpath(path, root)] = (
                stat.filemode(st.st_mode),
                st.st_size,
                st.st_mtime_ns,
                digest,
            )
    return entries


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two snapshots, one line per entry."""
    out = []
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            out.append(f"removed {key}")
        elif key not in before:
            out.append(f"added {key} {after[key][0]}")
        elif before[key] != after[key]:
            out.append(f"changed {key}: {before[key][:3]} -> {after[key][:3]}")
    return out


def mentions_token(path: Path, token: str) -> bool:
    """True when a name or a file's start under path contains token (50 files at most)."""
    seen = 0
    for folder, dirs, files in os.walk(path):
        for name in [os.path.basename(folder), *dirs, *files]:
            if token in name:
                return True
        for name in files:
            seen += 1
            if seen > 50:
                return False
            full = os.path.join(folder, name)
            try:
                if stat.S_ISREG(os.lstat(full).st_mode):
                    with open(full, "rb") as f:
                        if token.encode() in f.read(1 << 18):
                            return True
            except OSError:
                continue
    return False


def drain(stream: IO[bytes], sink: bytearray) -> None:
    """Read a pipe to its end, keeping the first OUTPUT_CAP bytes."""
    fd = stream.fileno()
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            return
        if not chunk:
            return
        if len(sink) < OUTPUT_CAP:
            sink += chunk[: OUTPUT_CAP - len(sink)]


# ---- building submissions ------------------------------------------------------------


@functools.cache
def probe_table() -> str:
    """What a student gets by running symbackprop once at home: a literal dict from the
    bytes of each probe's X (hex) to the true W1, W2, b1, b2 gradients there."""
    from symbackprop.check.code.truth import make_probes, truth_for
    from symbackprop.spec import default_spec

    table = {
        p.X.tobytes().hex(): [p.grads[k].tolist() for k in ("W1", "W2", "b1", "b2")]
        for p in make_probes(truth_for(default_spec()))
    }
    return repr(table)


def notebook(text: str) -> str:
    """A .ipynb of the text's code cells: each "# %% execution_count: JSON" line starts a
    cell whose execution count is that JSON value (the first cell's is 1)."""
    marker = "# %% execution_count: "
    cells: list[tuple[Any, list[str]]] = [(1, [])]
    for line in text.splitlines(keepends=True):
        if line.startswith(marker):
            cells.append((json.loads(line[len(marker) :]), []))
        else:
            cells[-1][1].append(line)
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": count,
                    "metadata": {},
                    "outputs": [],
                    "source": lines,
                }
                for count, lines in cells
            ],
        }
    )


def tmpfs_usage(pid: int) -> int | None:
    """Bytes used in the tmpfs mounts of a process in another mount namespace (seen from
    outside through /proc/<pid>/root), each file system once, the work folder left out;
    None for a process in this namespace (bwrap itself) or one that is gone."""
    try:
        if os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"):
            return None
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    used: dict[str, int] = {}
    for line in lines:
        fields = line.split()
        if "-" not in fields or fields[fields.index("-") + 1] != "tmpfs":
            continue
        device, point = fields[2], fields[4].encode().decode("unicode_escape")
        if point == "/sandbox/work" or device in used:
            continue
        try:
            st = os.statvfs(f"/proc/{pid}/root{point}")
        except OSError:
            continue
        used[device] = (st.f_blocks - st.f_bfree) * st.f_frsize
    return sum(used.values())


# ---- one check ---------------------------------------------------------------------------


@dataclass(eq=False)
class Check:
    """One run of `check-code` on an attack, in a grader folder made for it: base/grader/
    {secret.txt, grades.csv, submissions/alice.py (the attack), submissions/bob.py}.
    Its findings are what the test saw from outside; `problems` lists every effect seen."""

    name: str
    attack: Attack
    base: Path
    token: str = field(default_factory=lambda: secrets.token_hex(12))
    hidden: tuple[str, ...] = field(  # the secret file, bob.py and the env variable
        default_factory=lambda: tuple(secrets.token_hex(12) for _ in range(3))
    )
    problems: list[str] = field(default_factory=list)
    descendants: dict[tuple[int, int], bytes] = field(default_factory=dict)
    returncode: int | None = None
    seconds: float = 0.0
    maxrss: int = 0
    killed_for: str = ""
    settled: bool = False
    tmpfs_peak: int = 0  # bytes in the sandbox's tmpfs mounts but its work folder
    tmpfs_seen: int = 0  # times the watcher measured them

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.grader = self.base / "grader"
        self.tmpdir = self.base / "tmp"
        self.home = self.base / "home"
        for folder in (self.grader / "submissions", self.tmpdir, self.home):
            folder.mkdir(parents=True)
        file_secret, other_secret, env_secret = self.hidden
        self.env_secret = env_secret
        self.secret_file = self.grader / "secret.txt"
        self.secret_file.write_text(f"top secret {file_secret}\n", encoding="utf-8")
        self.grades = self.grader / "grades.csv"
        self.grades.write_text("student,grade\nbob,17\n", encoding="utf-8")
        self.other = self.grader / "submissions" / "bob.py"
        self.other.write_text(
            f"# bob {other_secret}\n" + OTHER_STUDENT.read_text(encoding="utf-8"),
            encoding="utf-8",
        )
        self.submission = self.grader / "submissions" / self.attack.filename
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.listener.setblocking(False)
        values = {
            "TOKEN": self.token,
            "GRADER": str(self.grader),
            "SUBMISSION": json.dumps(str(self.submission))[1:-1],  # in a "..." literal
            "SECRET_FILE": str(self.secret_file),
            "OTHER": str(self.other),
            "GRADES": str(self.grades),
            "PORT": str(self.listener.getsockname()[1]),
            "SECRET_ENV": SECRET_ENV,
            "ESC": "\x1b",
            "ZEROS": "0" * 5000,
        }
        text = (REDTEAM / "_prelude.py").read_text(encoding="utf-8") + "\n\n"
        text += (REDTEAM / self.attack.fixture).read_text(encoding="utf-8")
        if "@PROBE_TABLE@" in text:
            values["PROBE_TABLE"] = probe_table()
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        self.text = text
        if self.attack.notebook:
            text = notebook(text)
        self.submission.write_text(text, encoding="utf-8")
        self.before = snapshot(self.grader)
        self.out = bytearray()
        self.err = bytearray()
        self.proc: subprocess.Popen[bytes] | None = None
        self.readers: list[threading.Thread] = []

    # running

    def command(self) -> list[str]:
        cmd = peak_memory.command(sys.executable, "check-code", str(self.submission))
        cmd += ["--timeout", f"{TIMEOUT:g}", *self.attack.args]
        return cmd if self.attack.human else [*cmd, "--json"]

    def environment(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": str(PACKAGE_ROOT),
            SECRET_ENV: self.env_secret,
            "PEAK_FILE": str(self.home / "peak_kib"),
        }
        if self.attack.private_tmpdir:
            env["TMPDIR"] = str(self.tmpdir)
        if (
            "SYMBACKPROP_ZYGOTE" in os.environ
        ):  # =always: every attack in a zygote's child
            env["SYMBACKPROP_ZYGOTE"] = os.environ["SYMBACKPROP_ZYGOTE"]
        return env

    def start(self) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.grader,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a stray signal to its group cannot reach pytest
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, sink in (
            (self.proc.stdout, self.out),
            (self.proc.stderr, self.err),
        ):
            reader = threading.Thread(target=drain, args=(stream, sink), daemon=True)
            reader.start()
            self.readers.append(reader)
        WATCHER.add(self)

    def wait(self) -> None:
        """Reap the checker; its peak memory is what it recorded itself at exit (VmHWM)."""
        assert self.proc is not None
        _, status, _ = os.wait4(self.proc.pid, 0)
        self.seconds = time.monotonic() - self.started
        self.returncode = self.proc.returncode = os.waitstatus_to_exitcode(status)
        # not recorded when the checker was killed: the watcher's 1.3 GB kill (a problem of
        # its own) bounds it then, since wait4's figure includes pytest's own peak
        self.maxrss = peak_memory.read_bytes(self.home / "peak_kib") or 0
        for reader in self.readers:
            reader.join(timeout=2)

    def run(self) -> None:
        self.start()
        if self.attack.kill_after:
            stop = time.monotonic() + HARD_LIMIT
            while not self.known() and time.monotonic() < stop:
                time.sleep(0.05)
            time.sleep(self.attack.kill_after)  # inside backward's sleep by now
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)  # the checker only
        self.wait()

    def observe(self, table: dict[int, Proc], children: dict[int, list[Proc]]) -> None:
        """The watcher's tick: record new descendants; kill a checker out of bounds."""
        assert self.proc is not None
        running = self.returncode is None
        roots = [self.proc.pid] if running else []
        roots += [pid for pid, start in self.known() if is_alive(pid, start, table)]
        stack = list(roots)
        while stack:
            for child in children.get(stack.pop(), []):
                key = (child.pid, child.start)
                if key not in self.descendants:
                    try:
                        cwd = os.readlink(f"/proc/{child.pid}/cwd").encode()
                    except OSError:
                        cwd = b"?"
                    info = read_proc(child.pid, "cmdline") + b" cwd=" + cwd
                    with self.lock:
                        self.descendants[key] = info
                    stack.append(child.pid)
        if self.attack.watch_tmpfs:
            for pid, start in self.known():
                used = tmpfs_usage(pid) if is_alive(pid, start, table) else None
                if used is not None:
                    self.tmpfs_seen += 1
                    self.tmpfs_peak = max(self.tmpfs_peak, used)
        if not running:
            return
        pages = read_proc(self.proc.pid, "statm").split()
        rss = int(pages[1]) * os.sysconf("SC_PAGE_SIZE") if len(pages) > 1 else 0
        if rss > KILL_RSS:
            self.kill(f"its memory reached {rss / 1e9:.1f} GB")
        elif time.monotonic() - self.started > HARD_LIMIT:
            self.kill(f"it still ran after {HARD_LIMIT:g} s")

    def known(self) -> dict[tuple[int, int], bytes]:
        """A copy of the descendants recorded so far (the watcher adds to them)."""
        with self.lock:
            return dict(self.descendants)

    def kill(self, why: str) -> None:
        assert self.proc is not None
        if not self.killed_for:
            self.killed_for = why
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        kill_exactly(self.known())

    # after the run

    def settle(self, tmp_before: set[str]) -> None:
        """Look for every effect, SETTLE seconds after the checker returned."""
        try:
            self._settle(tmp_before)
        except Exception as exc:  # a failure of the test itself is a problem too
            self.problems.append(f"looking for effects failed: {exc!r}")
        self.settled = True

    def _settle(self, tmp_before: set[str]) -> None:
        p = self.problems
        if self.killed_for:
            p.append(f"the test killed the checker: {self.killed_for}")
        if self.seconds > TIMEOUT + MARGIN:
            p.append(f"the check took {self.seconds:.1f} s (timeout {TIMEOUT:g} s)")
        if self.maxrss > MAX_RSS:
            p.append(f"the checker's peak memory was {self.maxrss / 1e9:.2f} GB")
        p += [
            f"grader folder: {c}" for c in changes(self.before, snapshot(self.grader))
        ]
        tops = sorted(os.listdir(self.base))
        if tops != ["grader", "home", "tmp"]:
            p.append(f"new entries next to the grader folder: {tops}")
        if os.listdir(self.tmpdir):
            p.append(f"left in TMPDIR: {sorted(os.listdir(self.tmpdir))}")
        p += [f"left in /tmp: {name}" for name in self.tmp_leftovers(tmp_before)]
        connections = self.connections()
        if connections:
            p.append(f"{len(connections)} connection(s) to the test's listener")
        table = process_table()
        known = self.known()
        alive = [k for k in known if is_alive(*k, table)]
        for key in alive[:3]:
            p.append(f"process {key[0]} still alive: {known[key][:120]!r}")
        if len(alive) > 3:
            p.append(f"and {len(alive) - 3} more processes of the check still alive")
        for pid in self.token_processes(table):
            if not any(pid == k[0] for k in alive):
                p.append(f"process {pid} carries the attack's token: still alive")

    def tmp_leftovers(self, before: set[str]) -> list[str]:
        """New /tmp entries of this check: the token in them, or named by its processes."""
        named = b" ".join(self.known().values())
        out = []
        for name in sorted(set(os.listdir("/tmp")) - before):
            path = Path("/tmp", name)
            if f"/tmp/{name}".encode() in named or mentions_token(path, self.token):
                out.append(name)
        return out

    def connections(self) -> list[bytes]:
        got = []
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                return got
            with conn:
                conn.settimeout(0.2)
                try:
                    got.append(conn.recv(64))
                except OSError:
                    got.append(b"")

    def token_processes(self, table: dict[int, Proc]) -> list[int]:
        return [
            pid
            for pid, p in table.items()
            if p.state not in ("Z", "X")
            and self.token.encode() in read_proc(pid, "cmdline")
        ]

    def cleanup(self, tmp_before: set[str] | None = None) -> None:
        """Kill what the attack left running, close the listener, remove its /tmp entries."""
        WATCHER.remove(self)
        if self.proc is not None and self.returncode is None:
            self.kill("cleanup")
            self.wait()
        table = process_table()
        kill_exactly(self.known())
        kill_exactly((pid, table[pid].start) for pid in self.token_processes(table))
        self.listener.close()
        if tmp_before is not None:
            for name in self.tmp_leftovers(tmp_before):
                shutil.rmtree(Path("/tmp", name), ignore_errors=True)
        for reader in self.readers:
            reader.join(timeout=2)
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()

    # what the checker said

    @property
    def stdout(self) -> str:
        return self.out.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.err.decode("utf-8", "replace")

    def report(self) -> dict[str, Any]:
        """The JSON report: stdout must be exactly one such object."""
        try:
            report = json.loads(self.stdout)
        except ValueError:
            pytest.fail(self.describe(["stdout is not exactly one JSON object"]))
        if not isinstance(report, dict) or not REPORT_KEYS <= set(report):
            pytest.fail(self.describe(["stdout is not check-code's JSON report"]))
        return report

    def describe(self, problems: list[str]) -> str:
        lines = [
            f"attack {self.name} ({self.attack.fixture}): exit code {self.returncode}, "
            f"{self.seconds:.1f} s, peak {self.maxrss / 1e6:.0f} MB",
            *[f"  - {p}" for p in problems],
            f"  stdout: {self.stdout[:600]!r}",
            f"  stderr: {self.stderr[-600:]!r}",
        ]
        return "\n".join(lines)


def selected(session: pytest.Session) -> list[str]:
    """The attacks of the tests pytest is about to run here (so -k runs only those)."""
    names = set()
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if (
            Path(item.path).resolve() == Path(__file__).resolve()
            and callspec
            and "attack" in callspec.params
        ):
            names.add(callspec.params["attack"])
    return sorted(names, key=lambda n: (not ATTACKS[n].slow, n))


@pytest.fixture(scope="module")
def checks(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Check]]:
    """Every selected attack, run WORKERS at a time, then looked at SETTLE s later."""
    runs = {
        name: Check(name, ATTACKS[name], tmp_path_factory.mktemp(name))
        for name in selected(request.session)
    }
    # after mktemp: pytest's own base folder may be new in /tmp and holds every token
    tmp_before = set(os.listdir("/tmp"))
    settling: list[threading.Timer] = []

    def run(check: Check) -> None:
        check.run()
        timer = threading.Timer(SETTLE, check.settle, args=(tmp_before,))
        timer.start()
        settling.append(timer)

    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(run, runs.values()))
        for timer in settling:
            timer.join()
        if os.environ.get("REDTEAM_VERBOSE"):
            for check in runs.values():
                print(check.describe(check.problems).split("\n  stdout")[0])
        yield runs
    finally:
        for check in runs.values():
            check.cleanup(tmp_before)


def contained(check: Check, codes: tuple[int, ...] = (0, 1)) -> dict[str, Any] | None:
    """Assert the effects no attack may have; the JSON report (None for a human one)."""
    assert check.settled, f"{check.name} was not looked at after its run"
    problems = list(check.problems)
    if check.returncode not in codes:
        problems.append(f"exit code {check.returncode}, not one of {codes}")
    if "Traceback" in check.stderr or "Traceback" in check.stdout:
        problems.append("a Python traceback in the checker's output")
    for secret in check.hidden:
        if secret in check.stdout + check.stderr:
            problems.append(f"the secret {secret} is in the checker's output")
    assert not problems, check.describe(problems)
    if check.attack.human or check.returncode not in (0, 1):
        return None
    return check.report()


def not_ok(check: Check, report: dict[str, Any] | None) -> None:
    """The verdict is not "everything is correct" (the attack's oracle did not fire)."""
    assert report is not None
    assert report["ok"] is False and check.returncode == 1, check.describe(
        ["judged ok: the attack worked"]
    )


# ---- sanity --------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["correct"])
def test_correct_submission_is_ok_in_the_sandbox(
    attack: str, checks: dict[str, Check]
) -> None:
    """No attack: the prelude's correct forward/backward is judged ok, so "not ok" below
    comes from the attack failing, not from the harness."""
    report = contained(checks[attack], codes=(0,))
    assert report is not None and report["ok"] is True


@pytest.mark.parametrize("attack", ["sandboxed_default", "sandboxed_bwrap"])
def test_bwrap_is_the_default_sandbox(attack: str, checks: dict[str, Check]) -> None:
    """The submission is correct only if the grader's folder and itself are invisible from
    the child: true under bubblewrap, by default (bwrap on PATH) and with --sandbox bwrap."""
    report = contained(checks[attack], codes=(0,))
    assert report is not None and report["ok"] is True


@pytest.mark.parametrize("attack", ["process_option"])
def test_process_sandbox_is_still_an_option(
    attack: str, checks: dict[str, Check]
) -> None:
    """--sandbox process is accepted and judges the correct submission ok."""
    report = contained(checks[attack], codes=(0,))
    assert report is not None and report["ok"] is True


# ---- 1. the in-process guard -----------------------------------------------------------


@pytest.mark.parametrize("attack", ["guard_disable"])
def test_disabling_the_audit_hook_does_not_free_the_child(
    attack: str, checks: dict[str, Check]
) -> None:
    """`__main__._BLOCKED_EVENTS = frozenset()` empties the hook's table, then os.system
    touches a marker in the grader's folder: the OS sandbox (read-only view without the
    grader's folder) must stop it; no marker, nothing changed."""
    contained(checks[attack])


# ---- 2. processes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "spawn_os_system",
        "spawn_subprocess",
        "spawn_fork_exec",
        "spawn_fork_setsid",
        "spawn_raw_syscall",
        "layer_objects_spawn",
    ],
)
def test_started_processes_do_not_outlive_the_check(
    attack: str, checks: dict[str, Check]
) -> None:
    """os.system, subprocess.Popen(start_new_session), _posixsubprocess.fork_exec with
    setsid, fork+setsid+fork, os.system from a layer object's backward that the checker's
    own adapter calls (its zero gradients not ok), and raw system calls by ctypes (clone as fork, with
    CLONE_VFORK, with CLONE_THREAD but no CLONE_VM, with bits above 32; clone3, fork,
    vfork, x32 fork and clone) start an escapee that, for 60 s, touches a marker in the
    grader's folder and connects to the test's listener. Seen 2 s after the check: no
    marker, no connection, no process with the attack's token, no descendant left (PID
    namespace and --die-with-parent; the seccomp filter; the grader's folder is not in
    the view)."""
    check = checks[attack]
    report = contained(check)
    if attack in ("spawn_raw_syscall", "layer_objects_spawn"):
        not_ok(check, report)


# ---- 3. network --------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["network"])
def test_no_network(attack: str, checks: dict[str, Check]) -> None:
    """A connection to the test's listener on 127.0.0.1 (guard disabled): none arrives
    (network namespace), and the oracle (correct only if connected) is not ok."""
    check = checks[attack]
    not_ok(check, contained(check))


# ---- 4. writes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "write_absolute",
        "write_dir_fd",
        "unlink_dir_fd",
        "write_proc_cwd",
        "mkfifo",
        "metadata",
        "hardlink",
        "write_by_handle",
    ],
)
def test_no_writes_outside_the_work_folder(
    attack: str, checks: dict[str, Check]
) -> None:
    """Writes by absolute path, os.open/rename/remove with dir_fd, /proc/<checker>/cwd,
    /proc/self/cwd/.., /proc/self/root, mkfifo/mknod, chmod/utime/truncate of the
    submission, the secret and the grades (by path, by descriptor, by dir_fd), a hard link
    to the secret, open_by_handle_at from the runtime's file system ("shocker", stopped
    only by dropped capabilities): every file of the grader's folder keeps its hash, mode
    and mtime, and nothing appears next to it or stays in TMPDIR."""
    contained(checks[attack])


# ---- 5. reads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    ["read_shadow", "read_environ", "read_other", "read_secret", "read_sandbox_proc"],
)
def test_secrets_cannot_be_read(attack: str, checks: dict[str, Check]) -> None:
    """/etc/shadow, the checker's /proc/<pid>/environ (holding SYMBACKPROP_REDTEAM_SECRET),
    the other student's submission, the grader's secret file; the sandbox's own /proc (pid
    1 is the runner: its environ, cmdline, mountinfo) searched for that variable's name
    and the grader's folder: the oracle returns the correct gradients only if it could
    read them: not ok (--clearenv, the view shows no folder of the grader's)."""
    check = checks[attack]
    not_ok(check, contained(check))


@pytest.mark.parametrize("attack", ["leak"])
def test_secrets_do_not_reach_the_output(attack: str, checks: dict[str, Check]) -> None:
    """backward raises an exception carrying whatever secrets it read: none of the three
    (secret file, other student's first line, the checker's environment variable) is in
    the checker's stdout or stderr."""
    check = checks[attack]
    contained(check)
    leaked = [s for s in check.hidden if s in check.stdout + check.stderr]
    assert not leaked, check.describe([f"secret {s} in the output" for s in leaked])


# ---- 6. limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["rlimit_memory", "rlimit_file", "fork_bomb"])
def test_resource_limits_cannot_be_raised(
    attack: str, checks: dict[str, Check]
) -> None:
    """setrlimit back up (soft and hard) then map 3 GiB / write 200 MiB; a fork bomb
    (bounded at 400 sleeping children in their own sessions). The oracle is correct only if
    the attack succeeded: not ok; the checker returns in time and nothing is left running
    (hard limits, a size-limited tmpfs, a process limit and a PID namespace)."""
    check = checks[attack]
    not_ok(check, contained(check))


# ---- 7. hanging and flooding the parent ----------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "fifo_results",
        "zero_links",
        "sigstop_kill",
        "sigstop_pidfd",
        "flood_fds",
        "infinite_loop",
        "sleep_in_c",
        "threads_burn",
    ],
)
def test_the_checker_cannot_be_hung_or_flooded(
    attack: str, checks: dict[str, Check]
) -> None:
    """Work-folder files replaced by FIFOs or links to /dev/zero, SIGSTOP to the checker
    (os.kill, pidfd_send_signal), GBs without a newline to every open descriptor, a busy
    loop, a 1000 s sleep with every signal blocked, forward starting up to 200 spinning
    threads: the checker returns within the timeout and a margin, peaks under 400 MB,
    exits 0 or 1 without a traceback, prints its report."""
    check = checks[attack]
    report = contained(check)
    if attack in ("flood_fds", "infinite_loop", "sleep_in_c", "threads_burn"):
        not_ok(check, report)


# ---- 8. forging the verdict ---------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    ["forward_dict_x", "forward_only_z", "forward_reads_probes", "import_symbackprop"],
)
def test_the_verdict_cannot_be_forged(attack: str, checks: dict[str, Check]) -> None:
    """forward returning {"X": X} or only Z (it must return what backward needs); forward
    finding the backward probes' true H, Z, y_pred in frames or gc (they must not exist in
    the child yet); backward importing symbackprop for the reference (not in the view)."""
    check = checks[attack]
    report = contained(check)
    not_ok(check, report)
    if attack.startswith("forward_"):
        assert report is not None and report["forward"]["status"] != "ok", (
            check.describe(["forward judged ok"])
        )


@pytest.mark.parametrize("attack", ["fake_report_json", "fake_report_human"])
def test_the_checkers_output_cannot_be_forged(
    attack: str, checks: dict[str, Check]
) -> None:
    """A wrong submission writes a forged report (JSON and a "verdict: everything
    matches" line with its token) to /proc/<checker>/fd/1 and fd/2: the token is in neither
    stream, --json's stdout is exactly the real (not ok) report, the human one ends with
    the real verdict."""
    check = checks[attack]
    report = contained(check, codes=(1,))
    forged = check.token in check.stdout + check.stderr
    assert not forged, check.describe(["the forged report reached the output"])
    if report is not None:
        not_ok(check, report)
    else:
        last = check.stdout.rstrip().splitlines()[-1]
        assert last.startswith("verdict: ") and "everything matches" not in last


# ---- 9. the loader -----------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["syntax_last_line"])
def test_a_syntax_error_on_the_last_line_is_refused(
    attack: str, checks: dict[str, Check]
) -> None:
    """A .py whose last line does not parse: exit 2 naming that line, not a verdict on the
    lines before it."""
    check = checks[attack]
    contained(check, codes=(2,))
    line = check.text.splitlines().index("lr = = 0.05") + 1
    # --json: the one JSON object is the refusal itself, not a report on a prefix
    refusal = json.loads(check.stdout)
    assert f"alice.py:{line}" in check.stderr, check.describe(
        [f"the message does not name alice.py:{line}"]
    )
    assert f"alice.py:{line}" in refusal["error"] and "forward" not in refusal


@pytest.mark.parametrize(
    "attack",
    [
        "loader_lambda_key",
        "loader_function_default",
        "loader_class_base",
        "loader_class_decorator",
        "loader_method_decorator",
        "loader_method_default",
        "loader_class_getitem",
    ],
)
def test_top_level_code_never_runs(attack: str, checks: dict[str, Check]) -> None:
    """max(key=lambda: os._exit(3)) in an assignment, a default, a class base; a class or
    method decorator; a method default; A[0] calling __class_getitem__: none runs, so the
    otherwise correct submission is judged ok."""
    report = contained(checks[attack], codes=(0,))
    assert report is not None and report["ok"] is True


# ---- 10. spoofing the human report ---------------------------------------------------------


# every line of the human report is one of its own kinds
REPORT_LINE = re.compile(
    r"(check-code |your layout: |probed at |note: |verdict: |    )"
    r"|(forward|\w+ gradient) +(ok|WRONG|ERROR|not checked)(  \[[\w, ]+\])?$|$"
)
LINE_BREAKS = r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]"


@pytest.mark.parametrize(
    "attack", ["spoof", "spoof_filename", "spoof_notebook", "spoof_names"]
)
def test_student_text_is_inert_in_the_human_report(
    attack: str, checks: dict[str, Check]
) -> None:
    """Forged text from the student: an exception with a forged type name and a message
    of newlines, a carriage return, a vertical tab and ANSI escapes, raised on a line with
    ESC bytes; the submission's file name (ESC, CR, LF, U+202E, U+2028), shown where a
    dropped statement or a raising line is; a notebook whose cells' execution counts are
    such text (cell labels name them); gradient names from returned dict keys ending in a
    newline ("dW2\n" matches a pattern ending in `$`). The report has no control or format
    character but its newlines, every line is one of the report's own kinds, none starts
    with the student's FORGED text, and there is one verdict line."""
    check = checks[attack]
    contained(check, codes=(1,))
    problems = []
    if b"\x1b" in check.out or b"\x1b" in check.err:
        problems.append("an ESC byte in the output")
    odd = {
        f"U+{ord(c):04X}"
        for c in check.stdout
        if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
    }
    if odd:
        problems.append(f"control or format characters: {sorted(odd)}")
    lines = re.split(LINE_BREAKS, check.stdout)
    strange = [line for line in lines if not REPORT_LINE.match(line)]
    problems += [f"not a line of the report: {line[:100]!r}" for line in strange[:3]]
    forged = [
        line
        for line in lines
        if line.lstrip(" \u202a\u202b\u202c\u202d\u202e").startswith("FORGED")
    ]
    problems += [f"a forged line: {line[:100]!r}" for line in forged[:3]]
    verdicts = [line for line in lines if line.startswith("verdict:")]
    if len(verdicts) != 1 or "everything matches" in verdicts[0]:
        problems.append(f"verdict lines: {verdicts}")
    assert not problems, check.describe(problems)


# ---- 11. nothing left behind --------------------------------------------------------------


@pytest.mark.parametrize("attack", ["tmp_normal", "tmp_timed_out", "tmp_killed"])
def test_nothing_is_left_in_tmp(attack: str, checks: dict[str, Check]) -> None:
    """With the default TMPDIR: a normal check, one that times out (sleep_in_c) and one
    whose checker the test SIGKILLs while the child sleeps in backward. 2 s later, no new
    /tmp entry of the check (its token inside, or named by its processes) and no process
    of it alive (a tmpfs work folder, --die-with-parent)."""
    check = checks[attack]
    if attack == "tmp_killed":
        problems = list(check.problems)
        if check.returncode != -signal.SIGKILL:
            problems.append(f"exit code {check.returncode}, not -9: it was not killed")
        assert not problems, check.describe(problems)
    else:
        contained(check, codes=(0,) if attack == "tmp_normal" else (1,))


# ---- 12. the matcher -----------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["verdict_overflow"])
def test_huge_values_are_not_judged_correct(
    attack: str, checks: dict[str, Check]
) -> None:
    """forward's Z and backward's b2 gradient filled with the largest float, whatever the
    inputs: the least-squares factor s.c / c.c overflows to inf, and an infinite factor
    must not pass for "equal up to a factor of 1": forward and b2 are not ok."""
    check = checks[attack]
    report = contained(check)
    not_ok(check, report)
    assert report is not None
    judged = {
        "forward": report["forward"]["status"],
        "b2": report["gradients"]["b2"]["status"],
    }
    assert "ok" not in judged.values(), check.describe([f"judged ok: {judged}"])


# ---- 13. the probe points ------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["fixed_probes"])
def test_precomputed_gradients_do_not_pass(
    attack: str, checks: dict[str, Check]
) -> None:
    """backward returns the true gradients only at the X of the probes a run at home
    showed (a table from symbackprop itself, as a student could make it), zeros elsewhere:
    the probes must not be known before the check (not ok)."""
    check = checks[attack]
    not_ok(check, contained(check))


# ---- 14. the phase protocol ----------------------------------------------------------------


@pytest.mark.parametrize("attack", ["phase_steal"])
def test_the_phase_protocol_cannot_be_abused(
    attack: str, checks: dict[str, Check]
) -> None:
    """forward (wrong) says "phase_done" early, reads the backward calls (the true H, Z,
    y_pred) from the runner's stdin, sends forged results with them for every forward call,
    replays "loaded", runs the backward calls with the runner's own functions and says
    "finished": results after the end of their phase are refused, so forward is not ok."""
    check = checks[attack]
    report = contained(check)
    not_ok(check, report)
    assert report is not None and report["forward"]["status"] != "ok", check.describe(
        ["forward judged ok: the stolen true values were accepted"]
    )


# ---- 15. the parent's parsers --------------------------------------------------------------


@pytest.mark.parametrize(
    "attack", ["stderr_digits", "long_name", "json_bomb", "list_bomb"]
)
def test_the_parent_parses_the_child_safely(
    attack: str, checks: dict[str, Check]
) -> None:
    """A forged faulthandler frame on stderr whose line number has 5000 digits; a forward
    parameter named W1 with 5000 leading zeros (int() refuses more than 4300 digits); two
    16 MiB messages of 5.6 million empty JSON objects each (~70 bytes apiece once parsed);
    a class's backprop returning a list of two million gradients and a list that holds itself:
    a verdict (not ok) or a refusal, never an internal error (exit 4), and the checker
    peaks under 400 MB."""
    check = checks[attack]
    report = contained(check, codes=(1, 2) if attack == "long_name" else (1,))
    assert "internal error" not in check.stderr, check.describe(["an internal error"])
    if report is not None:
        not_ok(check, report)


# ---- 16. memory-backed file systems --------------------------------------------------------


@pytest.mark.parametrize("attack", ["fill_tmpfs"])
def test_only_the_work_folder_takes_memory(
    attack: str, checks: dict[str, Check]
) -> None:
    """32 MiB written into each of /, /dev/shm and a hidden site-packages folder of the
    sandbox (tmpfs mounts without a size, in the machine's memory), held until the
    timeout. Measured from outside every 0.1 s (statvfs through /proc/<pid>/root): the
    sandbox's tmpfs mounts other than the 64 MiB work folder never hold more than 4 MiB."""
    check = checks[attack]
    contained(check)
    problems = []
    if not check.tmpfs_seen:
        problems.append("the watcher never saw the sandbox's mounts")
    if check.tmpfs_peak > 4 * 1024**2:
        problems.append(
            f"{check.tmpfs_peak / 1024**2:.0f} MiB in tmpfs mounts outside the work folder"
        )
    assert not problems, check.describe(problems)
