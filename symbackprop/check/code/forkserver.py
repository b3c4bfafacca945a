"""The zygote's side inside its bwrap sandbox: NumPy imported once, one child forked per
submission (standard library and NumPy only: it runs as a script where symbackprop is not seen).

It reads a boot message on its control socket (the fd named on its command line), imports
NumPy, then for each request (three descriptors sent with SCM_RIGHTS: the child's stdin, results
and stderr pipes) forks one child and waits for it before reading the next, so two children
never run at once. A child, before anything of the submission arrives: keeps only its own three descriptors, takes folder N (a tmpfs
of its own that no child used before; the zygote retires after the last), restricts itself with
Landlock (writes only in its folder, reads only the runtime, no TCP, no signals or abstract
sockets outside itself) and with the full seccomp filter (no new processes, no System V IPC),
checks that the kernel says so, and only then runs runner.main. The zygote is pid 1 of the
sandbox with default signal actions (the kernel drops signals its children send it) and is not
dumpable (its memory cannot be read through /proc).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import sys

SETUP_FAILED = (
    70  # a child's exit code when it could not restrict itself: nothing of it ran
)
PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 4, 22, 2
_CREATE, _ADD_RULE, _RESTRICT = 444, 445, 446  # landlock syscalls (x86_64 and aarch64)
_READ = 1 | 4 | 8  # EXECUTE, READ_FILE, READ_DIR
_ALL_FS = (1 << 16) - 1  # every file-system right up to ABI 5 (IOCTL_DEV)
_TCP = 1 | 2  # BIND_TCP, CONNECT_TCP
_SCOPES = 1 | 2  # ABSTRACT_UNIX_SOCKET, SIGNAL
_libc = ctypes.CDLL(None, use_errno=True)


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> int:
    if result < 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")
    return result


def _landlock(folder: str, readable: list[str]) -> None:
    """Writes only beneath `folder`, reads only beneath `readable`, no TCP, and no signal or
    abstract socket reaching outside this process's domain."""
    attr = struct.pack("=QQQ", _ALL_FS, _TCP, _SCOPES)
    ruleset = _check(_libc.syscall(_CREATE, attr, len(attr), 0), "landlock ruleset")
    try:
        rules = [(p, _READ) for p in readable] + [
            (folder, _ALL_FS),
            ("/dev/null", 2 | 4),
        ]
        for path, access in rules:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                if os.path.isfile(path) or path == "/dev/null":
                    access &= 2 | 4 | 1 | (1 << 14)  # a file takes file rights only
                rule = struct.pack("=Qi", access, fd)
                _check(_libc.syscall(_ADD_RULE, ruleset, 1, rule, 0), f"rule {path}")
            finally:
                os.close(fd)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(_libc.syscall(_RESTRICT, ruleset, 0), "landlock restrict")
    finally:
        os.close(ruleset)


def _seccomp(program: bytes) -> None:
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _Program(len(program) // 8, ctypes.addressof(buffer))
    _check(
        _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0),
        "seccomp",
    )


def _restricted() -> bool:
    """What the kernel says of this process: filtered, no new privileges, no capabilities."""
    with open("/proc/self/status", encoding="ascii") as f:
        status = dict(
            line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line
        )
    caps = ("CapInh", "CapPrm", "CapEff", "CapAmb")
    return (
        status.get("Seccomp", "").strip() == "2"
        and status.get("NoNewPrivs", "").strip() == "1"
        and all(int(status.get(c, "1"), 16) == 0 for c in caps)
    )


def _child(boot: dict, folder: str, fds: list[int]) -> None:
    """In the forked child: keep its own descriptors, restrict itself, then run the runner."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in fds]  # above 0, 2, 3
        for target, fd in zip((0, 3, 2), high, strict=True):
            os.dup2(fd, target)
        os.closerange(4, 1 << 16)  # the control socket and the zygote's own files
        os.chdir(folder)
        os.environ.update(HOME=folder, TMPDIR=folder)
        _landlock(folder, boot["readable"])
        _seccomp(bytes.fromhex(boot["filter"]))
        if not _restricted():
            os._exit(SETUP_FAILED)
    except BaseException:
        os._exit(SETUP_FAILED)
    sys.argv = ["runner"]
    import runner  # noqa: PLC0415 - the runner beside this script, imported by the zygote

    runner.main()
    os._exit(0)


def _send(control: socket.socket, message: dict) -> None:
    control.sendall(json.dumps(message).encode() + b"\n")


def main() -> None:
    """Boot (NumPy imported), then fork one child per request until the socket closes."""
    signal.signal(
        signal.SIGINT, signal.SIG_DFL
    )  # pid 1: what its children send is dropped
    _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "not dumpable")
    number = int(sys.argv[1])
    os.closerange(3, number)  # descriptors bubblewrap read its data from
    os.closerange(number + 1, 1 << 16)
    control = socket.socket(fileno=number)
    line = bytearray()
    while not line.endswith(b"\n"):  # the boot line, read without a buffer that could
        chunk = control.recv(1)  # swallow the first request
        if not chunk:
            os._exit(0)
        line += chunk
    boot = json.loads(line)
    sys.path.insert(0, boot["site"])
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import numpy  # noqa: F401 - what every child would import
    import runner  # noqa: F401

    os.chdir("/")
    for index, folder in enumerate(boot["folders"]):
        # a request is one byte with the child's three descriptors
        msg, fds, _flags, _addr = socket.recv_fds(control, 1, 3)
        if not msg or len(fds) != 3:
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            _child(boot, folder, fds)
        for fd in fds:
            os.close(fd)
        _send(control, {"event": "forked", "index": index})
        _, status = os.waitpid(pid, 0)
        shutil.rmtree(folder, ignore_errors=True)  # its folder is never used again
        os.makedirs(folder, exist_ok=True)
        _send(control, {"event": "ended", "index": index, "status": status})
    os._exit(0)


if __name__ == "__main__":
    main()
