"""check-formulas: hand-written formulas judged right or wrong, unsafe input refused, exit codes.

The references are independent of symbackprop: the correct formulas in the fixtures are written
by hand from the chain rule, and counterexamples are re-checked with tests/reference.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from reference import loss_and_gradients

from symbackprop.check.formulas import check
from symbackprop.check.formulas.answers import parse_answers
from symbackprop.check.formulas.parse import parse_formula
from symbackprop.check.formulas.template import template
from symbackprop.check.formulas.vocab import ParseError, Vocabulary
from symbackprop.derive import derive
from symbackprop.errors import UserError
from symbackprop.printing.plain import plain
from symbackprop.spec import NetworkSpec, default_spec, registry, resolve
from symbackprop.spec.registry import Activation

FIXTURES = Path(__file__).parent / "fixtures" / "formulas"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", "check-formulas", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return check.vocabulary(derive(default_spec()))


def filled_template(template: str, spec: NetworkSpec) -> str:
    """Fill every `dL/dX = ` line with SymPy's readable closed form, as the trainer prints it."""
    d = derive(spec)
    answers = {
        f"dL/d{s} =": f"dL/d{s} = {plain(g)}"
        for name in spec.param_names
        for s, g in zip(d.scalar.params[name], d.scalar.readable[name], strict=True)
    }
    return "\n".join(answers.get(line.strip(), line) for line in template.splitlines())


