"""symbackprop/runtime/: the fixed program code of every trainer and notebook, tested as modules.

The trainer's own names (LAYERS, loss, gradients, ...) are replaced by a hand-written linear
network, y = X W1^T + b1 with half the sum of squared errors, whose gradient is known exactly.
References are independent of the code under test: NumPy's own printing, hand-written values.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import ROOT

from symbackprop.emit import render
from symbackprop.errors import UserError
from symbackprop.runtime import (
    _trainer,
    cell_gradient_check,
    cell_loss_curve,
    cell_training_run,
    data,
    gradcheck,
    main,
    weights,
)
from symbackprop.runtime import format as epoch_format

TRAINER_MODULES = (
    "matrix_api",
    "matrix_training",
    "format",
    "data",
    "weights",
    "gradcheck",
    "main",
)
# the scalar style's, in a scalar trainer (generated/ holds the matrix style's)
SCALAR_MODULES = ("scalar_params", "scalar_api", "scalar_training")
CELL_MODULES = ("cell_gradient_check", "cell_training_run", "cell_loss_curve")
MODULES = [
    importlib.import_module(f"symbackprop.runtime.{name}")
    for name in TRAINER_MODULES + CELL_MODULES
]
GOLDEN = ROOT / "generated" / "trainer_2_2_1.py"


# --------------------------------------------------------------------------- a fake trainer


def linear_trainer(inputs: int = 2, outputs: int = 1, wrong: float = 1.0) -> dict:
    """The trainer names for y = X W1^T + b1, loss 0.5 * sum((Y - y)^2); `wrong` scales dW1."""

    def init_params(seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {"W1": rng.normal(size=(outputs, inputs)), "b1": np.zeros(outputs)}

    def forward(params: dict[str, np.ndarray], X: np.ndarray) -> dict[str, np.ndarray]:
        Z1 = X @ params["W1"].T + params["b1"]
        return {"Z1": Z1, "Y": Z1}

    def loss(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
        return float(0.5 * np.sum((forward(params, X)["Y"] - y) ** 2))

    def gradients(
        params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
    ) -> dict[str, np.ndarray]:
        E = forward(params, X)["Y"] - y
        return {"W1": wrong * E.T @ X, "b1": E.sum(axis=0)}

    def sgd_step(
        params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = 0.05
    ) -> float:
        value, grads = loss(params, X, y), gradients(params, X, y)
        for name in params:
            params[name] -= lr * grads[name]
        return value

    def init_state(params: dict[str, np.ndarray], optimizer: str = "sgd", **hyper):
        return {"optimizer": optimizer, "t": 0, **hyper}

    def step(params, state, X, y, lr: float = 0.05) -> float:  # plain SGD, by hand
        return sgd_step(params, X, y, lr)

    def train(
        params: dict[str, np.ndarray],
        X: np.ndarray,
        y: np.ndarray,
        lr: float = 0.05,
        epochs: int = 100,
        log: Callable[[int, float, dict[str, np.ndarray]], None] | None = None,
        state: dict | None = None,
    ) -> list[float]:
        history = []
        for epoch in range(1, epochs + 1):
            grads = gradients(params, X, y)
            history.append(sgd_step(params, X, y, lr))
            if log is not None:
                log(epoch, history[-1], grads)
        return history

    def make_data(n: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, inputs))
        return X, X @ np.arange(1.0, inputs * outputs + 1).reshape(inputs, outputs)

    return dict(
        LAYERS=(inputs, outputs),
        PARAM_NAMES=("W1", "b1"),
        GRAD_ORDER=("W1", "b1"),
        LR=0.05,
        EPOCHS=30,
        SEED=0,
        init_params=init_params,
        forward=forward,
        loss=loss,
        gradients=gradients,
        sgd_step=sgd_step,
        init_state=init_state,
        step=step,
        train=train,
        make_data=make_data,
    )


def _stand_ins(module: ModuleType) -> set[str]:
    """The names `module` imports from `_trainer` (what the generated file defines)."""
    tree = ast.parse(Path(module.__file__ or "").read_text())
    return {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "_trainer"
        for alias in node.names
    }


STAND_INS = {module: _stand_ins(module) for module in MODULES}


def install(monkeypatch: pytest.MonkeyPatch, **names: object) -> None:
    """Replace `_trainer`'s stand-ins in every runtime module that imported them."""
    for name, value in names.items():
        assert hasattr(_trainer, name), name
        for module, stand_ins in STAND_INS.items():
            if name in stand_ins:
                monkeypatch.setattr(module, name, value)


