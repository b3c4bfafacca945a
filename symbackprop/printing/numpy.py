"""Print the derivation's Program as the exact NumPy the generated trainer runs.

Three printers share one SymPy printer for entrywise rules (arrays.py): plain statements
(`forward_lines`, `backward_lines`, by program.py's ProgramPrinter), the in-place hot path on a
preallocated workspace (`inplace_plan`), and the scalar style's unrolled closed forms
(`scalar_plan`). Templates receive the strings they return.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

from ..derive import YHAT, Derivation, H, T, Z
from ..derive import program as P
from ..spec import names, registry
from .arrays import NumPyArrayPrinter, numpy_expr
from .program import Line, ProgramPrinter, shape_text

__all__ = ["Line", "NumPyArrayPrinter", "ProgramPrinter", "numpy_expr", "shape_text"]


def what(step: P.Step, prog: P.Program) -> str:
    """What a step computes, in a few words (the trainer's comment without the shape)."""
    k = step.layer
    if step.role == P.PRE_ACTIVATION:
        return f"pre-activations of layer {k}"
    if step.role == P.ACTIVATION:
        assert isinstance(step.expr, P.Activate | P.Link)
        return _activation_name(step.expr)
    if step.role == P.PREDICTION:
        assert isinstance(step.expr, P.Link)
        return f"{step.expr.kind} of the logits {names.OUTPUTS}"
    if step.role == P.LOSS:
        return f"the batch loss ({prog.reduction} over the samples)"
    if step.role == P.GRAD_W:
        return "sum over samples"
    if step.role == P.GRAD_B:
        return "one per unit"
    if k == prog.depth:
        mean = ", divided by n for the mean" if prog.reduction == "mean" else ""
        return f"d loss / d {names.pre_activation(k)}{mean}"
    act = _activation_of(prog, k)
    return (
        f"back through {names.weight(k + 1)}, times {act}'({names.pre_activation(k)})"
    )


def describe(step: P.Step, prog: P.Program) -> str:
    """The comment a statement carries: its shape, then what it is."""
    if not step.shape:
        return what(step, prog)
    return f"{shape_text(step.shape)} {what(step, prog)}"


def _activation_name(node: P.Activate | P.Link) -> str:
    return node.activation if isinstance(node, P.Activate) else node.kind


def _activation_of(prog: P.Program, layer: int) -> str:
    step = prog.step(names.activation(layer, prog.depth))
    assert isinstance(step.expr, P.Activate | P.Link)
    return _activation_name(step.expr)


def _lines(d: Derivation, steps: tuple[P.Step, ...]) -> list[Line]:
    printer = ProgramPrinter(d.program.layout, d.spec.alpha)
    return [Line(printer.statement(s), describe(s, d.program)) for s in steps]


def loss_code(d: Derivation) -> str:
    """The batch loss as the trainer's `_loss_value(Y, y)` computes it (batch size y.shape[0])."""
    printer = ProgramPrinter(
        d.program.layout, d.spec.alpha, batch=f"{names.TARGETS}.shape[0]"
    )
    return printer.expr(d.program.loss.expr)


def forward_lines(d: Derivation) -> list[Line]:
    """Z_l = H_{l-1} @ W_l.T + b_l and H_l = act(Z_l), layer by layer; the last H is Y.

    Activations use the registry's numerically safe NumPy forward; a loss with a link adds
    P = link(Y), the predicted probabilities.
    """
    return _lines(d, d.program.forward)


def backward_lines(d: Derivation) -> list[Line]:
    """The vectorized backprop, output layer first: dZ, then gW = dZ.T @ H_prev, gb = sum of dZ."""
    return _lines(d, d.program.backward)


# --- the fast path: in-place NumPy on a preallocated workspace ---


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


class _Inplace:
    """Walks the (rows-layout) Program once, writing each step with out= into its buffer."""

    def __init__(self, d: Derivation) -> None:
        self.d = d
        self.printer = ProgramPrinter("rows", d.spec.alpha)
        self.buffers: list[Buffer] = []
        self.lines: list[Line] = []
        self.alias: dict[str, str] = {}  # identity layers: H is Z, no copy

    def buffer(
        self, name: str, shape: tuple[int | str, ...], dtype: str = "float64"
    ) -> None:
        text = shape_text(tuple("n" if v == "N" else v for v in shape))
        self.buffers.append(Buffer(name, text, dtype))

    def emit(self, code: str, comment: str) -> None:
        self.lines.append(Line(code, comment))

    def name(self, node: P.Node, alias: bool = False) -> str:
        """The array a Ref names; with `alias`, the buffer an identity layer shares."""
        assert isinstance(node, P.Ref)
        return self.alias.get(node.name, node.name) if alias else node.name

    def step(self, s: P.Step) -> None:
        getattr(self, "_" + s.role)(s)

    def _pre_activation(self, s: P.Step) -> None:
        assert isinstance(s.expr, P.AddBias) and isinstance(s.expr.arg, P.MatMul)
        prev, b = s.expr.arg.left, self.name(s.expr.bias)
        W = self.name(s.expr.arg.right.arg)  # type: ignore[union-attr]
        prev_name = prev.name if isinstance(prev, P.Ref) else ""
        self.buffer(s.name, s.shape)
        self.emit(
            f"np.matmul({prev_name}, {W}.T, out={s.name})",
            f"{s.name} = {prev_name} @ {W}.T",
        )
        self.emit(
            f"np.add({s.name}, {b}, out={s.name})", f"... + {b}, one bias per unit"
        )

    def _activation(self, s: P.Step) -> None:
        if isinstance(s.expr, P.Link):  # softmax over each sample's outputs
            self.buffer(s.name, s.shape)
            self.emit(
                f"{s.name}[...] = {self.printer.expr(s.expr)}",
                f"{s.name} = {s.expr.kind}({self.name(s.expr.arg)})",
            )
            return
        assert isinstance(s.expr, P.Activate)
        z = self.name(s.expr.arg)
        entry = registry.activation(s.expr.activation)
        if entry.is_identity:
            self.alias[s.name] = z
            self.emit(f"{s.name} = {z}", "identity: no copy")
            return
        self.buffer(s.name, s.shape)
        alpha = repr(self.d.spec.alpha)
        if entry.numpy_out:
            code = entry.numpy_out.format(z=z, out=s.name, alpha=alpha)
        else:
            code = f"{s.name}[...] = " + entry.numpy.format(z=z, alpha=alpha)
        self.emit(code, f"{s.name} = {s.expr.activation}({z})")

    def _prediction(self, s: P.Step) -> None:
        assert isinstance(s.expr, P.Link)
        self.buffer(s.name, s.shape)
        self.emit(
            f"{s.name}[...] = {self.printer.expr(s.expr)}",
            f"{s.expr.kind} of the logits",
        )

    def _loss(self, s: P.Step) -> None:
        # float() of the sum, then the mean: the same number, one scalar division
        total = s.expr.arg if isinstance(s.expr, P.Mean) else s.expr
        mean = ") / n" if isinstance(s.expr, P.Mean) else ")"
        code = f"value = float({self.printer.expr(total)}{mean}"
        self.emit(code, "the loss before the step")

    def _delta(self, s: P.Step) -> None:
        self.buffer(s.name, s.shape)
        expr = s.expr
        if isinstance(expr, P.Mean | P.OutputError):
            error = expr.arg if isinstance(expr, P.Mean) else expr
            assert isinstance(error, P.OutputError)
            pred = self.name(error.prediction)
            if error.rule == YHAT - T:
                self.emit(
                    f"np.subtract({pred}, {names.TARGETS}, out={s.name})",
                    f"{s.name} = {pred} - {names.TARGETS}",
                )
            else:
                self.emit(
                    f"{s.name}[...] = {self.printer.expr(error)}",
                    f"d loss / d {error.z.name}",
                )  # type: ignore[union-attr]
            if isinstance(expr, P.Mean):
                self.emit(
                    f"np.multiply({s.name}, 1.0 / n, out={s.name})",
                    "the mean over samples",
                )
            return
        back, local = (
            (expr.left, expr.right) if isinstance(expr, P.Hadamard) else (expr, None)
        )
        assert isinstance(back, P.MatMul)
        dz, W = self.name(back.left), self.name(back.right)
        self.emit(f"np.matmul({dz}, {W}, out={s.name})", f"back through {W}")
        if not isinstance(local, P.Derivative):
            return
        z = self.name(local.z)
        if local.rule == sp.Heaviside(Z, 0):
            m = names.mask(s.layer)
            self.buffer(m, s.shape, "bool")
            self.emit(
                f"np.greater({z}, 0, out={m})", f"{local.activation}'({z}) = ({z} > 0)"
            )
            self.emit(f"np.multiply({s.name}, {m}, out={s.name})", "... applied")
        else:
            code = numpy_expr(local.rule, {Z: z, H: self.name(local.h)})
            self.emit(
                f"np.multiply({s.name}, {code}, out={s.name})",
                f"times {local.activation}'({z})",
            )

    def _grad_W(self, s: P.Step) -> None:
        penalty = s.expr if isinstance(s.expr, P.PenaltyGrad) else None
        product = penalty.arg if penalty is not None else s.expr
        assert isinstance(product, P.MatMul) and isinstance(product.left, P.Transpose)
        dz, prev = self.name(product.left.arg), self.name(product.right, alias=True)
        self.buffer(s.name, s.shape)
        self.emit(
            f"np.matmul({dz}.T, {prev}, out={s.name})", f"{s.name} = {dz}.T @ {prev}"
        )
        if penalty is not None:
            term = self.printer.penalty_term(penalty)
            self.emit(f"{s.name} += {term}", "plus the L2 penalty's gradient")

    def _grad_b(self, s: P.Step) -> None:
        assert isinstance(s.expr, P.SumSamples)
        dz = self.name(s.expr.arg)
        self.buffer(s.name, s.shape)
        self.emit(f"np.sum({dz}, axis=0, out={s.name})", f"{s.name}: one per unit")


def inplace_plan(d: Derivation) -> InplacePlan:
    """Forward, loss and backward as `out=` NumPy calls on buffers allocated once per batch size.

    The same Program as forward_lines/backward_lines (the proof checks the emitted code); only
    the memory traffic differs: no temporaries for products, sums, masks and updates.
    """
    walker = _Inplace(d)
    for s in d.program.steps:
        walker.step(s)
    grads = [d.program.grads[name] for name in d.spec.param_names]
    return InplacePlan(walker.buffers, walker.lines, grads)


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
