"""The registry is the one source of an activation's and a loss's facts.

A throwaway activation (`rbump`, z / (1 + z^2)) and a throwaway loss (`quartic`, the sum of
(yhat - y)^4 / 4 over the outputs) appear nowhere in the package: registered at run time,
they must reach every output (trainer, PDF, notebook) and both checkers with no other change.
Labels of the student fixtures below are verified by finite differences through the
student's own forward pass before the checker's verdict is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from symbackprop import cli
from symbackprop.derive import rules
from symbackprop.emit import pdf
from symbackprop.spec import registry

ACTIVATION = "rbump"
LOSS = "quartic"
NET = ["--layers", "2,2,1", "--activations", f"{ACTIVATION},identity", "--loss", LOSS]


@pytest.fixture
def throwaway() -> Iterator[None]:
    """Register the throwaway entries for one test, and take them out again after it."""
    sp = pytest.importorskip("sympy")
    registry.register_activation(
        registry.Activation(
            ACTIVATION,
            lambda z, _: z / (1 + z**2),
            "{z} / (1 + {z} ** 2)",
            r"\operatorname{rbump}",
        )
    )
    registry.register_loss(
        registry.Loss(
            LOSS,
            lambda yhat, y: (
                sp.Add(*[(a - b) ** 4 for a, b in zip(yhat, y, strict=True)]) / 4
            ),
            "0.25 * np.sum(({Y} - {T}) ** 4)",
            "a quarter of the fourth power of the error, summed over the outputs",
        )
    )
    try:
        yield
    finally:
        registry.unregister_activation(ACTIVATION)
        registry.unregister_loss(LOSS)


def test_the_throwaway_names_appear_nowhere_in_the_package() -> None:
    for folder in ("symbackprop", "templates"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".jinja", ".txt"):
                text = path.read_text(encoding="utf-8")
                assert ACTIVATION not in text and LOSS not in text, path


def test_registering_a_name_twice_is_refused(throwaway: None) -> None:
    from symbackprop.errors import UserError

    with pytest.raises(UserError, match="already registered"):
        registry.register_activation(registry.ACTIVATIONS[ACTIVATION])
    with pytest.raises(UserError, match="built in"):
        registry.unregister_activation("relu")


def test_a_name_registered_again_gets_its_new_rule() -> None:
    """Rules are cached by entry, not by name: a second `bump` is differentiated anew."""
    sp = pytest.importorskip("sympy")
    for power in (2, 3):
        entry = registry.Activation(
            "bump_again", lambda z, _, p=power: z**p, f"{{z}} ** {power}", "b"
        )
        registry.register_activation(entry)
        try:
            assert rules.activation_rule("bump_again", 0.01)[1] == power * rules.Z ** (
                power - 1
            )
        finally:
            registry.unregister_activation("bump_again")
    assert sp.Symbol("z", real=True) == rules.Z


def test_a_registered_activation_and_loss_give_a_proven_trainer(
    throwaway: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.py"
    assert cli.main(["emit", "trainer", *NET, "-o", str(out)]) == 0
    assert "proven equal to SymPy's derivation" in capsys.readouterr().out
    source = out.read_text(encoding="utf-8")
    assert "Z1 / (1 + Z1**2)" in source or "Z1 / (1 + Z1 ** 2)" in source
    # the derivative is SymPy's, not ours: (1 - z^2) / (1 + z^2)^2 in some arrangement
    result = subprocess.run(
        [sys.executable, str(out), "--gradcheck"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


def test_a_registered_activation_reaches_the_notebook(
    throwaway: None, tmp_path: Path
) -> None:
    nb = tmp_path / "n.ipynb"
    assert cli.main(["emit", "notebook", *NET, "-o", str(nb)]) == 0
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells)
    assert r"\operatorname{rbump}" in text
    assert "quartic" in text


@pytest.mark.slow
def test_a_registered_activation_reaches_the_pdf(
    throwaway: None, tmp_path: Path
) -> None:
    if pdf.find_tex() is None:
        pytest.skip("no TeX on PATH: the PDF needs latexmk or pdflatex")
    tex = tmp_path / "d.tex"
    assert cli.main(["emit", "latex", *NET, "-o", str(tex)]) == 0
    assert r"\operatorname{rbump}" in tex.read_text(encoding="utf-8")
    assert cli.main(["pdf", *NET, "-o", str(tmp_path / "d.pdf")]) == 0
    assert (tmp_path / "d.pdf").read_bytes().startswith(b"%PDF")


STUDENT = """
import numpy as np


def rbump(a):
    return a / (1 + a**2)


def forward(W1, W2, b1, b2, X):
    Z = X @ W1.T + b1
    H = rbump(Z)
    y_pred = H @ W2.T + b2
    return H, Z, y_pred


def backward(y_pred, y_true, W2, H, Z, X):
    d = (y_pred - y_true) ** 3
    W2_grad = d.T @ H
    b2_grad = d.sum(axis=0)
    dz = {dz}
    W1_grad = dz.T @ X
    b1_grad = dz.sum(axis=0)
    return W1_grad, W2_grad, b1_grad, b2_grad
