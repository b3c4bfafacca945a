"""Print a Derivation as the exact NumPy (and plain-text maths) the generated trainer shows.

SymPy objects stop here: templates receive the strings these functions return.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.str import StrPrinter

from . import activations, losses
from .derive import YHAT, Derivation, H, T, Z


class NumPyArrayPrinter(NumPyPrinter):
    """NumPy as a person writes it: `np.` prefix, `np.maximum(z, 0)`, `(z > 0)` for the step."""

    def _module_format(self, fqn: str, register: bool = True) -> str:
        fqn = super()._module_format(fqn, register)
        return "np." + fqn[len("numpy.") :] if fqn.startswith("numpy.") else fqn

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        arg, at_zero = expr.args
        if at_zero == 0:
            return f"({self._print(arg)} > 0)"
        if at_zero == 1:
            return f"({self._print(arg)} >= 0)"
        return f"np.heaviside({self._print(arg)}, {self._print(at_zero)})"

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Relational(self, expr: sp.core.relational.Relational) -> str:
        return f"{self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)}"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        *pieces, (last, cond) = expr.args
        if cond != sp.true:
            return super()._print_Piecewise(expr)
        out = self._print(last)
        for value, condition in reversed(pieces):
            out = f"np.where({self._print(condition)}, {self._print(value)}, {out})"
        return out

    def _print_Max(self, expr: sp.Max) -> str:
        args = [self._print(a) for a in expr.args if a != 0]
        zeros = len(args) < len(expr.args)
        if len(args) == 1 and zeros:
            return f"np.maximum({args[0]}, 0)"
        out = args[0]
        for a in args[1:] + (["0"] if zeros else []):
            out = f"np.maximum({out}, {a})"
        return out


class PlainMathPrinter(StrPrinter):
    """Plain-text maths for docstrings, in the notation `check-formulas` reads: step(z) = 1[z > 0]."""

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        arg, at_zero = expr.args
        if at_zero == 0:
            return f"step({self._print(arg)})"
        return f"Heaviside({self._print(arg)}, {self._print(at_zero)})"

    def _print_Max(self, expr: sp.Max) -> str:
        args = [a for a in expr.args if a != 0]
        if len(args) == 1 and len(args) < len(expr.args):
            return f"relu({self._print(args[0])})"
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        *pieces, (last, cond) = expr.args
        if cond != sp.true:
            return super()._print_Piecewise(expr)
        out = self._print(last)
        for value, condition in reversed(pieces):
            out = f"where({self._print(condition)}, {self._print(value)}, {out})"
        return out


_NUMPY = NumPyArrayPrinter({"fully_qualified_modules": True})
_PLAIN = PlainMathPrinter({"order": "none"})


def numpy_expr(expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
    """Print an entrywise rule with its placeholders renamed to the arrays they stand for."""
    named = expr.xreplace({s: sp.Symbol(n, real=True) for s, n in names.items()})
    return _NUMPY.doprint(named)


def plain(expr: sp.Expr) -> str:
    """Print an expression in the plain-text notation shown to students."""
    return _PLAIN.doprint(expr)


@dataclass(frozen=True)
class Line:
    """One statement of generated code, with a short comment saying what it is."""

    code: str
    comment: str = ""


def _scaled(expr: str, reduction: str) -> str:
    return f"({expr}) / n" if reduction == "mean" else expr


def forward_lines(d: Derivation) -> list[Line]:
    """Z_l = H_{l-1} @ W_l.T + b_l and H_l = act(Z_l), layer by layer; the last H is Y.

    Activations use the registry's numerically safe NumPy forward; a loss with a link adds
    P = link(Y), the predicted probabilities.
    """
    lines = []
    prev = "X"
    for rule in d.layers:
        l = rule.index  # noqa: E741 - the layer index, as in the notation W^(l)
        out = "Y" if l == len(d.layers) else f"H{l}"
        act = activations.get(rule.activation).numpy.format(
            z=f"Z{l}", alpha=repr(d.spec.alpha)
        )
        lines.append(
            Line(
                f"Z{l} = {prev} @ W{l}.T + b{l}",
                f"(N, {rule.units}) pre-activations of layer {l}",
            )
        )
        lines.append(Line(f"{out} = {act}", f"(N, {rule.units}) {rule.activation}"))
        prev = out
    loss = losses.get(d.spec.loss)
    if loss.link is not None:
        p = loss.link_numpy.format(Z="Y")
        lines.append(
            Line(f"P = {p}", f"(N, {d.layers[-1].units}) {loss.link} of the logits Y")
        )
    return lines


def backward_lines(d: Derivation) -> list[Line]:
    """The vectorized backprop, output layer first: dZ, then gW = dZ.T @ H_prev, gb = sum of dZ."""
    L = len(d.layers)
    lines = []
    prediction = "Y" if losses.get(d.spec.loss).link is None else "P"
    delta = numpy_expr(d.output_delta, {Z: f"Z{L}", YHAT: prediction, T: "y"})
    lines.append(
        Line(
            f"dZ{L} = {_scaled(delta, d.spec.reduction)}",
            f"(N, {d.layers[-1].units}) d loss / d Z{L}"
            + (", divided by n for the mean" if d.spec.reduction == "mean" else ""),
        )
    )
    for rule in reversed(d.layers):
        l = rule.index  # noqa: E741
        prev = "X" if l == 1 else f"H{l - 1}"
        lines.append(
            Line(
                f"gW{l} = dZ{l}.T @ {prev}",
                f"({rule.units}, {rule.fan_in}) sum over samples",
            )
        )
        lines.append(
            Line(f"gb{l} = dZ{l}.sum(axis=0)", f"({rule.units},) one per unit")
        )
        if l > 1:
            below = d.layers[l - 2]
            local = numpy_expr(below.derivative, {Z: f"Z{l - 1}", H: f"H{l - 1}"})
            if precedence(below.derivative) < PRECEDENCE["Mul"]:
                local = f"({local})"
            back = f"dZ{l} @ W{l}"
            code = back if local == "1" else f"({back}) * {local}"
            lines.append(
                Line(
                    f"dZ{l - 1} = {code}",
                    f"(N, {below.units}) back through W{l}, times {below.activation}'(Z{l - 1})",
                )
            )
    return lines


def closed_form_lines(d: Derivation) -> list[str]:
    """`dL/dW1_1_2 = ...` for every parameter entry (one sample), or [] on the vectorized route."""
    if d.scalar is None:
        return []
    out = []
    for name in d.spec.param_names:
        for entry, sym in zip(
            d.scalar.readable[name], d.scalar.params[name], strict=True
        ):
            out.append(f"dL/d{sym} = {plain(entry)}")
    return out


def rule_lines(d: Derivation) -> list[str]:
    """The entrywise rules SymPy derived: the output error and each activation's derivative."""
    L = len(d.layers)
    out = [f"d loss/d z{L} = {plain(d.output_delta)}   (per sample, per output)"]
    for rule in d.layers[:-1]:
        out.append(
            f"{rule.activation}'(z{rule.index}) = {plain(rule.derivative.xreplace({Z: sp.Symbol(f'z{rule.index}'), H: sp.Symbol(f'h{rule.index}')}))}"
        )
    return out


