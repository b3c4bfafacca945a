"""Derivation: everything derived once from a spec, handed to the printers and the checkers."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..spec import NetworkSpec
from .closed_forms import ScalarForms
from .program import Program, build_program
from .rules import LayerRule, penalty_rules


@dataclass(frozen=True)
class Derivation:
    """Everything the printers and the checkers need, derived once from a spec."""

    spec: NetworkSpec
    layers: tuple[LayerRule, ...]
    output_delta: sp.Expr  # d(sample loss)/d z_L, entrywise, in z, yhat and y
    program: Program  # forward, loss and backward in the rows layout
    scalar: ScalarForms | None  # None past SCALAR_LIMIT (vectorized route only)
    proof: str  # how the vectorized form was proven (completed by proof.prove_module)
    output_delta_raw: sp.Expr  # the same before SymPy simplified it, in z, y
    notes: tuple[str, ...] = field(default=())
    seconds: float = 0.0
    # (entries proven, entries in all) when the symbolic proof ran; None otherwise
    symbolic: tuple[int, int] | None = None
    # why the closed forms were skipped ("203530 parameters > 300"), or "" when kept
    too_large: str = ""
    # why, as a word: "penalty", "parameters" (too many) or "size" (too long); "" when kept
    skipped: str = ""
    # d(sample loss)/d yhat, entrywise in YHAT and T; None for a loss with a link
    loss_slope: sp.Expr | None = None
    _programs: dict[tuple[str, frozenset[int]], Program] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def route(self) -> str:
        """'scalar+vectorized' when closed forms are kept, else 'vectorized'."""
        return "scalar+vectorized" if self.scalar is not None else "vectorized"

    def program_for(
        self, layout: str = "rows", unmasked: frozenset[int] = frozenset()
    ) -> Program:
        """The Program in a layout, or a mistake model with some act'(Z) left out."""
        if layout == self.program.layout and not unmasked:
            return self.program
        key = (layout, unmasked)
        if key not in self._programs:  # built once per layout and mistake model
            self._programs[key] = self._build(layout, unmasked)
        return self._programs[key]

    def _build(self, layout: str, unmasked: frozenset[int]) -> Program:
        return build_program(
            self.layers,
            self.output_delta,
            self.spec.loss,
            self.spec.reduction,
            layout,
            unmasked,
            penalty_rules(self.spec.l2),
        )
