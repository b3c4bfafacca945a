"""A function that returns (loss, grads) (CS231n's TwoLayerNet.loss) is checked for both: its loss
is a part of its own, compared with the derivation's batch loss (data loss plus the L2 penalty).

Each variant's label is confirmed first with a hand-written NumPy loss (softmax cross-entropy
averaged over N, plus reg * sum(W * W)), run on the variant's own TwoLayerNet.loss."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import ROOT

OK = (
    ROOT
    / "tests"
    / "fixtures"
    / "coursework"
    / "cs231n_twolayernet"
    / "neural_net_ok.py"
)
L2 = 0.1  # the spec's lambda: CS231n's reg = lambda / 2
FLAGS = ["--l2", str(L2), "--layers", "4,10,3", "--activations", "relu,identity"]
FLAGS += ["--loss", "softmax_cross_entropy", "--reduction", "mean"]
ADDED = "loss = data_loss + reg_loss"
SUMMED = "data_loss = -np.sum(np.log(probs[np.arange(N), y])) / N"
# the mistake -> (the line as the student wrote it, how it relates to the true loss)
VARIANTS = {
    "no_penalty": (ADDED, "loss = data_loss"),
    "summed": (SUMMED, "data_loss = -np.sum(np.log(probs[np.arange(N), y]))"),
}


def write_variant(tmp_path: Path, name: str) -> Path:
    source = OK.read_text()
    if name == "ok":
        text = source
    else:
        old, new = VARIANTS[name]
        assert old in source
        text = source.replace(old, new)
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return path


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hand_loss(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, reg: float):
    """(data loss, penalty) of CS231n's two-layer net, written out by hand."""
    h = np.maximum(0, X @ params["W1"] + params["b1"])
    scores = h @ params["W2"] + params["b2"]
    scores = scores - scores.max(axis=1, keepdims=True)
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    data = -log_p[np.arange(len(y)), y].mean()
    return data, reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))


def student_loss(path: Path, n: int, reg: float) -> tuple[float, float, float]:
    """(the variant's loss, the hand-written data loss, penalty) at a random point."""
    module = load(path)
    rng = np.random.default_rng(n)
    net = module.TwoLayerNet(4, 10, 3)
    for k in net.params:
        net.params[k] = rng.normal(size=net.params[k].shape)
    X, y = rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)
    loss, _ = net.loss(X, y=y, reg=reg)
    data, penalty = hand_loss(net.params, X, y, reg)
    return float(loss), float(data), float(penalty)


def check(path: Path, *args: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "symbackprop", "check-code", str(path), "--json"]
    done = subprocess.run(
        [*cmd, *FLAGS, *args], capture_output=True, text=True, env=env, timeout=120
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", ["ok", *VARIANTS])
def test_the_labels_hold_by_hand(tmp_path: Path, name: str) -> None:
    path = write_variant(tmp_path, name)
    for n in (3, 5):
        loss, data, penalty = student_loss(path, n, reg=L2 / 2)
        want = {"ok": data + penalty, "no_penalty": data, "summed": n * data + penalty}
        assert np.isclose(loss, want[name], rtol=1e-10)
        assert name == "ok" or not np.isclose(loss, data + penalty, rtol=1e-6)


def test_a_correct_loss_is_a_part_that_is_ok(tmp_path: Path) -> None:
    report = check(write_variant(tmp_path, "ok"))
    assert report["loss"]["status"] == "ok", report["loss"]
    assert report["ok"]


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [
        ("no_penalty", "penalty_factor", "leaves the L2 penalty out"),
        (
            "summed",
            "scaled",
            "adds the samples' losses up where the batch loss is their mean",
        ),
    ],
)
def test_a_wrong_loss_is_named_and_the_gradients_still_judged(
    tmp_path: Path, name: str, code: str, words: str
) -> None:
    report = check(write_variant(tmp_path, name))
    loss = report["loss"]
    assert loss["status"] == "wrong" and loss["diagnoses"] == [code], loss
    assert words in loss["message"]
    assert all(p["status"] == "ok" for p in report["gradients"].values())
    assert not report["ok"]