# --- the fast paths: in-place NumPy on a preallocated workspace, and unrolled scalar code ---


@dataclass(frozen=True)
class Buffer:
    """One preallocated array of the matrix style's workspace: name, shape code, dtype."""

    name: str
    shape: str  # e.g. "(n, 2)" or "(2, 2)": n is the batch size
    dtype: str = "float64"


@dataclass(frozen=True)
class InplacePlan:
    """The matrix style's hot path: its buffers and its statements (no allocation per step)."""

    buffers: list[Buffer]
    lines: list[Line]
    grads: list[str]  # buffer names of the gradients, in PARAM_NAMES order


def inplace_plan(d: Derivation) -> InplacePlan:
    """Forward, loss and backward as `out=` NumPy calls on buffers allocated once per batch size.

    The maths is the same as forward_lines/backward_lines (verify.py checks the emitted code);
    only the memory traffic differs: no temporaries for products, sums, masks and updates.
    """
    L = len(d.layers)
    loss = losses.get(d.spec.loss)
    buffers: list[Buffer] = []
    lines: list[Line] = []
    prev = "X"
    for rule in d.layers:
        l = rule.index  # noqa: E741 - the layer index, as in the notation W^(l)
        u = rule.units
        buffers.append(Buffer(f"Z{l}", f"(n, {u})"))
        lines.append(
            Line(f"np.matmul({prev}, W{l}.T, out=Z{l})", f"Z{l} = {prev} @ W{l}.T")
        )
        lines.append(
            Line(f"np.add(Z{l}, b{l}, out=Z{l})", f"... + b{l}, one bias per unit")
        )
        out = "Y" if l == L else f"H{l}"
        if rule.activation == "identity":
            lines.append(Line(f"{out} = Z{l}", "identity: no copy"))
        else:
            buffers.append(Buffer(out, f"(n, {u})"))
            act = activations.get(rule.activation)
            if act.numpy_out:
                code = act.numpy_out.format(
                    z=f"Z{l}", out=out, alpha=repr(d.spec.alpha)
                )
            else:
                code = f"{out}[...] = " + act.numpy.format(
                    z=f"Z{l}", alpha=repr(d.spec.alpha)
                )
            lines.append(Line(code, f"{out} = {rule.activation}(Z{l})"))
        prev = out
    if loss.link is not None:
        buffers.append(Buffer("P", f"(n, {d.layers[-1].units})"))
        lines.append(
            Line(
                f"P[...] = {loss.link_numpy.format(Z='Y')}",
                f"{loss.link} of the logits",
            )
        )
    lines.append(
        Line(
            "value = float("
            + loss.numpy.format(Y="Y", T="y", K=d.spec.layers[-1])
            + (") / n" if d.spec.reduction == "mean" else ")"),
            "the loss before the step",
        )
    )
    prediction = "Y" if loss.link is None else "P"
    buffers.append(Buffer(f"dZ{L}", f"(n, {d.layers[-1].units})"))
    if d.output_delta == YHAT - T:
        lines.append(
            Line(
                f"np.subtract({prediction}, y, out=dZ{L})", f"dZ{L} = {prediction} - y"
            )
        )
    else:
        delta = numpy_expr(d.output_delta, {Z: f"Z{L}", YHAT: prediction, T: "y"})
        lines.append(Line(f"dZ{L}[...] = {delta}", f"d loss / d Z{L}"))
    if d.spec.reduction == "mean":
        lines.append(
            Line(f"np.multiply(dZ{L}, 1.0 / n, out=dZ{L})", "the mean over samples")
        )
    grads = {}
    for rule in reversed(d.layers):
        l = rule.index  # noqa: E741
        prev = (
            "X"
            if l == 1
            else f"H{l - 1}"
            if d.layers[l - 2].activation != "identity"
            else f"Z{l - 1}"
        )
        buffers.append(Buffer(f"gW{l}", f"({rule.units}, {rule.fan_in})"))
        buffers.append(Buffer(f"gb{l}", f"({rule.units},)"))
        grads[f"W{l}"], grads[f"b{l}"] = f"gW{l}", f"gb{l}"
        lines.append(
            Line(f"np.matmul(dZ{l}.T, {prev}, out=gW{l})", f"gW{l} = dZ{l}.T @ {prev}")
        )
        lines.append(Line(f"np.sum(dZ{l}, axis=0, out=gb{l})", f"gb{l}: one per unit"))
        if l > 1:
            below = d.layers[l - 2]
            k = l - 1
            buffers.append(Buffer(f"dZ{k}", f"(n, {below.units})"))
            lines.append(
                Line(f"np.matmul(dZ{l}, W{l}, out=dZ{k})", f"back through W{l}")
            )
            if below.derivative == sp.Heaviside(Z, 0):
                buffers.append(Buffer(f"M{k}", f"(n, {below.units})", "bool"))
                lines.append(
                    Line(
                        f"np.greater(Z{k}, 0, out=M{k})",
                        f"{below.activation}'(Z{k}) = (Z{k} > 0)",
                    )
                )
                lines.append(
                    Line(f"np.multiply(dZ{k}, M{k}, out=dZ{k})", "... applied")
                )
            elif below.derivative != 1:
                local = numpy_expr(below.derivative, {Z: f"Z{k}", H: f"H{k}"})
                lines.append(
                    Line(
                        f"np.multiply(dZ{k}, {local}, out=dZ{k})",
                        f"times {below.activation}'(Z{k})",
                    )
                )
    return InplacePlan(buffers, lines, [grads[name] for name in d.spec.param_names])


