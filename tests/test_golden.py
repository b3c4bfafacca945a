"""generated/ must be byte-identical to a fresh `symbackprop build` (update with --update-generated).

That also proves the build deterministic: the committed files were built in another process,
on another day, so no second build is needed here.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

GENERATED = ROOT / "generated"


def _fresh_build(tmp_path: Path) -> Path:
    out = tmp_path / "generated"
    result = subprocess.run(
        [sys.executable, "-m", "symbackprop", "build", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode == 3:
        pytest.skip(
            f"no TeX on PATH, the PDF cannot be rebuilt: {result.stderr.strip()}"
        )
    assert result.returncode == 0, result.stderr
    return out


def _compare_or_update(fresh: Path, update: bool) -> list[str]:
    """Differences between generated/ and a fresh build; rewrites generated/ when asked."""
    problems = []
    fresh_files = {p.name for p in fresh.iterdir() if p.is_file()}
    committed = (
        {p.name for p in GENERATED.iterdir() if p.is_file()}
        if GENERATED.exists()
        else set()
    )
    if update:
        GENERATED.mkdir(exist_ok=True)
        for name in committed - fresh_files:
            (GENERATED / name).unlink()
        for name in fresh_files:
            shutil.copyfile(fresh / name, GENERATED / name)
        return []
    for name in sorted(fresh_files - committed):
        problems.append(f"generated/{name} is missing (a fresh build writes it)")
    for name in sorted(committed - fresh_files):
        problems.append(
            f"generated/{name} is stale (a fresh build no longer writes it)"
        )
    for name in sorted(fresh_files & committed):
        new, old = (fresh / name).read_bytes(), (GENERATED / name).read_bytes()
        if new == old:
            continue
        if name.endswith((".py", ".tex")):
            diff = difflib.unified_diff(
                old.decode().splitlines(),
                new.decode().splitlines(),
                f"generated/{name} (committed)",
                f"generated/{name} (fresh build)",
                lineterm="",
            )
            problems.append("\n".join(list(diff)[:200]))
        else:
            problems.append(
                f"generated/{name} differs from a fresh build ({len(old)} vs {len(new)} bytes)"
            )
    return problems


def test_generated_equals_a_fresh_build(tmp_path: Path, update_generated: bool) -> None:
    fresh = _fresh_build(tmp_path)
    problems = _compare_or_update(fresh, update_generated)
    assert not problems, (
        "generated/ is out of date; if the change is intended, run "
        "`python -m pytest tests/test_golden.py --update-generated`\n"
        + "\n".join(problems)
    )


def test_generated_trainer_is_ruff_clean() -> None:
    """ruff is a dependency (it formats what we emit), so this never skips."""
    from ruff.__main__ import find_ruff_bin

    ruff = os.fsdecode(find_ruff_bin())
    files = [str(p) for p in GENERATED.glob("*.py")]
    assert files
    for args in (["check", "--isolated"], ["format", "--isolated", "--check"]):
        result = subprocess.run([ruff, *args, *files], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_generated_trainer_imports_only_numpy() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['x', '--epochs', '1']\n"
        "try:\n"
        f"    runpy.run_path({str(GENERATED / 'trainer_2_2_1.py')!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print([m for m in ('sympy', 'jinja2', 'symbackprop') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
