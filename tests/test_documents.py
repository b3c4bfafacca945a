"""The derivation document's LaTeX: notation, printers, the Program as maths, data, seed notebook.

No TeX needed here (tests/test_pdf.py compiles). References are computed independently: the
epoch-1 gradients by tests/reference.py's hand-written loops, symbol names and code lines by
hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import reference
import sympy as sp

from symbackprop import cli
from symbackprop.derive import derive
from symbackprop.emit import document as documents
from symbackprop.emit import (
    document_model,
    drawing,
    formulas,
    seed_notebook,
    unit_forms,
)
from symbackprop.emit import trainer as codegen
from symbackprop.emit.trainer import TrainerBuild
from symbackprop.printing import latex, notation, tex
from symbackprop.printing import numpy as printing
from symbackprop.printing.latex import ProgramLatexPrinter
from symbackprop.spec import default_spec, make_spec

SEED_X = np.array(reference.SEED_X)
SEED_Y = np.array(reference.SEED_Y)


@pytest.fixture(scope="module")
def default_build() -> TrainerBuild:
    return codegen.build_trainer(default_spec(), command="symbackprop build")


@pytest.fixture(scope="module")
def seed_findings() -> tuple[seed_notebook.Finding, ...]:
    """The checker's verdict on the seed notebook, as `symbackprop build` hands it over."""
    findings = cli._seed_findings(default_spec())
    assert findings is not None
    return findings


@pytest.fixture(scope="module")
def default_tex(
    default_build: TrainerBuild, seed_findings: tuple[seed_notebook.Finding, ...]
) -> str:
    return documents.derivation_tex(default_build, "symbackprop build", seed_findings)


def epoch1_gradients() -> dict[str, np.ndarray]:
    """The seed's epoch-1 gradients from the hand-written reference (not the generated code)."""
    _, grads = reference.loss_and_gradients(reference.seed_params(), SEED_X, SEED_Y)
    return grads


# --------------------------------------------------------------------------- notation


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("W1_1_2", "w^{(1)}_{12}"),
        ("W2_1_12", "w^{(2)}_{1,12}"),
        ("W3_k_i", "w^{(3)}_{ki}"),
        ("b1_1", "b^{(1)}_{1}"),
        ("z2_3", "z^{(2)}_{3}"),
        ("h1_10", "h^{(1)}_{10}"),
        ("delta2_k", r"\delta^{(2)}_{k}"),
        ("yhat_1", r"\hat{y}_{1}"),
        ("x_2", "x_{2}"),
        ("y_1", "y_{1}"),
    ],
)
def test_symbol_names(name: str, expected: str) -> None:
    assert notation.symbol_tex(name) == expected


def test_printer_writes_the_step_as_an_indicator_and_yhat_minus_y() -> None:
    z = sp.Symbol("z1_1", real=True)
    assert latex.tex(sp.Heaviside(z, 0)) == r"\mathbf{1}[z^{(1)}_{1} > 0]"
    e = (
        sp.Symbol("W2_1_1")
        * (sp.Symbol("yhat_1") - sp.Symbol("y_1"))
        * sp.Heaviside(z, 0)
    )
    out = latex.tex(e)
    assert r"\theta" not in out
    assert r"\hat{y}_{1} - y_{1}" in out


def test_escape_survives_every_special_character() -> None:
    text = r"a_b & c % d $ e # f { g } \ h ~ ^"
    assert tex.escape_tex(text) == (
        r"a\_b \& c \% d \$ e \# f \{ g \} \textbackslash{} h \textasciitilde{} "
        r"\textasciicircum{}"
    )
    assert tex.escape_tex("use --reduction `mean`") == (
        r"use -{}-{}reduction \textasciigrave{}mean\textasciigrave{}"
    )


