"""check-code: every diagnosis on a hand-written wrong student, the seed's verdict, the sandbox
(hang, crash, side effects), reading .py/.ipynb/text exports, binding, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symbackprop.check import check_code, format_human, run_check
from symbackprop.check.code.load import read_student_file
from symbackprop.errors import UserError
from symbackprop.spec import make_spec

STUDENTS = Path(__file__).parent / "fixtures" / "students"
SEED = STUDENTS / "seed_notebook_221_relu.txt"
PACKAGED_SEED = (
    Path(__file__).parent.parent / "symbackprop" / "data" / "notebook_221_relu.txt"
)
PARTS = ("forward", "W1", "b1", "W2", "b2")


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", "check-code", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def verdict(report: dict) -> dict[str, tuple[str, list[str]]]:
    """part -> (status, diagnoses)."""
    out = {"forward": (report["forward"]["status"], report["forward"]["diagnoses"])}
    for name, part in report["gradients"].items():
        out[name] = (part["status"], part["diagnoses"])
    return out


OK: tuple[str, list[str]] = ("ok", [])


def test_seed_notebook_verdict() -> None:
    report = check_code(SEED)
    v = verdict(report)
    assert report["ok"] is False and report["reduction"] == "sum"
    assert v["forward"] == ("wrong", ["bias_broadcast"])
    assert v["W1"][0] == "wrong"
    assert set(v["W1"][1]) & {"product_order", "wrong_shape"}
    assert v["W2"] == OK
    assert v["b1"] == ("wrong", ["scaled"]) and v["b2"] == ("wrong", ["scaled"])
    for name in ("b1", "b2"):
        assert "1/N" in report["gradients"][name]["message"]
    assert "b1 of shape (2, 1) is added per sample" in report["forward"]["message"]
    assert "notebook_221_relu.txt:19" in report["forward"]["message"]
    assert "dZ1 @ X.T, not dZ1.T @ X" in report["gradients"]["W1"]["message"]


def test_packaged_seed_is_the_fixture() -> None:
    assert PACKAGED_SEED.read_text(encoding="utf-8") == SEED.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("transposed.py", {"W1": ("wrong", ["transposed"])}),
        (
            "transposed_in_out.ipynb",
            {"W1": ("wrong", ["transposed"]), "W2": ("wrong", ["transposed"])},
        ),
        ("mean_instead_of_sum.py", {n: ("wrong", ["scaled"]) for n in PARTS[1:]}),
        ("scaled_by_two.py", {n: ("wrong", ["scaled"]) for n in PARTS[1:]}),
        ("sign_flipped.py", {n: ("wrong", ["sign_flipped"]) for n in PARTS[1:]}),
        (
            "missing_mask.py",
            {n: ("wrong", ["missing_activation_mask"]) for n in ("W1", "b1")},
        ),
        ("wrong_shape.py", {"b1": ("wrong", ["wrong_shape"])}),
        ("product_order.py", {"W1": ("wrong", ["wrong_shape", "product_order"])}),
        ("wrong.py", {"W1": ("wrong", ["wrong"])}),
        ("correct.py", {}),
        ("correct_in_out.ipynb", {}),
        ("dict_params.py", {}),
        ("flat_targets_vector_w2.py", {}),
    ],
)
def test_each_diagnosis_on_a_hand_written_student(fixture: str, expected: dict) -> None:
    report = check_code(STUDENTS / fixture)
    want = {name: expected.get(name, OK) for name in PARTS}
    assert verdict(report) == want
    assert report["ok"] is (not expected)


def test_messages_say_the_factor_and_the_first_difference() -> None:
    report = check_code(STUDENTS / "scaled_by_two.py")
    assert report["gradients"]["W1"]["message"].startswith(
        "the gradient of W1 is 2 times the correct value"
    )
    report = check_code(STUDENTS / "wrong.py")
    w1 = report["gradients"]["W1"]
    assert (
        "max rel. error" in w1["message"]
        and "first difference at batch size" in w1["message"]
    )
    assert "W1_grad[" in w1["message"] and w1["max_rel_error"] > 1e-3
    assert report["gradients"]["W2"]["max_rel_error"] < 1e-12


def test_text_export_bias_broadcast_on_a_wider_network() -> None:
    spec = make_spec(layers=(2, 3, 1))
    report = check_code(STUDENTS / "bias_broadcast.txt", spec=spec)
    assert verdict(report) == {"forward": ("wrong", ["bias_broadcast"])} | {
        n: OK for n in PARTS[1:]
    }


def test_deeper_network_missing_mask_of_one_layer() -> None:
    spec = make_spec(layers=(3, 4, 3, 2))
    report = check_code(STUDENTS / "deep_3_4_3_2_missing_mask.py", spec=spec)
    v = verdict(report)
    assert list(report["gradients"]) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert v["forward"] == OK and v["W3"] == OK and v["b3"] == OK
    for name in ("W1", "b1", "W2", "b2"):
        assert v[name] == ("wrong", ["missing_activation_mask"])
        assert "(Z2 > 0)" in report["gradients"][name]["message"]


def test_reduction_mean() -> None:
    assert check_code(STUDENTS / "mean_instead_of_sum.py", reduction="mean")["ok"]
    report = check_code(STUDENTS / "correct.py", reduction="mean")
    assert report["reduction"] == "mean"
    assert verdict(report)["W1"] == ("wrong", ["scaled"])
    assert "N times" in report["gradients"]["W1"]["message"]


def test_signature_and_return_options(tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.py"
    renamed.write_text(
        (STUDENTS / "correct.py")
        .read_text(encoding="utf-8")
        .replace("def forward(", "def predict(")
        .replace("def backward(", "def gradients("),
        encoding="utf-8",
    )
    with pytest.raises(UserError, match="--forward NAME"):
        check_code(renamed)
    assert check_code(renamed, forward="predict", backward="gradients")["ok"]
    with pytest.raises(UserError) as exc:
        check_code(STUDENTS / "unbindable.py")
    assert exc.value.exit_code == 2 and "--backward-args" in exc.value.message
    assert check_code(STUDENTS / "unbindable.py", backward_args="Y,y,W2,H1,Z1,X")["ok"]
    mixed = check_code(STUDENTS / "returns_order.py")
    assert "--returns" in mixed["gradients"]["b1"]["message"]
    assert check_code(STUDENTS / "returns_order.py", returns="W1,b1,W2,b2")["ok"]


def test_hang_is_an_error_with_the_line_not_a_hang() -> None:
    start = time.monotonic()
    report = check_code(STUDENTS / "hang.py", timeout=2)
    assert time.monotonic() - start < 8
    assert verdict(report)["forward"] == OK
    for part in report["gradients"].values():
        assert part["status"] == "error"
        assert "did not finish within 2 s" in part["message"]
        assert "hang.py:1" in part["message"]  # the loop's line, 12 or 13


@pytest.mark.parametrize(
    ("fixture", "where", "error"),
    [
        ("crash.py", "crash.py:11", "IndexError"),
        (
            "crash_in_cell.ipynb",
            "crash_in_cell.ipynb, cell 3 (In [3]), line 8",
            "NameError",
        ),
    ],
)
def test_crash_names_the_students_file_and_line(
    fixture: str, where: str, error: str
) -> None:
    report = check_code(STUDENTS / fixture)
    assert report["forward"]["status"] == "ok"
    for part in report["gradients"].values():
        assert part["status"] == "error" and part["max_rel_error"] is None
        assert where in part["message"] and error in part["message"]


def test_untrusted_code_cannot_write_spawn_or_run_its_loop(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    student = tmp_path / "evil.py"
    student.write_text(
        f"""import os
