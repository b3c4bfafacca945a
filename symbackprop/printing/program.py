"""Program nodes as NumPy expressions: the printer the trainer's statements and check-code's
correct lines share.

Importing it does not import SymPy. An entrywise rule prints with SymPy's printer (arrays.py,
imported on first use), or from `PrintedRules`: the same printer's output made once, with
slots for the arrays, and shipped as data, so check-code's feedback on the seed network runs
without SymPy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..derive import numeric as N
from ..derive import program as P
from ..spec import names, registry

# a rule's arrays: its placeholders' names (names.RULE_Z, ...) -> the Program arrays they stand for
RuleArrays = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Line:
    """One statement of generated code, with a short comment saying what it is."""

    code: str
    comment: str = ""


def shape_text(shape: tuple[int | str, ...]) -> str:
    """(N, 2), (2, 3) or (2,), as a comment shows a shape."""
    return (
        f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    )


@dataclass(frozen=True)
class PrintedRules:
    """Rules printed ahead of time, keyed by (rule tree, arrays): each text is SymPy's NumPy with
    a slot `{Z1}` for each array, filled with the array's printed name; `loose` says which
    rules need parentheses as a factor of `*` (a sum, say)."""

    texts: Mapping[tuple[N.Tree, RuleArrays], str] = field(default_factory=dict)
    loose: Mapping[N.Tree, bool] = field(default_factory=dict)


def _arrays(arrays: Mapping[str, P.Node]) -> RuleArrays | None:
    """The rule's arrays by name, or None when one of them is computed (not a Ref)."""
    if not all(isinstance(a, P.Ref) for a in arrays.values()):
        return None
    return tuple(sorted((p, a.name) for p, a in arrays.items() if isinstance(a, P.Ref)))


def _rule_uses(node: P.Node) -> list[tuple[Any, dict[str, P.Node]]]:
    """The (rule, arrays) pairs a node prints with."""
    if isinstance(node, P.Derivative):
        return [(node.rule, {names.RULE_Z: node.z, names.RULE_H: node.h})]
    if isinstance(node, P.OutputError):
        arrays = {
            names.RULE_Z: node.z,
            names.RULE_YHAT: node.prediction,
            names.RULE_T: node.target,
        }
        return [(node.rule, arrays)]
    if isinstance(node, P.Penalty):
        return [(node.rule, {names.RULE_W: w}) for w in node.weights]
    if isinstance(node, P.PenaltyGrad):
        return [(node.rule, {names.RULE_W: node.weight})]
    return []


def print_rules(programs: Iterable[P.Program]) -> PrintedRules:
    """Every rule of `programs` printed once, with slots for its arrays (SymPy prints them)."""
    from . import arrays as printer  # SymPy

    texts: dict[tuple[N.Tree, RuleArrays], str] = {}
    loose: dict[N.Tree, bool] = {}
    for prog in programs:
        for step in prog.steps:
            for node in P.walk(step.expr):
                for rule, arrays in _rule_uses(node):
                    key = _arrays(arrays)
                    if key is None:
                        continue
                    tree = N.as_tree(rule)
                    plain = printer.rule_expr(rule, dict(key), {})
                    if "{" in plain or "}" in plain:
                        raise ValueError(f"a rule printed with braces: {plain}")
                    slots = {a: "{" + a + "}" for _, a in key}
                    texts[tree, key] = printer.rule_expr(rule, dict(key), slots)
                    loose[tree] = printer.binds_looser_than_product(rule)
    return PrintedRules(texts, loose)


