"""Shared fixtures: the golden-file update switch and generated trainers built once per session."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/reference.py


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-generated",
        action="store_true",
        help="rewrite generated/ from a fresh build instead of failing on a difference",
    )
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        help="rewrite tests/screenshots/ (the README's pictures) from a headless browser",
    )


@pytest.fixture(scope="session")
def update_generated(request: pytest.FixtureRequest) -> bool:
    """True when the golden files should be rewritten (flag or SYMBACKPROP_UPDATE_GENERATED=1)."""
    return bool(
        request.config.getoption("--update-generated")
        or os.environ.get("SYMBACKPROP_UPDATE_GENERATED") == "1"
    )


@pytest.fixture(scope="session")
def update_screenshots(request: pytest.FixtureRequest) -> bool:
    """True when the browser tests should rewrite tests/screenshots/ (the README's images)."""
    return bool(request.config.getoption("--update-screenshots"))


_TRAINERS: dict[tuple, types.ModuleType] = {}


def trainer_for(**fields: object) -> types.ModuleType:
    """Build (once per session) and import the generated trainer of a spec."""
    from symbackprop.emit.trainer import build_trainer, load_trainer
    from symbackprop.spec import default_spec, make_spec

    key = tuple(sorted(fields.items()))
    if key not in _TRAINERS:
        spec = make_spec(**fields) if fields else default_spec()
        _TRAINERS[key] = load_trainer(build_trainer(spec).source)
    return _TRAINERS[key]


@pytest.fixture(scope="session")
def default_trainer() -> types.ModuleType:
    """The generated trainer of the seed's 2-2-1 network."""
    return trainer_for()


def run_cli(
    *args: str, path: str | None = None, cwd: Path = ROOT, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`python -m symbackprop ARGS` in a child, output captured; `path` replaces $PATH (e.g. to
    hide bwrap)."""
    env = dict(os.environ) if path is None else {**os.environ, "PATH": path}
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )
