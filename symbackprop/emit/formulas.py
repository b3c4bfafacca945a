"""The derivation's display equations, printed from SymPy: forward, loss, chain rule, deltas.

Each function returns Display rows (LaTeX maths, which MathJax reads as well); remarks and
sentences are printed by the target's Writer (LaTeX text or Markdown), never converted later.
The recursion is the Program's: the vector forms print its columns-layout steps for one
sample, the per-unit forms are its steps' entries or its steps run on one sample's symbols
(unit_forms.py).
"""

from __future__ import annotations

import sympy as sp

from ..derive import HEAVISIDE_AT_ZERO, YHAT, Derivation, H, LayerRule, T, Z
from ..derive import program as P
from ..derive.rules import W
from ..printing.latex import SampleLatexPrinter, broken, tex
from ..printing.notation import (
    act_tex,
    direct_output_error,
    general,
    h_name,
    h_tex,
    has_link,
    layer_act_tex,
    over_outputs,
    partial,
    symbol_tex,
)
from ..printing.numpy import numpy_expr
from ..printing.prose import Code, Math, Span, Writer
from ..printing.tex import LINE_WIDTH, Display, continued, escape_tex, pack
from ..spec import names, registry
from . import unit_forms

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
    """act(z) = ... for each activation of the network, once; none that only restates its
    name (tanh(z) = tanh(z))."""
    seen: dict[str, Display] = {}
    for rule in d.layers:
        f = rule.forward
        named = isinstance(f, sp.Function) and len(f.args) == 1 and f.args[0].is_Symbol
        if rule.activation not in seen and not named:
            seen[rule.activation] = Display(f"{act_tex(rule)}(z)", (tex(f),))
    return tuple(seen.values())


def forward_general(d: Derivation, w: Writer) -> tuple[Display, ...]:
    """z_i = sum_j w_ij h_j + b_i (the Program's Z step, entry i) and h_i = act(z_i)."""
    prog = d.program_for("columns")
    entries = unit_forms.Entries(d, summed="j")
    out = []
    for rule in d.layers:
        k = rule.index
        step = prog.step(names.pre_activation(k)).expr
        # the weighted sum, then the bias, as the Program's step adds them
        assert isinstance(step, P.AddBias)
        z = tex(entries.of(step.arg, "i")) + " + " + tex(entries.of(step.bias, "i"))
        zi = symbol_tex(general("z", k, "i"))
        out.append(Display(zi, (z,), _range(w, "i", rule.units)))
        act = f"{layer_act_tex(d, rule)}({zi})"
        if over_outputs(d, rule):
            act = f"{layer_act_tex(d, rule)}(z^{{({k})}})_{{i}}"
        out.append(Display(h_tex(d, k, "i"), (act,)))
    return tuple(out)


def _sample_printer(d: Derivation) -> SampleLatexPrinter:
    return SampleLatexPrinter(len(d.layers), link=has_link(d))


def forward_vector(d: Derivation) -> tuple[Display, ...]:
    """z = W h + b and h = act(z) for one sample: the columns-layout Program's forward steps.

    With a link the logits are z^(L) itself (the output layer is the identity), so the step
    that copies them is not shown: yhat = link(z^(L)) follows z^(L)."""
    p = _sample_printer(d)
    prog = d.program_for("columns")
    shown = [s for s in prog.forward if not (has_link(d) and s.name == names.OUTPUTS)]
    return tuple(Display(p.name(s.name), (p.expr(s.expr).latex,)) for s in shown)


