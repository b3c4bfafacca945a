"""Coursework checking: a student's backprop code and formulas against the derivation.

`check_code(path, ...)` returns check-code's JSON report; `run_check` adds the context the
human-readable output shows and `format_human` prints it. Imported lazily (PEP 562), so
`symbackprop --help` stays instant.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_code", "run_check", "check_callables", "format_human"]


def __getattr__(name: str) -> Any:
    if name in ("check_code", "run_check", "check_callables"):
        from .code import core

        return getattr(core, name)
    if name == "format_human":
        from .code.report import format_human

        return format_human
    raise AttributeError(f"module 'symbackprop.check' has no attribute {name!r}")