def test_the_loss_is_graded_only_when_given_points(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "no_penalty")
    plain = check(path)
    assert (plain["score"], plain["max_score"]) == (5.0, 5.0)  # forward and 4 gradients
    graded = check(path, "--points", "loss=2")
    assert (graded["score"], graded["max_score"]) == (5.0, 7.0)
    assert graded["loss"]["score"] == 0.0


def test_the_derivations_softmax_loss_does_not_overflow() -> None:
    """Wide layers at random points give logits in the thousands: the truth's loss is still
    the exact log-sum-exp, as the hand-written form computes it."""
    from symbackprop.derive import evaluate, network
    from symbackprop.spec import make_spec

    spec = make_spec(
        layers=(2, 2, 3),
        activations=("identity", "identity"),
        loss="softmax_cross_entropy",
        reduction="sum",
    )
    prog = network.derive(spec, closed_forms=False).program
    X = np.array([[900.0, -400.0], [3.0, 1.0]])
    W1, b1 = np.eye(2), np.zeros(2)
    W2 = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    b2 = np.zeros(3)
    y = np.eye(3)[[0, 2]]
    values = {"X": X, "y": y, "W1": W1, "b1": b1, "W2": W2, "b2": b2}
    got = evaluate.run(prog, values)["loss"]
    z = X @ W2.T
    want = sum(np.logaddexp.reduce(z[i]) - z[i][t] for i, t in enumerate([0, 2]))
    assert np.isfinite(got) and np.isclose(got, want, rtol=1e-12)


def test_a_loss_the_derivation_cannot_compute_is_not_checked() -> None:
    from symbackprop.check.code import truth as T
    from symbackprop.check.code.diagnose_loss import diagnose_loss
    from symbackprop.spec import default_spec

    truth = T.truth_for(default_spec())
    probes = T.make_probes(truth, seed=1)
    for p in probes:
        p.values["loss"] = np.inf
    got = diagnose_loss(truth, probes, [{"loss": 1.0}] * len(probes), "f(X)")
    assert got is not None and got["status"] == "not_checked"
    assert diagnose_loss(truth, probes, [{}] * len(probes), "f(X)") is None


def test_graded_loss_points_without_a_loss_say_why(tmp_path: Path) -> None:
    seed_style = ROOT / "tests" / "fixtures" / "students" / "correct.py"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "symbackprop", "check-code", str(seed_style), "--json"]
    done = subprocess.run(
        [*cmd, "--points", "loss=2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert (report["score"], report["max_score"]) == (5.0, 7.0)
    assert report["loss"]["status"] == "not_checked"
    assert "returns no loss" in report["loss"]["message"]


def test_a_loss_that_is_not_a_number_is_one_clear_part(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "ok")
    path.write_text(
        path.read_text().replace("return loss, grads", 'return "low", grads')
    )
    report = check(path)
    assert report["loss"]["status"] == "error"
    assert "is a str, not a number" in report["loss"]["message"]
    assert all(p["status"] == "ok" for p in report["gradients"].values())


def test_a_backward_fed_the_output_error_says_so(tmp_path: Path) -> None:
    path = tmp_path / "dz.py"
    path.write_text(
        "import numpy as np\n\n\n"
        "def forward(X, params):\n"
        '    Z1 = X @ params["W1"].T + params["b1"]\n'
        "    H1 = np.maximum(Z1, 0)\n"
        '    return {"Z1": Z1, "H1": H1, "Y": H1 @ params["W2"].T + params["b2"]}\n\n\n'
        "def backward(X, params, Z1, H1, dZ2):\n"
        '    dZ1 = (dZ2 @ params["W2"]) * (Z1 > 0)\n'
        '    return {"dW1": dZ1.T @ X, "db1": dZ1.sum(axis=0), "dW2": dZ2.T @ H1,\n'
        '            "db2": dZ2.sum(axis=0)}\n'
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "symbackprop", "check-code", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout
    assert "backward is fed the correct output error dZ2" in done.stdout