"""
RIGHT = "(d @ W2) * (1 - Z**2) / (1 + Z**2) ** 2"
NO_MASK = "d @ W2"


def _student(dz: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(STUDENT.format(dz=dz), namespace)  # our own fixture, not a student's upload
    return namespace


def _fd_matches(dz: str) -> bool:
    """Finite differences of the quartic loss through the student's own forward."""
    ns = _student(dz)
    rng = np.random.default_rng(3)
    W1, b1 = rng.normal(size=(2, 2)), rng.normal(size=2)
    W2, b2 = rng.normal(size=(1, 2)), rng.normal(size=1)
    X, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 1))

    def loss(w1: np.ndarray) -> float:
        return float(np.sum((ns["forward"](w1, W2, b1, b2, X)[2] - y) ** 4) / 4)

    H, Z, y_pred = ns["forward"](W1, W2, b1, b2, X)
    grad = ns["backward"](y_pred, y, W2, H, Z, X)[0]
    eps, numeric = 1e-6, np.zeros_like(W1)
    for idx in np.ndindex(W1.shape):
        step = np.zeros_like(W1)
        step[idx] = eps
        numeric[idx] = (loss(W1 + step) - loss(W1 - step)) / (2 * eps)
    return bool(np.allclose(grad, numeric, rtol=1e-5, atol=1e-8))


@pytest.mark.parametrize(("dz", "right"), [(RIGHT, True), (NO_MASK, False)])
def test_check_code_judges_a_registered_activation(
    throwaway: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dz: str,
    right: bool,
) -> None:
    assert _fd_matches(dz) is right  # the label, verified independently
    path = tmp_path / "hw.py"
    path.write_text(STUDENT.format(dz=dz), encoding="utf-8")
    code = cli.main(["check-code", str(path), *NET, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if right else 1), report
    assert report["forward"]["status"] == "ok"
    assert report["gradients"]["W2"]["status"] == "ok"
    assert report["gradients"]["W1"]["status"] == ("ok" if right else "wrong")
    if not right:
        assert "missing_activation_mask" in report["gradients"]["W1"]["diagnoses"]


def _answers(prime: str) -> str:
    lines = ["dL/db2_1 = (yhat_1 - y_1)**3"]
    lines += [f"dL/dW2_1_{i} = (yhat_1 - y_1)**3 * h1_{i}" for i in (1, 2)]
    for i in (1, 2):
        local = prime.format(i=i)
        lines.append(f"dL/db1_{i} = (yhat_1 - y_1)**3 * W2_1_{i} * {local}")
        for j in (1, 2):
            lines.append(
                f"dL/dW1_{i}_{j} = (yhat_1 - y_1)**3 * W2_1_{i} * {local} * x_{j}"
            )
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("prime", "right"),
    [
        ("rbump'(z1_{i})", True),
        ("(1 - z1_{i}**2) / (1 + z1_{i}**2)**2", True),
        ("(1 - h1_{i}**2)", False),  # tanh's derivative, a realistic slip
    ],
)
def test_check_formulas_judges_a_registered_activation(
    throwaway: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    prime: str,
    right: bool,
) -> None:
    path = tmp_path / "answers.txt"
    path.write_text(_answers(prime), encoding="utf-8")
    code = cli.main(["check-formulas", str(path), *NET, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if right else 1), report
    statuses = {name: e["status"] for name, e in report["entries"].items()}
    assert statuses["W2_1_1"] == "ok" and statuses["b2_1"] == "ok"
    assert statuses["W1_1_2"] == ("ok" if right else "wrong")


def test_a_derivative_that_h_would_need_lambertw_for_stays_in_z(tmp_path: Path) -> None:
    """swish's z = f^-1(h) needs LambertW: SymPy's derivative is kept in z, and printable."""
    sp = pytest.importorskip("sympy")
    name = "zswish"
    registry.register_activation(
        registry.Activation(
            name, lambda z, _: z / (1 + sp.exp(-z)), "{z} / (1 + np.exp(-{z}))", "s"
        )
    )
    try:
        _, derivative = rules.activation_rule(name, 0.01)
        assert not derivative.has(sp.LambertW) and rules.Z in derivative.free_symbols
        out = tmp_path / "t.py"
        assert (
            cli.main(
                ["emit", "trainer", "--activations", f"{name},identity", "-o", str(out)]
            )
            == 0
        )
        z = np.linspace(-3, 3, 7)
        slope = (z + 1e-6) / (1 + np.exp(-(z + 1e-6))) - (z - 1e-6) / (
            1 + np.exp(-(z - 1e-6))
        )
        got = [float(derivative.subs(rules.Z, v)) for v in z]
        assert np.allclose(got, slope / 2e-6, rtol=1e-6)
    finally:
        registry.unregister_activation(name)