class ProgramPrinter:
    """Program nodes -> NumPy expressions, one small method per node type."""

    def __init__(
        self,
        layout: str = "rows",
        alpha: float = 0.01,
        rename: Mapping[str, str] | None = None,
        batch: str = "n",
        printed: PrintedRules | None = None,
    ) -> None:
        """`rename` maps the program's array names to others (a student's, say); `batch`
        is how the code names the batch size; `printed` holds rules printed ahead of time."""
        self.rows = layout == "rows"
        self.alpha = alpha
        self.rename = dict(rename or {})
        self.batch = batch
        self.printed = printed or PrintedRules()

    def expr(self, node: P.Node) -> str:
        """NumPy for one node."""
        return getattr(self, "_" + type(node).__name__)(node)

    def _operand(self, node: P.Node) -> str:
        text = self.expr(node)
        return text if isinstance(node, P.Ref | P.Transpose) else f"({text})"

    def _Ref(self, node: P.Ref) -> str:
        return self.rename.get(node.name, node.name)

    def statement(self, step: P.Step) -> str:
        """`name = expr` for one step, with names renamed."""
        return f"{self.rename.get(step.name, step.name)} = {self.expr(step.expr)}"

    def _rule(self, rule: Any, arrays: Mapping[str, P.Node]) -> str:
        """An entrywise rule on arrays: terms keep the order of the Program's array names (the
        trainer's y_pred - y_true), whatever the arrays print as."""
        key = _arrays(arrays)
        if key is not None and isinstance(rule, tuple):  # a shipped rule's tree
            text = self.printed.texts[rule, key]
            return text.format_map({a: self.rename.get(a, a) for _, a in key})
        from . import arrays as printer  # SymPy

        shown = {
            p: a.name if isinstance(a, P.Ref) else self.expr(a)
            for p, a in arrays.items()
        }
        return printer.rule_expr(rule, shown, self.rename)

    def _loose(self, rule: Any) -> bool:
        """Whether a rule needs parentheses as a factor of `*`."""
        if isinstance(rule, tuple):
            return self.printed.loose[rule]
        from . import arrays as printer  # SymPy

        return printer.binds_looser_than_product(rule)

    def _MatMul(self, node: P.MatMul) -> str:
        return f"{self.expr(node.left)} @ {self.expr(node.right)}"

    def _Transpose(self, node: P.Transpose) -> str:
        return f"{self._operand(node.arg)}.T"

    def _Hadamard(self, node: P.Hadamard) -> str:
        right = self.expr(node.right)
        if isinstance(node.right, P.Derivative) and self._loose(node.right.rule):
            right = f"({right})"
        return f"{self._operand(node.left)} * {right}"

    def _AddBias(self, node: P.AddBias) -> str:
        # biases are one number per unit, (units,): a column of them in the columns layout
        bias = self.expr(node.bias) if self.rows else f"{self.expr(node.bias)}[:, None]"
        return f"{self.expr(node.arg)} + {bias}"

    def _SumSamples(self, node: P.SumSamples) -> str:
        return f"{self._operand(node.arg)}.sum(axis={0 if self.rows else 1})"

    def _Activate(self, node: P.Activate) -> str:
        forward = registry.activation(node.activation).numpy
        return forward.format(z=self.expr(node.arg), alpha=repr(self.alpha))

    def _Derivative(self, node: P.Derivative) -> str:
        ((rule, arrays),) = _rule_uses(node)
        return self._rule(rule, arrays)

    def _OutputError(self, node: P.OutputError) -> str:
        ((rule, arrays),) = _rule_uses(node)
        return self._rule(rule, arrays)

    def _Link(self, node: P.Link) -> str:
        # the activation's stable form takes one sample per row: transpose around it
        form = registry.activation(node.kind).numpy
        if self.rows:
            return form.format(z=self.expr(node.arg))
        return f"({form.format(z=self._operand(node.arg) + '.T')}).T"

    def _Mean(self, node: P.Mean) -> str:
        return f"({self.expr(node.arg)}) / {self.batch}"

    def _Loss(self, node: P.Loss) -> str:
        out, tgt = self.expr(node.outputs), self.expr(node.targets)
        if not self.rows:
            out, tgt = (
                f"{self._operand(node.outputs)}.T",
                f"{self._operand(node.targets)}.T",
            )
        return registry.loss(node.loss).numpy.format(Y=out, T=tgt, K=node.count)

    def _Penalty(self, node: P.Penalty) -> str:
        terms = [f"np.sum({self._rule(r, a)})" for r, a in _rule_uses(node)]
        return f"{self.expr(node.arg)} + " + " + ".join(terms)

    def _PenaltyGrad(self, node: P.PenaltyGrad) -> str:
        return f"{self.expr(node.arg)} + {self.penalty_term(node)}"

    def penalty_term(self, node: P.PenaltyGrad) -> str:
        """The L2 penalty's part of a weight gradient: its rule on the weight (0.1*W1)."""
        ((rule, arrays),) = _rule_uses(node)
        return self._rule(rule, arrays)
