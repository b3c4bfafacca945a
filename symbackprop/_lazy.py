"""A module imported on first attribute access, so registries can name SymPy without importing it.

`symbackprop --help` lists the activation and loss names from the registries; those must not pull
in SymPy (about 0.5 s) just to be listed.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule:
    """Stands in for a module until one of its attributes is used."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: types.ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


sympy = LazyModule("sympy")
