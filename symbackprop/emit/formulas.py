"""The derivation's display equations, printed from SymPy: forward, loss, chain rule, deltas.

Each function returns Display rows (LaTeX maths, which MathJax reads as well); remarks and
sentences are printed by the target's Writer (LaTeX text or Markdown), never converted later.
"""

from __future__ import annotations

import sympy as sp

from ..derive import YHAT, Derivation, H, LayerRule, T, Z
from ..printing.latex import broken, tex
from ..printing.notation import (
    act_tex,
    h_name,
    h_tex,
    has_link,
    layer_act_tex,
    partial,
    symbol_tex,
    vec_h,
)
from ..printing.prose import Code, Math, Writer
from ..printing.tex import LINE_WIDTH, Display, continued, escape_tex, pack
from ..spec import registry

# Per-element closed forms, per-unit equations and per-unit error signals are printed up to
# this many parameters (the symbolic-proof limit); past it the per-layer general forms say it
# all, and pages of near-identical formulas would not.
ELEMENT_LIMIT = 40


def elementwise(d: Derivation) -> bool:
    """True when the document writes every unit and every parameter out."""
    return d.scalar is not None and d.spec.param_count <= ELEMENT_LIMIT


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _range(w: Writer, index: str, n: int) -> str:
    """i = 1, ..., n as a remark (just i = 1 for a single unit)."""
    return w.remark(Math(f"{index} = 1" if n == 1 else f"{index} = 1, \\dots, {n}"))


def activation_defs(d: Derivation) -> tuple[Display, ...]:
    """act(z) = ... for each activation of the network, once."""
    seen: dict[str, Display] = {}
    for rule in d.layers:
        if rule.activation not in seen:
            seen[rule.activation] = Display(f"{act_tex(rule)}(z)", (tex(rule.forward),))
    return tuple(seen.values())


def forward_general(d: Derivation, w: Writer) -> tuple[Display, ...]:
    """z_i = sum_j w_ij h_j + b_i and h_i = act(z_i), per layer."""
    out = []
    j = sp.Symbol("j", integer=True, positive=True)
    for rule in d.layers:
        k = rule.index
        prev = _sym(h_name(d, k - 1, "j"))
        total = sp.Sum(_sym(f"W{k}_i_j") * prev, (j, 1, rule.fan_in))
        out.append(
            Display(
                symbol_tex(f"z{k}_i"),
                (tex(total) + " + " + symbol_tex(f"b{k}_i"),),
                _range(w, "i", rule.units),
            )
        )
        act = f"{layer_act_tex(d, rule)}({symbol_tex(f'z{k}_i')})"
        out.append(Display(symbol_tex(h_name(d, k, "i")), (act,)))
    return tuple(out)


def forward_vector(d: Derivation) -> tuple[Display, ...]:
    """z = W h + b and h = act(z) for one sample, as a column."""
    out = []
    for rule in d.layers:
        k = rule.index
        z = f"z^{{({k})}}"
        out.append(Display(z, (f"W^{{({k})}} {vec_h(d, k - 1)} + b^{{({k})}}",)))
        out.append(Display(vec_h(d, k), (f"{layer_act_tex(d, rule)}({z})",)))
    return tuple(out)


def forward_units(d: Derivation) -> tuple[Display, ...]:
    """Every unit's z and h written out with this network's own symbols."""
    if not elementwise(d):
        return ()
    assert d.scalar is not None
    s = d.scalar
    out = []
    for rule in d.layers:
        k = rule.index
        W, b = s.params[f"W{k}"], s.params[f"b{k}"]
        for i in range(rule.units):
            terms = [
                f"{tex(W[i, m])} {h_tex(d, k - 1, str(m + 1))}"
                for m in range(rule.fan_in)
            ]
            chunks = [terms[0]] + [f"+ {t}" for t in terms[1:]] + [f"+ {tex(b[i])}"]
            out.append(Display(tex(s.z[k - 1][i]), continued(pack(chunks, LINE_WIDTH))))
        link = registry.loss(d.spec.loss).link_expr if k == len(d.layers) else None
        for i in range(rule.units):
            z = s.z[k - 1][i]
            if link is not None:  # the loss's link gives the prediction yhat
                hz = link(list(s.z[k - 1]))[i]
            else:
                hz = rule.forward.xreplace({Z: z})
            shown = f"{layer_act_tex(d, rule)}({tex(z)}) = {tex(hz)}"
            out.append(Display(tex(s.h[k - 1][i]), (shown,)))
    return tuple(out)


