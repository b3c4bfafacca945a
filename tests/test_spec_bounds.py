"""Spec resource bounds: a spec above a documented limit is refused in one line, exit 2, at once.

Each refusal runs the real CLI in a child process and checks: exit code 2, exactly one line on
stderr naming the field, no traceback, nothing written, back within seconds and without the
child's memory growing (the old failures: a width of 10^9 allocated gigabytes, 10^20 and a
100,000-digit number were internal errors, a TOML nested 10^4 deep a RecursionError).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import peak as peak_memory
import pytest

from symbackprop.errors import EXIT_USAGE, UserError
from symbackprop.spec import limits, make_spec
from symbackprop.spec.model import parameter_count

ROOT = Path(__file__).resolve().parent.parent
STUDENT = ROOT / "tests" / "fixtures" / "students" / "correct.py"
REFUSAL_SECONDS = (
    10.0  # a refusal is typically under 1 s; generous for a loaded machine
)
REFUSAL_PEAK_MB = (
    300  # the interpreter, NumPy and the CLI; a 10^9-wide layer needs ~8 GB
)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float


def run(*args: str, cwd: Path, timeout: float = 120) -> Run:
    """The CLI in a child process, with that child's own wall time and peak RSS (VmHWM)."""
    peak = cwd / "peak_kib.txt"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # this checkout, not an installed copy
        "PEAK_FILE": str(peak),
    }
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    start = time.perf_counter()
    with out.open("w") as fo, err.open("w") as fe:
        proc = subprocess.run(
            peak_memory.command(sys.executable, *args),
            stdout=fo,
            stderr=fe,
            cwd=cwd,
            env=env,
            timeout=timeout,
            check=False,
        )
    seconds = time.perf_counter() - start
    peak_bytes = peak_memory.read_bytes(peak)
    peak_mb = float("inf") if peak_bytes is None else peak_bytes / 2**20
    return Run(proc.returncode, out.read_text(), err.read_text(), seconds, peak_mb)


