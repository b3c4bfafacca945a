"""Activations and losses defined by a formula (issue 14, item 1): swish and Huber.

The references here are hand-written NumPy (swish z / (1 + e^-z), Huber with threshold 1) and
central finite differences of them; the package's SymPy is never asked what the answer is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from symbackprop import cli
from symbackprop.emit.trainer import load_trainer
from symbackprop.spec import registry

SWISH = "swish=z * sigmoid(z)"
HUBER = "huber=where(abs(yhat - y) <= 1, (yhat - y)**2 / 2, abs(yhat - y) - 1/2)"
FLAGS = ["--activation-formula", SWISH, "--loss-formula", HUBER]
NET = ["--layers", "2,3,2", "--activations", "swish,identity", *FLAGS]
TOML = """layers = [2, 3, 2]
activations = ["swish", "identity"]
[activation.swish]
formula = "z * sigmoid(z)"
[loss.huber]                      # per sample, summed over the outputs like half_sse
formula = "where(abs(yhat - y) <= 1, (yhat - y)**2 / 2, abs(yhat - y) - 1/2)"
"""


@pytest.fixture(autouse=True)
def forget() -> Iterator[None]:
    """Take the formula entries out of the registry after each test."""
    yield
    for name in ("swish", "cube", "mae"):
        registry.ACTIVATIONS.pop(name, None)
    for name in ("huber", "mae"):
        registry.LOSSES.pop(name, None)


def _swish(z: np.ndarray) -> np.ndarray:
    return z / (1 + np.exp(-z))


def _huber(yhat: np.ndarray, y: np.ndarray) -> float:
    e = np.abs(yhat - y)
    return float(np.sum(np.where(e <= 1, e**2 / 2, e - 0.5)))


def _reference_loss(p: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    H = _swish(X @ p["W1"].T + p["b1"])
    return _huber(H @ p["W2"].T + p["b2"], y)


def _finite_differences(
    p: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, eps: float = 1e-6
) -> dict[str, np.ndarray]:
    out = {}
    for name, value in p.items():
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in p.items()}
            minus = {k: v.copy() for k, v in p.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            grad[idx] = (_reference_loss(plus, X, y) - _reference_loss(minus, X, y)) / (
                2 * eps
            )
        out[name] = grad
    return out


def _trainer(tmp_path: Path, *args: str) -> tuple[Path, types.ModuleType]:
    out = tmp_path / "t.py"
    assert cli.main(["emit", "trainer", *args, "-o", str(out)]) == 0
    return out, load_trainer(out.read_text(encoding="utf-8"))


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(9, 2))
    # targets both near and far from the outputs: both Huber branches are taken
    y = rng.normal(size=(9, 2)) * np.array([0.3, 4.0])
    return X, y


@pytest.mark.parametrize("source", ["flags", "toml"])
def test_swish_huber_gradients_match_finite_differences(
    tmp_path: Path, source: str
) -> None:
    if source == "toml":
        spec = tmp_path / "s.toml"
        spec.write_text(TOML, encoding="utf-8")
        path, t = _trainer(tmp_path, "--spec", str(spec))
    else:
        path, t = _trainer(tmp_path, *NET)
    assert t.LOSS == "huber" and t.ACTIVATIONS == ("swish", "identity")
    params = t.init_params(3)
    X, y = _batch()
    errors = np.abs(t.forward(params, X)["Y"] - y)
    assert (errors <= 1).any() and (errors > 1).any()
    assert t.loss(params, X, y) == pytest.approx(_reference_loss(params, X, y))
    numeric = _finite_differences(params, X, y)
    for grads in (t.gradients(params, X, y), t.backward(params, X, y)):
        got = (
            dict(zip(t.PARAM_NAMES, grads, strict=True))
            if isinstance(grads, tuple)
            else grads
        )
        for name in t.PARAM_NAMES:
            assert np.allclose(got[name], numeric[name], rtol=1e-6, atol=1e-8), name
    result = subprocess.run(
        [sys.executable, str(path), "--gradcheck"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "passed" in result.stdout, result.stdout


def test_the_swish_forward_is_the_stable_one(tmp_path: Path) -> None:
    """swish of -800 is -0.0 without an overflow: sigmoid printed as exp(-logaddexp(0, -z))."""
    _, t = _trainer(tmp_path, *NET)
    params = t.init_params(0)
    params["W1"][...] = 0.0
    params["b1"][...] = -800.0
    with np.errstate(over="raise", invalid="raise"):
        H = t.forward(params, np.zeros((2, 2)))["H1"]
    assert np.all(H == 0.0)
    assert "logaddexp" in registry.activation("swish").numpy


def test_a_kink_free_formula_trains_in_the_scalar_style(tmp_path: Path) -> None:
    """A polynomial activation and MAE: the unrolled closed forms, against differences."""
    path = tmp_path / "s.py"
    args = ["--layers", "2,2,1", "--activations", "cube,identity"]
    args += [
        "--activation-formula",
        "cube=z**3 / 3 + z",
        "--loss-formula",
        "mae=abs(yhat - y)",
    ]
    assert (
        cli.main(["emit", "trainer", *args, "--style", "scalar", "-o", str(path)]) == 0
    )
    result = subprocess.run(
        [sys.executable, str(path), "--gradcheck"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "passed" in result.stdout, result.stdout


def test_the_notebook_and_the_latex_show_the_formulas(tmp_path: Path) -> None:
    nb = tmp_path / "n.ipynb"
    assert cli.main(["emit", "notebook", *NET, "-o", str(nb)]) == 0
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells)
    assert r"\operatorname{swish}" in text and "where(abs(yhat - y) <= 1" in text
    tex = tmp_path / "d.tex"
    assert cli.main(["emit", "latex", *NET, "-o", str(tex)]) == 0
    latex = tex.read_text(encoding="utf-8")
    assert r"\operatorname{swish}(z)" in latex
    assert r"\begin{cases}" in latex  # Huber's two branches


STUDENT = """
import numpy as np


def swish(a):
    return a / (1 + np.exp(-a))


def forward(W1, W2, b1, b2, X):
    Z = X @ W1.T + b1
    H = swish(Z)
    y_pred = H @ W2.T + b2
    return H, Z, y_pred


def backward(y_pred, y_true, W2, H, Z, X):
    d = y_pred - y_true
    W2_grad = d.T @ H
    b2_grad = d.sum(axis=0)
    s = 1 / (1 + np.exp(-Z))
    dz = {dz}
    W1_grad = dz.T @ X
    b1_grad = dz.sum(axis=0)
    return W1_grad, W2_grad, b1_grad, b2_grad
"""
RIGHT = "(d @ W2) * (s + Z * s * (1 - s))"
SLIP = "(d @ W2) * s * (1 - s)"  # sigmoid's derivative, not swish's


def _fd_matches(dz: str) -> bool:
    """Central differences of half the squared error through the student's own forward."""
    ns: dict[str, object] = {}
    exec(STUDENT.format(dz=dz), ns)  # our own fixture, not an upload
    rng = np.random.default_rng(5)
    W1, b1, W2, b2 = (rng.normal(size=s) for s in ((2, 2), (2,), (1, 2), (1,)))
    X, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))

    def half_sse(w1: np.ndarray) -> float:
        return float(np.sum((ns["forward"](w1, W2, b1, b2, X)[2] - y) ** 2) / 2)

    H, Z, y_pred = ns["forward"](W1, W2, b1, b2, X)
    grad = ns["backward"](y_pred, y, W2, H, Z, X)[0]
    numeric = np.zeros_like(W1)
    for idx in np.ndindex(W1.shape):
        step = np.zeros_like(W1)
        step[idx] = 1e-6
        numeric[idx] = (half_sse(W1 + step) - half_sse(W1 - step)) / 2e-6
    return bool(np.allclose(grad, numeric, rtol=1e-5, atol=1e-8))


