"""One BLAS thread for the small matrix products of a document's worked example.

OpenBLAS splits even an 8-row product over every core and spins waiting for them; on a busy
machine that makes a wide network's 100 epochs ~8x slower than one thread. threadpoolctl is
not a dependency, so the loaded OpenBLAS is found in /proc/self/maps and called directly.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# (set, get) symbol pairs: NumPy's wheels (scipy-openblas, 64- and 32-bit ints), then plain.
SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


def _libraries() -> list[str]:
    """Paths of the OpenBLAS libraries this process has loaded (none off Linux)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    found = re.findall(r"(/\S*openblas\S*\.so[\d.]*)$", maps, flags=re.MULTILINE)
    return sorted(set(found))


def _controls() -> list[tuple[ctypes._CFuncPtr, ctypes._CFuncPtr]]:
    """(set, get) functions of every loaded OpenBLAS."""
    out = []
    for path in _libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                out.append((getattr(lib, set_name), getattr(lib, get_name)))
                break
    return out


def blas_threads() -> int | None:
    """The loaded OpenBLAS's thread count, None when none is found."""
    import numpy  # noqa: F401  (loads the BLAS)

    controls = _controls()
    return int(controls[0][1]()) if controls else None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with OpenBLAS on one thread, restoring the count after it."""
    import numpy  # noqa: F401

    controls = _controls()
    before = [int(get()) for _, get in controls]
    for set_threads, _ in controls:
        set_threads(1)
    try:
        yield
    finally:
        for (set_threads, _), count in zip(controls, before, strict=True):
            set_threads(count)
