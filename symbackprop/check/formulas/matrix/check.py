"""check-formulas' matrix mode: read the equations, judge each, list the gradients not given."""

from __future__ import annotations

from dataclasses import dataclass, field

from ....spec import NetworkSpec
from . import ast as A
from .counterexample import Counterexamples
from .course import course_tree
from .equations import Equation, read_equations
from .judge import Judge, Verdict
from .printer import show

WEIGHTS = ("units_first", "inputs_first")


@dataclass
class MatrixReport:
    """Every equation's verdict, then the missing gradients."""

    source: str
    spec: NetworkSpec
    layout: str
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every equation is right and no gradient is missing."""
        return all(v.status == "ok" for v in self.verdicts)


def check_matrix(
    spec: NetworkSpec,
    text: str,
    source: str = "answers",
    layout: str = "rows",
    weights: str = "units_first",
    fmt: str = "auto",
) -> MatrixReport:
    """Judge a file of matrix equations against the spec's derivation in `layout`."""
    judge = Judge(spec, layout, weights, seed=spec.seed)
    report = MatrixReport(source, spec, layout)
    examples = Counterexamples(judge)
    equations = read_equations(text, spec.depth, fmt)
    seen: dict[tuple[str, int], int] = {}
    wrong: set[str] = set()
    for eq in equations:
        if eq.rhs is None or eq.key is None:
            if eq.key is not None:
                seen.setdefault(
                    eq.key, eq.line
                )  # given, though unreadable: not missing
            message = eq.error or f"{eq.name}: not a quantity of this network"
            report.verdicts.append(Verdict(eq.name, eq.line, "error", message=message))
            continue
        if eq.key in seen:
            message = f"{eq.name} is given twice (first on line {seen[eq.key]})"
            report.verdicts.append(Verdict(eq.name, eq.line, "error", message=message))
            continue
        seen[eq.key] = eq.line
        verdict = judge.judge(eq)
        if verdict.status != "ok":
            wrong.add(eq.name)
            if not verdict.fix:
                verdict.fix = correct_equation(judge, eq)
            if verdict.status == "wrong":
                verdict.counterexample = examples.find(eq)
        else:
            verdict.built_on = [
                n for n in dict.fromkeys(A.names_in(eq.rhs)) if n in wrong
            ]
            if verdict.built_on:
                verdict.message += (
                    "; correct as written, but it uses "
                    + ", ".join(verdict.built_on)
                    + ", which is wrong above"
                )
        report.verdicts.append(verdict)
    for k in range(1, spec.depth + 1):
        for kind in ("dW", "db"):
            if (kind, k) not in seen:
                name = f"{kind}{k}"
                report.verdicts.append(
                    Verdict(
                        name,
                        None,
                        "missing",
                        message=f"no line gives {name}; write {name} = ...",
                    )
                )
    return report


def correct_equation(judge: Judge, eq: Equation) -> str:
    """The derivation's equation for the line's left side, in the student's notation."""
    assert eq.key is not None
    kind, layer = eq.key
    prog = judge.derivation.program_for(judge.layout)
    mean = judge.spec.reduction == "mean"
    inputs_first = judge.weights == "inputs_first"
    tree = course_tree(prog, kind, layer, mean, inputs_first)
    return "" if tree is None else f"{eq.name} = {show(tree, eq.style, judge.layout)}"
