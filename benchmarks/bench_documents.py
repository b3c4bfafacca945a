"""The PDF's cost against the network's width: `symbackprop pdf` for 2-2-1 and wide networks.

Every size is timed in the same run, alternating, so the ratios compare like with like. The
document has the same pages at every width, so its cost should stay flat: the target is
784-1024-10 within 1.5x the 2-2-1 time.

    python benchmarks/bench_documents.py            # 3 rounds
    python benchmarks/bench_documents.py --rounds 1 --sizes 2,2,1:784,1024,10
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = "2,2,1:784,256,10:784,1024,10"
TARGET = 1.5  # the widest network's time over the first's


def time_pdf(layers: str, folder: Path) -> float:
    """Seconds for one `symbackprop pdf` of a ReLU network with these layers."""
    out = folder / f"net_{layers.replace(',', '_')}.pdf"
    command = [sys.executable, "-m", "symbackprop", "pdf", "--layers", layers]
    start = time.perf_counter()
    subprocess.run(
        [*command, "-o", str(out), "--force"], check=True, capture_output=True
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Time every size, print the medians and ratios; 0 when within TARGET, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="layers, ':'-separated")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = args.sizes.split(":")
    times: dict[str, list[float]] = {s: [] for s in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for layers in sizes:
                times[layers].append(time_pdf(layers, Path(tmp)))
    base = statistics.median(times[sizes[0]])
    for layers in sizes:
        t = statistics.median(times[layers])
        print(f"{layers:>14}  {t:6.2f} s  x{t / base:.2f}")
    ratio = statistics.median(times[sizes[-1]]) / base
    print(f"widest / first: x{ratio:.2f} (target x{TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