def test_long_expressions_break_into_lines_that_fit() -> None:
    d = derive(make_spec(layers=(2, 3, 3, 3, 1)))
    assert d.scalar is not None
    entry = sp.factor_terms(d.scalar.readable["W1"][0, 0])
    lines = latex.broken(entry)
    assert len(lines) > 1
    assert all(tex.visual_width(line) <= tex.LINE_WIDTH + 12 for line in lines)
    # nothing is lost: every parameter symbol of the one-line form is in the broken form
    whole = latex.tex(entry)
    symbols = set(re.findall(r"w\^\{\(\d\)\}_\{\d+\}", whole))
    assert symbols and symbols == set(
        re.findall(r"w\^\{\(\d\)\}_\{\d+\}", " ".join(lines))
    )
    assert " ".join(lines).count(r"\Bigl(") == " ".join(lines).count(r"\Bigr)")


# --------------------------------------------------------------------------- the Program as maths


def _statements(spec_fields: dict, layout: str = "rows") -> dict[str, str]:
    """Each step's LaTeX, by the array it defines."""
    d = derive(make_spec(**spec_fields) if spec_fields else default_spec())
    prog = d.program_for(layout)
    printer = ProgramLatexPrinter(layout, link=prog.prediction == "P")
    return {
        step.name: printer.statement(step) for step in (*prog.forward, *prog.backward)
    }


def test_default_program_in_maths_rows() -> None:
    shown = _statements({})
    assert shown["Z1"] == r"Z^{(1)} = X\,W^{(1)\top} + \mathbf{1}_N\,b^{(1)\top}"
    assert shown["H1"] == r"H^{(1)} = \max(Z^{(1)}, 0)"
    assert shown["Y"] == r"\hat{Y} = Z^{(2)}"
    assert shown["dZ2"] == r"\Delta^{(2)} = \hat{Y} - Y"
    assert shown["gW2"] == (
        r"\partial\mathcal{L}/\partial W^{(2)} = \Delta^{(2)\top}\,H^{(1)}"
    )
    assert shown["gb2"] == (
        r"\partial\mathcal{L}/\partial b^{(2)} = \Delta^{(2)\top}\,\mathbf{1}_N"
    )
    assert shown["dZ1"] == (
        r"\Delta^{(1)} = \bigl(\Delta^{(2)}\,W^{(2)}\bigr) \odot \mathbf{1}[Z^{(1)} > 0]"
    )
    assert shown["gW1"] == r"\partial\mathcal{L}/\partial W^{(1)} = \Delta^{(1)\top}\,X"


def test_default_program_in_maths_columns() -> None:
    shown = _statements({}, "columns")
    assert shown["Z1"] == r"Z^{[1]} = W^{[1]}\,X + b^{[1]}\,\mathbf{1}_m^{\top}"
    assert shown["Z2"] == r"Z^{[2]} = W^{[2]}\,H^{[1]} + b^{[2]}\,\mathbf{1}_m^{\top}"
    assert shown["gW2"] == (
        r"\partial\mathcal{L}/\partial W^{[2]} = \Delta^{[2]}\,H^{[1]\top}"
    )
    assert shown["gb1"] == (
        r"\partial\mathcal{L}/\partial b^{[1]} = \Delta^{[1]}\,\mathbf{1}_m"
    )
    assert shown["dZ1"] == (
        r"\Delta^{[1]} = \bigl(W^{[2]\top}\,\Delta^{[2]}\bigr) \odot \mathbf{1}[Z^{[1]} > 0]"
    )
    assert (
        shown["gW1"] == r"\partial\mathcal{L}/\partial W^{[1]} = \Delta^{[1]}\,X^{\top}"
    )