def assert_refused(r: Run, *needles: str) -> str:
    """Exit 2, one stderr line containing every needle, no traceback, fast and small."""
    assert r.code == EXIT_USAGE, (r.code, r.stdout[-500:], r.stderr[-500:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("symbackprop: error: ")
    assert len(lines[0]) < 400, lines[0]  # a 100,000-digit value is not echoed back
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert r.seconds < REFUSAL_SECONDS, r.seconds
    assert r.peak_mb < REFUSAL_PEAK_MB, r.peak_mb
    return lines[0]


def emit_refused(tmp_path: Path, *flags: str, needles: tuple[str, ...]) -> str:
    out = tmp_path / "t.py"
    r = run("emit", "trainer", *flags, "-o", str(out), cwd=tmp_path)
    line = assert_refused(r, *needles)
    assert not out.exists()  # refused before anything is written
    return line


WIDTH = f"above the limit of {limits.MAX_WIDTH:,}"
DIGITS_100K = "9" * 100_000

FLAG_CASES = [
    (["--layers", "2,1000000000,1"], ("layers:", "1000000000 units", WIDTH)),
    (["--layers", "2,100000000000000000000,1"], ("layers:", WIDTH)),
    (["--layers", f"2,{DIGITS_100K},1"], ("layers:", "100,000-digit", WIDTH)),
    (["--layers", f"{limits.MAX_WIDTH + 1},2,1"], ("the input", WIDTH)),
    (["--layers", "2,2,1000001"], ("the output", WIDTH)),
    (
        ["--layers", ",".join(["4"] * (limits.MAX_DEPTH + 2))],
        ("layers:", f"above the limit of {limits.MAX_DEPTH}"),
    ),
    (
        ["--layers", "4096,4096,10"],
        ("16,822,282 parameters", f"above the limit of {limits.MAX_PARAMETERS:,}"),
    ),
    (["--layers", "2,x,1"], ("not a comma-separated list", "'x'")),
    (["--lr", "nan"], ("--lr", "not a finite number")),
    (["--lr", "inf"], ("--lr", "not a finite number")),
    (["--lr", "1e400"], ("--lr", "'1e400'", "not a finite number")),
    (["--lr=-1"], ("lr:", "not a positive number")),
    (["--lr", "0"], ("lr:", "not a positive number")),
    (["--lr", DIGITS_100K], ("--lr", "100,000 characters")),
    (["--lr", "fast"], ("--lr", "not a number")),
    (
        ["--epochs", str(limits.MAX_EPOCHS + 1)],
        ("epochs:", f"from 1 to {limits.MAX_EPOCHS:,}"),
    ),
    (["--epochs=-3"], ("epochs:", f"from 1 to {limits.MAX_EPOCHS:,}")),
    (["--epochs", "0"], ("epochs:",)),
    (["--epochs", "1e3"], ("--epochs", "not a whole number")),
    (["--epochs", DIGITS_100K], ("--epochs", "100,000 characters")),
    (["--seed=-1"], ("seed:", f"from 0 to {limits.MAX_SEED:,}")),
    (["--seed", str(limits.MAX_SEED + 1)], ("seed:", f"{limits.MAX_SEED:,}")),
    (["--alpha", "nan"], ("--alpha", "not a finite number")),
    (
        ["--title", "t" * (limits.MAX_TEXT_CHARS + 1)],
        ("title:", f"limit of {limits.MAX_TEXT_CHARS:,}"),
    ),
    (
        ["--name", "n" * (limits.MAX_TEXT_CHARS + 1)],
        ("name:", f"limit of {limits.MAX_TEXT_CHARS:,}"),
    ),
    (["--activations", ",".join(["relu"] * 20_000)], ("activations:", "20,000 given")),
    (["--activations", "relu," + "s" * 100_000], ("unknown activation",)),
]


@pytest.mark.parametrize(
    ("flags", "needles"), FLAG_CASES, ids=[" ".join(f)[:40] for f, _ in FLAG_CASES]
)
def test_flag_spec_above_a_limit_is_refused(
    tmp_path: Path, flags: list[str], needles: tuple[str, ...]
) -> None:
    emit_refused(tmp_path, *flags, needles=needles)


TOML_CASES = [
    ("layers = [2, 1000000000, 1]\n", ("layers:", "1000000000 units", WIDTH)),
    ("layers = [2, 100000000000000000000, 1]\n", ("layers:", WIDTH)),
    (f"layers = [2, {'1' * 4000}, 1]\n", ("4000-digit", WIDTH)),
    (f"layers = [2, 2, 1]\nepochs = {'1' * 100_000}\n", ("too many digits",)),
    ("x = " + "[" * 10_000 + "]" * 10_000 + "\n", ("nested", "4 levels")),
    ("x = " + "{a = " * 10_000 + "1" + "}" * 10_000 + "\n", ("nested",)),
    (
        "layers = [2, 2, 1]\n[data]\nX = [[[1.0, 2.0]]]\ny = [[1.0]]\n",
        ("nested", f"{limits.MAX_NESTING} levels"),
    ),
    ("layers = [2, 2, 1]\nlr = nan\n", ("lr:", "not a positive number")),
    ("layers = [2, 2, 1]\nlr = 1e400\n", ("lr:", "not a positive number")),
    ("layers = [2, 2, 1]\nlr = -0.1\n", ("lr:", "not a positive number")),
    (f"layers = [2, 2, 1]\nlr = {'1' * 4000}\n", ("lr:", "4000-digit")),
    ("layers = [2, 2, 1]\nlr = true\n", ("lr:", "True")),
    ("layers = [2, 2, 1]\nepochs = true\n", ("epochs:", "True")),
    (f"layers = [2, 2, 1]\nepochs = {'9' * 4000}\n", ("epochs:", "4000-digit")),
    ("layers = [2, 2, 1]\nepochs = 2.5\n", ("epochs:",)),
    ("layers = [2, 2, 1]\nseed = -1\n", ("seed:",)),
    ("layers = [2, 2, 1]\nalpha = inf\n", ("alpha:", "not a finite number")),
    ('layers = [2, 2, 1]\nalpha = "0.1"\n', ("alpha:",)),
    (
        f"layers = [2, 2, 1]\n[data]\nX = [[1.0, {'1' * 4000}]]\ny = [[1.0]]\n",
        ("data.X[0][1]", "not a finite number"),
    ),
    ("layers = {a = 1}\n", ("layers:", "not a list of whole numbers")),
    ('layers = [2, "2", 1]\n', ("layers:", "not a list of whole numbers")),
    ("layers = [2, 2, 1]\nname = 5\n", ("name must be a string",)),
    ("layers = [2, 2, 1]\ndata = 5\n", ("[data]",)),
    ("layers = [2, 2, 1]\nparams = [1, 2]\n", ("[params]",)),
    ("layers = [2, 2, 1]\n" + "k" * 100_000 + " = 1\n", ("unknown key",)),
]


@pytest.mark.parametrize(
    ("text", "needles"), TOML_CASES, ids=[t[:40] for t, _ in TOML_CASES]
)
def test_toml_spec_above_a_limit_is_refused(
    tmp_path: Path, text: str, needles: tuple[str, ...]
) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text(text)
    emit_refused(tmp_path, "--spec", str(spec), needles=needles)


def test_an_enormous_spec_file_is_refused_without_reading_it_all(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text("layers = [2, 2, 1]\n# " + "x" * limits.MAX_SPEC_BYTES + "\n")
    emit_refused(
        tmp_path,
        "--spec",
        str(spec),
        needles=(f"limit of {limits.MAX_SPEC_MIB} MiB", "--data"),
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_spec_file_is_refused(tmp_path: Path) -> None:
    emit_refused(
        tmp_path, "--spec", "/dev/zero", needles=(f"{limits.MAX_SPEC_MIB} MiB",)
    )


def _every_command(tmp_path: Path) -> list[list[str]]:
    return [
        ["emit", "trainer", "-o", str(tmp_path / "t.py")],
        ["emit", "latex", "-o", str(tmp_path / "t.tex")],
        ["emit", "notebook", "-o", str(tmp_path / "t.ipynb")],
        ["pdf", "-o", str(tmp_path / "t.pdf")],
        ["check-code", str(STUDENT)],
        ["check-formulas", "--template"],
    ]


@pytest.mark.parametrize("index", range(6))
def test_every_command_that_takes_a_spec_checks_it(tmp_path: Path, index: int) -> None:
    command = _every_command(tmp_path)[index]
    r = run(*command, "--layers", "2,1000000000,1", cwd=tmp_path)
    assert_refused(r, "1000000000 units", WIDTH)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stderr.txt", "stdout.txt"]


@pytest.mark.parametrize("artefact", ["latex", "notebook", "pdf"])
def test_a_document_has_its_own_smaller_limit(tmp_path: Path, artefact: str) -> None:
    command = ["pdf"] if artefact == "pdf" else ["emit", artefact]
    out = tmp_path / "doc.out"
    r = run(*command, "--layers", "784,2048,10", "-o", str(out), cwd=tmp_path)
    assert_refused(
        r, "1,628,170 parameters", f"{limits.MAX_DOCUMENT_PARAMETERS:,}", "trainer"
    )
    assert not out.exists()


def test_an_existing_file_is_kept_when_the_spec_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "t.py"
    out.write_text("# Generated by symbackprop: an earlier, good file\n")
    before = out.read_bytes()
    flags = ["--layers", "2,1000000000,1", "-o", str(out), "--force"]
    r = run("emit", "trainer", *flags, cwd=tmp_path)
    assert_refused(r, WIDTH)
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "layers",
    ["784,128,10", "784,1024,10", "3,8,8,2", ",".join(["64"] * 11), "784,2048,10"],
)
def test_the_networks_people_use_are_accepted(tmp_path: Path, layers: str) -> None:
    out = tmp_path / "t.py"
    r = run("emit", "trainer", "--layers", layers, "-o", str(out), cwd=tmp_path)
    assert r.code == 0, r.stderr[-2000:]
    assert r.stderr == ""
    assert f"LAYERS = ({layers.replace(',', ', ')})" in out.read_text()


def test_the_limits_themselves_are_accepted_and_one_more_is_not() -> None:
    """In process (no allocation happens in make_spec): each bound is inclusive."""
    w, d = limits.MAX_WIDTH, limits.MAX_DEPTH
    assert make_spec(layers=(2, w, 1)).layers == (2, w, 1)
    assert make_spec(layers=(w, 2, 1)).layers == (w, 2, 1)
    assert make_spec(layers=(2,) * (d + 1)).depth == d
    assert make_spec(layers=(2, 2, 1), epochs=limits.MAX_EPOCHS).epochs == (
        limits.MAX_EPOCHS
    )
    assert make_spec(layers=(2, 2, 1), seed=limits.MAX_SEED).seed == limits.MAX_SEED
    assert make_spec(layers=(2, 2, 1), seed=0).seed == 0
    # 999 inputs, h hidden, 1 output: (999 + 1) * h + (h + 1) parameters
    h = (limits.MAX_PARAMETERS - 1) // 1001
    at = (999, h, 1)
    assert (
        parameter_count(at) <= limits.MAX_PARAMETERS < parameter_count((999, h + 1, 1))
    )
    assert make_spec(layers=at).param_count == parameter_count(at)
    for bad in (
        dict(layers=(2, w + 1, 1)),
        dict(layers=(2,) * (d + 2)),
        dict(layers=(999, h + 1, 1)),
        dict(layers=(2, 2, 1), epochs=limits.MAX_EPOCHS + 1),
        dict(layers=(2, 2, 1), seed=limits.MAX_SEED + 1),
        dict(layers=(2, 2, 1), name="n" * (limits.MAX_TEXT_CHARS + 1)),
    ):
        with pytest.raises(UserError) as caught:
            make_spec(**bad)
        assert caught.value.exit_code == EXIT_USAGE


def test_parameter_count_agrees_with_the_parameter_shapes() -> None:
    spec = make_spec(layers=(784, 128, 64, 10))
    by_shape = sum(math.prod(spec.param_shape(n)) for n in spec.param_names)
    assert (
        spec.param_count == by_shape == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    )


def test_a_default_name_at_the_limits_stays_within_the_text_limit() -> None:
    """net_<sizes> for the widest, deepest sizes is under MAX_TEXT_CHARS (so never refused)."""
    widest = "_".join([str(limits.MAX_WIDTH)] * (limits.MAX_DEPTH + 1))
    assert len(f"net_{widest}") <= limits.MAX_TEXT_CHARS


@pytest.mark.parametrize("k", [60, 129, 4_000, 10_000])
def test_a_huge_number_is_described_by_its_digits_not_printed(k: int) -> None:
    """Python cannot print ints over ~4300 digits; a message names their length exactly."""
    assert limits.shown(10**k - 1) == f"<a {k}-digit number>"
    assert limits.shown(10**k) == f"<a {k + 1}-digit number>"
    assert limits.shown(-(10**k)) == f"<a {k + 1}-digit number>"
    assert limits.shown(123) == "123"
