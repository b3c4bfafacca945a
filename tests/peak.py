"""Run the CLI in a child that records its own peak memory (VmHWM of its new address space).

A child's rusage (wait4's ru_maxrss) starts from its parent's peak, and pytest's grows to
hundreds of MB over a run, so it cannot bound a child's memory; VmHWM, read by the child itself
at exit, can. The figure is written to the file named by $PEAK_FILE (in KiB).
"""

from __future__ import annotations

from pathlib import Path

CODE = """
import atexit, os, runpy, sys

def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(os.environ["PEAK_FILE"], "w").write(line.split()[1])

atexit.register(_peak)
sys.argv = ["symbackprop", *sys.argv[1:]]
runpy.run_module("symbackprop", run_name="__main__", alter_sys=True)
"""


def command(python: str, *args: str) -> list[str]:
    """`python -m symbackprop ARGS`, recording the peak in $PEAK_FILE."""
    return [python, "-c", CODE, *args]


def read_bytes(path: Path) -> int | None:
    """The recorded peak in bytes (None when the child did not exit normally), and forget it."""
    if not path.exists():
        return None
    kib = int(path.read_text() or 0)
    path.unlink()
    return kib * 1024