def test_mean_link_and_entrywise_products_in_maths() -> None:
    fields = dict(
        layers=(2, 3, 3, 2),
        activations=("tanh", "sigmoid", "identity"),
        loss="softmax_cross_entropy",
        reduction="mean",
    )
    for layout, batch, (left, right) in (("rows", "N", "()"), ("columns", "m", "[]")):
        shown = _statements(fields, layout)

        def up(k: int, left: str = left, right: str = right) -> str:
            return "^{" + left + str(k) + right + "}"

        assert shown["Y"] == r"\tilde{Y} = Z" + up(3)
        assert shown["P"] == r"\hat{Y} = \operatorname{softmax}(\tilde{Y})"
        assert (
            shown["dZ3"] == r"\Delta" + up(3) + r" = \frac{\hat{Y} - Y}{" + batch + "}"
        )
        # sigma' = h (1 - h) on matrices is entrywise: written with odot, not as a product
        assert shown["dZ2"].endswith(
            r"\odot H" + up(2) + r" \odot \left(1 - H" + up(2) + r"\right)"
        )
        assert shown["dZ1"].endswith(
            r"\odot \bigl(1 - (H" + up(1) + r")^{2}\bigr)"  # parentheses of text height
        )
        assert shown["H2"] == "H" + up(2) + r" = \sigma(Z" + up(2) + ")"


def test_one_sample_is_the_columns_program_in_vectors() -> None:
    """The per-sample forms are the columns-layout Program printed for one column."""
    fields = dict(
        layers=(2, 3, 3, 2),
        activations=("tanh", "sigmoid", "identity"),
        loss="softmax_cross_entropy",
        reduction="mean",
    )
    d = derive(make_spec(**fields))
    forward = {r.lhs: r.rhs[0] for r in formulas.forward_vector(d)}
    assert forward["z^{(1)}"] == "W^{(1)} x + b^{(1)}"
    assert forward["h^{(2)}"] == r"\sigma(z^{(2)})"
    # the logits are z^(3) itself: the prediction follows it, no copy is shown
    assert forward[r"\hat{y}"] == r"\operatorname{softmax}(z^{(3)})"
    backward = [(r.lhs, r.rhs[0]) for r in formulas.backward_vector(d)]
    assert backward[0] == (r"\delta^{(3)}", r"\hat{y} - y")  # one sample's L: no 1/m
    assert backward[1] == (
        r"\frac{\partial L}{\partial W^{(3)}}",
        r"\delta^{(3)} h^{(2)\top}",
    )
    assert backward[2] == (r"\frac{\partial L}{\partial b^{(3)}}", r"\delta^{(3)}")
    # a slope that is a sum is bracketed (it was not, when this was typed by hand)
    assert dict(backward)[r"\delta^{(1)}"] == (
        r"\bigl(W^{(2)\top} \delta^{(2)}\bigr) \odot \bigl(1 - (h^{(1)})^{2}\bigr)"
    )


def test_per_unit_deltas_come_from_the_program() -> None:
    d = derive(make_spec(layers=(2, 2, 2), activations=("relu", "identity")))
    prog = d.program_for("columns")
    # entry i of dZ1 in index notation: the Program's MatMul(W2.T, dZ2) * act'(Z1)
    k = sp.Symbol("k", integer=True, positive=True)
    general = unit_forms.entry(d, "dZ1", "i")
    w, dl = sp.Symbol("W2_k_i", real=True), sp.Symbol("delta2_k", real=True)
    z = sp.Symbol("z1_i", real=True)
    assert general == sp.Sum(w * dl, (k, 1, 2)) * sp.Heaviside(z, 0)
    # per unit: the step run on one sample's symbols, delta^(2) given as symbols
    given = {"dZ2": unit_forms.delta_symbols(2, 2)}
    out = unit_forms.run_sample(d, prog.step("dZ1").expr, given)
    s = {
        n: sp.Symbol(n, real=True)
        for n in ("W2_1_2", "W2_2_2", "delta2_1", "delta2_2", "z1_2")
    }
    expected = (
        s["W2_1_2"] * s["delta2_1"] + s["W2_2_2"] * s["delta2_2"]
    ) * sp.Heaviside(s["z1_2"], 0)
    assert sp.expand(out[1] - expected) == 0
    # the gradient step's entry: dL/dw_ij = delta_i h_j
    assert unit_forms.entry(d, "gW2", "i", "j") == sp.Symbol(
        "delta2_i", real=True
    ) * sp.Symbol("h1_j", real=True)


