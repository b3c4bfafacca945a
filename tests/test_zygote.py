"""The zygote: each forked child is as shut in as a fresh sandbox, and nothing one submission
does reaches the zygote or the next submission (its folder, signals, memory, IPC, descriptors).

Each attack runs as a submission's function in a child of one zygote; what it managed is
returned as numbers (1: it worked), and the next child of the same zygote is checked clean.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from symbackprop.check.code import limits, spare, view, zygote

pytestmark = pytest.mark.skipif(
    not zygote.available("bwrap", view.PACKAGES),
    reason="no bwrap, seccomp table or Landlock ABI >= 6 here",
)
ATTEMPT = """
import os, numpy as np
def attempt(step):
    try:
        step()
        return 1.0
    except BaseException:
        return 0.0
"""


def _run(z: zygote.Zygote, body: str, timeout: float = 5.0) -> Any:
    """Define `probe()` from `body` in a new child of `z`, call it, and return its outcome."""
    source = ATTEMPT + "def probe():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    child = zygote.ZygoteChild(z, 5)
    try:
        statement = {"chunk": 0, "line": 1, "source": source}
        child.take([statement], ["probe"], time.monotonic() + timeout, 1)
        assert child.loaded() == {"globals": {}, "errors": [], "missing": []}
        return child.run([{"id": 0, "func": "probe", "kwargs": {}, "phase": 0}])
    finally:
        child.close()


def _value(z: zygote.Zygote, body: str) -> list[float]:
    outcome = _run(z, body)
    assert outcome.events[0]["event"] == "done", outcome.events
    return list(np.asarray(outcome.events[0]["value"]))


@pytest.fixture
def z() -> zygote.Zygote:
    kept = zygote.Zygote(6)
    yield kept
    kept.kill()


def test_each_child_has_a_fresh_folder_and_cannot_reach_the_last_ones(
    z: zygote.Zygote,
) -> None:
    first = _value(
        z,
        """
        open("left.txt", "w").write("answers")
        os.mkdir("kept")
        os.chmod("kept", 0)
        return np.array([float(len(os.listdir(".")))])
        """,
    )
    assert first == [2.0]
    second = _value(
        z,
        f"""
        here = os.getcwd()
        last = "{view.WORK}/0"
        return np.array([
            float(len(os.listdir("."))),
            attempt(lambda: os.listdir(last)),
            attempt(lambda: open(last + "/left.txt").read()),
            attempt(lambda: open("{view.WORK}/5/x", "w").write("for the next")),
            attempt(lambda: open("/tmp/x", "w").write("x")),
            float(here == "{view.WORK}/1"),
        ])
        """,
    )
    assert second == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def test_a_child_cannot_signal_trace_or_read_the_zygote(z: zygote.Zygote) -> None:
    got = _value(
        z,
        """
        import signal
        return np.array([
            attempt(lambda: os.kill(1, signal.SIGTERM)),
            attempt(lambda: os.kill(1, signal.SIGKILL)),
            attempt(lambda: open("/proc/1/mem", "rb").read(1)),
            attempt(lambda: open("/proc/1/environ", "rb").read(1)),
            attempt(lambda: [os.readlink(f"/proc/1/fd/{f}") for f in os.listdir("/proc/1/fd")]),
            attempt(lambda: [open(f"/proc/1/fd/{f}", "rb") for f in os.listdir("/proc/1/fd")]),
            attempt(lambda: os.readlink("/proc/1/cwd")),
            attempt(lambda: os.fork()),
        ])
        """,
    )
    assert got == [0.0] * 8
    # every process it may signal: none (the kernel finds none outside itself)
    assert _value(z, "return np.array([attempt(lambda: os.kill(-1, 9))])") == [0.0]
    assert z.usable(5)
    assert _value(z, "return np.ones(1)") == [1.0]  # the zygote still serves


def test_no_ipc_or_network_survives_a_child(z: zygote.Zygote) -> None:
    got = _value(
        z,
        """
        import ctypes, socket
        libc = ctypes.CDLL(None)
        tcp = socket.socket()
        unix = socket.socket(socket.AF_UNIX)
        return np.array([
            float(libc.shmget(1234, 4096, 0o1666) >= 0),
            float(libc.msgget(1234, 0o1666) >= 0),
            float(libc.semget(1234, 1, 0o1666) >= 0),
            attempt(lambda: tcp.bind(("127.0.0.1", 5555))),
            attempt(lambda: unix.bind("\\0symbackprop-left") or unix.listen()),
            attempt(lambda: open("/dev/shm/x", "w")),
        ])
        """,
    )
    assert got == [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # its own socket, gone with it:
    after = _value(
        z,
        """
        import socket
        unix = socket.socket(socket.AF_UNIX)
        return np.array([attempt(lambda: unix.connect("\\0symbackprop-left"))])
        """,
    )
    assert after == [0.0]


def test_a_child_has_only_its_own_descriptors_and_the_hard_limits(
    z: zygote.Zygote,
) -> None:
    got = _value(
        z,
        f"""
        import resource
        links = []
        for f in os.listdir("/proc/self/fd"):
            try:
                links.append(os.readlink("/proc/self/fd/" + f))
            except OSError:  # the one listdir opened
                pass
        memory = resource.getrlimit(resource.RLIMIT_AS)
        return np.array([
            float(all(k.startswith("pipe:") or k == "/dev/null" for k in links)),
            float(len(links)),
            float(memory == ({limits.MEMORY_LIMIT}, {limits.MEMORY_LIMIT})),
            attempt(lambda: resource.setrlimit(resource.RLIMIT_AS, (-1, -1))),
        ])
        """,
    )
    # its stdin, results and stderr pipes, faulthandler's copy of stderr, /dev/null twice
    assert got == [1.0, 6.0, 1.0, 0.0]


def test_a_child_that_overruns_takes_its_zygote_along_and_the_next_gets_a_new_one(
    tmp_path: Path,
) -> None:
    spare.keep_spare("bwrap", 2.0)
    try:
        kept = spare._zygote
        assert kept is not None
        child = spare.child_for("bwrap", view.PACKAGES, 3)
        assert isinstance(child, zygote.ZygoteChild)
        source = "def probe():\n    while True:\n        pass\n"
        child.take(
            [{"chunk": 0, "line": 1, "source": source}],
            ["probe"],
            time.monotonic() + 1,
            1,
        )
        assert child.loaded() is not None
        out = child.run([{"id": 0, "func": "probe", "kwargs": {}, "phase": 0}])
        child.close()
        assert out.timed_out and kept.dead and kept.proc.poll() is not None
        following = spare.child_for("bwrap", view.PACKAGES, 3)
        assert isinstance(following, zygote.ZygoteChild)
        assert following._zygote is not kept
        following.close()
    finally:
        spare.stop_keeping_spare()


def test_a_zygote_retires_after_its_folders() -> None:
    kept = zygote.Zygote(6, folders=2)
    try:
        assert _value(kept, "return np.ones(1)") == [1.0]
        assert _value(kept, "return np.ones(1)") == [1.0]
        assert kept.spent and not kept.usable(0)
        with pytest.raises(zygote.ZygoteGone):
            kept.fork()
    finally:
        kept.kill()
    assert kept.proc.poll() is not None


def test_what_the_zygote_sends_is_checked(z: zygote.Zygote) -> None:
    """Anything but a forked or ended report of a child it was asked for is refused."""
    z.given = 1
    for line in (
        b"not json",
        b"[]",
        b'{"event": "done", "index": 0}',
        b'{"event": "ended", "index": 7, "status": 0}',
        b'{"event": "ended", "index": 0, "status": -1}',
        b'{"event": "ended", "index": true, "status": 0}',
    ):
        with pytest.raises(ValueError):
            z._parse(line)
    z._parse(b'{"event": "ended", "index": 0, "status": 2304}')
    assert z._ended == {0: 9}