def forward_units(d: Derivation) -> tuple[Display, ...]:
    """Every unit's z and h written out with this network's own symbols."""
    if not elementwise(d):
        return ()
    assert d.scalar is not None
    s = d.scalar
    out = []
    for rule in d.layers:
        k = rule.index
        W, b = s.params[names.weight(k)], s.params[names.bias(k)]
        for i in range(rule.units):
            terms = [
                f"{tex(W[i, m])} {h_tex(d, k - 1, str(m + 1))}"
                for m in range(rule.fan_in)
            ]
            chunks = [terms[0]] + [f"+ {t}" for t in terms[1:]] + [f"+ {tex(b[i])}"]
            out.append(Display(tex(s.z[k - 1][i]), continued(pack(chunks, LINE_WIDTH))))
        link = registry.loss(d.spec.loss).link_expr if k == len(d.layers) else None
        link = registry.activation(rule.activation).vector or link
        for i in range(rule.units):
            z = s.z[k - 1][i]
            if (
                link is not None
            ):  # the link (or softmax output) gives the prediction yhat
                hz = link(list(s.z[k - 1]))[i]
            else:
                hz = rule.forward.xreplace({Z: z})
            shown = f"{layer_act_tex(d, rule)}({tex(z)}) = {tex(hz)}"
            if over_outputs(d, rule):
                shown = f"{layer_act_tex(d, rule)}(z^{{({k})}})_{{{i + 1}}} = {tex(hz)}"
            out.append(Display(tex(s.h[k - 1][i]), (shown,)))
    return tuple(out)


def _per_output(full: sp.Expr, first: set[sp.Symbol]) -> sp.Expr:
    """The terms of `full` that read output 1's symbols only (output 1's share of the loss)."""
    return sp.Add(*[t for t in sp.Add.make_args(full) if t.free_symbols <= first])


def _sum_tex(one: sp.Expr, k: sp.Symbol, n_out: int) -> str:
    """sum_k one, the sign pulled out: -sum_k y_k log yhat_k rather than sum_k (-y_k ...)."""
    if one.could_extract_minus_sign():
        return "-" + tex(sp.Sum(-one, (k, 1, n_out)))
    return tex(sp.Sum(one, (k, 1, n_out)))


def loss(d: Derivation, w: Writer) -> tuple[Display, Display, str]:
    """The sample loss, the batch loss, and the sentence naming the loss and its reduction.

    A loss with a link (softmax, sigmoid) is written in its prediction yhat = link(z^(L)):
    the spec's expression with the link's entries replaced by yhat_k, as the student writes it.
    """
    spec = d.spec
    entry = registry.loss(spec.loss)
    n_out, L = spec.layers[-1], len(d.layers)
    outputs = range(1, n_out + 1)
    yh = [_sym(names.h_entry(L, k, L)) for k in outputs]
    yh_k = _sym(general("yhat", 0, "k"))
    ys = [_sym(names.target_entry(k)) for k in outputs]
    y_k = _sym(general("y", 0, "k"))
    link_tex = ""
    if entry.link_expr is not None:
        # the loss reads the logits z^(L); its link's entries are the prediction yhat
        zs = [_sym(names.z_entry(L, k)) for k in outputs]
        full = entry.expr(zs, ys).xreplace(
            dict(zip(entry.link_expr(zs), yh, strict=True))
        )
        one = _per_output(full, {yh[0], ys[0]}).xreplace({yh[0]: yh_k, ys[0]: y_k})
        link_tex = rf"\hat{{y}} = {layer_act_tex(d, d.layers[-1])}(z^{{({L})}})"
    else:
        full = entry.expr(yh, ys)
        one = entry.expr([yh_k], [y_k])
    k = sp.Symbol("k", integer=True, positive=True)
    summed = sp.Add(
        *[one.xreplace({yh_k: a, y_k: b}) for a, b in zip(yh, ys, strict=True)]
    )
    written = not full.free_symbols - {*yh, *ys}  # no logit left over
    separable = written and sp.expand(summed - full) == 0
    if separable and n_out > 3:
        rhs: tuple[str, ...] = (_sum_tex(one, k, n_out),)
    elif written and n_out <= 6:
        rhs = continued(broken(full))
    else:
        rhs = (r"\text{" + escape_tex(entry.description) + "}",)
    remark = w.remark(Math(link_tex)) if link_tex else ""
    n = sp.Symbol("n", integer=True, positive=True)
    N = sp.Symbol("N", integer=True, positive=True)
    batch_tex = tex(sp.Sum(sp.Symbol("L_n"), (n, 1, N)))
    if spec.reduction == "mean":
        batch_tex = r"\frac{1}{N} " + batch_tex
    penalty = d.program.loss.expr
    if isinstance(
        penalty, P.Penalty
    ):  # its rule, summed over every weight of every layer
        w_ij = _sym(general("W", "l", "i", "j"))
        batch_tex += rf" + \sum_{{l=1}}^{{{L}}} \sum_{{i,j}} {tex(penalty.rule.xreplace({W: w_ij}))}"
    batch = Display(
        r"\mathcal{L}",
        (batch_tex,),
        w.remark(Math("L_n"), ": the loss of sample ", Math("n")),
    )
    if link_tex:
        what: tuple[Span, ...] = (
            "a function of the prediction ",
            Math(link_tex),
            ", which the loss computes from the logits ",
            Math(f"z^{{({L})}}"),
        )
    else:
        what = (entry.description,)
    if spec.reduction == "sum":
        text = w.text(*what, "; the batch loss sums it over the samples")
    else:
        text = w.text(
            *what,
            "; the batch loss averages it over the samples, so every gradient carries "
            "a factor ",
            Math("1/N"),
        )
    slope = penalty_slope(d)
    if slope is not None:
        text += w.text(
            "; the L2 penalty, summed over every weight (not the biases), is added to the "
            "batch loss after that, so each weight gradient gains its derivative ",
            Math(tex(slope)),
        )
    return Display("L", rhs, remark), batch, text