def test_step_convention_is_printed_from_the_derivation() -> None:
    d = derive(default_spec())
    text = formulas.step_convention(d, tex.TEX)
    assert r"\texttt{Heaviside(z, 0)}" in text
    assert r"\texttt{(Z \textgreater{} 0)}" in text
    assert r"\operatorname{ReLU}'(0) = 0" in text
    smooth = derive(make_spec(layers=(2, 2, 1), activations=("tanh", "identity")))
    assert formulas.step_convention(smooth, tex.TEX) == ""


def test_code_table_words_are_the_trainers_comments() -> None:
    """The document's words for a step are the emitted trainer's comment on it, less the shape."""
    built = codegen.build_trainer(default_spec())
    prog = built.derivation.program
    for step in prog.forward:
        what = document_model._what(step, prog)
        comment = f"  # {printing.shape_text(step.shape)} {what}\n"
        assert comment in built.source, (step.name, comment)


# --------------------------------------------------------------------------- the document


def test_default_document_has_every_part(default_tex: str) -> None:
    for title in (
        r"\section{The network and its notation}",
        r"\section{The forward pass}",
        r"\section{The backward pass}",
        r"\subsection{Error signals, layer by layer}",
        r"\subsection{The chain rule for each parameter group}",
        r"\subsection{Closed forms derived by SymPy}",
        r"\subsection{Vectorized, exactly as the trainer computes it}",
        r"\section{A worked example: epoch 1}",
        r"\section{Checking the notebook}",
    ):
        assert title in default_tex
    assert r"\begin{tikzpicture}" in default_tex and r"\begin{axis}" in default_tex
    # the same printed names in the drawing and the symbol table
    for name in (r"h^{(1)}_{1}", r"h^{(1)}_{2}", r"\hat{y}_{1}", "x_{1}", "x_{2}"):
        assert "{$" + name + "$}" in default_tex  # a TikZ node label
        assert "$" + name + "$" in default_tex.split(r"\begin{longtable}")[1]
    # every parameter entry has its closed form; the step is an indicator, never theta
    for entry in (
        "w^{(1)}_{11}",
        "w^{(1)}_{22}",
        "b^{(1)}_{2}",
        "w^{(2)}_{12}",
        "b^{(2)}_{1}",
    ):
        assert r"\frac{\partial L}{\partial " + entry + "}" in default_tex
    assert r"\theta" not in default_tex
    assert r"\operatorname{ReLU}'(0) = 0" in default_tex
    # the vectorized statements are exactly the trainer's, shown as code too
    for line in printing.backward_lines(derive(default_spec())):
        assert tex.code_tex(line.code) in default_tex


def test_checking_the_notebook_reads_as_prose(default_tex: str) -> None:
    """The checker's findings name the notebook's line without quoting its code between
    backticks, and no parenthesis opens inside another, as a terminal log would."""
    section = default_tex.split(r"\section{Checking the notebook}")[1]
    findings = section.split(r"\begin{itemize}")[1].split(r"\end{itemize}")[0]
    assert (
        r"notebook\_221\_relu.txt:19)" in findings
    )  # the forward's crash, by its line
    assert "`" not in findings
    depth = 0
    for char in findings:
        depth += {"(": 1, ")": -1}.get(char, 0)
        assert depth <= 1, findings
    assert "follows the batch size where W1 is (2, 2): (3, 3) at N = 3" in findings


def test_default_document_shows_the_correct_epoch1_numbers(default_tex: str) -> None:
    grads = epoch1_gradients()
    for name, value in grads.items():
        for v in np.asarray(value).ravel():
            assert f"{v:.4f}" in default_tex, (name, v)
    # loss 2.06865 (sum over the two samples) and the updated W1 after lr 0.05
    assert "2.0686" in default_tex or "2.0687" in default_tex
    updated = reference.seed_params()["W1"] - 0.05 * grads["W1"]
    for v in updated.ravel():
        assert f"{v:.4f}" in default_tex


