"""The documents' maths names: w^{(1)}_{12} for W1_1_2, Delta^{(2)} for dZ2, the layer outputs.

Numbered names (W1_1_2, z2_1) are made and read by spec/names.py. The per-unit formulas also
need entries with letter indices (W1_i_j, z2_k, x_j), which names.py does not make: `general`
below makes them and `symbol_tex` reads them back, and nothing else makes or reads them.
"""

from __future__ import annotations

import re

from ..derive import YHAT, Derivation, H, LayerRule, T, Z
from ..spec import names, registry

_PLACEHOLDERS = {Z.name: "z", H.name: "h", YHAT.name: r"\hat{y}", T.name: "y"}
_LETTER = {"W": "w", "b": "b", "z": "z", "h": "h", "delta": r"\delta"}
_PER_SAMPLE = ("x", "y", "yhat")  # one sample's vectors: no layer in their names
# the names `general` makes: W1_i_j, z2_k, delta2_k, x_j (each index a letter or a number),
# and Wl_i_j for an entry of any layer l (the L2 penalty's)
_GENERAL = re.compile(
    r"^(W|b|z|h|delta|x|y|yhat)(\d*|l)_([A-Za-z0-9]+)(?:_([A-Za-z0-9]+))?$"
)
_LETTER_NAME = re.compile(r"([A-Za-z])(?:_([A-Za-z0-9]+))?")


def general(kind: str, layer: int | str, *indices: str | int) -> str:
    """An entry with letter indices, for the per-unit formulas: ("W", 1, "i", "j") -> W1_i_j,
    ("x", 0, "j") -> x_j. Numbered entries come from names.py; the one it lacks, an error
    signal's (delta2_1, which `names.parse` reads), is made here with a number for the index."""
    return (kind if kind in _PER_SAMPLE else f"{kind}{layer}") + "".join(
        f"_{i}" for i in indices
    )


def _indices(*parts: str) -> str:
    """Subscripts as students write them: 12 for (1, 2), but 1,12 once an index has two digits."""
    parts = tuple(p for p in parts if p)
    return "".join(parts) if all(len(p) == 1 for p in parts) else ",".join(parts)


def _entry(kind: str, layer: int | str, indices: tuple[str, ...]) -> str:
    if kind in _PER_SAMPLE:
        return (r"\hat{y}" if kind == "yhat" else kind) + f"_{{{indices[0]}}}"
    return f"{_LETTER[kind]}^{{({layer})}}_{{{_indices(*indices)}}}"


def symbol_tex(name: str) -> str:
    """W1_1_2 -> w^{(1)}_{12}, b1_1 -> b^{(1)}_{1}, yhat_1 -> \\hat{y}_{1}, x_1 -> x_{1}."""
    if name in _PLACEHOLDERS:
        return _PLACEHOLDERS[name]
    parsed = names.parse(name)
    if parsed is not None and parsed.indices:
        return _entry(parsed.kind, parsed.layer, tuple(map(str, parsed.indices)))
    if (m := _GENERAL.match(name)) and (m.group(1) in _PER_SAMPLE) == (not m.group(2)):
        kind, layer, i, j = m.groups()
        return _entry(kind, layer, (i, j or ""))
    if m := _LETTER_NAME.fullmatch(name):  # an index (i, k, n, N) or a letter (L_n)
        return m.group(1) + (f"_{{{m.group(2)}}}" if m.group(2) else "")
    raise ValueError(f"no LaTeX name for symbol {name!r}")


def transposed(base: str, sup: str = "") -> str:
    """base^{sup T}: W, (2) -> W^{(2)\\top}; a composite base is put in \\bigl( \\bigr)
    (\\left( \\right) around a fraction)."""
    if sup or re.fullmatch(r"\\?[A-Za-z]+(\{[^{}]*\})?", base):
        return f"{base}^{{{sup}\\top}}"
    if r"\frac" in base:  # a fraction is taller than \bigl( ... \bigr)
        return rf"\left({base}\right)^{{\top}}"
    return rf"\bigl({base}\bigr)^{{\top}}"


