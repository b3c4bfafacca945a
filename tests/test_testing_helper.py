"""The autograder helper: one line in an instructor's test, check-code's verdict on failure."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from symbackprop.spec import make_spec
from symbackprop.testing import assert_backward_correct, check_backward

STUDENTS = Path(__file__).parent / "fixtures" / "students"


def forward(W1, W2, b1, b2, X):
    Z = X @ W1.T + b1
    H = np.maximum(Z, 0)
    return H, Z, H @ W2.T + b2


def backward(y_pred, y_true, W2, H, Z, X):
    dZ2 = y_pred - y_true
    dZ1 = (dZ2 @ W2) * (Z > 0)
    return dZ1.T @ X, dZ2.T @ H, dZ1.sum(axis=0), dZ2.sum(axis=0)


def backward_without_mask(y_pred, y_true, W2, H, Z, X):
    dZ2 = y_pred - y_true
    dZ1 = dZ2 @ W2
    return dZ1.T @ X, dZ2.T @ H, dZ1.sum(axis=0), dZ2.sum(axis=0)


def backward_that_hangs(y_pred, y_true, W2, H, Z, X):
    while True:
        pass


def test_a_correct_file_passes_and_returns_the_report() -> None:
    report = assert_backward_correct(STUDENTS / "correct.py")
    assert report["ok"] is True and report["reduction"] == "sum"


def test_the_seed_fails_with_check_codes_verdict() -> None:
    with pytest.raises(AssertionError) as exc:
        assert_backward_correct(str(STUDENTS / "seed_notebook_221_relu.txt"))
    text = str(exc.value)
    assert "forward      WRONG  [bias_broadcast]" in text
    assert "1/N times the correct value" in text
    assert "correct (from the derivation): W1_grad = dZ1.T @ X" in text


def test_callables_run_in_process() -> None:
    assert assert_backward_correct(backward, forward=forward)["ok"]
    assert assert_backward_correct((forward, backward))["ok"]
    assert assert_backward_correct({"forward": forward, "backward": backward})["ok"]
    with pytest.raises(AssertionError) as exc:
        assert_backward_correct(backward_without_mask, forward=forward)
    assert "[missing_activation_mask]" in str(exc.value)
    assert "(Z > 0)" in str(exc.value)


def test_backward_alone_leaves_the_forward_unchecked() -> None:
    report, _ = check_backward(backward)
    assert report["ok"] is True  # the gradients were compared
    assert (
        report["forward"]["status"] == "not_checked"
    )  # never "ok": nothing was compared


def test_spec_and_reduction() -> None:
    spec = make_spec(layers=(3, 4, 3, 2))
    with pytest.raises(AssertionError) as exc:
        assert_backward_correct(STUDENTS / "deep_3_4_3_2_missing_mask.py", spec=spec)
    assert "W3 gradient  ok" in str(exc.value)
    assert assert_backward_correct(
        STUDENTS / "mean_instead_of_sum.py", reduction="mean"
    )["ok"]


def test_cannot_bind_and_hang_are_failures_not_errors() -> None:
    with pytest.raises(AssertionError, match="could not check the code: cannot bind"):
        assert_backward_correct(STUDENTS / "unbindable.py")
    assert assert_backward_correct(
        STUDENTS / "unbindable.py", backward_args="Y,y,W2,H1,Z1,X"
    )["ok"]
    with pytest.raises(AssertionError, match="did not finish within 1 s"):
        assert_backward_correct(backward_that_hangs, forward=forward, timeout=1)


def test_an_instructors_one_line_test(tmp_path: Path) -> None:
    test_file = tmp_path / "test_submission.py"
    test_file.write_text(
        textwrap.dedent(
            f"""
            from symbackprop.testing import assert_backward_correct

            def test_backprop():
                assert_backward_correct({str(STUDENTS / "missing_mask.py")!r})
            """
        ),
        encoding="utf-8",
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(test_file),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 1
    assert "W1 gradient  WRONG  [missing_activation_mask]" in r.stdout
    assert "why: the activation's derivative is missing" in r.stdout
