"""The hard resource limits of check-code's child, set before the child's program is exec'd.

soft = hard (nearly) and never above what the checker itself has, so the child cannot raise
them. util-linux's prlimit sets them and execs the command where it is installed, so the parent
spawns without a Python preexec function (which forks the whole parent instead of a vfork:
about 10 ms of CPU per child); without it, a preexec function sets the same limits.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space
FILE_SIZE_LIMIT = 64 * 1024**2
OPEN_FILES_LIMIT = 64
THREAD_LIMIT = 64


def limit_values(cpu_seconds: int) -> list[tuple[str, int, int]]:
    """(name, soft, hard) of every hard limit; never above the limit this process has."""
    import resource

    out = []
    for name, soft, hard in (
        ("AS", MEMORY_LIMIT, MEMORY_LIMIT),
        ("CPU", cpu_seconds, cpu_seconds + 1),
        ("FSIZE", FILE_SIZE_LIMIT, FILE_SIZE_LIMIT),
        ("NOFILE", OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        ("CORE", 0, 0),
    ):
        _, have = resource.getrlimit(getattr(resource, f"RLIMIT_{name}"))
        if have != resource.RLIM_INFINITY:
            soft, hard = min(soft, have), min(hard, have)
        out.append((name, soft, hard))
    return out


def _limits(cpu_seconds: int) -> Callable[[], None]:
    """Hard limits (soft = hard: the child cannot raise them) set before exec."""

    def apply() -> None:
        import resource

        for name, soft, hard in limit_values(cpu_seconds):
            try:
                resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (soft, hard))
            except (ValueError, OSError):
                pass

    return apply


@functools.cache
def _prlimit() -> str | None:
    return shutil.which("prlimit")


def limited(
    command: list[str], cpu_seconds: int
) -> tuple[list[str], Callable[[], None] | None]:
    """The command run under the hard limits, and the preexec function it still needs."""
    prlimit = _prlimit()
    if prlimit is None:
        return command, _limits(cpu_seconds)
    flags = [
        f"--{name.lower()}={soft}:{hard}"
        for name, soft, hard in limit_values(cpu_seconds)
    ]
    return [prlimit, *flags, "--", *command], None
