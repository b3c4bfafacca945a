"""derive(spec): the entrywise rules, the Program, and the closed forms while they stay small."""

from __future__ import annotations

import time

import sympy as sp

from ..spec import NetworkSpec, registry
from .closed_forms import (
    SCALAR_COST_LIMIT,
    SCALAR_LIMIT,
    SYMBOLIC_PROOF_COST,
    closed_form_cost,
    keeps_closed_forms,
    scalar_forms,
)
from .derivation import Derivation
from .program import build_program
from .proof import prove_symbolic, proxy_specs
from .rules import layer_rule, loss_slope, output_delta, penalty_rules


def derive(spec: NetworkSpec, closed_forms: bool | None = None) -> Derivation:
    """Derive `spec`: entrywise rules and the Program always, closed forms while they stay small.

    `closed_forms=False` keeps only the vectorized route whatever the size (tests use it to
    exercise many specs quickly); None decides by size.
    """
    start = time.perf_counter()
    rules = tuple(layer_rule(i, spec) for i in range(1, spec.depth + 1))
    delta_raw, delta = output_delta(spec)
    link = registry.loss(spec.loss).link
    penalty = penalty_rules(spec.l2)
    program = build_program(rules, delta, spec.loss, spec.reduction, penalty=penalty)
    if penalty is not None:
        closed_forms = False  # the scalar closed forms do not carry the penalty
    notes: tuple[str, ...] = ()
    symbolic: tuple[int, int] | None = None
    why = skipped = ""
    if closed_forms if closed_forms is not None else keeps_closed_forms(spec):
        scalar = scalar_forms(spec, rules, program)
        # expand decides equality for these; exp/log forms go to the numeric proof
        algebraic = link is None and not any(
            r.vector or r.forward.has(sp.exp, sp.log) for r in rules
        )
        if closed_form_cost(spec) <= SYMBOLIC_PROOF_COST and algebraic:
            proven, total = symbolic = prove_symbolic(spec, program, scalar)
            proof = (
                f"symbolic: {'all ' if proven == total else ''}{proven} of {total} gradient "
                "entries of the vectorized form expand to SymPy's closed forms"
            )
        else:
            proof = "numeric"
    else:
        scalar = None
        proxies = proxy_specs(spec)
        skipped = (
            "penalty"
            if penalty is not None
            else "parameters"
            if spec.param_count > SCALAR_LIMIT
            else "size"
        )
        why = {
            "penalty": "an L2 penalty (the scalar closed forms do not carry it)",
            "parameters": f"{spec.param_count} parameters > {SCALAR_LIMIT}",
            "size": f"closed forms of size ~{closed_form_cost(spec):,} > "
            f"{SCALAR_COST_LIMIT:,} (they grow with the product of the widths)",
        }[skipped]
        notes = (
            f"{why}: scalar closed forms skipped, keeping only the vectorized route; its "
            "per-layer rules are proven on the "
            + ", ".join("-".join(map(str, p.layers)) for p in proxies)
            + (" proxy" if len(proxies) == 1 else " proxies"),
        )
        proof = "proxy"
    return Derivation(
        spec=spec,
        layers=rules,
        output_delta=delta,
        program=program,
        scalar=scalar,
        proof=proof,
        output_delta_raw=delta_raw,
        notes=notes,
        seconds=time.perf_counter() - start,
        symbolic=symbolic,
        too_large=why,
        skipped=skipped,
        loss_slope=loss_slope(spec),
    )