import subprocess
import numpy as np

open({str(marks / "top_level")!r}, "w").write("x")
for i in range(3):
    open({str(marks / "loop")!r}, "w").write("x")
os.system("touch {marks / "os_system"}")
W1 = np.zeros((2, 2)); open({str(marks / "semicolon")!r}, "w")
later = [open({str(marks / "comprehension")!r}, "w") for _ in range(1)]


class Model:
    open({str(marks / "class_body")!r}, "w")


def forward(W1, W2, b1, b2, X):
    Z = X @ W1.T + b1
    H = np.maximum(Z, 0)
    return H, Z, H @ W2.T + b2


def backward(y_pred, y_true, W2, H, Z, X):
    try:
        subprocess.run(["touch", {str(marks / "subprocess")!r}])
    except PermissionError:
        pass
    open({str(marks / "inside_backward")!r}, "w").write("x")
""",
        encoding="utf-8",
    )
    report = check_code(student)
    assert list(marks.iterdir()) == []
    assert report["forward"]["status"] == "ok"
    message = report["gradients"]["W1"]["message"]
    # in the sandbox the grader's folder does not exist; unisolated, the guard refuses
    assert "evil.py:28" in message
    assert "FileNotFoundError" in message or "PermissionError" in message


def test_memory_limit_is_an_error(tmp_path: Path) -> None:
    student = tmp_path / "greedy.py"
    student.write_text(
        (STUDENTS / "correct.py")
        .read_text(encoding="utf-8")
        .replace(
            "    dZ2 = y_pred - y_true\n",
            "    big = np.ones((200_000, 200_000))\n    dZ2 = y_pred - y_true\n",
        ),
        encoding="utf-8",
    )
    report = check_code(student)
    assert "MemoryError" in report["gradients"]["W1"]["message"]
    assert "greedy.py:17" in report["gradients"]["W1"]["message"]


def test_text_export_keeps_definitions_and_arrays_drops_loop_and_output() -> None:
    student = read_student_file(SEED)
    assert student.kind == "text"
    assert {"relu", "forward", "compute_loss", "backward", "update_params"} <= set(
        student.functions
    )
    kept = "\n".join(s.source for s in student.statements)
    assert "learning_rate = 0.05" in kept and "b1 = np.array" in kept
    assert "for epoch" not in kept and "Epoch:" not in kept
    assert any(d == f"for loop ({SEED.name}:78)" for d in student.dropped)
    backward = next(
        s for s in student.statements if s.source.startswith("def backward")
    )
    assert backward.line == 34  # lines stay the file's own lines


def test_layouts_come_from_the_files_initial_arrays() -> None:
    from symbackprop.check.code.layout import candidate_layouts
    from symbackprop.spec import default_spec

    spec = default_spec()
    seed = {"W1": (2, 2), "b1": (2, 1), "W2": (1, 2), "b2": (1, 1), "y": (2, 1)}
    (layout,) = candidate_layouts(spec, seed)
    assert [layout.of(n) for n in spec.param_names] == [
        "out_in",
        "col",
        "out_in",
        "col",
    ]
    rows = {"W2": (2, 1), "b1": (1, 2), "b2": (1, 1)}
    (layout,) = candidate_layouts(spec, rows | {"y": (2,)})
    assert [layout.of(n) for n in spec.param_names] == [
        "in_out",
        "row",
        "in_out",
        "row",
    ]
    assert layout.targets == "1d"
    assert len(candidate_layouts(spec, {})) == 12  # nothing known: every global layout
    with pytest.raises(UserError, match="the file's W1 has shape \\(3, 2\\)"):
        candidate_layouts(spec, {"W1": (3, 2)})


def test_human_output_explains_and_shows_the_correct_formula() -> None:
    text = format_human(run_check(SEED))
    assert "your layout: W1 (2, 2) and W2 (1, 2) as (units, inputs)" in text
    assert "b1 (2, 1) and b2 (1, 1) as columns (h, 1)" in text
    assert "why: the bias is added per sample instead of per unit" in text
    assert "correct (from the derivation): W1_grad = dZ1.T @ X" in text
    assert "with dZ1 = (dZ2 @ W2) * (Z > 0)" in text
    assert "correct (from the derivation): Z = X @ W1.T + b1.T" in text
    assert text.rstrip().splitlines()[-1].startswith("verdict: 4 of 5 parts need work")


@pytest.mark.parametrize(
    ("content", "name", "needle"),
    [
        (None, "missing.py", "no such file"),
        (
            b"\xff\xfe\x00bad",
            "latin.py",
            "not UTF-8 text (line 1 has a byte UTF-8 does not allow); save the file again with UTF-8",
        ),
        (b"{not json", "broken.ipynb", "not a valid .ipynb"),
        (b"def forward(:\n", "syntax.py", "SyntaxError"),
        (
            b"import numpy as np\n\ndef backward(a):\n    return a\n",
            "noforward.py",
            "forward",
        ),
    ],
)
def test_unreadable_or_unbindable_files_exit_2(
    tmp_path: Path, content: bytes | None, name: str, needle: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError) as exc:
        check_code(path)
    assert exc.value.exit_code == 2 and needle in exc.value.message


def test_cli_json_and_exit_codes() -> None:
    seed = cli(str(SEED), "--json")
    assert seed.returncode == 1, seed.stderr
    report = json.loads(seed.stdout)
    assert set(report) == {
        "ok",
        "reduction",
        "forward",
        "gradients",
        "sandbox",
        "probe_seed",
        "score",
        "max_score",
    }
    assert list(report["gradients"]) == ["W1", "b1", "W2", "b2"]
    for part in [report["forward"], *report["gradients"].values()]:
        assert set(part) == {
            "status",
            "diagnoses",
            "message",
            "max_rel_error",
            "score",
            "max_score",
        }
        assert part["status"] in ("ok", "wrong", "error")
        assert part["max_rel_error"] is None or isinstance(part["max_rel_error"], float)

    good = cli(str(STUDENTS / "correct_in_out.ipynb"), "--json", "--reduction", "sum")
    assert good.returncode == 0 and json.loads(good.stdout)["ok"] is True

    unbound = cli(str(STUDENTS / "unbindable.py"), "--json")
    assert unbound.returncode == 2
    assert json.loads(unbound.stdout)["error"].startswith("cannot bind backward(p, q")
    assert unbound.stderr.startswith("symbackprop: error: cannot bind backward(p, q")
    assert len(unbound.stderr.strip().splitlines()) == 1

    bound = cli(
        str(STUDENTS / "unbindable.py"),
        "--backward-args",
        "Y,y,W2,H1,Z1,X",
        "--timeout",
        "5",
    )
    assert bound.returncode == 0, bound.stdout + bound.stderr
    assert "verdict: everything matches the derivation" in bound.stdout


def test_cli_hang_exits_1_quickly() -> None:
    start = time.monotonic()
    r = cli(str(STUDENTS / "hang.py"), "--json", "--timeout", "2")
    assert time.monotonic() - start < 15
    assert r.returncode == 1
    assert json.loads(r.stdout)["gradients"]["b2"]["status"] == "error"


def test_check_code_arguments_do_not_import_numpy() -> None:
    code = (
        "import sys, argparse; from symbackprop.check.code import cli; "
        "cli.add_check_code_arguments(argparse.ArgumentParser()); "
        "print('numpy' in sys.modules, 'sympy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"]
