"""Autograder helpers (pytest, nbgrader, otter, Gradescope): one line per test.

    from symbackprop.testing import assert_backward_correct

    def test_backprop():
        assert_backward_correct("submission.ipynb")

A failing check raises AssertionError whose message is check-code's human-readable verdict.
A path is checked exactly like `symbackprop check-code` (in a sandboxed child process).
Callables (or a namespace such as a notebook's `globals()`) are already imported into the
test process, so they run in-process; the timeout then uses SIGALRM (main thread only).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import UserError

if TYPE_CHECKING:
    from .spec import NetworkSpec

Student = (
    str
    | os.PathLike[str]
    | Callable[..., Any]
    | Mapping[str, Any]
    | Sequence[Any]
    | object
)


def check_backward(
    student: Student,
    spec: NetworkSpec | None = None,
    reduction: str | None = None,
    timeout: float = 10.0,
    *,
    forward: Callable[..., Any] | None = None,
    returns: str | Sequence[str] | None = None,
    forward_args: str | Sequence[str] | None = None,
    forward_returns: str | Sequence[str] | None = None,
    backward_args: str | Sequence[str] | None = None,
    forward_name: str = "forward",
    backward_name: str = "backward",
) -> tuple[dict[str, Any], str]:
    """Run check-code on a file, a backward callable, a (forward, backward) pair or a namespace;
    returns the JSON report and the human-readable verdict."""
    from .check.code.core import check_callables, run_check
    from .check.code.report import format_human

    options = dict(
        returns=returns,
        forward_args=forward_args,
        forward_returns=forward_returns,
        backward_args=backward_args,
    )
    if isinstance(student, str | os.PathLike):
        result = run_check(
            student,
            spec,
            reduction,
            timeout,
            forward=forward_name,
            backward=backward_name,
            **options,  # type: ignore[arg-type]
        )
        return result.report, format_human(result)
    namespace: dict[str, Any] | None = None
    if isinstance(student, Mapping):
        namespace = dict(student)
        forward = forward or student.get(forward_name)
        backward = student.get(backward_name)
    elif isinstance(student, tuple | list) and len(student) == 2:
        forward, backward = forward or student[0], student[1]
    elif callable(student):
        backward = student
    else:
        forward = forward or getattr(student, forward_name, None)
        backward = getattr(student, backward_name, None)
        namespace = dict(vars(student)) if hasattr(student, "__dict__") else None
    if not callable(backward):
        raise UserError(f"no {backward_name} function to check in {student!r}")
    result = check_callables(
        forward,
        backward,
        namespace,
        spec,
        reduction,
        timeout,
        **options,  # type: ignore[arg-type]
    )
    return result.report, format_human(result)


def assert_backward_correct(
    student: Student,
    spec: NetworkSpec | None = None,
    reduction: str | None = None,
    timeout: float = 10.0,
    **options: Any,
) -> dict[str, Any]:
    """Assert a student's forward and backward match the derivation; returns the report.

    `student`: a path (.py, .ipynb, text export), a backward function (pass `forward=` too to
    check the forward pass), a (forward, backward) pair, or a namespace/module defining both.
    On failure, AssertionError carries the same diagnosis as `symbackprop check-code`.
    """
    __tracebackhide__ = True  # pytest: show the verdict, not this frame
    try:
        report, verdict = check_backward(student, spec, reduction, timeout, **options)
    except UserError as exc:
        raise AssertionError(
            f"symbackprop could not check the code: {exc.message}"
        ) from None
    if not report["ok"]:
        raise AssertionError(verdict)
    return report


__all__ = ["assert_backward_correct", "check_backward"]