def test_header_comments_and_no_paths_or_dates(
    default_tex: str, tmp_path: Path
) -> None:
    lines = default_tex.splitlines()
    assert lines[0].startswith("% Generated by symbackprop")
    assert "symbackprop build" in lines[1] and lines[1].startswith("%")
    assert r"\pdfinfoomitdate=1" in default_tex and r"\date{}" in default_tex
    assert (
        "/tmp" not in default_tex
        and "/work" not in default_tex
        and str(tmp_path) not in default_tex
    )
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", default_tex) is None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the title in the trainer
def test_special_title_is_escaped() -> None:
    title = r"a_b & c % d $ e # f { g } \ h"
    built = codegen.build_trainer(make_spec(layers=(2, 2, 1), title=title))
    source = documents.derivation_tex(built, "test")
    assert r"\title{a\_b \& c \% d \$ e \# f \{ g \} \textbackslash{} h" in source


def test_big_network_gets_general_forms_and_says_why() -> None:
    built = codegen.build_trainer(make_spec(layers=(10, 20, 5)))
    source = documents.derivation_tex(built, "test")
    assert "325 parameters, too many to write out a formula for each" in source
    # no per-entry closed forms
    assert r"\frac{\partial L}{\partial w^{(1)}_{11}}" not in source
    assert r"\delta^{(1)}_{i}" in source and r"\sum_{k=1}^{5}" in source  # per layer
    # at most DRAW_LIMIT units drawn per layer, with an ellipsis for the wide ones
    drawn = re.findall(r"name=n(\d+)u\d+\]", source)
    assert max(drawn.count(str(k)) for k in range(3)) <= drawing.DRAW_LIMIT - 1
    assert r"{$\vdots$}" in source
    # no data in the spec: the example says where its numbers come from, and elides rows
    assert "make\\_data(seed=0)" in source and r"\vdots" in source
    assert r"\section{Checking the notebook}" not in source


def test_matrix_elision_and_numbers() -> None:
    m = tex.matrix_tex(np.arange(60.0).reshape(10, 6))
    assert m.count(r"\\") == tex.SHOW_ROWS - 1 and r"\cdots" in m and r"\ddots" in m
    assert tex.number_tex(-0.0) == "0" and tex.number_tex(-2.235) == "-2.2350"
    assert tex.number_tex(1.5e-7) == r"1.500\times 10^{-7}"


# --------------------------------------------------------------------------- the seed notebook


def test_seed_notebook_epoch1_line_is_parsed() -> None:
    text = seed_notebook.seed_notebook_path().read_text(encoding="utf-8")
    printed = seed_notebook.printed_epoch(text)
    assert printed["loss"] == [1.0537]
    assert printed["W1"] == [-2.86, -2.69, -2.01, -1.89]
    assert printed["W2"] == [-1.72, -3.43]
    assert printed["b1"] == [-0.72, -0.86]
    assert printed["b2"] == [-1.43]


def test_only_the_seed_network_gets_the_notebook_section() -> None:
    assert seed_notebook.is_seed_network(default_spec())
    assert not seed_notebook.is_seed_network(make_spec(layers=(3, 4, 2)))
    assert not seed_notebook.is_seed_network(make_spec(**{**_seed_fields(), "lr": 0.1}))
    assert cli._seed_findings(make_spec(layers=(3, 4, 2))) is None


def _seed_fields() -> dict:
    from symbackprop.spec import DEFAULT

    return dict(DEFAULT)


