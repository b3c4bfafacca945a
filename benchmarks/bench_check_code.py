"""What check-code costs per submission, and what its sandbox adds, measured in one run.

    python benchmarks/bench_check_code.py [--rounds R] [--baseline CHECKOUT] [--class N]
                                          [--class-rounds K] [--json out.json]

Times `symbackprop check-code` on the seed notebook (the whole command, as a student runs it) and
the library call `run_check` in a warm process (the cost per submission in a batch), each with
`--sandbox bwrap` and `--sandbox process`, alternating so that machine load hits all alike.
`--baseline` names another checkout of symbackprop (e.g. `git worktree add /tmp/before <commit>`)
whose commands are timed in the same rounds, for a before/after ratio: the seed, and one check
of tests/fixtures/students/correct.py (a correct file: the single-check target). `--class N`
also checks N copies of the seed in one `check-code FOLDER --jobs 2` run, K times alternating
with the baseline: submissions a minute, beside one command per submission (each pool worker
keeps a zygote where Landlock allows it, else a booted spare child: see spare.py).
Each checkout's bytecode is compiled first, as an installed package has it (an environment with
PYTHONDONTWRITEBYTECODE would otherwise recompile symbackprop in every timed command).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "symbackprop" / "data" / "notebook_221_relu.txt"
CORRECT = ROOT / "tests" / "fixtures" / "students" / "correct.py"
# the batch as batch.check_all runs it, with each pool worker keeping a spare: what batch.py
# does once its Pool passes initializer=spare.keep_spare (argv: folder, jobs)
WARM = """
import sys, time, json
from symbackprop.check.code.core import run_check
run_check(sys.argv[1], sandbox=sys.argv[2])  # warm: SymPy, the truth, the view
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    run_check(sys.argv[1], sandbox=sys.argv[2])
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def _compile(checkout: Path) -> None:
    """Write the checkout's __pycache__ (what `pip install` does), so no command recompiles."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(checkout / "symbackprop")],
        stdout=subprocess.DEVNULL,
        check=True,
    )


def _command(checkout: Path, *args: str, path: Path = SEED) -> float:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "symbackprop", "check-code", str(path), *args],
        env=env,
        cwd=checkout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start


def _warm(mode: str, count: int) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", WARM, str(SEED), mode, str(count)],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def _class(folder: Path, jobs: int, checkout: Path) -> float:
    """Seconds for one `check-code FOLDER` run; a run that crashed is not a time."""
    command = [sys.executable, "-m", "symbackprop", "check-code", str(folder)]
    command += ["--jsonl", "--jobs", str(jobs)]
    start = time.perf_counter()
    done = subprocess.run(
        command,
        env=dict(os.environ, PYTHONPATH=str(checkout)),
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    rows = done.stdout.splitlines()
    if done.returncode not in (0, 1) or len(rows) != len(list(folder.iterdir())) + 1:
        raise SystemExit(f"check-code failed in {checkout}: {done.stderr[-500:]}")
    return seconds


def _classes(count: int, rounds: int, baseline: Path | None) -> dict[str, list[float]]:
    """Per minute for each batch variant, `rounds` times, alternating the variants."""
    variants = {"class, --jobs 2": ROOT}  # each worker keeps a booted spare sandbox
    if baseline:
        variants["class, --jobs 2, baseline"] = baseline
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for i in range(count):
            shutil.copy(SEED, Path(folder) / f"student{i:04d}.txt")
        for _ in range(rounds):
            for name, checkout in variants.items():
                seconds = _class(Path(folder), 2, checkout)
                out.setdefault(name, []).append(60 * count / seconds)
    return out


def main() -> None:
    """Run the rounds and print medians and ratios (also as JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--baseline", type=Path, help="another symbackprop checkout")
    parser.add_argument("--class", dest="klass", type=int, default=0, metavar="N")
    parser.add_argument("--class-rounds", type=int, default=1, metavar="K")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    modes = ["bwrap", "process"] if shutil.which("bwrap") else ["process"]
    for checkout in (ROOT, args.baseline):
        if checkout is not None:
            _compile(checkout)
    samples: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for mode in modes:
            samples.setdefault(f"command, --sandbox {mode}", []).append(
                _command(ROOT, "--sandbox", mode)
            )
        samples.setdefault("single check of correct.py", []).append(
            _command(ROOT, path=CORRECT)
        )
        if args.baseline:
            samples.setdefault("command, baseline", []).append(_command(args.baseline))
            samples.setdefault("single check of correct.py, baseline", []).append(
                _command(args.baseline, path=CORRECT)
            )
    for mode in modes:
        samples[f"run_check in a warm process, {mode}"] = _warm(mode, args.rounds)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    print(f"check-code on the seed, median of {args.rounds} ({platform.machine()}):")
    for name, value in medians.items():
        print(f"  {name:<40} {value * 1000:8.1f} ms")
    if "command, baseline" in medians:
        for mode in modes:
            ratio = medians[f"command, --sandbox {mode}"] / medians["command, baseline"]
            print(f"  {mode} / baseline: {ratio:.2f}x")
        ratio = (
            medians["single check of correct.py"]
            / medians["single check of correct.py, baseline"]
        )
        print(f"  single check of correct.py / baseline: {ratio:.2f}x")
    if len(modes) == 2:
        ratio = (
            medians["run_check in a warm process, bwrap"]
            / medians["run_check in a warm process, process"]
        )
        print(f"  warm bwrap / warm process: {ratio:.2f}x")
    if args.klass:
        one = medians[f"command, --sandbox {modes[0]}"]
        print(
            f"class of {args.klass} copies of the seed in one run, --jobs 2, median of "
            f"{args.class_rounds} (one command each: {60 / one:.0f} a minute):"
        )
        for name, rates in _classes(
            args.klass, args.class_rounds, args.baseline
        ).items():
            samples[name + " (a minute)"] = rates
            medians[name + " (a minute)"] = statistics.median(rates)
            print(f"  {name:<40} {statistics.median(rates):8.0f} a minute")
    if args.json:
        args.json.write_text(
            json.dumps({"medians_s": medians, "samples_s": samples}, indent=2)
        )


if __name__ == "__main__":
    main()
