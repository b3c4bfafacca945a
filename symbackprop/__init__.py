"""symbackprop: SymPy derives a network's gradients; we emit a NumPy trainer, a LaTeX
derivation, and check a student's backprop against them.

`import symbackprop` stays light: SymPy is imported only by the functions that need it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "default_spec", "derive", "emit_trainer", "load_trainer"]


def __getattr__(name: str) -> object:
    """PEP 562: the public API, imported lazily so `symbackprop --help` is instant."""
    if name == "default_spec":
        from .spec import default_spec

        return default_spec
    if name == "derive":
        from .derive import derive

        return derive
    if name in ("emit_trainer", "load_trainer"):
        from .emit import trainer as codegen

        return getattr(codegen, name)
    raise AttributeError(f"module 'symbackprop' has no attribute {name!r}")
