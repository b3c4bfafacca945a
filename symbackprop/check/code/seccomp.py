"""A seccomp filter for the sandbox: the student's process may not start another process.

Root is exempt from RLIMIT_NPROC, so a process limit must come from the kernel's syscall filter:
fork, vfork, clone3 and a clone that is not a thread fail (threads stay allowed: NumPy may use
them), and so do the calls that reach other processes or namespaces (ptrace, unshare, mount ...).
bubblewrap loads the compiled program (`--add-seccomp-fd`) just before it starts Python.
"""

from __future__ import annotations

import errno
import platform
import struct

# classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h)
_LOAD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_KILL = 0x80000000  # SECCOMP_RET_KILL_PROCESS
_ERRNO = 0x00050000
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (little-endian low word)
CLONE_THREAD = 0x00010000
X32_BIT = 0x40000000


# per machine: the audit architecture and the numbers of the refused system calls
_TABLES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "fork": 57, "vfork": 58, "clone3": 435, "ptrace": 101, "process_vm_readv": 310,
            "process_vm_writev": 311, "unshare": 272, "setns": 308, "mount": 165,
            "umount2": 166, "pivot_root": 155, "chroot": 161, "bpf": 321,
            "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
            "request_key": 249, "io_uring_setup": 425, "kcmp": 312,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "clone3": 435, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
            "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
            "chroot": 51, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
            "keyctl": 219, "add_key": 217, "request_key": 218, "io_uring_setup": 425,
            "kcmp": 272,
        },
    ),
}  # fmt: skip
_CLONE = {"x86_64": 56, "aarch64": 220}
_FORKS = ("fork", "vfork")
# System V IPC and POSIX message queues outlive a process in its IPC namespace: refused to the
# children of a zygote, which share one (zygote.py), so no submission leaves one for the next
_IPC: dict[str, dict[str, int]] = {
    "x86_64": {
        "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66,
        "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "semtimedop": 220,
        "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243,
        "mq_notify": 244, "mq_getsetattr": 245,
    },
    "aarch64": {
        "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183,
        "mq_notify": 184, "mq_getsetattr": 185, "msgget": 186, "msgctl": 187,
        "msgrcv": 188, "msgsnd": 189, "semget": 190, "semctl": 191, "semtimedop": 192,
        "semop": 193, "shmget": 194, "shmctl": 195, "shmat": 196,
    },
}  # fmt: skip


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def no_new_processes(
    machine: str | None = None, fork: bool = False, ipc: bool = True
) -> bytes | None:
    """The compiled filter for this machine, or None where no table is known.

    `fork`: new processes stay allowed (a zygote's own filter; its children add the full one);
    `ipc=False`: System V IPC and message queues are refused too (a zygote's children).
    """
    machine = machine or platform.machine()
    if machine not in _TABLES:
        return None
    arch, refused = _TABLES[machine]
    if fork:
        refused = {k: v for k, v in refused.items() if k not in _FORKS}
    if not ipc:
        refused = {**refused, **_IPC[machine]}
    eperm = _ERRNO | errno.EPERM
    prog = [
        _op(_LOAD, _ARCH),
        _op(_JEQ, arch, jt=1),  # another ABI (i386 through int 0x80): kill
        _op(_RET, _KILL),
        _op(_LOAD, _NR),
    ]
    if machine == "x86_64":
        prog += [_op(_JGE, X32_BIT, jf=1), _op(_RET, eperm)]  # the x32 ABI
    for name, number in refused.items():
        # clone3 says ENOSYS so that glibc's pthread_create falls back to clone
        answer = _ERRNO | (errno.ENOSYS if name == "clone3" else errno.EPERM)
        prog += [_op(_JEQ, number, jf=1), _op(_RET, answer)]
    if fork:
        return b"".join([*prog, _op(_RET, _ALLOW)])
    prog += [
        _op(_JEQ, _CLONE[machine], jf=3),
        _op(_LOAD, _ARG0),
        _op(_JSET, CLONE_THREAD, jt=1),  # a thread of this process: allowed
        _op(_RET, eperm),
        _op(_RET, _ALLOW),
    ]
    return b"".join(prog)