@pytest.fixture
def linear(monkeypatch: pytest.MonkeyPatch) -> dict:
    names = linear_trainer()
    install(monkeypatch, **names)
    return names


def printed(fn: Callable[[], object]) -> tuple[object, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        result = fn()
    return result, out.getvalue()


# --------------------------------------------------------------------------- the include step


def imports_of(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.fixture(scope="module")
def scalar_trainer() -> str:
    from symbackprop.emit.trainer import build_trainer
    from symbackprop.spec import default_spec

    return build_trainer(default_spec(), style="scalar").source


@pytest.mark.parametrize("name", SCALAR_MODULES)
def test_scalar_modules_are_included_verbatim(name: str, scalar_trainer: str) -> None:
    text = render.runtime(name)
    assert text in scalar_trainer and text.startswith("def ")
    module = ast.parse((render.RUNTIME_DIR / f"{name}.py").read_text())
    assert imports_of(module) <= imports_of(ast.parse(scalar_trainer)) | {
        "__future__.annotations"
    }


@pytest.mark.parametrize("name", TRAINER_MODULES)
def test_trainer_modules_are_included_verbatim(name: str) -> None:
    golden = GOLDEN.read_text()
    if name == "main":  # its slot holds the seed spec's data
        text = render.runtime(
            "main",
            default_data=(
                "    else:\n        X, y = DEFAULT_X, DEFAULT_Y\n        params = {name: "
                "value.copy() for name, value in DEFAULT_PARAMS.items()}\n"
            ),
        )
    else:
        text = render.runtime(name)
    assert text in golden
    assert text.startswith(("def ", "class "))
    # what the module imports, the trainer imports too (the include drops the imports)
    module = ast.parse((render.RUNTIME_DIR / f"{name}.py").read_text())
    assert imports_of(module) <= imports_of(ast.parse(golden)) | {
        "__future__.annotations"
    }


def test_included_text_never_imports_symbackprop_nor_keeps_markers() -> None:
    texts = [render.runtime(n) for n in TRAINER_MODULES if n != "main"]
    texts += [render.runtime("main", default_data="    else:\n        pass")]
    texts += [render.runtime(n) for n in CELL_MODULES if n != "cell_gradient_check"]
    texts += [render.runtime("cell_gradient_check", kinks="KINKS = ()")]
    for text in texts:
        assert "symbackprop" not in text and "_trainer" not in text
        assert "# slot" not in text and "# end slot" not in text
        assert "def cell()" not in text
        ast.parse(text)
    # and the trainer imports only at its top, before any runtime code
    body = ast.parse(GOLDEN.read_text()).body
    first_def = next(i for i, n in enumerate(body) if isinstance(n, ast.FunctionDef))
    assert not any(isinstance(n, ast.Import | ast.ImportFrom) for n in body[first_def:])


@pytest.mark.parametrize(
    "name, cell_id",
    [
        ("cell_gradient_check", "gradient-check"),
        ("cell_training_run", "training-run"),
        ("cell_loss_curve", "loss-curve"),
    ],
)
def test_notebook_cells_are_the_cell_functions_bodies(name: str, cell_id: str) -> None:
    from symbackprop.emit import notebook
    from symbackprop.emit.trainer import build_trainer
    from symbackprop.spec import default_spec

    built = build_trainer(default_spec())
    cells = json.loads(notebook.notebook_text(built, "symbackprop emit notebook"))[
        "cells"
    ]
    (cell,) = [c for c in cells if c["id"] == cell_id]
    slots = {"kinks": 'KINKS = ("Z1",)'} if name == "cell_gradient_check" else {}
    expected = ast.parse(render.runtime(name, **slots))
    assert ast.dump(ast.parse("".join(cell["source"]))) == ast.dump(expected)
    # the function's body, statement for statement (the module's own cell())
    module = importlib.import_module(f"symbackprop.runtime.{name}")
    (fn,) = [
        n
        for n in ast.parse(Path(module.__file__).read_text()).body
        if isinstance(n, ast.FunctionDef) and n.name == "cell"
    ]
    statements = fn.body[1:]  # after its docstring
    tail = expected.body[-len(statements) :]
    assert [ast.dump(n) for n in tail] == [ast.dump(n) for n in statements]


def test_slots_are_replaced_and_checked() -> None:
    text = render.runtime("cell_gradient_check", kinks="KINKS = ('Z1', 'Z2')")
    assert "KINKS = ('Z1', 'Z2')\n\n\ndef crosses_kink(" in text
    assert "KINKS: tuple" not in text
    with pytest.raises(UserError, match="slot kinks"):
        render.runtime("cell_gradient_check")
    with pytest.raises(UserError, match="the template gave"):
        render.runtime("format", kinks="KINKS = ()")
    with pytest.raises(UserError, match="no runtime module"):
        render.runtime("_trainer")
    with pytest.raises(UserError, match="no runtime module"):
        render.runtime("../render")


def test_generated_trainer_is_standalone(tmp_path: Path) -> None:
    """The golden trainer runs with symbackprop unimportable."""
    import subprocess

    (tmp_path / "symbackprop.py").write_text("raise ImportError('not standalone')\n")
    r = subprocess.run(
        [sys.executable, str(GOLDEN), "--epochs", "2", "--gradcheck"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "gradcheck passed" in r.stdout


# --------------------------------------------------------------------------- format


def numpy_str(values: np.ndarray) -> str:
    with np.printoptions(threshold=24, edgeitems=3, linewidth=1_000_000):
        return str(values)


def sample_arrays() -> Iterator[np.ndarray]:
    rng = np.random.default_rng(1)
    for size in range(1, 31):
        for scale in (0.01, 0.3, 1.0, 7.0, 150.0, 3e4):
            yield np.round(rng.normal(scale=scale, size=size), 2)
    yield np.array([0.0])
    yield np.array([0.0, 0.0, 0.0])
    yield np.array([-0.0, 1.5])
    yield np.array([1.0, 2.0, 3.0])
    yield np.array([-1.0, 10.0, -100.0])
    yield np.array([0.01, 0.1, 1.0, 10.0])
    yield np.array([0.01, 12.34])  # a 1000-fold spread: NumPy's own choice
    yield np.array([0.01, 10.0])  # exactly 1000-fold: still the fast path
    yield np.array([1e-5, 1.0])  # tiny: NumPy switches to scientific
    yield np.array([1e8, 1.0])  # huge
    yield np.array([123456.78, -0.5])
    yield np.array([np.nan, 1.0])
    yield np.array([np.inf, -np.inf, 0.5])
    yield np.round(np.linspace(-3, 3, 24), 2)  # the longest array printed in full
    yield np.round(np.linspace(-3, 3, 25), 2)  # summarised: [a b c ... x y z]


def test_format_array_is_numpys_str() -> None:
    count = 0
    for values in sample_arrays():
        assert epoch_format.format_array(values) == numpy_str(values), values
        count += 1
    assert count > 150


def test_format_array_short_arrays_equal_plain_str() -> None:
    for values in ([0.12, -3.4], [1.0, 2.0], [-0.5], [10.25, 3.0, -7.1]):
        a = np.array(values)
        assert epoch_format.format_array(a) == str(a)
    assert epoch_format.format_array(np.array([0.12, -3.4])) == "[ 0.12 -3.4 ]"


def test_print_epoch_writes_the_seed_notebooks_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install(monkeypatch, GRAD_ORDER=("W2", "b1"))
    grads = {"b1": np.array([0.123, -4.0]), "W2": np.array([[1.005, 2.0]])}
    _, out = printed(lambda: epoch_format.print_epoch(7, 0.123456, grads))
    # np.round(1.005, 2) is 1.0 (1.005 is 1.00499999... in binary)
    assert out == "Epoch: 7 loss: 0.1235 W2_grad: [1. 2.] b1_grad: [ 0.12 -4.  ]\n"


# --------------------------------------------------------------------------- data


@pytest.fixture
def net_2_1(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, LAYERS=(2, 3, 1), TARGETS="real")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "d.csv"
    path.write_text(text)
    return str(path)


def test_read_csv_with_and_without_header(tmp_path: Path, net_2_1: None) -> None:
    X, y = data.read_csv(write(tmp_path, "a,b,t\n1,2,3\n\n4, 5 ,6.5\n"), 1)
    np.testing.assert_array_equal(X, [[1.0, 2.0], [4.0, 5.0]])
    np.testing.assert_array_equal(y, [[3.0], [6.5]])
    X2, y2 = data.read_csv(write(tmp_path, "1,2,3\n4,5,6.5\n"), 1)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    X3, _ = data.read_csv(write(tmp_path, "-1e-3,.5,2\n"), 1)
    np.testing.assert_array_equal(X3, [[-0.001, 0.5]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,2,3\n4,5\n", "row 2 has 2 columns, the first row 3"),
        ("x,y,t\n\n1,2,3\n4,5\n", "row 4 has 2 columns, the first row 3"),  # file lines
        ("1,2,3\n4,abc,6\n", "row 2, column 2: 'abc' is not a number"),
        ("1,2,3\n4,5,nan\n", "row 2, column 3: 'nan' is not a number"),
        ("1,2,3\n4,,6\n", "row 2, column 2: '' is not a number"),
        ("x,y,t\n", "no data rows"),
        ("\n\n", "no data rows"),
        (
            "1,2,3,4\n",
            "4 columns with --targets 1 leaves 3 input columns, but the network takes "
            "2 inputs and 1 outputs",
        ),
    ],
)
def test_read_csv_errors_name_the_row_and_column(
    tmp_path: Path, net_2_1: None, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(data.DataError) as info:
        data.read_csv(path, 1)
    assert str(info.value) == f"{path}: {message}"


def test_read_csv_target_count_and_unreadable_files(
    tmp_path: Path, net_2_1: None
) -> None:
    path = write(tmp_path, "1,2,3\n")
    for targets in (0, 3):
        with pytest.raises(data.DataError, match=f"--targets {targets} leaves"):
            data.read_csv(path, targets)
    with pytest.raises(data.DataError, match="cannot read it"):
        data.read_csv(str(tmp_path / "missing.csv"), 1)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(data.DataError, match="cannot read it"):
        data.read_csv(str(tmp_path / "bin.csv"), 1)


def test_read_csv_class_labels_become_one_hot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, LAYERS=(2, 4, 3), TARGETS="one_hot")
    X, y = data.read_csv(write(tmp_path, "x1,x2,label\n0,1,2\n1,0,0\n1,1,1\n"), 1)
    np.testing.assert_array_equal(X, [[0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    for bad in ("3", "1.5", "-1"):
        with pytest.raises(data.DataError, match=r"whole numbers 0\.\.2"):
            data.read_csv(write(tmp_path, f"0,1,{bad}\n"), 1)
    # the one-hot columns themselves are taken as they are
    _, y3 = data.read_csv(write(tmp_path, "0,1,0,0,1\n"), 3)
    np.testing.assert_array_equal(y3, [[0, 0, 1]])


def test_read_csv_target_columns_must_match_the_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, LAYERS=(1, 2), TARGETS="real")
    with pytest.raises(data.DataError, match="1 target columns, but the network has 2"):
        data.read_csv(write(tmp_path, "1,2\n"), 1)


# --------------------------------------------------------------------------- weights


def test_weights_round_trip_through_savez(tmp_path: Path, linear: dict) -> None:
    params = {"W1": np.array([[0.25, -1.5]]), "b1": np.array([3.0])}
    np.savez(tmp_path / "w.npz", b1=params["b1"], W1=params["W1"])
    loaded = weights.load_params(str(tmp_path / "w.npz"))
    assert list(loaded) == ["W1", "b1"]  # PARAM_NAMES order (extra arrays: refused)
    for name, value in params.items():
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].dtype == np.float64


def test_load_params_rejects_other_networks(tmp_path: Path, linear: dict) -> None:
    np.savez(tmp_path / "a.npz", W1=np.zeros((1, 2)))
    with pytest.raises(data.DataError, match="has no b1; it was not saved from this"):
        weights.load_params(str(tmp_path / "a.npz"))
    np.savez(tmp_path / "b.npz", W1=np.zeros((2, 2)), b1=np.zeros(1))
    with pytest.raises(
        data.DataError, match=r"W1 has shape \(2, 2\), expected \(1, 2\)"
    ):
        weights.load_params(str(tmp_path / "b.npz"))
    (tmp_path / "c.npz").write_text("not an npz")
    with pytest.raises(data.DataError, match="cannot read it as weights"):
        weights.load_params(str(tmp_path / "c.npz"))
    with pytest.raises(data.DataError, match="cannot read it as weights"):
        weights.load_params(str(tmp_path / "missing.npz"))


# --------------------------------------------------------------------------- gradcheck


def linear_problem() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 2))
    params = {"W1": rng.normal(size=(1, 2)), "b1": np.array([0.3])}
    return params, X, rng.normal(size=(6, 1))


def test_gradcheck_passes_a_correct_gradient(linear: dict) -> None:
    params, X, y = linear_problem()
    before = {k: v.copy() for k, v in params.items()}
    worst, out = printed(lambda: gradcheck.gradcheck(params, X, y))
    assert worst < gradcheck.GRADCHECK_THRESHOLD
    assert len(out.splitlines()) == 3  # every entry: W1 has 2, b1 has 1
    assert out.splitlines()[-1].startswith("b1[0]: analytic ")
    for name, value in before.items():
        np.testing.assert_array_equal(params[name], value)  # restored exactly


def test_gradcheck_fails_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, **linear_trainer(wrong=1.01))  # dW1 off by 1 %
    params, X, y = linear_problem()
    worst, _ = printed(lambda: gradcheck.gradcheck(params, X, y))
    assert 0.005 < worst < 0.02  # |1.01 a - a| / |1.01 a|


def test_gradcheck_samples_at_most_entries_per_parameter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install(monkeypatch, **linear_trainer(inputs=30))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(4, 30)), rng.normal(size=(4, 1))
    params = {"W1": rng.normal(size=(1, 30)), "b1": np.zeros(1)}
    worst, out = printed(lambda: gradcheck.gradcheck(params, X, y, entries=5))
    assert worst < 1e-6
    assert [line.split("[")[0] for line in out.splitlines()] == ["W1"] * 5 + ["b1"]


# --------------------------------------------------------------------------- main


def run_main(*argv: str) -> tuple[int, str]:
    return printed(lambda: main.main(list(argv)))  # type: ignore[return-value]


def test_main_trains_on_random_data_in_the_seed_format(linear: dict) -> None:
    code, out = run_main("--epochs", "3")
    assert code == 0
    header, *lines = out.splitlines()
    assert (
        header
        == "# loss: half_sse, the sum over the samples of each batch (reduction sum)"
    )
    assert [line.split(" loss:")[0] for line in lines] == [
        "Epoch: 1",
        "Epoch: 2",
        "Epoch: 3",
    ]
    losses = [float(line.split()[3]) for line in lines]
    assert losses[0] > losses[1] > losses[2]
    assert " W1_grad: [" in lines[0] and " b1_grad: [" in lines[0]


def test_main_csv_minibatch_save_and_load(tmp_path: Path, linear: dict) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    y = X @ np.array([2.0, -1.0]) + 0.5
    rows = "\n".join(f"{a},{b},{t}" for (a, b), t in zip(X, y, strict=True))
    csv = write(tmp_path, "x1,x2,y\n" + rows + "\n")
    save = str(tmp_path / "w")
    code, out = run_main(
        "--data",
        csv,
        "--batch-size",
        "5",
        "--epochs",
        "40",
        "--lr",
        "0.05",
        "--save",
        save,
    )
    assert code == 0, out
    assert out.splitlines()[1].startswith("epoch 1/40  loss: ")
    assert out.splitlines()[-1] == f"saved weights to {save}.npz"
    w = np.load(save + ".npz")
    np.testing.assert_allclose(w["W1"], [[2.0, -1.0]], atol=1e-3)
    np.testing.assert_allclose(w["b1"], [0.5], atol=1e-3)
    code, out = run_main("--data", csv, "--load", save + ".npz", "--gradcheck")
    assert code == 0 and "gradcheck passed" in out.splitlines()[-1]


def test_main_gradcheck_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, **linear_trainer())
    code, out = run_main("--gradcheck")
    assert code == 0
    assert out.splitlines()[-1].startswith("gradcheck passed: max rel. error ")
    install(monkeypatch, **linear_trainer(wrong=1.5))
    code, out = run_main("--gradcheck")
    assert code == 1
    assert out.splitlines()[-1].startswith("gradcheck FAILED: max rel. error ")
    assert out.splitlines()[-1].endswith("(threshold 1e-06)")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "--epochs and --batch-size must be positive"),
        (["--batch-size", "0"], "--epochs and --batch-size must be positive"),
        (["--lr", "5"], "the loss diverged at epoch"),
        (["--lr", "5", "--batch-size", "2"], "the loss diverged at epoch"),
        (["--load", "missing.npz"], "missing.npz: cannot read it as weights"),
    ],
)
def test_main_reports_user_errors_in_one_line(
    linear: dict, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": error: " in err and message in err


def test_check_diverged() -> None:
    main._check_diverged(5, 999_999.0, 0.5, 0.1)  # a million times max(first, 1): fine
    main._check_diverged(5, 2e6, 2.0, 0.1)
    for value in (1.1e6, float("nan"), float("inf")):
        with pytest.raises(data.DataError, match="--lr 0.1 is too large"):
            main._check_diverged(5, value, 0.5, 0.1)


def test_train_minibatch_is_seeded_and_learns(linear: dict) -> None:
    X, y = linear["make_data"](16)
    runs = []
    for _ in range(2):
        params = linear["init_params"](0)
        history, out = printed(
            lambda p=params: main.train_minibatch(
                p, {"optimizer": "sgd"}, X, y, 0.02, 10, 4, 7, 5
            )
        )
        runs.append((history, params["W1"].copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    history = runs[0][0]
    assert len(history) == 10 and history[-1] < history[0] / 10
    assert [line.split()[1] for line in out.splitlines()] == ["1/10", "5/10", "10/10"]


# --------------------------------------------------------------------------- notebook cells


def test_relative_error_by_hand() -> None:
    re = cell_gradient_check.relative_error
    assert re(np.array([3.0, 4.0]), np.array([3.0, 4.0])) == 0.0
    assert re(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(np.sqrt(2))
    assert re(np.array([3.0, 4.0]), np.array([3.0, 4.5])) == pytest.approx(
        0.5 / np.hypot(3, 4.5)
    )
    assert re(np.zeros(2), np.zeros(2)) == 0.0
    assert re(np.array([1.0, 99.0]), np.array([1.0, np.nan])) == 0.0  # NaN: not checked
    assert np.isnan(re(np.array([1.0]), np.array([np.nan])))
    # a NaN from backprop is a failure, never "not checked" (inf >= any tolerance)
    assert re(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])) == np.inf
    assert re(np.array([np.inf]), np.array([1.0])) == np.inf


def test_numerical_gradients_and_kinks(
    monkeypatch: pytest.MonkeyPatch, linear: dict
) -> None:
    params, X, y = linear_problem()
    numeric, skipped = cell_gradient_check.numerical_gradients(params, X, y)
    analytic = linear["gradients"](params, X, y)
    for name in ("W1", "b1"):
        np.testing.assert_allclose(numeric[name], analytic[name], rtol=1e-7)
    assert skipped == {"W1": 0, "b1": 0}
    # with Z1 a kink: a bias moving Z1 of the first sample across 0 is skipped
    monkeypatch.setattr(cell_gradient_check, "KINKS", ("Z1",))
    X0 = np.array([[1.0, 0.0], [2.0, 1.0]])
    at_kink = {"W1": np.array([[0.0, 1.0]]), "b1": np.array([0.0])}  # Z1[0] = 0
    assert cell_gradient_check.crosses_kink(at_kink, X0, "b1", (0,))
    assert not cell_gradient_check.crosses_kink(at_kink, X0, "W1", (0, 1))  # x = 0
    off = {"W1": np.array([[0.5, 1.0]]), "b1": np.array([0.0])}
    assert not cell_gradient_check.crosses_kink(off, X0, "b1", (0,))
    numeric, skipped = cell_gradient_check.numerical_gradients(at_kink, X0, y[:2])
    assert skipped == {"W1": 1, "b1": 1} and np.isnan(numeric["b1"][0])
    monkeypatch.setattr(cell_gradient_check, "KINKS", ())
    assert not cell_gradient_check.crosses_kink(at_kink, X0, "b1", (0,))


def test_gradient_check_cell_passes_and_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    params, X, y = linear_problem()
    install(monkeypatch, **linear_trainer(), X=X, y=y, params=params)
    _, out = printed(cell_gradient_check.cell)
    lines = out.splitlines()
    assert lines[0].split() == [
        "W1",
        "(1,",
        "2)",
        "relative",
        "error",
        lines[0].split()[5],
        "ok",
    ]
    assert lines[-1] == "gradient check passed: every relative error is below 1e-06"
    install(monkeypatch, **linear_trainer(wrong=2.0))
    with pytest.raises(AssertionError, match="gradient check failed"):
        printed(cell_gradient_check.cell)


def test_training_run_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    params, X, y = linear_problem()
    install(monkeypatch, **{**linear_trainer(), "EPOCHS": 25}, X=X, y=y, params=params)
    before = params["W1"].copy()
    _, out = printed(cell_training_run.cell)
    lines = out.splitlines()
    assert [int(line.split()[1]) for line in lines[:-1]] == [
        1,
        2,
        4,
        6,
        8,
        10,
        12,
        14,
        16,
        18,
        20,
        22,
        24,
        25,
    ]
    assert lines[-1].startswith("The loss fell from ") and "in 25 epochs." in lines[-1]
    np.testing.assert_array_equal(params["W1"], before)  # a copy is trained
    install(monkeypatch, LR=10.0)
    _, out = printed(cell_training_run.cell)
    assert out.splitlines()[-1].startswith("The loss did not fall (")


def test_loss_curve_cell_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails: the text curve
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    install(monkeypatch, history=[1000.0, 100.0, 10.0, 1.0])
    _, out = printed(cell_loss_curve.cell)
    lines = out.splitlines()
    assert lines[0] == "matplotlib is not installed, so the curve is text (log scale):"
    # log10 = 3, 2, 1, 0: 1 + round(49 * s / 3) marks
    assert [line.split()[1:] for line in lines[1:]] == [
        ["1", "1000", "#" * 50],
        ["2", "100", "#" * 34],
        ["3", "10", "#" * 17],
        ["4", "1", "#"],
    ]
    install(monkeypatch, history=[2.0, 1.0, float("inf")])
    _, out = printed(cell_loss_curve.cell)
    lines = out.splitlines()
    assert lines[0] == "matplotlib is not installed, so the curve is text:"
    assert lines[1].split()[1:] == ["1", "2", "#" * 50]
    assert lines[2].split()[1:] == ["2", "1", "#"]
    assert lines[3].split()[1:] == ["3", "inf", "(overflow)"]


def test_loss_curve_cell_plots_with_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []

    class Axes:
        def __getattr__(self, name: str) -> Callable[..., None]:
            return lambda *a, **k: calls.append((name, a, k))

    pyplot = ModuleType("matplotlib.pyplot")
    pyplot.subplots = lambda **k: (None, Axes())  # type: ignore[attr-defined]
    pyplot.show = lambda: calls.append(("show", (), {}))  # type: ignore[attr-defined]
    matplotlib = ModuleType("matplotlib")
    matplotlib.pyplot = pyplot  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "matplotlib", matplotlib)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    install(monkeypatch, history=[5.0, 0.01], LR=0.5)
    _, out = printed(cell_loss_curve.cell)
    assert out == ""
    names = [c[0] for c in calls]
    assert names == [
        "plot",
        "set_yscale",
        "set_xlabel",
        "set_ylabel",
        "set_title",
        "grid",
        "show",
    ]
    np.testing.assert_array_equal(calls[0][1][0], [1, 2])
    assert calls[4][1] == ("Training loss, learning rate 0.5",)


# --------------------------------------------------------------------------- real data


def test_read_csv_label_column_first_last_and_index(
    tmp_path: Path, net_2_1: None
) -> None:
    path = write(tmp_path, "t,a,b\n3,1,2\n6.5,4,5\n")
    X, y = data.read_csv(path, 1, "first")
    np.testing.assert_array_equal(X, [[1.0, 2.0], [4.0, 5.0]])
    np.testing.assert_array_equal(y, [[3.0], [6.5]])
    X1, y1 = data.read_csv(write(tmp_path, "1,3,2\n4,6.5,5\n"), None, "1")
    np.testing.assert_array_equal(X1, X)
    np.testing.assert_array_equal(y1, y)
    for bad, message in (
        ("middle", "give first, last or a column index"),
        ("3", "needs columns 3..3, but the file has columns 0..2"),
    ):
        with pytest.raises(data.DataError, match=message):
            data.read_csv(path, 1, bad)


def test_read_csv_default_targets_take_one_label_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, LAYERS=(2, 4, 3), TARGETS="one_hot")
    _, y = data.read_csv(write(tmp_path, "0,1,2\n1,0,0\n"))
    np.testing.assert_array_equal(y, [[0, 0, 1], [1, 0, 0]])
    _, y3 = data.read_csv(write(tmp_path, "0,1,0,1,0\n"))  # or the one-hot columns
    np.testing.assert_array_equal(y3, [[0, 1, 0]])