def penalty_slope(d: Derivation) -> sp.Expr | None:
    """The term an L2 penalty adds to a weight's gradient, in one entry w_ij (SymPy's
    derivative of the penalty), or None without a penalty."""
    grads = [s.expr for s in d.program.backward if isinstance(s.expr, P.PenaltyGrad)]
    if not grads:
        return None
    return grads[0].rule.xreplace({W: _sym(general("W", "l", "i", "j"))})


def _loss_slope(d: Derivation) -> sp.Expr:
    """dL/dyhat_k of a loss without a link, in yhat_k and y_k (the chain rule's first factor):
    the derivation's, with its placeholders named for output k."""
    assert d.loss_slope is not None
    yhat, y = _sym(general("yhat", 0, "k")), _sym(general("y", 0, "k"))
    return d.loss_slope.xreplace({YHAT: yhat, T: y})


def local(d: Derivation, w: Writer) -> tuple[Display, ...]:
    """Every factor the chain rule multiplies, each a derivative SymPy took, named.

    The loss's and the activations' come from the derivation (output_delta, each layer's
    derivative); the linear steps' from the Program's backward steps (`_local_linear`).
    """
    L = len(d.layers)
    out = []
    if direct_output_error(d):
        link = registry.loss(d.spec.loss).link or d.layers[-1].activation
        through = "its" if has_link(d) else "the output's"
        remark = w.remark(f"loss through {through} {link}, output ", Math("k"))
        zk = symbol_tex(general("z", L, "k"))
        delta = unit_forms.entry(d, names.delta(L), "k")
        out.append(Display(partial("L", zk), (tex(delta),), remark))
    else:
        remark = w.remark("loss, output ", Math("k"))
        yk = symbol_tex(general("yhat", 0, "k"))
        out.append(Display(partial("L", yk), (tex(_loss_slope(d)),), remark))
    for rule in reversed(d.layers):
        k = rule.index
        if k == L and direct_output_error(d):
            continue  # the logits feed the loss directly, or through softmax in one step
        unit = "k" if k == L else "i"
        z = _sym(general("z", k, unit))
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
    """d z_i / d w_ij, d z_i / d b_i and d z_i / d h_j of layer k, read off the Program.

    They are its backward steps of layer k run on one sample with delta^(k) = e_1 (unit 1's
    z moved by one): dL/dW^(k), dL/db^(k) and, before the slope of layer k - 1, W^(k)T delta^(k),
    each at unit 1 and input j (the last input, so that i and j differ), written for i and j.
    """
    k = rule.index
    prog = d.program_for("columns")
    cap = 2  # unit 1 and input 2 say it all, at any width
    given = {names.delta(k): sp.eye(min(rule.units, cap))[:, 0]}
    j = min(rule.fan_in, cap)
    letters = {
        _sym(h_name(d, k - 1, j)): _sym(h_name(d, k - 1, "j")),
        _sym(names.weight_entry(k, 1, j)): _sym(general("W", k, "i", "j")),
    }
    grad_w = prog.step(names.grad(names.weight(k))).expr
    if isinstance(
        grad_w, P.PenaltyGrad
    ):  # the penalty's term is not a path through z_i
        grad_w = grad_w.arg
    grad_b = prog.step(names.grad(names.bias(k))).expr
    dw = unit_forms.run_sample(d, grad_w, given, cap)[0, j - 1]
    db = unit_forms.run_sample(d, grad_b, given, cap)[0]
    zi = symbol_tex(general("z", k, "i"))
    out = [
        Display(
            partial(zi, symbol_tex(general("W", k, "i", "j"))),
            (tex(dw.xreplace(letters)),),
            w.remark(f"weight, layer {k}"),
        ),
        Display(
            partial(zi, symbol_tex(general("b", k, "i"))),
            (tex(db),),
            w.remark(f"bias, layer {k}"),
        ),
    ]
    if k > 1:
        back = prog.step(names.delta(k - 1)).expr
        if isinstance(back, P.Hadamard):  # through W^(k) only, before the slope act'
            back = back.left
        dh = unit_forms.run_sample(d, back, given, cap)[j - 1]
        out.append(
            Display(
                partial(zi, h_tex(d, k - 1, "j")),
                (tex(dh.xreplace(letters)),),
                w.remark(f"layer {k - 1} into layer {k}"),
            )
        )
    return out