def test_notebook_table_compares_with_the_correct_values(
    default_build: TrainerBuild,
) -> None:
    trainer = codegen.load_trainer(default_build.source)
    check = seed_notebook.notebook_check(default_spec(), trainer, None)
    assert check is not None
    rows = {row.name: row for row in check.rows}
    grads = epoch1_gradients()
    w1 = ", ".join(f"{v:.2f}" for v in np.round(grads["W1"].ravel(), 2))
    assert rows["W1\\_grad"].correct == f"$({w1})$"
    assert rows["W1\\_grad"].printed == "$(-2.86, -2.69, -2.01, -1.89)$"
    # the notebook's forward pass is wrong
    assert not any(row.agrees for row in check.rows)
    # without the checker's verdict the section compares the printed numbers only
    assert "comparing the printed numbers only" in check.source
    assert check.findings == (
        "The gradients of W1, W2, b1, b2: the printed values differ from the correct ones.",
    )


def test_seed_findings_come_from_the_checker(
    seed_findings: tuple[seed_notebook.Finding, ...],
) -> None:
    parts = {f.part: f for f in seed_findings}
    codes = {part: {c.code for c in f.diagnoses} for part, f in parts.items()}
    assert "bias_broadcast" in codes["forward"]
    assert parts["W1"].status == "wrong"
    assert {"product_order", "wrong_shape"} & codes["W1"]
    assert parts["W2"].status == "ok"
    assert "scaled" in codes["b1"] and "scaled" in codes["b2"]
    # the checker names the file; the document keeps its name, not the folder it is in
    folder = str(seed_notebook.seed_notebook_path().parent)
    assert "notebook_221_relu.txt:" in parts["forward"].message
    assert all(folder not in f.message for f in seed_findings)


def test_checker_findings_are_named_and_escaped(
    default_build: TrainerBuild, monkeypatch: pytest.MonkeyPatch
) -> None:
    import symbackprop.check as check

    def fake_check_code(path: object, **options: object) -> dict:
        part = {"status": "ok", "diagnoses": [], "message": "", "max_rel_error": 0.0}
        return {
            "ok": False,
            "reduction": "sum",
            "forward": {
                "status": "wrong",
                "diagnoses": ["bias_broadcast"],
                "message": "b1 has shape (2, 1) & adds 100% per_sample",
                "max_rel_error": 0.1,
            },
            "gradients": {
                "W1": part,
                "b1": {**part, "status": "wrong", "diagnoses": ["scaled"]},
            },
        }

    monkeypatch.setattr(check, "check_code", fake_check_code, raising=False)
    trainer = codegen.load_trainer(default_build.source)
    findings = cli._seed_findings(default_spec())
    result = seed_notebook.notebook_check(default_spec(), trainer, findings)
    assert result is not None
    text = " ".join(result.findings)
    assert r"b1 has shape (2, 1) \& adds 100\% per\_sample" in text
    assert r"\texttt{bias\_broadcast}" in text and "broadcasts down the batch" in text
    assert "The gradient of W1: correct." in text
    assert r"\texttt{scaled}" in text
    assert r"\texttt{symbackprop check-{}code}" in result.source


def test_emit_notebook_and_latex_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "x.ipynb"
    assert cli.main(["emit", "notebook", "-o", str(out)]) == 0
    assert '"nbformat_minor": 5' in out.read_text(encoding="utf-8")
    out = tmp_path / "net.tex"
    assert cli.main(["emit", "latex", "--layers", "3,4,2", "-o", str(out)]) == 0
    source = out.read_text(encoding="utf-8")
    assert (
        source.startswith("% Generated by symbackprop") and r"\end{document}" in source
    )
    assert "symbackprop emit latex --layers 3,4,2 -o net.tex" in source


# --------------------------------------------------------------------------- issue 15: documents


def _latex(**fields: object) -> str:
    return documents.derivation_tex(codegen.build_trainer(make_spec(**fields)), "test")


def _maths_only(source: str) -> str:
    """The source without its code (\\texttt{...}, braces matched) and its comment lines."""
    out, i = [], 0
    while (start := source.find(r"\texttt{", i)) >= 0:
        out.append(source[i:start])
        depth, j = 0, start + len(r"\texttt")
        while True:
            depth += {"{": 1, "}": -1}.get(source[j], 0)
            j += 1
            if depth == 0:
                break
        i = j
    body = "".join(out) + source[i:]
    return "\n".join(line for line in body.splitlines() if not line.startswith("%"))