def test_read_csv_by_numpy_agrees_with_a_line_by_line_reading(
    tmp_path: Path, net_2_1: None
) -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=(50, 3))
    path = write(
        tmp_path, "\n".join(",".join(repr(float(v)) for v in row) for row in values)
    )
    X, y = data.read_csv(path)
    np.testing.assert_array_equal(np.hstack([X, y]), values)
    assert X.dtype == np.float64 and X.flags.c_contiguous


def test_loss_text_keeps_small_losses_visible() -> None:
    assert epoch_format.loss_text(1.0537123) == "1.0537"
    assert epoch_format.loss_text(0.0365) == "0.0365"
    assert epoch_format.loss_text(1.5391e-07) == "1.539e-07"
    assert epoch_format.loss_text(0.004567) == "0.004567"
    assert epoch_format.loss_text(0.0) == "0.0"


def test_split_holds_out_a_seeded_fraction_and_standardize_scales() -> None:
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20.0).reshape(20, 1)
    a = main.split(X, y, 0.25, 3)
    b = main.split(X, y, 0.25, 3)
    assert [len(v) for v in a] == [15, 15, 5, 5]
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    rows = {tuple(r) for r in a[0]} | {tuple(r) for r in a[2]}
    assert len(rows) == 20  # every row on exactly one side
    with pytest.raises(data.DataError, match="keep at least one row"):
        main.split(X[:2], y[:2], 0.1, 0)
    Xs, Vs = main.standardize(
        np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 6.0]])
    )
    np.testing.assert_allclose(Xs, [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(Vs, [[0.0, 1.0]])  # the training rows' statistics


def test_predict_and_accuracy_of_generated_classifiers() -> None:
    from conftest import trainer_for

    rng = np.random.default_rng(5)
    t = trainer_for(layers=(2, 3, 3), loss="softmax_cross_entropy")
    params, X = t.init_params(0), rng.normal(size=(12, 2))
    labels = t.predict(params, X)
    np.testing.assert_array_equal(labels, np.argmax(t.forward(params, X)["Y"], axis=1))
    assert t.accuracy(params, X, np.eye(3)[labels]) == 1.0
    b = trainer_for(layers=(2, 3, 1), loss="bce_with_logits")
    p = b.init_params(0)
    probability = 1 / (1 + np.exp(-b.forward(p, X)["Y"]))
    np.testing.assert_array_equal(b.predict(p, X), (probability > 0.5).astype(int))
    assert b.accuracy(p, X, 1.0 - b.predict(p, X)) == 0.0
    r = trainer_for()
    np.testing.assert_array_equal(
        r.predict(r.init_params(0), X), r.forward(r.init_params(0), X)["Y"]
    )