def deltas(d: Derivation, w: Writer) -> tuple[tuple[Display, ...], tuple[Display, ...]]:
    """The error signals: per layer in general, and (small networks) per unit.

    Both are the Program's backward steps dZ_L, dZ_{L-1}, ...: in general the step's entry i
    in index notation, per unit the step run on one sample's symbols with delta^(l+1) given as
    symbols, so each layer's signal is written in terms of the one above.
    """
    L = len(d.layers)
    general_rows, units = [], []
    zk = symbol_tex(general("z", L, "k"))
    chain = partial("L", zk)
    if not direct_output_error(d):
        yk = symbol_tex(general("yhat", 0, "k"))
        chain += " = " + partial("L", yk) + partial(yk, zk)
    output = unit_forms.entry(d, names.delta(L), "k")
    general_rows.append(
        Display(
            symbol_tex(general("delta", L, "k")),
            (chain, "= " + tex(output)),
            _range(w, "k", d.layers[-1].units),
        )
    )
    small = elementwise(d)
    prog = d.program_for("columns")
    if small:
        out = unit_forms.run_sample(d, prog.step(names.delta(L)).expr, {})
        for unit in range(1, d.layers[-1].units + 1):
            units.append(
                Display(symbol_tex(general("delta", L, unit)), (tex(out[unit - 1]),))
            )
    for rule in reversed(d.layers[:-1]):
        n = rule.index
        above = d.layers[n]
        hi = symbol_tex(h_name(d, n, "i"))
        zk = symbol_tex(general("z", n + 1, "k"))
        chain = (
            rf"\sum_{{k=1}}^{{{above.units}}} "
            + partial("L", zk)
            + partial(zk, hi)
            + partial(hi, symbol_tex(general("z", n, "i")))
        )
        signal = unit_forms.entry(d, names.delta(n), "i")
        general_rows.append(
            Display(
                symbol_tex(general("delta", n, "i")),
                (chain, "= " + tex(signal)),
                _range(w, "i", rule.units),
            )
        )
        if small:
            given = {names.delta(n + 1): unit_forms.delta_symbols(n + 1, above.units)}
            out = unit_forms.run_sample(d, prog.step(names.delta(n)).expr, given)
            for i in range(1, rule.units + 1):
                units.append(
                    Display(
                        symbol_tex(general("delta", n, i)),
                        continued(broken(out[i - 1])),
                    )
                )
    return tuple(general_rows), tuple(units)