def test_a_link_loss_is_written_in_its_prediction_as_mathematics() -> None:
    source = _latex(
        layers=(3, 4, 8), activations=("relu", "identity"), loss="softmax_cross_entropy"
    )
    assert r"L &= -\sum_{k=1}^{8} y_{k} \log \hat{y}_{k}" in source
    assert r"\hat{y} = \operatorname{softmax}(z^{(2)})" in source
    assert (
        "cross-{}entropy of softmax" not in source
        and "from the logits z;" not in source
    )
    assert "logaddexp" not in _maths_only(source) and "e^{0}" not in source


def test_a_small_deep_network_is_not_said_to_have_too_many_parameters() -> None:
    """3-8-8-2 has 122 parameters, few enough; its closed forms are left out for their length."""
    source = _latex(layers=(3, 8, 8, 2), activations=("tanh", "tanh", "identity"))
    assert "too many" not in source
    assert "one parameter's closed formula would already be long" in source


def test_a_sigmoid_is_sigma_in_the_batch_table() -> None:
    source = _latex(
        layers=(3, 4, 2), activations=("sigmoid", "identity"), loss="bce_with_logits"
    )
    assert r"H^{(1)} = \sigma(Z^{(1)})" in source
    assert r"\frac{1}{1 + e^{- Z^{(1)}}}" not in source
    assert r"- \left(1 - y_{1}\right) \log\left(1 - \hat{y}_{1}\right)" in source


def test_no_decision_log_in_the_document() -> None:
    source = _latex(layers=(20, 20, 2))
    assert "462 parameters, too many to write out a formula for each" in source
    for log in ("> 300", "closed forms skipped", "proxy", "rel. error", "max rel"):
        assert log not in source, log
    assert "symbackprop checked it against SymPy" in source


def test_title_page_is_a_table_not_a_spec_dump(default_tex: str) -> None:
    assert r"\texttt{net\_2\_2\_1: layers" not in default_tex
    assert r"\textit{Activations} & $\operatorname{ReLU}$ (layer 1)" in default_tex


def test_figures_never_float_alone_mid_document(default_tex: str) -> None:
    assert r"\begin{figure}[h]" not in default_tex
    assert r"\renewcommand{\floatpagefraction}{0.85}" in default_tex


def test_a_transposed_fraction_gets_brackets_of_its_height() -> None:
    grad = notation.partial(r"\mathcal{L}", "b^{(1)}")
    assert notation.transposed(grad) == rf"\left({grad}\right)^{{\top}}"
    assert notation.transposed("a + b") == r"\bigl(a + b\bigr)^{\top}"


def test_a_matrix_has_one_number_format() -> None:
    m = tex.matrix_tex(np.array([[-8.873e-4, 0.0052], [0.0, 3.2e-4]]))
    assert m.startswith(r"10^{-3} \times ") and r"\times 10" not in m
    assert "-0.8873" in m and "5.2000" in m
    assert tex.matrix_tex(np.array([[0.0, 1.0], [1.0, 0.0]])) == (
        r"\begin{pmatrix}0 & 1 \\ 1 & 0\end{pmatrix}"
    )
    assert "0.1000" in tex.matrix_tex(np.array([0.1, 0.25]))
    # largest entry between 1 and 10 with a tiny one: 4 decimals, and no factor 10^0
    m = tex.matrix_tex(np.array([[2.1678, -0.0006], [0.0134, 1.2751]]))
    assert m.startswith(r"\begin{pmatrix}") and "-0.0006" in m and "2.1678" in m


def test_symbol_table_formats_only_the_entries_it_shows() -> None:
    asked: list[int] = []
    shown = document_model._entries(10**6, lambda t: asked.append(t) or f"a_{t}")
    assert asked == [1, 2, 10**6] and shown.count("$") == 8