_FIXED = {
    names.INPUTS: ("X", ""),
    names.TARGETS: ("Y", ""),
    names.OUTPUTS: (r"\hat{Y}", ""),
    "n": ("N", ""),
    "x": ("x", ""),
    "yhat": (r"\hat{y}", ""),
}
_LINKED = {names.OUTPUTS: (r"\tilde{Y}", ""), names.PREDICTION: (r"\hat{Y}", "")}
_BASE = {
    "W": "W",
    "b": "b",
    "Z": "Z",
    "H": "H",
    "dZ": r"\Delta",
    "z": "z",
    "h": "h",
    "delta": r"\delta",
}


def array_parts(name: str, link: bool = False, brackets: str = "()") -> tuple[str, str]:
    """The maths base and superscript of a trainer array: W1 -> (W, (1)), dZ2 -> (Delta, (2)).

    With a loss that has a link (softmax, sigmoid), the trainer's Y holds the logits and P the
    predictions; the document calls the predictions hat{Y}, as in the closed forms.
    """
    fixed = {**_FIXED, **_LINKED} if link else _FIXED
    if name in fixed:
        return fixed[name]
    parsed = names.parse(name)
    if parsed is None or parsed.indices or not parsed.layer:
        raise ValueError(f"no LaTeX name for array {name!r}")
    sup = f"{brackets[0]}{parsed.layer}{brackets[1]}"
    if parsed.kind in ("gW", "gb"):
        return rf"\partial\mathcal{{L}}/\partial {parsed.kind[1]}", sup
    return _BASE[parsed.kind], sup


def array_tex(
    name: str, link: bool = False, top: bool = False, brackets: str = "()"
) -> str:
    """The maths name of a trainer array or a per-layer vector: W1 -> W^{(1)}; top: W^{(1)T}."""
    base, sup = array_parts(name, link, brackets)
    if top:
        return transposed(base, sup)
    return f"{base}^{{{sup}}}" if sup else base


def partial(num: str, den: str, frac: str = r"\frac") -> str:
    """d num / d den as a fraction (`frac` \\tfrac for a small one inside a line)."""
    return rf"{frac}{{\partial {num}}}{{\partial {den}}}"


def has_link(d: Derivation) -> bool:
    """True when the loss applies a link (sigmoid, softmax) to the logits itself."""
    return registry.loss(d.spec.loss).link is not None


def direct_output_error(d: Derivation) -> bool:
    """True when the chain rule has no separate dyhat/dz factor at the output: the loss takes
    the logits (a link), or the output activation is over all outputs together (softmax)."""
    return has_link(d) or d.layers[-1].vector


def over_outputs(d: Derivation, rule: LayerRule) -> bool:
    """Whether a layer's output function reads every unit's z: a softmax output activation,
    or a logit loss's softmax link. Its entry i is then written softmax(z)_i, not of z_i."""
    if rule.index != len(d.layers):
        return False
    link = registry.loss(d.spec.loss).link
    return rule.vector or (
        link is not None and registry.activation(link).vector is not None
    )


def act_tex(rule: LayerRule) -> str:
    """A layer's activation function, as an operator name."""
    return registry.activation(rule.activation).latex


def layer_act_tex(d: Derivation, rule: LayerRule) -> str:
    """The function that gives a layer's output; for the last layer with a logit loss, the
    loss's link (the prediction yhat = link(z)), not the identity the layer itself applies."""
    link = registry.loss(d.spec.loss).link
    if link is not None and rule.index == len(d.layers):
        return registry.link_latex(link)
    return act_tex(rule)


def h_name(d: Derivation, layer: int, i: int | str) -> str:
    """The symbol name of unit i's output in `layer` (0: the input x, the last: yhat): names.py's
    entry for a unit number, a general entry (h1_j) for a letter."""
    depth = len(d.layers)
    if isinstance(i, int):
        return names.input_entry(i) if layer == 0 else names.h_entry(layer, i, depth)
    kind = "x" if layer == 0 else "yhat" if layer == depth else "h"
    return general(kind, layer, i)


def h_tex(d: Derivation, layer: int, i: int | str) -> str:
    """Unit i's output in `layer`, as maths."""
    return symbol_tex(h_name(d, layer, i))


def vec_h(d: Derivation, layer: int, top: bool = False) -> str:
    """A layer's output vector for one sample: x, h^{(l)} or yhat (transposed with `top`)."""
    if layer == 0:
        base, sup = "x", ""
    elif layer == len(d.layers):
        base, sup = r"\hat{y}", ""
    else:
        base, sup = "h", f"({layer})"
    if top:
        return transposed(base, sup)
    return f"{base}^{{{sup}}}" if sup else base
