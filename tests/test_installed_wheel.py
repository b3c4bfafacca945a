"""A non-editable install (the built wheel) must find its templates and emit a working trainer."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_wheel_ships_templates_and_works_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("symbackprop-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "symbackprop/templates/trainer.py.jinja" in names
    assert "symbackprop/runtime/main.py" in names  # the code the templates include
    assert not any(n.startswith("templates/") for n in names)

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import symbackprop, symbackprop.emit.render as r, symbackprop.cli as c\n"
        "print(symbackprop.__file__)\n"
        "print(r.templates_dir())\n"
        "raise SystemExit(c.main(['emit', 'trainer', '--layers', '2,3,1', '-o', 'net.py']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    module_file, templates = out.stdout.splitlines()[:2]
    assert module_file.startswith(str(target))  # the wheel, not the checkout
    assert templates == str(target / "symbackprop" / "templates")
    run = subprocess.run(
        [sys.executable, "net.py", "--epochs", "2"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and run.stdout.splitlines()[1].startswith(
        "Epoch: 1 loss:"
    )