def loss(d: Derivation, w: Writer) -> tuple[Display, Display, str]:
    """The sample loss, the batch loss, and the sentence naming the loss and its reduction."""
    spec = d.spec
    entry = registry.loss(spec.loss)
    n_out, L = spec.layers[-1], len(d.layers)
    # a loss with a link reads the logits z^(L); any other reads the outputs yhat
    out_name = (lambda k: f"z{L}_{k}") if has_link(d) else (lambda k: f"yhat_{k}")
    yh = [_sym(out_name(k)) for k in range(1, n_out + 1)]
    ys = [_sym(f"y_{k}") for k in range(1, n_out + 1)]
    full = entry.expr(yh, ys)
    k = sp.Symbol("k", integer=True, positive=True)
    one = entry.expr([_sym(out_name("k"))], [_sym("y_k")])
    summed = sp.Add(
        *[
            one.xreplace({_sym(out_name("k")): a, _sym("y_k"): b})
            for a, b in zip(yh, ys, strict=True)
        ]
    )
    separable = sp.expand(summed - full) == 0
    if separable and n_out > 3:
        rhs: tuple[str, ...] = (tex(sp.Sum(one, (k, 1, n_out))),)
    elif n_out <= 6:
        rhs = continued(broken(full))
    else:
        rhs = (r"\text{" + escape_tex(entry.description) + "}",)
    n = sp.Symbol("n", integer=True, positive=True)
    N = sp.Symbol("N", integer=True, positive=True)
    batch_tex = tex(sp.Sum(sp.Symbol("L_n"), (n, 1, N)))
    if spec.reduction == "mean":
        batch_tex = r"\frac{1}{N} " + batch_tex
    remark = w.remark(Math("L_n"), ": the loss of sample ", Math("n"))
    batch = Display(r"\mathcal{L}", (batch_tex,), remark)
    if spec.reduction == "sum":
        what = w.text(f"{entry.description}; the batch loss sums it over the samples")
    else:
        what = w.text(
            f"{entry.description}; the batch loss averages it over the samples, so every "
            "gradient carries a factor ",
            Math("1/N"),
        )
    return Display("L", rhs), batch, what


def local(d: Derivation, w: Writer) -> tuple[Display, ...]:
    """Every factor the chain rule multiplies, each obtained with sympy.diff and named."""
    spec = d.spec
    L = len(d.layers)
    out = []
    entry = registry.loss(spec.loss)
    n_out = spec.layers[-1]
    yh = [_sym(f"yhat_{k}") for k in range(1, n_out + 1)]
    ys = [_sym(f"y_{k}") for k in range(1, n_out + 1)]
    if has_link(d):
        delta = d.output_delta.xreplace(
            {Z: _sym(f"z{L}_k"), YHAT: _sym("yhat_k"), T: _sym("y_k")}
        )
        remark = w.remark(f"loss through its {entry.link}, output ", Math("k"))
        out.append(Display(partial("L", symbol_tex(f"z{L}_k")), (tex(delta),), remark))
    else:
        dloss = sp.diff(entry.expr(yh, ys), yh[0]).xreplace(
            {yh[0]: _sym("yhat_k"), ys[0]: _sym("y_k")}
        )
        remark = w.remark("loss, output ", Math("k"))
        out.append(Display(partial("L", symbol_tex("yhat_k")), (tex(dloss),), remark))
    for rule in reversed(d.layers):
        k = rule.index
        if k == L and has_link(d):
            continue  # the logits feed the loss directly
        unit = "k" if k == L else "i"
        z = _sym(f"z{k}_{unit}")
        h = _sym(h_name(d, k, unit))
        deriv = rule.derivative.xreplace({Z: z, H: h})
        where = "output layer" if k == L else f"layer {k}"
        out.append(
            Display(
                partial(tex(h), tex(z)),
                (f"{act_tex(rule)}'({tex(z)}) = {tex(deriv)}",),
                w.remark(f"activation ({rule.activation}), {where}"),
            )
        )
    for rule in d.layers:
        out += _local_linear(d, rule, w)
    return tuple(out)


