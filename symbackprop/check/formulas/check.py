"""check-formulas: judge every formula of an answer file against SymPy's derivation.

The truth is the derivation's per-entry closed forms; the mistake models (a missing activation
mask) are its Program run with act'(Z) left out. answers.py reads the file, report.py presents
the verdicts, template.py prints the blank file.
"""

from __future__ import annotations

from ...derive import Derivation, derive
from ...errors import UserError
from ...spec import NetworkSpec, registry
from .answers import parse_answers
from .judge import Judge, MaskModels, piecewise_units
from .report import EntryResult, FormulaReport
from .vocab import Vocabulary


def scalar_derivation(spec: NetworkSpec) -> Derivation:
    """derive(spec), refusing a network too large for per-entry closed forms."""
    derivation = derive(spec)
    if derivation.scalar is None and derivation.skipped == "penalty":
        raise UserError(
            "check-formulas' per-entry formulas do not carry an L2 penalty; check the "
            "matrix equations (--matrix) with --l2, or the per-entry formulas without it"
        )
    if derivation.scalar is None:
        raise UserError(
            f"check-formulas needs the per-entry closed forms, which {spec.name} is too "
            f"large for ({derivation.too_large}); use a smaller network"
        )
    return derivation


def vocabulary(derivation: Derivation) -> Vocabulary:
    """The names formulas of this network may use."""
    assert derivation.scalar is not None
    return Vocabulary.from_forms(derivation.scalar, alpha=derivation.spec.alpha)


def make_judge(derivation: Derivation, vocab: Vocabulary) -> Judge:
    """A Judge for the derivation: true gradients, definitions and the sign regions."""
    forms = derivation.scalar
    assert forms is not None
    loss = registry.loss(derivation.spec.loss)
    gradients = {
        sym: g
        for name in derivation.spec.param_names
        for sym, g in zip(forms.params[name], forms.gradients[name], strict=True)
    }
    return Judge(
        vocab,
        forms.definitions,
        gradients,
        piecewise_units(derivation.layers, forms.z),
        target_kind=loss.targets,
        seed=derivation.spec.seed,
        masks=MaskModels(derivation),
        error_slope=loss.error_slope,
    )


def check_formulas(
    spec: NetworkSpec, text: str, source: str = "answers", fmt: str = "auto"
) -> FormulaReport:
    """Judge an answer file's text against the spec's gradients (UserError on bad input)."""
    derivation = scalar_derivation(spec)
    vocab = vocabulary(derivation)
    refused: list[UserError] = []
    answers = parse_answers(text, vocab, source, fmt, errors=refused)
    if refused and not any(a.expr is not None for a in answers.values()):
        raise refused[0]  # nothing else to judge: the one line that says what to fix
    judge = make_judge(derivation, vocab)
    results = []
    for entry in vocab.entries:
        answer = answers.get(entry)
        if answer is None or answer.expr is None:
            results.append(
                EntryResult(
                    entry.name, "missing", None if answer is None else answer.line
                )
            )
            continue
        verdict = judge.judge(entry, answer.expr)
        results.append(
            EntryResult(entry.name, verdict.status, answer.line, answer.text, verdict)
        )
    return FormulaReport(
        source=source,
        spec=spec,
        entries=results,
        units=[u.name for u in judge.regions.units],
        regions_checked=len(judge.regions.regions),
        regions_possible=judge.regions.possible,
        refused=[e.message for e in refused],
    )
