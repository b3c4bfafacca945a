"""Arguments and entry point of `check-formulas` (placeholder)."""

from __future__ import annotations

import argparse

from ..errors import UserError


def add_check_formulas_arguments(p: argparse.ArgumentParser) -> None:
    """Define check-formulas' arguments (no heavy imports here)."""
    p.add_argument("file", nargs="?")


def run_check_formulas(args: argparse.Namespace) -> int:
    """Run check-formulas; returns the exit code."""
    raise UserError("check-formulas is not implemented yet")
