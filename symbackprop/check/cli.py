"""Arguments and entry points of `check-code` and `check-formulas` (placeholder)."""

from __future__ import annotations

import argparse

from ..errors import UserError


def add_check_code_arguments(p: argparse.ArgumentParser) -> None:
    """Define check-code's arguments (no heavy imports here)."""
    p.add_argument("file")


def run_check_code(args: argparse.Namespace) -> int:
    """Run check-code; returns the exit code."""
    raise UserError("check-code is not implemented yet")
