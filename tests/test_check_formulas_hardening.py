"""check-formulas on hostile and tricky formulas: no crash, no false "correct", true counts.

1. A formula undefined where the gradient is defined (1/(h1_1 - relu(z1_1)), log of a
   negative number, exp(10**6)) gets a verdict with a counterexample, never an internal error.
2. A formula with conditions of its own (step(x_1 + 1000), where(x_1 > 1000, ...)) is checked on
   both sides of each: wrong when a side is wrong, "not proven" when a side cannot be tested.
3. The sign-region counts printed are the ones checked, out of the 2**units that exist.

Expected values come from hand-written forward passes and tests/reference.py, not from
symbackprop; each student formula's value at a counterexample is recomputed here by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import pytest
from test_check_formulas import _reference_gradient, run

from symbackprop import cli
from symbackprop.check.formulas import check
from symbackprop.check.formulas.report import EntryResult
from symbackprop.derive import derive
from symbackprop.spec import default_spec, resolve

RIGHT_W2_1_1 = "(yhat_1 - y_1)*h1_1"  # dL/dW2_1_1 of the default 2-2-1 network, by hand


def judged(text: str, spec=None) -> tuple[check.FormulaReport, EntryResult]:
    """Check an answer file in-process; the report and its first answered entry."""
    report = check.check_formulas(spec or default_spec(), text)
    answered = [e for e in report.entries if e.status != "missing"]
    return report, answered[0]


def forward_2_2_1(v: dict[str, float]) -> tuple[list[float], list[float], float]:
    """z, h and yhat of the default network at a point, written out by hand."""
    z = [
        v[f"W1_{i}_1"] * v["x_1"] + v[f"W1_{i}_2"] * v["x_2"] + v[f"b1_{i}"]
        for i in (1, 2)
    ]
    h = [max(zi, 0.0) for zi in z]
    yhat = v["W2_1_1"] * h[0] + v["W2_1_2"] * h[1] + v["b2_1"]
    return z, h, yhat


# -- 1. undefined, huge and hostile formulas ------------------------------------------------
def test_dividing_by_a_difference_that_is_zero_is_wrong_not_an_internal_error(
    tmp_path: Path,
) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text("dL/dW2_1_1 = 1/(h1_1 - relu(z1_1))\n")
    r = run(str(answers), "--json")
    assert r.returncode == 1, r.stderr
    assert r.stderr == ""
    entry = json.loads(r.stdout)["entries"]["W2_1_1"]
    assert entry["status"] == "wrong" and entry["diagnoses"] == ["wrong"]
    assert "undefined everywhere" in entry["message"]
    cx = entry["counterexample"]
    assert cx["got"] is None
    assert cx["expected"] == pytest.approx(_reference_gradient(cx["values"], "W2_1_1"))
    human = run(str(answers))
    assert human.returncode == 1 and "your formula is undefined there" in human.stdout


@pytest.mark.parametrize(
    "formula",
    [
        "log(h1_1 - relu(z1_1))",  # log(0)
        "log(relu(z1_1) - h1_1 - 1)",  # log(-1)
        "sqrt(h1_1 - relu(z1_1) - 1)",  # sqrt(-1)
        "(h1_1 - relu(z1_1))**-2",
        r"\frac{1}{h_1 - \max(z_1, 0)}",
    ],
)
def test_formulas_undefined_once_written_out_are_wrong(formula: str) -> None:
    _, entry = judged(f"dL/dW2_1_1 = {formula}\n")
    assert entry.status == "wrong"
    assert entry.verdict.counterexample["got"] is None
    assert "undefined" in entry.message


def test_a_huge_value_is_a_number_not_undefined() -> None:
    _, entry = judged("dL/dW2_1_1 = exp(10**6)\n")
    assert entry.status == "wrong"
    with localcontext() as ctx:  # an independent value: the decimal module's exp
        ctx.prec = 6
        ctx.Emax = 10**7
        reference = Decimal(10**6).exp()
    mantissa, exponent = f"{reference:e}".split("e")
    assert entry.verdict.counterexample["got"] == f"{mantissa}e{exponent}"


def test_a_value_too_large_to_evaluate_says_so() -> None:
    report, entry = judged("dL/dW2_1_1 = exp(exp(exp(10)))\n")
    assert entry.status == "wrong"
    assert entry.verdict.counterexample["got"] == "too large to evaluate"
    assert "your formula is too large to evaluate there" in report.human()


def test_a_branch_not_taken_may_divide_by_zero() -> None:
    """where() is a Piecewise: (h + h**2)/(h + h**2) is 1 where h1_1 > 0, 0/0 where not."""
    ratio = "(h1_1**2 + h1_1**3)/(h1_1 + h1_1**2)"  # h1_1, except at h1_1 = 0
    _, entry = judged(f"dL/dW2_1_1 = where(h1_1 > 0, (yhat - y)*{ratio}, 0)\n")
    assert entry.status == "ok", entry.message
    _, unguarded = judged(f"dL/dW2_1_1 = (yhat - y)*{ratio}\n")
    assert unguarded.status == "wrong"
    assert unguarded.verdict.counterexample["got"] is None  # 0/0 where h1_1 = 0


@pytest.mark.parametrize(
    ("formula", "exit_code", "words"),
    [
        ("10**10**10", 2, "the exponent must be a number"),
        ("(" * 300 + "x_1" + ")" * 300, 2, "too many nested parentheses"),
        ("exp(" * 100 + "x_1" + ")" * 100, 2, "nested too deeply"),
        ("9" * 100_000, 2, "the line is 100013 characters long"),
        ("9" * 1999, 2, "(1999 characters) is too large"),
        ("x_1 + " * 5000 + "1", 2, "characters long"),
        (r"\frac{1}{" * 200 + "x" + "}" * 200, 2, "characters long"),
        ("{" * 900 + "x_1" + "}" * 900, 2, "more than 1000 tokens"),
        ("log(-1)", 2, "not a real number"),
        ("1/(x_1 - x_1)", 2, "division by zero"),
        ("exp(exp(exp(exp(x_1))))", 1, "[wrong]"),
        ("tanh(10**10*x_1)", 1, "[wrong]"),
    ],
)
def test_hostile_formulas_give_one_line_or_a_verdict(
    formula: str,
    exit_code: int,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text(f"dL/dW2_1_1 = {formula}\n")
    code = cli.main(
        ["check-formulas", str(answers)]
    )  # in-process: the CLI's own handler
    out, err = capsys.readouterr()
    assert code == exit_code, out[-500:] + err
    assert "internal error" not in err
    if exit_code == 2:
        assert out == "" and len(err.splitlines()) == 1
        assert len(err) < 300
        assert words in err
    else:
        assert err == "" and words in out


# -- 2. the student's own conditions --------------------------------------------------------
def _step(v: float) -> float:
    return 1.0 if v > 0 else 0.0


# each wrong formula, and the same formula computed by hand at a point
OWN_CONDITIONS: dict[str, Callable[[dict, list, list, float], float]] = {
    f"{RIGHT_W2_1_1}*step(x_1 + 1000)": lambda v, z, h, yh: (
        (yh - v["y_1"]) * h[0] * _step(v["x_1"] + 1000)
    ),
    f"where(x_1 > 1000, 0, {RIGHT_W2_1_1})": lambda v, z, h, yh: (
        0.0 if v["x_1"] > 1000 else (yh - v["y_1"]) * h[0]
    ),
    f"heaviside(1000 - x_1)*{RIGHT_W2_1_1}": lambda v, z, h, yh: (
        _step(1000 - v["x_1"]) * (yh - v["y_1"]) * h[0]
    ),
    f"abs(x_1 + 1000)/(x_1 + 1000)*{RIGHT_W2_1_1}": lambda v, z, h, yh: (
        abs(v["x_1"] + 1000) / (v["x_1"] + 1000) * (yh - v["y_1"]) * h[0]
    ),
    f"max(x_1, 1000)/1000*{RIGHT_W2_1_1}": lambda v, z, h, yh: (
        max(v["x_1"], 1000) / 1000 * (yh - v["y_1"]) * h[0]
    ),
    f"min(x_1, 1000)/x_1*{RIGHT_W2_1_1}": lambda v, z, h, yh: (
        min(v["x_1"], 1000) / v["x_1"] * (yh - v["y_1"]) * h[0]
    ),
    f"{RIGHT_W2_1_1} + relu(x_1 - 1000)": lambda v, z, h, yh: (
        (yh - v["y_1"]) * h[0] + max(v["x_1"] - 1000, 0.0)
    ),
    f"{RIGHT_W2_1_1}*step(b1_1 + 1000)": lambda v, z, h, yh: (
        (yh - v["y_1"]) * h[0] * _step(v["b1_1"] + 1000)
    ),
    f"{RIGHT_W2_1_1}*step(yhat_1 + 10**6)": lambda v, z, h, yh: (
        (yh - v["y_1"]) * h[0] * _step(yh + 10**6)
    ),
    f"{RIGHT_W2_1_1}*(1 + step(x_1 - 0.5)*step(0.51 - x_1))": lambda v, z, h, yh: (
        (yh - v["y_1"]) * h[0] * (1 + _step(v["x_1"] - 0.5) * _step(0.51 - v["x_1"]))
    ),
}


@pytest.mark.parametrize("formula", OWN_CONDITIONS)
def test_a_wrong_side_of_the_students_own_condition_is_found(formula: str) -> None:
    """These were all judged correct: the sample points never crossed x_1 = 1000."""
    _, entry = judged(f"dL/dW2_1_1 = {formula}\n")
    assert entry.status == "wrong", entry.message
    cx = entry.verdict.counterexample
    v = cx["values"]
    z, h, yhat = forward_2_2_1(v)
    expected = _reference_gradient(v, "W2_1_1")
    assert cx["expected"] == pytest.approx(expected)
    assert cx["got"] == pytest.approx(OWN_CONDITIONS[formula](v, z, h, yhat), abs=1e-6)
    assert cx["got"] != pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "formula",
    [
        f"{RIGHT_W2_1_1}*step(z1_1)",
        "(yhat_1 - y_1)*z1_1*step(z1_1)",
        "where(z1_1 > 0, (yhat_1 - y_1)*z1_1, 0)",
        "where(z1_1 <= 0, 0, (yhat_1 - y_1)*z1_1)",
        "(yhat_1 - y_1)*z1_1*(z1_1 > 0)",
        "(yhat_1 - y_1)*z1_1*heaviside(z1_1)",
        "(yhat_1 - y_1)*(z1_1 + abs(z1_1))/2",
        r"(\hat{y} - y)\, z_1 \, \mathbb{1}[z_1 > 0]",
    ],
)
def test_the_true_conditions_are_still_proven(formula: str) -> None:
    _, entry = judged(f"dL/dW2_1_1 = {formula}\n")
    assert entry.status == "ok", entry.message
    assert entry.verdict.method == "symbolic"
    assert entry.message == "correct (proven with SymPy in all 4 sign regions)"


def test_a_right_formula_split_at_its_own_condition_is_proven_on_both_sides() -> None:
    text = (
        f"dL/dW2_1_1 = {RIGHT_W2_1_1}*step(x_1 + 1000) + "
        f"{RIGHT_W2_1_1}*step(-x_1 - 1000)\n"
    )
    _, entry = judged(text)
    assert entry.status == "ok", entry.message
    assert entry.verdict.method == "symbolic"
    assert "on both sides of your formula's own breakpoints" in entry.message
    assert "x_1 - 1000 = 0" in entry.message


def test_a_side_that_cannot_be_tested_is_not_proven(tmp_path: Path) -> None:
    """x_1**2 - 2*x_1 + 2 is never negative, but SymPy does not see it: not "ok"."""
    answers = tmp_path / "answers.txt"
    answers.write_text(f"dL/dW2_1_1 = {RIGHT_W2_1_1}*step(x_1**2 - 2*x_1 + 2)\n")
    r = run(str(answers), "--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    entry = report["entries"]["W2_1_1"]
    assert (entry["status"], entry["method"]) == ("unproven", "unproven")
    assert entry["message"].startswith("not proven: no point was found where")
    assert "x_1**2 - 2*x_1 + 2 < 0" in entry["message"]
    assert report["summary"]["unproven"] == 1 and report["ok"] is False
    human = run(str(answers))
    assert human.returncode == 1
    line = next(s for s in human.stdout.splitlines() if "dL/dW2_1_1" in s)
    assert line.startswith("! dL/dW2_1_1  line 1: not proven")
    assert "0 of 9 correct, 0 wrong, 1 not proven, 8 missing" in human.stdout


def test_agreeing_only_where_both_values_are_negligible_is_not_proven() -> None:
    """Past x_1 = -1000 a sigmoid's gradient is about e**-1000: 0 agrees with it to any
    tolerance, which shows nothing (this formula is wrong there)."""
    spec = resolve(layers="2,2,1", activations_flag="sigmoid,identity")
    right = "(yhat - y)*W2_1_1*h1_1*(1 - h1_1)*x_1"  # dL/dW1_1_1, by hand
    _, entry = judged(f"dL/dW1_1_1 = {right}\n", spec)
    assert entry.status == "ok", entry.message
    _, entry = judged(f"dL/dW1_1_1 = {right}*step(x_1 + 1000)\n", spec)
    assert entry.status == "unproven", entry.message
    assert "too small to compare" in entry.message


# -- 3. honest region counts ----------------------------------------------------------------
def test_2_2_1_counts_its_4_regions() -> None:
    report, entry = judged("dL/db2_1 = yhat_1 - y_1\n")
    assert (report.regions_checked, report.regions_possible) == (4, 4)
    assert entry.message == "correct (proven with SymPy in all 4 sign regions)"


EVERY_UNIT_ON = "*".join(f"step(z1_{i})" for i in range(1, 9))


@pytest.fixture(scope="module")
def wide() -> tuple:
    """The 2-8-1 ReLU network (8 hidden units, 2**8 = 256 sign patterns): its Judge, and a
    report on a right formula and one wrong only where every unit is active."""
    spec = resolve(layers="2,8,1")
    derivation = derive(spec)
    judge = check.make_judge(derivation, check.vocabulary(derivation))
    text = (
        f"dL/db2_1 = yhat_1 - y_1\ndL/dW2_1_1 = (yhat_1 - y_1)*h1_1 + {EVERY_UNIT_ON}\n"
    )
    return judge, check.check_formulas(spec, text)


def _z_2_8_1(v: dict) -> list:
    """The 8 pre-activations at a point, by hand."""
    return [
        v[f"W1_{i}_1"] * v["x_1"] + v[f"W1_{i}_2"] * v["x_2"] + v[f"b1_{i}"]
        for i in range(1, 9)
    ]


def test_2_8_1_checks_all_256_sign_patterns_each_with_a_real_point(wide: tuple) -> None:
    """Each of the 256 regions is a different pattern, and its points really lie in it."""
    judge, _ = wide
    patterns = {region.pattern for region in judge.regions.regions}
    assert len(patterns) == 256 == judge.regions.possible
    for region in judge.regions.regions:
        assert region.points
        for point in region.points:
            z = _z_2_8_1({s.name: Fraction(x) for s, x in point.items()})
            assert tuple(zi > 0 for zi in z) == region.pattern
            assert all(zi != 0 for zi in z)


def test_2_8_1_says_256_regions_and_finds_a_mistake_in_any_one(wide: tuple) -> None:
    _, report = wide
    assert (report.regions_checked, report.regions_possible) == (256, 256)
    by_name = {e.name: e for e in report.entries}
    right, wrong = by_name["b2_1"], by_name["W2_1_1"]
    assert right.message == "correct (proven with SymPy in all 256 sign regions)"
    assert "256 of 256 sign regions" in report.human()
    assert wrong.status == "wrong"
    v = wrong.verdict.counterexample["values"]
    z = _z_2_8_1(v)
    assert all(zi > 0 for zi in z)  # only there does the formula differ
    yhat = sum(v[f"W2_1_{i}"] * max(zi, 0) for i, zi in enumerate(z, 1)) + v["b2_1"]
    assert wrong.verdict.counterexample["expected"] == pytest.approx(
        (yhat - v["y_1"]) * z[0]
    )
    assert wrong.verdict.counterexample["got"] == pytest.approx(
        (yhat - v["y_1"]) * z[0] + 1
    )


def test_with_more_units_the_message_says_how_many_were_not_checked() -> None:
    spec = resolve(layers="2,9,1")
    report, entry = judged("dL/db2_1 = yhat_1 - y_1\n", spec)
    assert (report.regions_checked, report.regions_possible) == (64, 512)
    assert entry.message == (
        "correct (proven with SymPy in the 64 sign regions sampled, of the 512 that "
        "exist; the others were not checked)"
    )
    assert "64 of 512 sign regions" in report.human()
