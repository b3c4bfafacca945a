"""The document reads without stumbling: one row per batch array, the trainer's Y and y named
once, no entry wrapping alone, the notebook check's bullets without nested parentheses."""

from __future__ import annotations

import re

import pytest

from symbackprop import cli
from symbackprop.derive import derive
from symbackprop.emit import document as documents
from symbackprop.emit import document_model, seed_notebook
from symbackprop.emit import trainer as codegen
from symbackprop.spec import default_spec, make_spec


@pytest.fixture(scope="module")
def default_tex() -> str:
    built = codegen.build_trainer(default_spec(), command="symbackprop build")
    return documents.derivation_tex(built, "symbackprop build", None)


def _rows(spec) -> dict[str, document_model.SymbolRow]:
    return {r.symbol: r for r in document_model.symbols(derive(spec))}


def test_targets_and_outputs_have_a_row_each() -> None:
    rows = _rows(default_spec())
    assert not any(r"Y,\ \hat{Y}" in s for s in rows)
    assert rows["$Y$"].code == r"\texttt{y}"
    outputs = rows[r"$\hat{Y}$"]
    assert outputs.code == r"\texttt{Y}"
    assert r"the trainer's \texttt{Y} is $\hat{Y}$" in outputs.meaning
    said = [r for r in rows.values() if "the trainer's" in r.meaning]
    assert said == [outputs]  # said once


def test_a_classifier_names_logits_and_predictions_apart() -> None:
    rows = _rows(make_spec(layers=(2, 3, 3), loss="softmax_cross_entropy"))
    assert rows[r"$\hat{Y}$"].code == r"\texttt{P}"
    assert rows[r"$\tilde{Y}$"].code == r"\texttt{Y}"
    assert "logits" in rows[r"$\tilde{Y}$"].meaning


def test_no_entry_wraps_onto_a_line_alone() -> None:
    weights = _rows(default_spec())
    w1 = next(s for s in weights if s.startswith("$W^{(1)}$"))
    assert w1.endswith(r"$w^{(1)}_{21}$,~$w^{(1)}_{22}$")


def _depth(text: str) -> int:
    """The deepest parenthesis nesting outside \\texttt{}."""
    depth = deepest = 0
    for ch in re.sub(r"\\texttt\{[^{}]*\}", "", text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        deepest = max(deepest, depth)
    return deepest


def test_notebook_check_bullets_wrap_nothing_in_parentheses() -> None:
    """The verdict, the checker's message and each diagnosis are sentences of their own."""
    findings = cli._seed_findings(default_spec())
    assert findings is not None
    for finding in findings:
        text = seed_notebook._finding_tex(finding)
        assert ": wrong (" not in text and "))." not in text
        for c in finding.diagnoses:
            assert _depth(c.explanation) <= 1, c.explanation
    b1 = next(f for f in findings if f.part == "b1")
    assert seed_notebook._finding_tex(b1).startswith(
        "The gradient of b1: wrong. b1\\_grad is 1/N times"
    )


def test_a_named_activation_is_not_defined_as_itself() -> None:
    """tanh(z) = tanh(z) says nothing; relu and sigmoid keep their definitions."""
    from symbackprop.emit import formulas

    spec = make_spec(layers=(3, 8, 8, 2), activations=("tanh", "tanh", "identity"))
    defs = [a.lhs for a in formulas.activation_defs(derive(spec))]
    assert defs == [r"\operatorname{id}(z)"]
    spec = make_spec(layers=(2, 3, 1), activations=("relu", "sigmoid"))
    assert len(formulas.activation_defs(derive(spec))) == 2


def test_the_activation_definitions_are_a_phrase_with_spaces(default_tex: str) -> None:
    assert (
        r"(with the activation functions $\operatorname{ReLU}(z) = \max(z, 0)$, "
        r"$\operatorname{id}(z) = z$):" in default_tex
    )