class ScalarPrinter(PythonCodePrinter):
    """Plain-Python floats for the scalar style: branches instead of calls where they are faster."""

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        arg, at_zero = expr.args
        if at_zero != 0:
            raise ValueError("the scalar style expects Heaviside(z, 0)")
        return f"(1.0 if {self._print(arg)} > 0 else 0.0)"

    def _print_Max(self, expr: sp.Max) -> str:
        args = [a for a in expr.args if a != 0]
        if len(args) == 1 and len(args) < len(expr.args):
            a = self._print(args[0])
            return f"({a} if {a} > 0 else 0.0)"
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        return repr(float(expr))

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        if expr.exp == 2:  # z * z is faster than z**2 on plain floats
            base = self.parenthesize(expr.base, PRECEDENCE["Mul"])
            return f"{base} * {base}"
        return super()._print_Pow(expr, rational)


_SCALAR = ScalarPrinter({"fully_qualified_modules": True})


@dataclass(frozen=True)
class ScalarPlan:
    """The scalar style's per-sample body: CSE temporaries, then loss and gradient accumulations."""

    params: str  # "W1_1_1, W1_1_2, ...": every parameter entry, in flat order
    inputs: str  # "(x_1, x_2)": one sample's inputs, as a loop target
    targets: str  # "(y_1,)"
    temporaries: list[Line]
    loss: str
    grads: list[str]
    operations: int  # arithmetic operations per sample, for the cost model

    @property
    def grad_names(self) -> list[str]:
        """g0, g1, ...: the accumulators, one per parameter entry."""
        return [f"g{i}" for i in range(len(self.grads))]

    @property
    def accumulate(self) -> list[tuple[str, str]]:
        """(accumulator, this sample's term) pairs."""
        return list(zip(self.grad_names, self.grads, strict=True))


def scalar_plan(d: Derivation) -> ScalarPlan:
    """Unrolled closed forms: SymPy's CSE over one sample's loss and every gradient entry."""
    s = d.scalar
    if s is None:
        raise ValueError("no closed forms on the vectorized route")
    flat = [g for name in d.spec.param_names for g in s.gradients[name]]
    replacements, reduced = sp.cse(
        [s.loss, *flat], symbols=sp.numbered_symbols("t"), optimizations="basic"
    )
    ops = sum(sp.count_ops(e) for _, e in replacements) + sum(
        sp.count_ops(e) for e in reduced
    )
    return ScalarPlan(
        params=", ".join(str(p) for name in d.spec.param_names for p in s.params[name]),
        inputs=_tuple_target(s.x),
        targets=_tuple_target(s.y),
        temporaries=[Line(f"{t} = {_SCALAR.doprint(e)}") for t, e in replacements],
        loss=_SCALAR.doprint(reduced[0]),
        grads=[_SCALAR.doprint(e) for e in reduced[1:]],
        operations=int(ops),
    )


def _tuple_target(symbols: list[sp.Symbol]) -> str:
    names = [str(v) for v in symbols]
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"
