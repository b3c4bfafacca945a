"""What to derive: the network spec, its sources (TOML, flags), its limits, names, registry."""

from __future__ import annotations

from . import limits
from .load import SPEC_KEYS, load_toml, resolve
from .model import (
    DEFAULT,
    Matrix,
    NetworkSpec,
    Vector,
    check_document_size,
    default_spec,
    make_spec,
    parameter_count,
    validate,
)

__all__ = [
    "DEFAULT",
    "SPEC_KEYS",
    "Matrix",
    "NetworkSpec",
    "Vector",
    "check_document_size",
    "default_spec",
    "limits",
    "load_toml",
    "make_spec",
    "parameter_count",
    "resolve",
    "validate",
]