# -- correct formulas -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["correct_plain_2_2_1.txt", "correct_latex_2_2_1.txt"])
def test_hand_written_correct_formulas_pass(name: str) -> None:
    r = run(str(FIXTURES / name), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is True
    assert report["summary"] == {
        "total": 9,
        "ok": 9,
        "wrong": 0,
        "unproven": 0,
        "missing": 0,
    }
    assert report["regions"] == {"units": ["z1_1", "z1_2"], "checked": 4, "possible": 4}
    assert {e["method"] for e in report["entries"].values()} == {"symbolic"}


def test_human_output_for_correct_formulas() -> None:
    r = run(str(FIXTURES / "correct_plain_2_2_1.txt"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 + 9 + 1
    assert all(line.startswith(("✓", "ok")) for line in lines[1:-1])
    assert "9 of 9 correct, 0 wrong, 0 missing" in lines[-1]


# -- wrong formulas -------------------------------------------------------------------------
EXPECTED = {
    "W1_1_1": ("wrong", ["sign_flipped"]),
    "W1_1_2": ("wrong", ["transposed"]),
    "W1_2_1": ("wrong", ["transposed"]),
    "W1_2_2": ("wrong", ["missing_activation_mask"]),
    "b1_1": ("wrong", ["scaled"]),
    "b1_2": ("wrong", ["wrong"]),
    "W2_1_1": ("ok", []),
    "W2_1_2": ("missing", []),
    "b2_1": ("missing", []),
}


def _reference_gradient(values: dict[str, float], entry: str) -> float:
    """The gradient of one sample from tests/reference.py (hand-written loops)."""
    params = {
        "W1": np.array([[values[f"W1_{i}_{j}"] for j in (1, 2)] for i in (1, 2)]),
        "b1": np.array([values["b1_1"], values["b1_2"]]),
        "W2": np.array([[values["W2_1_1"], values["W2_1_2"]]]),
        "b2": np.array([values["b2_1"]]),
    }
    X = np.array([[values["x_1"], values["x_2"]]])
    y = np.array([[values["y_1"]]])
    _, g = loss_and_gradients(params, X, y)
    name, *index = entry.split("_")
    return float(g[name][tuple(int(k) - 1 for k in index)])


def test_wrong_formulas_get_their_diagnosis_and_a_true_counterexample() -> None:
    r = run(str(FIXTURES / "wrong_2_2_1.txt"), "--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is False
    assert report["summary"] == {
        "total": 9,
        "ok": 1,
        "wrong": 6,
        "unproven": 0,
        "missing": 2,
    }
    for entry, (status, codes) in EXPECTED.items():
        got = report["entries"][entry]
        assert (got["status"], got["diagnoses"]) == (status, codes), entry
        if status != "wrong":
            assert got["counterexample"] is None
            continue
        assert got["method"] == "counterexample"
        cx = got["counterexample"]
        assert cx["expected"] != cx["got"]
        assert cx["expected"] == pytest.approx(_reference_gradient(cx["values"], entry))
        assert all(v * 2 == round(v * 2) for v in cx["values"].values())  # nice numbers
    assert report["entries"]["b1_1"]["factor"] == "2"
    assert "W1_2_1" in report["entries"]["W1_1_2"]["message"]
    assert report["entries"]["W2_1_2"]["line"] == 9
    assert report["entries"]["b2_1"]["line"] is None


def test_human_output_for_a_wrong_formula(tmp_path: Path) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text("dL/dW1_1_1 = (y - yhat) * W2_1_1 * step(z_1) * x_1\n")
    r = run(str(answers))
    assert r.returncode == 1
    out = r.stdout
    assert "✗ dL/dW1_1_1  line 1: [sign_flipped]" in out
    assert "check the order in (y_pred - y_true)" in out
    assert "counterexample: x_1 = " in out
    assert "the gradient is " in out and "your formula gives " in out
    assert "? dL/db2_1" in out and "0 of 9 correct, 1 wrong, 8 missing" in out


def test_sign_flip_with_a_factor_is_both(vocab: Vocabulary) -> None:
    spec = default_spec()
    report = check.check_formulas(spec, "dL/db2_1 = (y - yhat) / 2\n")
    entry = {e.name: e for e in report.entries}["b2_1"]
    assert entry.verdict.diagnoses == ["sign_flipped", "scaled"]
    assert entry.verdict.factor == "-1/2"


@pytest.mark.parametrize(
    ("loss", "formula", "factor", "cause"),
    [
        # half_sse: L = (yhat - y)**2 / 2, so dL/db2 = yhat - y (by hand)
        ("half_sse", "2*(yhat - y)", "2", "your formula keeps that 2"),
        (
            "half_sse",
            "(yhat - y)/2",
            "1/2",
            "applies the 1/2 of the half squared error twice",
        ),
        # mse with one output: L = (yhat - y)**2, so dL/db2 = 2*(yhat - y)
        (
            "mse",
            "yhat - y",
            "1/2",
            "misses the 2 that differentiating the square brings down",
        ),
    ],
)
def test_a_scaled_per_sample_formula_blames_the_losss_constant_not_a_batch(
    loss: str, formula: str, factor: str, cause: str
) -> None:
    report = check.check_formulas(resolve(loss=loss), f"dL/db2_1 = {formula}\n")
    verdict = {e.name: e for e in report.entries}["b2_1"].verdict
    assert verdict.diagnoses == ["scaled"] and verdict.factor == factor
    assert cause in verdict.message
    assert "no batch size" in verdict.message and "1/N" not in verdict.message


def test_the_losss_error_slope_is_read_off_its_expression() -> None:
    """dL/dyhat = k (yhat - y) for squared errors, by hand: half_sse 1, mse 2; none for BCE."""
    slopes = {
        name: registry.loss(name).error_slope for name in ("half_sse", "mse", "bce")
    }
    assert slopes == {"half_sse": 1, "mse": 2, "bce": None}


def test_deeper_network_missing_mask_of_one_layer() -> None:
    spec = resolve(layers="2,3,2,1")
    text = (
        "dL/dW2_1_1 = W3_1_1*h1_1*(yhat - y)\n"  # no step(z2_1)
        "dL/dW2_1_2 = W3_1_1*h1_2*(yhat - y)*step(z2_1)\n"
        "dL/dW1_1_1 = x_1*(W2_1_1*W3_1_1*(yhat - y)*step(z2_1)"
        " + W2_2_1*W3_1_2*(yhat - y)*step(z2_2))\n"  # no step(z1_1)
    )
    report = check.check_formulas(spec, text)
    by_name = {e.name: e for e in report.entries}
    assert by_name["W2_1_2"].status == "ok"
    assert by_name["W2_1_1"].verdict.diagnoses == ["missing_activation_mask"]
    assert "layer 2" in by_name["W2_1_1"].message
    assert by_name["W1_1_1"].verdict.diagnoses == ["missing_activation_mask"]
    assert "layer 1" in by_name["W1_1_1"].message
    assert (report.regions_checked, report.regions_possible) == (32, 32)


# -- the template ---------------------------------------------------------------------------
def test_template_lists_every_entry_and_the_notation(tmp_path: Path) -> None:
    r = run("--template")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    entries = [
        line.split("=")[0].strip()
        for line in text.splitlines()
        if line.startswith("dL/d")
    ]
    assert entries == [
        f"dL/d{n}"
        for n in "W1_1_1 W1_1_2 W1_2_1 W1_2_2 b1_1 b1_2 W2_1_1 W2_1_2 b2_1".split()
    ]
    for words in (
        "per sample",
        "reduction sum",
        "step(z) = 1 if z > 0 else 0",
        "relu(z) = max(z, 0)",
        "x_1..x_2",
        "yhat",
        "\\hat{y}",
        "format = latex",
    ):
        assert words in text, words
    blank = tmp_path / "blank.txt"
    blank.write_text(text)
    unfilled = run(str(blank), "--json")
    assert unfilled.returncode == 1
    assert json.loads(unfilled.stdout)["summary"]["missing"] == 9


@pytest.mark.parametrize(
    ("flags", "spec_fields"),
    [
        ([], {}),
        (["--layers", "2,3,2,1"], {"layers": "2,3,2,1"}),
        (["--reduction", "mean"], {"reduction": "mean"}),
    ],
)
def test_template_filled_with_the_closed_forms_round_trips(
    flags: list[str], spec_fields: dict, tmp_path: Path
) -> None:
    spec = resolve(**spec_fields)
    template = run("--template", *flags).stdout
    if spec.reduction == "mean":
        assert "the average of these over the N samples" in template
    answers = tmp_path / "answers.txt"
    answers.write_text(filled_template(template, spec))
    r = run(str(answers), *flags)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert f"{spec.param_count} of {spec.param_count} correct" in r.stdout


# -- unsafe and unreadable input ------------------------------------------------------------
UNSAFE = {
    "import": ("__import__('os').system('touch {marker}')", "attribute access"),
    "dunder": ("x_1.__class__", "attribute access"),
    "lambda": ("lambda: 1", "lambda is not allowed"),
    "huge power": ("x_1 ** 99999999", "exponent 99999999 is not allowed"),
    "tower": ("9**9**9", "exponent must be a number"),
    "long line": ("x_1+" * 25_000 + "1", "characters long"),
    "indexing": ("W1_1_1[0]", "indexing with [...] is not allowed"),
    "open": ("open('f')", "'open' is not an allowed function"),
    "latex input": ("\\input{{/etc/passwd}}", "\\input at column 1 is not supported"),
    "unknown name": ("W1_1_1 + foo", "unknown name 'foo'"),
}


@pytest.mark.parametrize("case", UNSAFE)
def test_unsafe_formulas_are_refused_without_side_effects(
    case: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    formula, reason = UNSAFE[case]
    answers = tmp_path / "answers.txt"
    answers.write_text(f"# my answers\ndL/dW1_1_1 = {formula.format(marker=marker)}\n")
    r = run(str(answers), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1
    assert f"{answers}:2:" in r.stderr
    assert reason in r.stderr
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.txt"]


def test_json_error_is_one_object_and_exit_2(tmp_path: Path) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text("dL/dW1_1_1 = x_1.__class__\n")
    r = run(str(answers), "--json")
    assert r.returncode == 2
    error = json.loads(r.stdout)
    assert error["ok"] is False and error["exit_code"] == 2
    assert error["error"].startswith(f"{answers}:1: ")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("dL/dW3_1_1 = x_1\n", "W3_1_1: the layers are 1 to 2"),
        ("dL/dz1_1 = x_1\n", "is not a parameter entry"),
        ("dL/db2_1 = yhat - y\nb2_1: yhat - y\n", "answered twice (first on line 1)"),
        ("dL/db2_1 yhat - y\n", "expected `dL/dW1_1_2 = formula`"),
        ("format = markdown\n", "format must be one of"),
        ("dL/db2_1 = (yhat - y\n", "not a formula"),
        ("dL/db2_1 = x_1 ^ 2\n", "write **"),
    ],
)
def test_bad_answer_files_exit_2_naming_the_line(content: str, reason: str) -> None:
    vocab = check.vocabulary(derive(default_spec()))
    with pytest.raises(UserError) as err:
        parse_answers(content, vocab, "a.txt")
    assert err.value.exit_code == 2
    assert err.value.message.startswith("a.txt:")
    assert reason in err.value.message


def test_unreadable_files_exit_2(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    r = run(str(binary))
    assert r.returncode == 2 and "not UTF-8" in r.stderr
    nothing = run()
    assert nothing.returncode == 2 and "--template" in nothing.stderr


# -- the parsers ----------------------------------------------------------------------------
SAME = [
    (
        "(yhat - y) * W2_1_2 * step(z_2) * x_1",
        r"(\hat{y}-y)\,w^{(2)}_{12}\,\mathbb{1}[z_2>0]\,x_1",
    ),
    ("w2_12 * h1_2", r"W^{(2)}_{1,2} \cdot h^{(1)}_{2}"),
    ("relu(z_1) / 2", r"\frac{\max(z_1, 0)}{2}"),
    ("max(z1_1, 0) ** 2", r"\left(\max\left(z^{(1)}_1, 0\right)\right)^{2}"),
    ("heaviside(z_1) * x_2", r"\mathbf{1}[z_1 > 0] \times x_2"),
    ("(z_1 > 0) * 3", r"3\,[z_1 > 0]"),
    ("1[z_1 > 0]", r"\operatorname{ReLU}'(z_1)"),
    ("sigmoid(x_1) * (1 - sigmoid(x_1))", r"\sigma'(x_1)"),
    (
        "tanh(x_1) + exp(-x_2) + log(x_1**2 + 1)",
        r"\tanh(x_1) + e^{-x_2} + \log\left(x_1^2 + 1\right)",
    ),
    ("sqrt(x_1**2 + 1)", r"\sqrt{x_1^2+1}"),
    ("yhat_1 - y_1", r"\hat y - y"),
    ("0.5 * x_1", r"\frac12 x_1"),
    ("relu'(z_1) * x_1", r"\operatorname{ReLU}'(z_1)\,x_1"),
    ("sigmoid'(x_1)", r"\sigma(x_1) (1 - \sigma(x_1))"),
    ("tanh'(x_1)", r"1 - \tanh(x_1)^2"),
    ("leakyrelu'(z_1)", r"\operatorname{LeakyReLU}'(z_1)"),
    ("leaky_relu(z_1, 0.5)", r"\operatorname{LeakyReLU}(z_1, \frac12)"),
    ("identity(x_1) + softplus(x_2)", r"\operatorname{id}(x_1) + \log(1 + e^{x_2})"),
    ("exp'(x_1)", r"\exp x_1"),
]


@pytest.mark.parametrize(("text", "latex"), SAME)
def test_plain_text_and_latex_mean_the_same(
    text: str, latex: str, vocab: Vocabulary
) -> None:
    a, b = parse_formula(text, vocab), parse_formula(latex, vocab)
    assert sp.simplify(a - b) == 0, (a, b)


@pytest.mark.parametrize(
    "text",
    [
        "(x_1 if x_1 else 0)",
        "x_1 and x_2",
        "[x_1, x_2]",
        "x_1 @ x_2",
        "relu(x=1)",
        "exp(*x_1)",
        "1e400",
        "'text'",
        "x_1 ** x_2",
        "((x_1**10)**10)**10",
        "0 < x_1 < 1",
        "x_1 == 0",
        "-" * 100 + "x_1",
        r"\frac{1}{0}",
        r"x^{(1)}",
        r"\mathbb{1}[z_1]",
        r"\hat{x}",
        "step'(z_1)",
        "relu'(z_1, 2)",
        "relu(z_1, 2)",
        "relu'",
        r"\operatorname{ReLU}''(z_1)",
    ],
)
def test_refused_formulas(text: str, vocab: Vocabulary) -> None:
    with pytest.raises(ParseError):
        parse_formula(text, vocab)


def test_primed_activations_are_sympys_derivative_with_the_step_convention(
    vocab: Vocabulary,
) -> None:
    z = vocab.z[0][0]
    alpha = vocab.alpha
    assert alpha == sp.Rational(1, 100)
    relu = parse_formula("relu'(z1_1)", vocab)
    assert [relu.subs(z, v) for v in (-1, 0, 1)] == [0, 0, 1]  # relu'(0) = 0
    for written in ("leaky_relu'(z1_1)", r"\operatorname{LeakyReLU}'(z^{(1)}_1)"):
        leaky = parse_formula(written, vocab)
        assert [leaky.subs(z, v) for v in (-2, 0, 3)] == [alpha, alpha, 1], written
    sigmoid = 1 / (1 + sp.exp(-z))
    assert sp.simplify(parse_formula("sigma'(z1_1)", vocab) - sp.diff(sigmoid, z)) == 0


@pytest.fixture
def throwaway(request: pytest.FixtureRequest) -> Activation:
    """An activation registered for one test only (taken out of the registry afterwards)."""
    entry = registry.register_activation(
        Activation(
            "throwaway",
            lambda z, _: z**3 / 3 + z,
            "{z}**3/3 + {z}",
            r"\operatorname{thr}",
        )
    )
    request.addfinalizer(lambda: registry.unregister_activation(entry.name))
    return entry


def test_an_activation_registered_at_run_time_is_read_in_both_notations(
    throwaway: Activation, vocab: Vocabulary
) -> None:
    z = vocab.z[0][0]
    for text in ("throwaway(z1_1)", r"\operatorname{thr}(z^{(1)}_1)"):
        assert parse_formula(text, vocab) == z**3 / 3 + z, text
    for text in ("throwaway'(z1_1)", r"\operatorname{thr}'(z^{(1)}_1)"):
        assert parse_formula(text, vocab) == z**2 + 1, text


def test_a_network_of_a_registered_activation_is_checked(
    throwaway: Activation,
) -> None:
    spec = resolve(layers="2,2,1", activations_flag="throwaway,identity")
    text = (
        "dL/db1_1 = (yhat - y)*W2_1_1*throwaway'(z_1)\n"
        "dL/dW1_1_2 = (yhat - y)*W2_1_1*(z_1**2 + 1)*x_2\n"
        "dL/db1_2 = (yhat - y)*W2_1_2\n"
    )
    by_name = {e.name: e for e in check.check_formulas(spec, text).entries}
    assert by_name["b1_1"].status == by_name["W1_1_2"].status == "ok"
    assert by_name["b1_2"].verdict.diagnoses == ["missing_activation_mask"]


def test_the_template_lists_the_registry_and_its_entries_once(
    throwaway: Activation,
) -> None:
    blank = template(default_spec())
    assert "throwaway" in blank.text and r"\operatorname{thr}(z)" in blank.text
    lines = [line for line in blank.text.splitlines() if line.startswith("dL/d")]
    assert lines == [f"dL/d{name} = " for name in blank.entries]
    r = run("--template", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["entries"] == (
        "W1_1_1 W1_1_2 W1_2_1 W1_2_2 b1_1 b1_2 W2_1_1 W2_1_2 b2_1".split()
    )


def test_sigmoid_network_is_proven_without_regions() -> None:
    spec = resolve(layers="2,2,1", activations_flag="sigmoid,identity")
    text = (
        "dL/dW1_1_1 = (yhat - y)*W2_1_1*h_1*(1 - h_1)*x_1\n"
        "dL/db1_1 = (yhat - y)*W2_1_1*sigmoid(z_1)*(1 - sigmoid(z_1))\n"
        "dL/db1_2 = (yhat - y)*W2_1_2\n"
    )
    report = check.check_formulas(spec, text)
    by_name = {e.name: e for e in report.entries}
    assert by_name["W1_1_1"].status == by_name["b1_1"].status == "ok"
    assert by_name["W1_1_1"].verdict.method == "symbolic"
    assert by_name["b1_2"].verdict.diagnoses == ["missing_activation_mask"]
    assert report.units == []


def test_the_readers_never_evaluate_text() -> None:
    """No eval/exec/sympify/parse_expr anywhere in check-formulas' modules."""
    import ast

    import symbackprop.check.formulas as package

    forbidden = {"eval", "exec", "sympify", "parse_expr", "S", "lambdify", "__import__"}
    modules = sorted(Path(package.__file__).parent.glob("*.py"))
    assert len(modules) >= 7
    for path in modules:
        module = path.name
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
                assert name not in forbidden, f"{module}:{node.lineno} calls {name}"
                assert not (isinstance(f, ast.Name) and name == "compile")


def test_the_scaled_explanation_names_the_half_before_the_batch() -> None:
    from symbackprop.check import diagnoses

    text = diagnoses.EXPLANATIONS[diagnoses.SCALED]
    assert text.index("1/2") < text.index("1/N") and "half squared error" in text
