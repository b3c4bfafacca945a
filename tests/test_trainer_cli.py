"""The emitted trainer as a program: user CSV data, mini-batches, save/load, --gradcheck."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symbackprop.emit.trainer import build_trainer
from symbackprop.spec import default_spec, make_spec


@pytest.fixture(scope="module")
def trainers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trainers")
    specs = {
        "seed": default_spec(),
        "softmax": make_spec(layers=(2, 4, 3), loss="softmax_cross_entropy"),
        "scalar": default_spec(),
    }
    out = {}
    for key, spec in specs.items():
        path = root / f"{key}.py"
        path.write_text(
            build_trainer(spec, style="scalar" if key == "scalar" else "matrix").source
        )
        out[key] = path
    return out


def run(path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def _regression_csv(path: Path, header: bool = True) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X @ np.array([1.5, -2.0]) + 0.5
    lines = (["x1,x2,y"] if header else []) + [
        f"{a},{b},{t}" for (a, b), t in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("style", ["seed", "scalar"])
def test_csv_minibatch_training_learns_and_saves(
    trainers, tmp_path: Path, style: str
) -> None:
    _regression_csv(tmp_path / "d.csv")
    r = run(
        trainers[style],
        "--data",
        "d.csv",
        "--targets",
        "1",
        "--epochs",
        "60",
        "--lr",
        "0.01",
        "--batch-size",
        "8",
        "--seed",
        "0",
        "--save",
        "w.npz",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    header, *lines = r.stdout.splitlines()
    assert header.startswith("# loss: half_sse, the sum over the samples")
    first = float(lines[0].split()[-1])
    last = float(lines[-2].split()[-1])
    assert lines[0].startswith("epoch 1/60") and lines[-2].startswith("epoch 60/60")
    assert last < 0.2 * first
    saved = np.load(tmp_path / "w.npz")
    # the parameters, and the marker by which a later --save knows it may replace the file
    assert sorted(saved.files) == ["W1", "W2", "b1", "b2", "generated-trainer-weights"]
    # loading them starts where training ended (the seed-format line prints the loss to 4 places)
    r2 = run(
        trainers[style],
        "--data",
        "d.csv",
        "--load",
        "w.npz",
        "--epochs",
        "1",
        cwd=tmp_path,
    )
    assert r2.returncode == 0, r2.stderr
    line = r2.stdout.splitlines()[1]
    assert line.startswith("Epoch: 1 loss: ")
    assert float(line.split()[3]) == pytest.approx(last, abs=1e-4)


def test_same_seed_same_run(trainers, tmp_path: Path) -> None:
    _regression_csv(tmp_path / "d.csv", header=False)
    args = (
        "--data",
        "d.csv",
        "--epochs",
        "5",
        "--batch-size",
        "7",
        "--seed",
        "3",
        "--lr",
        "0.01",
    )
    assert (
        run(trainers["seed"], *args, cwd=tmp_path).stdout
        == run(trainers["seed"], *args, cwd=tmp_path).stdout
    )


def test_integer_class_labels_become_one_hot(trainers, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    labels = np.argmax(X @ rng.normal(size=(2, 3)), axis=1)
    (tmp_path / "c.csv").write_text(
        "".join(f"{a},{b},{k}\n" for (a, b), k in zip(X, labels, strict=True))
    )
    r = run(
        trainers["softmax"],
        "--data",
        "c.csv",
        "--targets",
        "1",
        "--epochs",
        "40",
        "--lr",
        "0.1",
        "--batch-size",
        "10",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()[1:]
    losses = [float(line.split()[3]) for line in lines]
    assert losses[-1] < losses[0]
    # a classifier logs its accuracy
    accuracies = [float(line.split()[5]) for line in lines]
    assert lines[0].split()[4] == "accuracy:" and accuracies[-1] > 0.8


BAD_CSV = [
    ("1,2,3\n2,x,2.5\n", "row 2, column 2: 'x' is not a number"),
    ("a,b,c\n1,2,3\n2,1\n", "row 3 has 2 columns, the first row 3"),
    ("1,2,3,4\n", "2 target columns, but the network has 1 outputs"),
    ("1,2\n", "2 columns leave no target column after the network's 2 inputs"),
    ("", "no data rows"),
    ("1,2,nan\n", "'nan' is not a number"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CSV)
def test_malformed_csv_is_refused_with_row_and_column(
    trainers, tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "bad.csv").write_text(text)
    r = run(trainers["seed"], "--data", "bad.csv", cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_class_labels_and_bad_weights(trainers, tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("1,2,0\n2,1,5\n")
    r = run(trainers["softmax"], "--data", "c.csv", "--targets", "1", cwd=tmp_path)
    assert r.returncode == 2 and "class labels must be whole numbers 0..2" in r.stderr
    np.savez(
        tmp_path / "w.npz",
        W1=np.zeros((3, 3)),
        b1=np.zeros(2),
        W2=np.zeros((1, 2)),
        b2=np.zeros(1),
    )
    r = run(trainers["seed"], "--load", "w.npz", cwd=tmp_path)
    assert r.returncode == 2 and "W1 has shape (3, 3), expected (2, 2)" in r.stderr


def test_gradcheck_passes_and_catches_a_broken_trainer(
    trainers, tmp_path: Path
) -> None:
    r = run(trainers["seed"], "--gradcheck", cwd=tmp_path)
    assert r.returncode == 0 and "gradcheck passed" in r.stdout
    # break the backward pass the way the seed notebook did (mean instead of sum for b2)
    broken = tmp_path / "broken.py"
    source = trainers["seed"].read_text()
    assert "np.sum(dZ2, axis=0, out=gb2)" in source
    broken.write_text(
        source.replace("np.sum(dZ2, axis=0, out=gb2)", "np.mean(dZ2, axis=0, out=gb2)")
    )
    r = run(broken, "--gradcheck", cwd=tmp_path)
    assert r.returncode == 1 and "gradcheck FAILED" in r.stdout


def test_divergence_stops_at_once_with_advice(trainers, tmp_path: Path) -> None:
    r = run(trainers["seed"], "--lr", "5", "--epochs", "2000", cwd=tmp_path)
    assert r.returncode == 2
    assert (
        "the loss diverged at epoch" in r.stderr and "--lr 5 is too large" in r.stderr
    )
    assert len(r.stdout.splitlines()) < 20  # stopped, not 2000 lines of inf/nan


def test_save_names_the_file_it_wrote(trainers, tmp_path: Path) -> None:
    r = run(trainers["seed"], "--epochs", "2", "--save", "w2", cwd=tmp_path)
    assert r.returncode == 0 and "saved weights to w2.npz" in r.stdout
    assert (
        run(
            trainers["seed"], "--epochs", "1", "--load", "w2.npz", cwd=tmp_path
        ).returncode
        == 0
    )


def test_gradcheck_passes_on_a_wide_correct_network(tmp_path: Path) -> None:
    # tiny gradients of a wide softmax network: finite-difference rounding is not an error
    path = tmp_path / "wide.py"
    spec = make_spec(layers=(50, 40, 5), loss="softmax_cross_entropy")
    path.write_text(build_trainer(spec).source)
    r = run(path, "--gradcheck", cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-500:]
