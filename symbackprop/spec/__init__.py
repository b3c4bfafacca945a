"""What to derive: the network spec, its sources (TOML, flags), names and the registry."""

from __future__ import annotations

from .load import SPEC_KEYS, load_toml, resolve
from .model import (
    DEFAULT,
    Matrix,
    NetworkSpec,
    Vector,
    default_spec,
    make_spec,
    validate,
)

__all__ = [
    "DEFAULT",
    "SPEC_KEYS",
    "Matrix",
    "NetworkSpec",
    "Vector",
    "default_spec",
    "load_toml",
    "make_spec",
    "resolve",
    "validate",
]
