"""The Program per unit, for the derivation's per-unit formulas; no derivative is taken here.

`entry` reads a step of the columns-layout Program (one sample per column) entrywise, in
index notation: entry i of dZ1 is (sum_k w^{(2)}_{ki} delta^{(2)}_k) act'(z^{(1)}_i).
`run_sample` runs a step (or a node of one) with SymPy on one sample's symbols, given arrays
such as delta^{(2)} as symbols, so a layer's error signal is written in terms of the next.
"""

from __future__ import annotations

import sympy as sp

from ..derive import YHAT, Derivation, H, T, Z, evaluate
from ..derive import program as P
from ..printing.notation import general, h_name, has_link
from ..spec import names


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


class Entries:
    """One entry of a columns-layout step for one sample, in index notation.

    This reads the Program's own steps entrywise, for the per-unit formulas: entry i of
    W^{(2)T} delta^{(2)} is sum_k w^{(2)}_{ki} delta^{(2)}_k, of act'(Z1) it is act'(z^{(1)}_i).
    A product over the sample axis (one sample) is a single term; a sum over the samples is
    that sample's term; L is one sample's loss, so a mean's 1/m is not in it.
    """

    def __init__(self, d: Derivation, summed: str) -> None:
        self.d = d
        self.depth = len(d.layers)
        self.summed = summed  # the letter of the one sum a step can hold

    def of(self, node: P.Node, row: str | None, col: str | None = None) -> sp.Expr:
        """Entry (row, col) of `node`; None is the sample axis (one sample: no index)."""
        if isinstance(node, P.Ref):
            return self._ref(node.name, row, col)
        if isinstance(node, P.Transpose):
            return self.of(node.arg, col, row)
        if isinstance(node, P.MatMul):
            inner = self._shape(node.left)[1]
            # one sample: a product over the sample axis is a single term
            if inner is None:
                return self.of(node.left, row, None) * self.of(node.right, None, col)
            term = self.of(node.left, row, self.summed) * self.of(
                node.right, self.summed, col
            )
            index = sp.Symbol(self.summed, integer=True, positive=True)
            return sp.Sum(term, (index, 1, inner))
        if isinstance(node, P.Hadamard):
            return self.of(node.left, row, col) * self.of(node.right, row, col)
        if isinstance(node, P.AddBias):
            return self.of(node.arg, row, col) + self.of(node.bias, row, None)
        if isinstance(node, P.SumSamples | P.Mean):
            return self.of(node.arg, row, None)
        if isinstance(
            node, P.PenaltyGrad
        ):  # the batch's penalty is no sample's: its term
            return self.of(node.arg, row, col)
        if isinstance(node, P.Derivative):
            values = {Z: self.of(node.z, row), H: self.of(node.h, row)}
            return node.rule.xreplace(values)
        if isinstance(node, P.OutputError):
            values = {
                Z: self.of(node.z, row),
                YHAT: self.of(node.prediction, row),
                T: self.of(node.target, row),
            }
            return node.rule.xreplace(values)
        raise TypeError(f"no per-unit form for {type(node).__name__}")

    def _ref(self, name: str, row: str | None, col: str | None) -> sp.Expr:
        fixed = {names.INPUTS: "x", names.TARGETS: "y", names.PREDICTION: "yhat"}
        if name == names.OUTPUTS:  # the logits z^(L) with a link, else the outputs yhat
            if has_link(self.d):
                return _sym(general("z", self.depth, str(row)))
            name = names.PREDICTION
        if name in fixed:
            return _sym(general(fixed[name], 0, str(row)))
        parsed = names.parse(name)
        assert parsed is not None, name
        k = parsed.layer
        if parsed.kind == "W":
            return _sym(general("W", k, str(row), str(col)))
        if parsed.kind == "H":
            return _sym(h_name(self.d, k, str(row)))
        kind = {"b": "b", "Z": "z", "dZ": "delta"}[parsed.kind]
        return _sym(general(kind, k, str(row)))

    def _shape(self, node: P.Node) -> tuple[int | None, int | None]:
        """(rows, columns) of a node for one sample; None is the sample axis."""
        if isinstance(node, P.Transpose):
            rows, cols = self._shape(node.arg)
            return cols, rows
        if isinstance(node, P.MatMul):
            return self._shape(node.left)[0], self._shape(node.right)[1]
        if not isinstance(node, P.Ref):
            return self._shape(P.children(node)[0])
        parsed = names.parse(node.name)
        if node.name == names.INPUTS:
            return self.d.spec.layers[0], None
        if parsed is None or not parsed.layer:  # y, Y, P: one per output
            return self.d.spec.layers[-1], None
        rule = self.d.layers[parsed.layer - 1]
        return (rule.units, rule.fan_in) if parsed.kind == "W" else (rule.units, None)


def entry(
    d: Derivation, step: str, row: str, col: str | None = None, summed: str = "k"
) -> sp.Expr:
    """Entry (row, col) of one step of the columns-layout Program, for one sample."""
    prog = d.program_for("columns")
    return Entries(d, summed).of(prog.step(step).expr, row, col)


def _sample_values(d: Derivation, cap: int | None = None) -> dict[str, sp.Matrix]:
    """One sample's symbols, as columns, for every array the backward steps read.

    With `cap`, every layer keeps its first `cap` units only: the per-unit rules read off a
    step are the same at any width, and a wide layer's symbols would cost time for nothing."""
    depth = len(d.layers)

    def size(n: int) -> range:
        return range(1, (n if cap is None else min(n, cap)) + 1)

    def column(made: list[str]) -> sp.Matrix:
        return sp.Matrix([_sym(n) for n in made])

    n_out = size(d.spec.layers[-1])
    values = {
        names.INPUTS: column([names.input_entry(j) for j in size(d.spec.layers[0])]),
        names.TARGETS: column([names.target_entry(k) for k in n_out]),
        names.PREDICTION: column([names.h_entry(depth, k, depth) for k in n_out]),
    }
    for rule in d.layers:
        k, units = rule.index, size(rule.units)
        values[names.weight(k)] = sp.Matrix(
            [
                [_sym(names.weight_entry(k, i, j)) for j in size(rule.fan_in)]
                for i in units
            ]
        )
        values[names.bias(k)] = column([names.bias_entry(k, i) for i in units])
        values[names.pre_activation(k)] = column([names.z_entry(k, i) for i in units])
        values[names.activation(k, depth)] = column(
            [names.h_entry(k, i, depth) for i in units]
        )
    if not has_link(d):
        values[names.OUTPUTS] = values[names.PREDICTION]
    return values


def run_sample(
    d: Derivation, node: P.Node, given: dict[str, sp.Matrix], cap: int | None = None
) -> sp.Matrix:
    """A node of the columns-layout Program on one sample's symbols (and `given` arrays);
    `cap` keeps each layer's first `cap` units (see `_sample_values`)."""
    prog = d.program_for("columns")
    step = P.Step("value", node, (), "", 0)
    values = {**_sample_values(d, cap), **given}
    return evaluate.run(prog, values, backend="sympy", steps=(step,))["value"]


def delta_symbols(layer: int, units: int) -> sp.Matrix:
    """delta^{(layer)}_1 ... as a column of symbols: the recursion's input, shown as such."""
    return sp.Matrix([_sym(general("delta", layer, i)) for i in range(1, units + 1)])