def _local_linear(d: Derivation, rule: LayerRule, w: Writer) -> list[Display]:
    """d z_i / d w_ij, d z_i / d b_i and d z_i / d h_j, by sympy.diff of unit 1's sum."""
    k = rule.index
    i, j = 1, rule.fan_in
    prev = [_sym(h_name(d, k - 1, str(m))) for m in range(1, rule.fan_in + 1)]
    weights = [_sym(f"W{k}_{i}_{m}") for m in range(1, rule.fan_in + 1)]
    z = sp.Add(*[a * b for a, b in zip(weights, prev, strict=True)], _sym(f"b{k}_{i}"))
    general = {prev[j - 1]: _sym(h_name(d, k - 1, "j"))}
    dw = sp.diff(z, weights[j - 1]).xreplace(general)
    db = sp.diff(z, _sym(f"b{k}_{i}"))
    dh = sp.diff(z, prev[j - 1]).xreplace({weights[j - 1]: _sym(f"W{k}_i_j")})
    zi = symbol_tex(f"z{k}_i")
    out = [
        Display(
            partial(zi, symbol_tex(f"W{k}_i_j")),
            (tex(dw),),
            w.remark(f"weight, layer {k}"),
        ),
        Display(
            partial(zi, symbol_tex(f"b{k}_i")), (tex(db),), w.remark(f"bias, layer {k}")
        ),
    ]
    if k > 1:
        out.append(
            Display(
                partial(zi, h_tex(d, k - 1, "j")),
                (tex(dh),),
                w.remark(f"layer {k - 1} into layer {k}"),
            )
        )
    return out


def _output_delta(d: Derivation, unit: str) -> sp.Expr:
    L = len(d.layers)
    return d.output_delta.xreplace(
        {Z: _sym(f"z{L}_{unit}"), YHAT: _sym(f"yhat_{unit}"), T: _sym(f"y_{unit}")}
    )


def deltas(d: Derivation, w: Writer) -> tuple[tuple[Display, ...], tuple[Display, ...]]:
    """The error signals: per layer in general, and (small networks) per unit."""
    L = len(d.layers)
    general, units = [], []
    chain = partial("L", symbol_tex(f"z{L}_k"))
    if not has_link(d):
        chain += (
            " = "
            + partial("L", symbol_tex("yhat_k"))
            + partial(symbol_tex("yhat_k"), symbol_tex(f"z{L}_k"))
        )
    general.append(
        Display(
            symbol_tex(f"delta{L}_k"),
            (chain, "= " + tex(_output_delta(d, "k"))),
            _range(w, "k", d.layers[-1].units),
        )
    )
    k = sp.Symbol("k", integer=True, positive=True)
    small = elementwise(d)
    if small:
        for unit in range(1, d.layers[-1].units + 1):
            units.append(
                Display(
                    symbol_tex(f"delta{L}_{unit}"), (tex(_output_delta(d, str(unit))),)
                )
            )
    for rule in reversed(d.layers[:-1]):
        n = rule.index
        above = d.layers[n]
        deriv = rule.derivative.xreplace(
            {Z: _sym(f"z{n}_i"), H: _sym(h_name(d, n, "i"))}
        )
        total = sp.Sum(
            _sym(f"W{n + 1}_k_i") * _sym(f"delta{n + 1}_k"), (k, 1, above.units)
        )
        chain = (
            rf"\sum_{{k=1}}^{{{above.units}}} "
            + partial("L", symbol_tex(f"z{n + 1}_k"))
            + partial(symbol_tex(f"z{n + 1}_k"), symbol_tex(h_name(d, n, "i")))
            + partial(symbol_tex(h_name(d, n, "i")), symbol_tex(f"z{n}_i"))
        )
        general.append(
            Display(
                symbol_tex(f"delta{n}_i"),
                (chain, "= " + tex(sp.Mul(total, deriv, evaluate=False))),
                _range(w, "i", rule.units),
            )
        )
        if small:
            for i in range(1, rule.units + 1):
                zs = _sym(f"z{n}_{i}")
                di = rule.derivative.xreplace({Z: zs, H: _sym(h_name(d, n, str(i)))})
                s = sp.Add(
                    *[
                        _sym(f"W{n + 1}_{m}_{i}") * _sym(f"delta{n + 1}_{m}")
                        for m in range(1, above.units + 1)
                    ]
                )
                units.append(
                    Display(symbol_tex(f"delta{n}_{i}"), continued(broken(s * di)))
                )
    return tuple(general), tuple(units)


