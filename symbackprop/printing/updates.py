"""Print the optimizers' update rules (spec/optimizers.py): NumPy for the trainer, LaTeX for
the documents, one plain line for the trainer's docstring. Nothing here knows a rule by heart.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..spec import optimizers
from .numpy import Line, NumPyArrayPrinter
from .prose import Code, Math, Span, Writer
from .tex import Display, number_tex

# the names the trainer's code gives the rules' symbols (the others keep their own)
CODE_NAMES = {"theta": "p", "eta": "lr"}
# LaTeX for the symbols SymPy would not print as maths names of their own
# (a parameter is p, as in the trainer's code: theta would read as a step function here)
LATEX_NAMES = {"eps": r"\epsilon", "g": "g", "theta": "p"}


class _UpdatePrinter(NumPyArrayPrinter):
    """NumPy in the rule's own order, its symbols under the trainer's names (no re-evaluation)."""

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return CODE_NAMES.get(expr.name, expr.name)


_PRINTER = _UpdatePrinter({"fully_qualified_modules": True, "order": "none"})


@dataclass(frozen=True)
class UpdateCode:
    """One optimizer as the trainer prints it: `_update_<name>` and its docstring's rule."""

    name: str
    description: str
    hyper: tuple[str, ...]
    state: tuple[str, ...]
    counts_steps: bool
    lines: tuple[
        Line, ...
    ]  # the loop body over the parameters, after `p = params[name]`
    rules: tuple[str, ...]  # each assignment as plain text: `v <- beta*v + g`

    @property
    def unpack_hyper(self) -> str:
        """`beta1, beta2, eps = state["beta1"], ...`, or '' when it has none."""
        if not self.hyper:
            return ""
        return (
            ", ".join(self.hyper)
            + " = "
            + ", ".join(f'state["{h}"]' for h in self.hyper)
        )

    @property
    def unpack_state(self) -> str:
        """`p, m, v = params[name], state["m"][name], ...`: this parameter's arrays."""
        names = ("p", *self.state)
        values = ("params[name]", *(f'state["{s}"][name]' for s in self.state))
        return ", ".join(names) + " = " + ", ".join(values)


def numpy_rule(expr: sp.Expr) -> str:
    """One rule's right-hand side as NumPy over the trainer's names."""
    return _PRINTER.doprint(expr)


def _is_plain_step(name: str, expr: sp.Expr) -> bool:
    """theta <- theta - eta g: written in place on the gradient buffer, allocating nothing."""
    theta, g, eta = (optimizers.symbol(n) for n in ("theta", "g", "eta"))
    return name == "theta" and sp.expand(expr - (theta - eta * g)) == 0


def update_code(entry: optimizers.Optimizer) -> UpdateCode:
    """The statements of one optimizer's update, in the rules' order, for one parameter."""
    lines: list[Line] = []
    plain: list[str] = []
    for name, expr in entry.rules():
        target = CODE_NAMES.get(name, name)
        persists = name == "theta" or name in entry.state
        plain.append(f"{target} <- {numpy_rule(expr)}")
        if _is_plain_step(name, expr):
            lines.append(Line("np.multiply(g, lr, out=g)", "g = lr * g, in place"))
            lines.append(Line("np.subtract(p, g, out=p)", "p <- p - lr * g"))
        elif persists:
            lines.append(Line(f"{target}[...] = {numpy_rule(expr)}", "in place"))
        else:
            lines.append(Line(f"{target} = {numpy_rule(expr)}", "this step only"))
    return UpdateCode(
        entry.name,
        entry.description,
        entry.hyper,
        entry.state,
        entry.counts_steps,
        tuple(lines),
        tuple(plain),
    )


def all_update_code() -> tuple[UpdateCode, ...]:
    """Every registered optimizer's update, in registry order (the trainer has them all)."""
    return tuple(update_code(o) for o in optimizers.OPTIMIZERS.values())


def latex_rule(expr: sp.Expr) -> str:
    """A rule's right-hand side in LaTeX, in the order it is written."""
    names = {s: LATEX_NAMES[s.name] for s in expr.free_symbols if s.name in LATEX_NAMES}
    return sp.latex(expr, order="none", symbol_names=names)


def latex_target(name: str) -> str:
    """A rule's left-hand side (or a hyperparameter) in LaTeX: theta, v, \\hat{m}, ..."""
    return LATEX_NAMES.get(name) or sp.latex(optimizers.symbol(name))


def update_displays(entry: optimizers.Optimizer) -> tuple[Display, ...]:
    """The rules as display equations `target <- rule`, one per line."""
    return tuple(
        Display(latex_target(name), (latex_rule(expr),), relation=r"\leftarrow")
        for name, expr in entry.rules()
    )


def update_intro(
    entry: optimizers.Optimizer, lr: float, hyper: dict[str, float], w: Writer
) -> str:
    """The sentence before the rules: which optimizer, its learning rate and settings."""
    spans: list[Span] = [
        "The trainer's optimizer is ",
        Code(entry.name),
        f" ({entry.description}). For every parameter ",
        Math(latex_target("theta")),
        " with gradient ",
        Math(rf"g = \partial \mathcal{{L}} / \partial {latex_target('theta')}"),
        " of the batch loss, each step does, in order (learning rate ",
        Math(rf"\eta = {number_tex(lr)}"),
    ]
    for key, value in hyper.items():
        spans += [", ", Math(f"{latex_target(key)} = {number_tex(value)}")]
    spans.append(")")
    if entry.state:
        spans += ["; ", *_joined([Math(latex_target(s)) for s in entry.state])]
        spans.append(" start at zero and carry over from step to step")
    if entry.counts_steps:
        spans += ["; ", Math("t"), " is the number of the step, 1 at the first"]
    spans.append(":")
    return w.text(*spans)


def _joined(items: list[Span]) -> list[Span]:
    """a, b and c as spans."""
    out: list[Span] = []
    for i, item in enumerate(items):
        if i:
            out.append(" and " if i == len(items) - 1 else ", ")
        out.append(item)
    return out
