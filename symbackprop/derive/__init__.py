"""Derive a network with SymPy: entrywise rules, one vectorized Program, closed forms, proof.

Nothing here is typed in by hand: every derivative is `sympy.diff` of the spec's forward pass
and loss. The Program (program.py) is the one backprop recursion every output prints from; it is
proven equal to the closed forms symbolically here and, run as emitted code, numerically
before any trainer is written (proof.py).

The names below are imported on first use: `derive.program` and `derive.evaluate` run without
SymPy (check-code's shipped reference), so importing this package must not pull it in.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import DerivationError

# each name -> the module it lives in
_HOME = {
    "SCALAR_COST_LIMIT": "closed_forms",
    "SCALAR_LIMIT": "closed_forms",
    "ScalarForms": "closed_forms",
    "closed_form_cost": "closed_forms",
    "keeps_closed_forms": "closed_forms",
    "Derivation": "derivation",
    "derive": "network",
    "Program": "program",
    "proxy_specs": "proof",
    "HEAVISIDE_AT_ZERO": "rules",
    "YHAT": "rules",
    "H": "rules",
    "LayerRule": "rules",
    "T": "rules",
    "Z": "rules",
    "activation_rule": "rules",
    "apply_step_convention": "rules",
    "in_terms_of": "rules",
}

__all__ = ["DerivationError", *_HOME]


def __getattr__(name: str) -> Any:
    """A name of the package, imported from its module on first use."""
    home = _HOME.get(name)
    if home is None:  # a submodule (evaluate, program, ...): the import system loads it
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
