"""The printer of the student's form: the Program's NumPy printer in the student's names, plus
the reshapes of their layouts (AsRow, AsColumn, Ravel). No SymPy where the rules were shipped."""

from __future__ import annotations

from ...derive import numeric as N
from ...derive import program as P
from ...printing.program import PrintedRules, ProgramPrinter
from .layout import Layout
from .reshapes import AsColumn, AsRow, Ravel


class StudentPrinter(ProgramPrinter):
    """The Program's NumPy printer, plus the reshapes of the student's layouts."""

    def __init__(
        self,
        alpha: float,
        rename: dict[str, str],
        layout: Layout | None = None,
        printed: PrintedRules | None = None,
    ) -> None:
        columns = layout is not None and layout.samples == "columns"
        super().__init__(
            "columns" if columns else "rows",
            alpha,
            rename,
            "m" if columns else "n",
            printed,
        )
        # biases stored as vectors (h,): added as columns when samples are columns
        self.flat = {n for n, k in (layout.biases if layout else ()) if k == "flat"}
        # one example at a time: a sum over the samples is the one sample itself
        self.one = layout is not None and layout.one_example

    def _AddBias(self, node: P.AddBias) -> str:
        if self.rows or (isinstance(node.bias, P.Ref) and node.bias.name in self.flat):
            return super()._AddBias(node)
        return f"{self.expr(node.arg)} + {self.expr(node.bias)}"  # already (h, 1)

    def _operand(self, node: P.Node) -> str:
        if isinstance(node, AsRow | AsColumn | Ravel | P.SumSamples):
            # postfix forms need no parentheses: x[None, :], x.ravel(), x.sum(axis=0)
            return self.expr(node)
        if isinstance(node, P.Activate) and N.is_identity(node.rule):
            return self._operand(node.arg)
        return super()._operand(node)

    def _AsRow(self, node: AsRow) -> str:
        if isinstance(node.arg, P.SumSamples) and self.one and self.rows:
            return self.expr(node.arg.arg)
        if isinstance(node.arg, P.SumSamples):
            return f"{self._operand(node.arg.arg)}.sum(axis=0, keepdims=True)"
        return f"{self._operand(node.arg)}[None, :]"

    def _AsColumn(self, node: AsColumn) -> str:
        if isinstance(node.arg, P.SumSamples) and self.one and not self.rows:
            return self.expr(node.arg.arg)
        if isinstance(node.arg, P.SumSamples) and not self.rows:
            return f"{self._operand(node.arg.arg)}.sum(axis=1, keepdims=True)"
        if isinstance(node.arg, P.SumSamples):
            return f"{self._operand(node.arg)}.reshape(-1, 1)"
        return f"{self._operand(node.arg)}[:, None]"

    def _Ravel(self, node: Ravel) -> str:
        return f"{self._operand(node.arg)}.ravel()"