@pytest.mark.parametrize(("dz", "right"), [(RIGHT, True), (SLIP, False)])
def test_check_code_judges_a_student_using_swish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dz: str, right: bool
) -> None:
    assert _fd_matches(dz) is right  # the label, verified independently
    path = tmp_path / "hw.py"
    path.write_text(STUDENT.format(dz=dz), encoding="utf-8")
    net = ["--layers", "2,2,1", "--activations", "swish,identity"]
    code = cli.main(
        ["check-code", str(path), *net, "--activation-formula", SWISH, "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if right else 1), report
    assert report["forward"]["status"] == "ok"
    assert report["gradients"]["W2"]["status"] == "ok"
    assert report["gradients"]["W1"]["status"] == ("ok" if right else "wrong")


@pytest.mark.parametrize(
    ("prime", "right"),
    [
        ("swish'(z1_{i})", True),
        ("(1/(1 + exp(-z1_{i})) + z1_{i}*exp(-z1_{i})/(1 + exp(-z1_{i}))**2)", True),
        ("h1_{i}*(1 - h1_{i})", False),
    ],
)
def test_check_formulas_judges_swish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prime: str, right: bool
) -> None:
    lines = ["dL/db2_1 = yhat_1 - y_1"]
    lines += [f"dL/dW2_1_{i} = (yhat_1 - y_1) * h1_{i}" for i in (1, 2)]
    for i in (1, 2):
        local = prime.format(i=i)
        lines.append(f"dL/db1_{i} = (yhat_1 - y_1) * W2_1_{i} * {local}")
        lines += [
            f"dL/dW1_{i}_{j} = (yhat_1 - y_1) * W2_1_{i} * {local} * x_{j}"
            for j in (1, 2)
        ]
    path = tmp_path / "answers.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    net = ["--layers", "2,2,1", "--activations", "swish,identity"]
    code = cli.main(
        ["check-formulas", str(path), *net, "--activation-formula", SWISH, "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if right else 1), report
    assert report["entries"]["W1_1_2"]["status"] == ("ok" if right else "wrong")


@pytest.mark.parametrize(
    ("flag", "formula", "says"),
    [
        (
            "--activation-formula",
            "bad=z * gelu(z)",
            "'gelu' is not an allowed function",
        ),
        ("--activation-formula", "bad=x * sigmoid(x)", "unknown name 'x'"),
        ("--activation-formula", "bad=alpha + 1", "is not a function of z"),
        ("--activation-formula", "bad=step(z) + z", "cannot differentiate"),
        ("--activation-formula", "bad=max(z, 1)", "jumps away from z = 0"),
        ("--activation-formula", "bad=__import__('os').system('true')", "not allowed"),
        ("--activation-formula", "relu=z", "the name is taken"),
        ("--activation-formula", "bad=(z\n+ exp(z))", "one line of printable text"),
        ("--activation-formula", "no formula", "is not NAME=FORMULA"),
        ("--loss-formula", "bad=(yhat - t)**2", "unknown name 't'"),
        ("--loss-formula", "bad=yhat**2", "is not a function of yhat and y"),
        ("--loss-formula", "bad=where(yhat > y, 1, 0)", "cannot differentiate"),
        # continuous slopes either side, but the value jumps: SymPy's slope would ignore it
        ("--activation-formula", "bad=where(z > 0, z + 1, z)", "jumps at z = 0"),
        (
            "--loss-formula",
            "bad=where(abs(yhat - y) <= 1, (yhat - y)**2, abs(yhat - y) + 1)",
            "jumps at yhat = y - 1 (from 2 to 1)",
        ),
    ],
)
def test_a_bad_formula_is_one_line_and_exit_2(
    tmp_path: Path, flag: str, formula: str, says: str
) -> None:
    out = tmp_path / "t.py"
    out.write_text("kept\n", encoding="utf-8")
    acts = "bad,identity" if flag == "--activation-formula" else "relu,identity"
    r = run_cli(
        "emit",
        "trainer",
        "--activations",
        acts,
        flag,
        formula,
        "-o",
        str(out),
        "--force",
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert out.read_text(encoding="utf-8") == "kept\n"


def test_a_bad_formula_in_the_toml_is_one_line_and_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(TOML.replace("z * sigmoid(z)", "z * sigmoid(w)"), encoding="utf-8")
    r = run_cli("emit", "trainer", "--spec", str(spec), "-o", str(tmp_path / "t.py"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "activation swish: unknown name 'w'" in r.stderr
    assert not (tmp_path / "t.py").exists()


def test_an_unpickled_spec_registers_its_formulas(tmp_path: Path) -> None:
    """A spec sent to another process (a Dask worker) brings its formula entries along."""
    import pickle

    from symbackprop.spec import make_spec
    from symbackprop.spec.formula_entries import Formula

    spec = make_spec(
        layers=(2, 2, 1),
        activations=("swish", "identity"),
        formulas=(Formula("activation", "swish", "z * sigmoid(z)"),),
    )
    path = tmp_path / "spec.pickle"
    path.write_bytes(pickle.dumps(spec))
    code = (
        "import pickle, sys\n"
        "from symbackprop.spec import registry\n"
        "assert 'swish' not in registry.ACTIVATIONS\n"
        f"spec = pickle.loads(open({str(path)!r}, 'rb').read())\n"
        "print(registry.activation('swish').numpy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "{z}*np.exp(-np.logaddexp(0, -{z}))"


@pytest.mark.slow
def test_the_pdf_shows_swish_and_huber(tmp_path: Path) -> None:
    from symbackprop.emit import pdf

    if pdf.find_tex() is None:
        pytest.skip("no TeX on PATH: the PDF needs latexmk or pdflatex")
    out = tmp_path / "d.pdf"
    assert cli.main(["pdf", *NET, "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, text=True
        ).stdout
        assert "swish" in text and "huber" in text


@pytest.mark.parametrize(
    ("formula", "left", "right"),
    [
        ("abs(z)", -1.0, 1.0),
        ("max(z, z/4)", 0.25, 1.0),
        ("where(z >= 0, z, 0)", 0.0, 1.0),
    ],
)
def test_a_kink_takes_the_left_slope_as_relu_does(
    formula: str, left: float, right: float
) -> None:
    """The derivative at z = 0 is the z <= 0 side's (ReLU'(0) = 0); elsewhere the slope."""
    from symbackprop.derive import rules
    from symbackprop.spec.formula_entries import Formula, register_formulas

    register_formulas([Formula("activation", "cube", formula)])
    _, slope = rules.activation_rule("cube", 0.01)
    at = {rules.H: 0}
    assert float(slope.subs({rules.Z: 0, **at})) == left
    assert float(slope.subs({rules.Z: -0.5, **at})) == left
    assert float(slope.subs({rules.Z: 0.5, **at})) == right
    assert registry.activation("cube").kink
