"""The blank answer file of `check-formulas --template`, printed from the derivation.

Every entry line is a parameter symbol of the derivation (named by spec/names.py), the forward
pass is printing/plain.py's, and the functions are the grammar's and the registry's.
"""

from __future__ import annotations

from typing import NamedTuple

import sympy as sp

from ...printing.plain import forward_math
from ...spec import NetworkSpec, names, registry
from . import EXIT_CODES
from .check import scalar_derivation, vocabulary
from .report import network_line
from .vocab import MATH_FUNCTIONS


class Template(NamedTuple):
    """The fill-in file's text and the entries it lists, in order."""

    text: str
    entries: list[str]


def template(
    spec: NetworkSpec, check_command: str = "symbackprop check-formulas"
) -> Template:
    """A fill-in answer file: every entry of the spec, and the notation, as comments."""
    derivation = scalar_derivation(spec)
    vocab = vocabulary(derivation)
    loss = registry.loss(spec.loss)
    one_hidden = spec.depth == 2
    per_batch = (
        "the sum of these over the samples (reduction sum)"
        if spec.reduction == "sum"
        else "the average of these over the N samples (reduction mean)"
    )
    x, y, yhat = vocab.inputs, vocab.targets, vocab.h[-1]
    # softmax has no per-entry form: the output error is written with yhat
    activations = [registry.activation(a) for a in registry.entrywise_names()]
    sloped = [
        a for a in dict.fromkeys(spec.activations) if registry.activation(a).uses_alpha
    ]
    lines = [
        f"# symbackprop check-formulas answer file for {network_line(spec)}",
        f"# loss {spec.loss}: {loss.description}",
        "#",
        "# After each `=`, write the derivative of ONE sample's loss L with respect to that",
        f"# parameter entry: the formulas are per sample. The batch gradient is {per_batch};",
        "# do not write the sum over samples or a 1/N yourself.",
        "#",
        "# Notation (plain text, Python-like):",
        f"#   {_span(x)}  inputs;  {_span(y)}{' (or y)' if len(y) == 1 else ''}  targets;  "
        f"{_span(yhat)}{' (or yhat)' if len(yhat) == 1 else ''}  network outputs",
        "#   Wl_i_j  weight of layer l from input j to unit i (row i, column j of Wl);"
        " also wl_ij, e.g. w2_12",
        "#   bl_i    bias of unit i of layer l",
        "#   zl_i, hl_i  pre-activation and activation of unit i of layer l"
        + ("; with one hidden layer also z_i, h_i" if one_hidden else ""),
        "#   forward pass (one sample):",
        *(f"#     {line}" for line in forward_math(derivation)),
        "#   relu(z) = max(z, 0);  step(z) = 1 if z > 0 else 0 = relu'(z)"
        " (also written (z > 0) or heaviside(z))",
        "#   activations: "
        + ", ".join("/".join(a.names) for a in activations)
        + ";  a prime is the derivative, e.g. relu'(z)",
        "#   also " + ", ".join(MATH_FUNCTIONS) + ";  where(z > 0, a, b) is a if z > 0"
        " else b",
        "#   + - * / ( );  powers with ** (whole numbers up to 10, or 0.5); not ^"
        + (
            f";  alpha = {spec.alpha} (the slope of {', '.join(sloped)})"
            if sloped
            else ""
        ),
        "# LaTeX is read too: a line with a backslash or a brace, or every line after"
        " `format = latex`:",
        r"#   (\hat{y}-y)\,w^{(2)}_{12}\,\mathbb{1}[z_2>0]\,x_1   \frac{a}{b}  \cdot  \times"
        r"  \max(z,0)  \exp  \log",
        "#   " + "  ".join(f"{a.latex}(z)" for a in activations),
        "# A line is `dL/dW1_1_2 = formula`, `dW1_1_2 = formula` or `W1_1_2: formula`;"
        " # starts a comment.",
        f"# Check it:  {check_command} FILE   (exit codes: {EXIT_CODES})",
    ]
    for n in range(1, spec.depth + 1):
        W, b = vocab.params[names.weight(n)], vocab.params[names.bias(n)]
        lines += [
            "",
            f"# layer {n}: {names.weight(n)} is {W.rows} x {W.cols} (units x inputs), "
            f"{names.bias(n)} has {W.rows} entr{'y' if W.rows == 1 else 'ies'}",
        ]
        lines += [f"dL/d{s} = " for s in [*W, *b]]
    entries = [s.name for s in vocab.entries]
    return Template("\n".join(lines) + "\n", entries)


def _span(symbols: tuple[sp.Symbol, ...]) -> str:
    """`x_1..x_3`, or the one name."""
    return symbols[0].name if len(symbols) == 1 else f"{symbols[0]}..{symbols[-1]}"