def chain(d: Derivation) -> tuple[Display, ...]:
    """dL/dw_ij = delta_i h_j and dL/db_i = delta_i: the gradient steps' entries, per layer."""
    out = []
    for rule in d.layers:
        k = rule.index
        zi = symbol_tex(general("z", k, "i"))
        for kind, param, at in (
            ("W", names.weight(k), ("i", "j")),
            ("b", names.bias(k), ("i",)),
        ):
            p = symbol_tex(general(kind, k, *at))
            grad = tex(unit_forms.entry(d, names.grad(param), *at))
            rhs = partial("L", zi) + partial(zi, p) + f" = {grad}"
            out.append(Display(partial("L", p), (rhs,)))
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
    """The columns-layout Program's backward steps for one sample (the batch's are the
    trainer's code)."""
    p = _sample_printer(d)
    prog = d.program_for("columns")
    return tuple(
        Display(p.name(s.name), (p.expr(s.expr).latex,)) for s in prog.backward
    )


def step_code() -> str:
    """The trainer's step, 1 where Z > 0 (HEAVISIDE_AT_ZERO at 0): (Z > 0), Z any layer's."""
    return numpy_expr(sp.Heaviside(Z, HEAVISIDE_AT_ZERO), {Z: "Z"})


def step_convention(d: Derivation, w: Writer) -> str:
    """The value at z = 0 of every activation with a kink there (ReLU: 0).

    The kink is the registry's (SymPy's derivative has a step); the value is the derivation's
    derivative at 0, and the step's convention, HEAVISIDE_AT_ZERO, is printed by each printer:
    the document's 1[z > 0], SymPy's Heaviside(z, 0), the trainer's (Z > 0).
    """
    step = sp.Heaviside(Z, HEAVISIDE_AT_ZERO)
    out = []
    seen = set()
    for rule in d.layers:
        if rule.activation in seen or not registry.activation(rule.activation).kink:
            continue
        seen.add(rule.activation)
        zero = sp.Integer(0)
        at_zero = rule.derivative.xreplace(
            {Z: zero, H: rule.forward.xreplace({Z: zero})}
        )
        name = act_tex(rule)
        spans = [
            Math(name),
            " has no derivative at ",
            Math("z = 0"),
            " (its slope jumps there). This document, SymPy and the trainer all take ",
            Math(f"{name}'(0) = {tex(sp.nsimplify(at_zero))}"),
        ]
        if rule.derivative.has(sp.Heaviside):
            ones, zeros = (
                ("z > 0", r"z \le 0")
                if HEAVISIDE_AT_ZERO == 0
                else (r"z \ge 0", "z < 0")
            )
            spans += [
                ": ",
                Math(tex(step)),
                " is 1 for ",
                Math(ones),
                " and 0 for ",
                Math(zeros),
                ". SymPy was told so explicitly (",
                Code(str(step)),
                "; its default would give ",
                Math(str(sp.Heaviside(zero))),
                "), and the trainer computes it as ",
                Code(step_code()),
                ".",
            ]
        else:
            spans.append(".")
        out.append(w.text(*spans))
    return " ".join(out)