def chain(d: Derivation) -> tuple[Display, ...]:
    """dL/dw_ij = delta_i h_j and dL/db_i = delta_i, per layer."""
    out = []
    for rule in d.layers:
        k = rule.index
        zi = symbol_tex(f"z{k}_i")
        hj = h_tex(d, k - 1, "j")
        wij, bi = symbol_tex(f"W{k}_i_j"), symbol_tex(f"b{k}_i")
        delta = symbol_tex(f"delta{k}_i")
        out.append(
            Display(
                partial("L", wij),
                (partial("L", zi) + partial(zi, wij) + f" = {delta} {hj}",),
            )
        )
        out.append(
            Display(
                partial("L", bi), (partial("L", zi) + partial(zi, bi) + f" = {delta}",)
            )
        )
    return tuple(out)


def closed_forms(d: Derivation) -> tuple[Display, ...]:
    """SymPy's closed form of every parameter's gradient, broken into display lines."""
    if not elementwise(d):
        return ()
    assert d.scalar is not None
    out = []
    for name in d.spec.param_names:
        for entry, sym in zip(
            d.scalar.readable[name], d.scalar.params[name], strict=True
        ):
            lines = continued(broken(sp.factor_terms(entry)))
            out.append(Display(partial("L", tex(sym)), lines))
    return tuple(out)


def backward_vector(d: Derivation) -> tuple[Display, ...]:
    """Per sample, in matrix form (the batch version is the trainer's code)."""
    L = len(d.layers)
    delta = tex(d.output_delta, {Z: f"z^{{({L})}}", YHAT: r"\hat{y}", T: "y"})
    out = [Display(rf"\delta^{{({L})}}", (delta,))]
    for rule in reversed(d.layers):
        k = rule.index
        grad = rf"\delta^{{({k})}} {vec_h(d, k - 1, top=True)}"
        out.append(Display(partial("L", f"W^{{({k})}}"), (grad,)))
        out.append(Display(partial("L", f"b^{{({k})}}"), (rf"\delta^{{({k})}}",)))
        if k > 1:
            below = d.layers[k - 2]
            factor = tex(
                below.derivative, {Z: f"z^{{({k - 1})}}", H: f"h^{{({k - 1})}}"}
            )
            rhs = rf"W^{{({k})\top}} \delta^{{({k})}}"
            if below.derivative != 1:
                rhs = rf"\bigl({rhs}\bigr) \odot {factor}"
            out.append(Display(rf"\delta^{{({k - 1})}}", (rhs,)))
    return tuple(out)


def step_convention(d: Derivation, w: Writer) -> str:
    """The value at z = 0 of every activation whose derivative jumps there (ReLU: 0)."""
    out = []
    seen = set()
    for rule in d.layers:
        if rule.activation in seen or not rule.derivative.has(
            sp.Heaviside, sp.Piecewise
        ):
            continue
        seen.add(rule.activation)
        at_zero = rule.derivative.xreplace({Z: sp.Integer(0), H: sp.Integer(0)})
        name = act_tex(rule)
        spans = [
            Math(name),
            " has no derivative at ",
            Math("z = 0"),
            " (its slope jumps there). This document, SymPy and the trainer all take ",
            Math(f"{name}'(0) = {tex(sp.nsimplify(at_zero))}"),
        ]
        if rule.derivative.has(sp.Heaviside):
            spans += [
                ": ",
                Math(r"\mathbf{1}[z > 0]"),
                " is 1 for ",
                Math("z > 0"),
                " and 0 for ",
                Math(r"z \le 0"),
                ". SymPy was told so explicitly (",
                Code("Heaviside(z, 0)"),
                "; its default would give ",
                Math("1/2"),
                "), and the trainer computes it as ",
                Code("(Z > 0)"),
                ".",
            ]
        else:
            spans.append(".")
        out.append(w.text(*spans))
    return " ".join(out)
