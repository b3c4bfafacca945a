"""Check a tutorial script: run it (sandboxed) on its own data and initial weights for one pass
of its training loop, and compare its gradient variables with the derivation's at that point.

The child sends back copies of the names read in the loop (taken before the first pass) and
the gradient variables (after it). Nothing it sends is trusted: every value must be a finite
array of the network's sizes. The layout (samples as rows or columns, W as (units, inputs) or
(inputs, units), the biases' shapes, targets as labels or arrays) is read from those arrays;
each gradient is diagnosed by diagnose_gradient.py at the script's own point.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import UserError
from ...spec import NetworkSpec, names, registry
from ..inert import inert
from . import layer_find, view
from .calls import outcomes
from .channel import Opaque
from .diagnose_gradient import diagnose_gradient
from .layout import LABELS, Layout, candidate_layouts, is_weight
from .result import NOT_CHECKED, CallOutcome, CheckResult, Namer, error_message, part
from .sandbox import cpu_budget
from .script_adapter import ADAPTER, adapter
from .script_find import Script
from .spare import child_for
from .student_file import StudentFile
from .student_form import StudentForm

# what scripts call their data, likeliest first (the loop's products find X before these)
INPUT_NAMES = ("X", "x", "inputs", "X_train", "x_train", "data", "features", "input")
TARGET_NAMES = ("y", "Y", "targets", "labels", "expected_output", "y_train", "Y_train",
                "t", "T", "outputs", "target", "y_true")  # fmt: skip
Arrays = dict[str, np.ndarray]


def _arrays(value: Any) -> Arrays:
    """The finite arrays of a returned dict (anything else the child sent is left out)."""
    if not isinstance(value, dict):
        return {}
    return {
        k: v
        for k, v in value.items()
        if isinstance(v, np.ndarray) and v.ndim >= 1 and np.all(np.isfinite(v))
    }


def _data(
    script: Script, before: Arrays, data_vars: Sequence[str] | None
) -> tuple[str, str]:
    """The script's names of X and y: declared, else X from the loop's products and y by name."""
    if data_vars:
        if len(data_vars) != 2:
            raise UserError(
                "--data-vars takes two names, the inputs and the targets: X,y"
            )
        for n in data_vars:
            if n not in script.names:
                raise UserError(
                    f"--data-vars: {n} is not a variable the training loop reads "
                    f"(it reads {', '.join(script.names)})"
                )
            if n not in before:
                raise UserError(f"--data-vars: {n} is not an array of finite numbers")
        return data_vars[0], data_vars[1]
    params = set(script.params)
    x = next(
        (n for n in (*script.inputs, *INPUT_NAMES) if n in before and n not in params),
        "",
    )
    if not x:
        raise UserError(
            "cannot tell which of the script's arrays are the inputs and targets; "
            "name them with --data-vars X,y"
        )
    rest = [n for n in before if n not in params and n != x]
    y = next((n for n in TARGET_NAMES if n in rest), "")
    if not y:
        samples = set(before[x].shape)
        fits = [n for n in rest if samples & set(before[n].shape)]
        y = fits[0] if len(fits) == 1 else ""
    if not y:
        raise UserError(
            f"cannot tell which of the script's arrays are the targets (X is {x}); "
            "name them with --data-vars X,y"
        )
    return x, y


def _fits(spec: NetworkSpec, name: str, shape: tuple[int, ...]) -> bool:
    want = spec.param_shape(name)
    if is_weight(name):
        return shape in (want, want[::-1]) or (want[0] == 1 and shape == (want[1],))
    return shape in ((want[0],), (1, want[0]), (want[0], 1))


def _parameters(spec: NetworkSpec, script: Script, before: Arrays) -> dict[str, int]:
    """Canonical parameter -> index into the script's parameters: in the declared order (W1,
    b1, W2, b2, ...), else each layer's weight then bias, the first used that fits its shape."""
    wanted = spec.param_names
    if len(script.params) != len(wanted):
        raise UserError(
            f"the script updates {len(script.params)} parameters "
            f"({', '.join(script.params)}), the network {'-'.join(map(str, spec.layers))} has "
            f"{len(wanted)} ({', '.join(wanted)}); name its gradients with --grad-vars"
        )
    missing = [p for p in script.params if p not in before]
    if missing:
        raise UserError(
            f"the script's parameter {missing[0]} is not an array of finite numbers"
        )
    order: dict[str, int] = {}
    if script.declared:
        order = {name: i for i, name in enumerate(wanted)}
    else:
        for name in wanted:
            free = [i for i in range(len(script.params)) if i not in order.values()]
            i = next(
                (i for i in free if _fits(spec, name, before[script.params[i]].shape)),
                None,
            )
            if i is None:
                break
            order[name] = i
    for name, i in order.items():
        shape = before[script.params[i]].shape
        if not _fits(spec, name, shape):
            raise UserError(
                f"the script's {script.params[i]} has shape {shape}, which does not fit {name} "
                f"of the network {'-'.join(map(str, spec.layers))}; pass --layers matching the "
                "script"
                + (
                    " (--grad-vars names W1's gradient first, then b1's, W2's, ...)"
                    if script.declared
                    else ""
                )  # fmt: skip
            )
    if len(order) != len(wanted):
        raise UserError(
            f"the script's parameters ({', '.join(script.params)}) do not fit the network "
            f"{'-'.join(map(str, spec.layers))}; pass --layers matching the script"
        )
    return order


def _canonical(
    layout: Layout, name: str, value: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """A parameter in the student's layout -> ours."""
    return (
        (value.T if layout.of(name) == "in_out" else value).reshape(shape).astype(float)
    )


def _targets(spec: NetworkSpec, layout: Layout, y: np.ndarray, n: int) -> np.ndarray:
    """The script's targets as the derivation's (N, k); UserError when they cannot be."""
    k = spec.layers[-1]
    if layout.targets == LABELS:
        labels = y.reshape(-1)
        if labels.size != n or np.any(labels != np.round(labels)) or np.any(labels < 0) \
                or np.any(labels >= k):  # fmt: skip
            raise UserError(
                f"the script's targets have shape {y.shape}: not {n} class labels 0 to {k - 1}"
            )
        return np.eye(k)[labels.astype(int)]
    if y.size != n * k:
        raise UserError(
            f"the script's targets have shape {y.shape}, not {n} samples of {k}"
        )
    if y.ndim == 2 and y.shape == (k, n) and layout.samples == "columns":
        return y.T.astype(float)
    return y.reshape(n, k).astype(float)


def _run(
    student: StudentFile, script: Script, mode: str, timeout: float
) -> CallOutcome:
    """The adapter's one call in a sandboxed child."""
    chunk = len(student.chunks)
    st = adapter(script.cells, script.names, script.grads, chunk)
    statements = [{"chunk": st.chunk, "line": st.line, "source": st.source}]
    packages = view.PACKAGES + tuple(p for p in view.OPTIONAL if p in student.imports)
    child = child_for(mode, packages, cpu_budget(timeout))
    calls = [{"id": 0, "func": ADAPTER, "kwargs": {}}]
    try:
        child.take(statements, [ADAPTER], time.monotonic() + timeout, chunk + 1)
        results = outcomes(child.run(calls), calls, timeout) if child.loaded() else {}
    finally:
        child.close()
    return results.get(
        0, CallOutcome("not_run", error={"message": "loading the script failed"})
    )


def check_script(
    student: StudentFile,
    script: Script,
    spec: NetworkSpec,
    mode: str,
    timeout: float,
    data_vars: Sequence[str] | None = None,
) -> CheckResult:
    """Run the script for one pass of its loop and compare each gradient variable there."""
    from ...derive import evaluate
    from .truth import _probe, truth_for

    where = layer_find.student_where(student)
    loop = f"{student.where(script.chunk, script.line)} `{inert(script.header, 120)}`"
    got = _run(student, script, mode, timeout)
    source = inert(student.path.name, 200)
    note = (
        f"one pass of the training loop at {loop}, on the script's own data and weights"
    )
    if not got.ok:
        message = error_message("the script", got, None, where, timeout)
        parts = {p: part("error", [], message) for p in spec.param_names}
        return _result(student, spec, source, None, parts, [], {}, [note], mode)
    value = got.value
    if isinstance(value, Opaque) and value.kind == "NoneType":
        raise UserError(
            f"the training loop at {loop} never ran (its first pass is what is checked)"
        )
    if not (isinstance(value, tuple) and len(value) == 2):
        raise UserError("the script's run sent back something other than its arrays")
    before, after = _arrays(value[0]), value[1] if isinstance(value[1], dict) else {}
    x_name, y_name = _data(script, before, data_vars)
    order = _parameters(spec, script, before)
    X = before[x_name]
    n0 = spec.layers[0]
    if X.ndim != 2 or n0 not in X.shape:
        raise UserError(
            f"the script's {x_name} has shape {X.shape}: not samples of {n0} inputs"
        )
    samples = "rows" if X.shape[1] == n0 else "columns"
    initial = {c: before[script.params[i]].shape for c, i in order.items()}
    initial[names.TARGETS] = before[y_name].shape
    one_hot = registry.loss(spec.loss).targets == "one_hot"
    prefer = ("in_out", "out_in") if samples == "rows" else ("out_in", "in_out")
    layout = candidate_layouts(
        spec, initial, (samples,), one_hot and before[y_name].ndim == 1, prefer
    )[0]
    Xc = X if samples == "rows" else X.T
    params = {
        c: _canonical(layout, c, before[script.params[i]], spec.param_shape(c))
        for c, i in order.items()
    }
    y = _targets(spec, layout, before[y_name], len(Xc))
    truth = truth_for(spec)
    prog = truth.program
    inputs = {names.INPUTS: Xc.astype(float), names.TARGETS: y, **params}
    fwd = evaluate.run(prog, inputs, steps=prog.forward)
    probe = _probe(truth, params, inputs[names.INPUTS], y, fwd)
    grads = {c: script.grads[i] for c, i in order.items()}
    own = {names.INPUTS: x_name, names.TARGETS: y_name}
    own.update({c: script.params[i] for c, i in order.items()})
    form = StudentForm(truth, layout, Namer(own, {}, grads))
    parts = {}
    for c in spec.param_names:
        g = after.get(grads[c])
        if g is None:
            parts[c] = part("error", [], f"the script had not assigned {grads[c]} by the end "
                            "of the loop's first pass")  # fmt: skip
        elif not isinstance(g, np.ndarray):
            kind = g.kind if isinstance(g, Opaque) else type(g).__name__
            parts[c] = part(
                "error", [], f"{grads[c]} is a {inert(kind, 80)}, not an array"
            )
        else:
            parts[c] = diagnose_gradient(c, truth, [probe], form, [{c: g}])
    return _result(
        student, spec, source, layout, parts, [len(Xc)], form.lines(), [note], mode
    )


def _result(
    student: StudentFile, spec: NetworkSpec, source: str, layout: Layout | None,
    parts: dict[str, dict[str, Any]], sizes: list[int], formulas: dict[str, list[str]],
    notes: list[str], mode: str,
) -> CheckResult:  # fmt: skip
    """The report: ok only when every gradient was compared and matched."""
    forward = part(
        NOT_CHECKED, [], "a script: its gradients are checked, not a forward function"
    )
    report = {
        "ok": bool(parts) and all(p["status"] == "ok" for p in parts.values()),
        "reduction": spec.reduction,
        "forward": forward,
        "gradients": parts,
        "script": True,
        "sandbox": mode,
    }
    result = CheckResult(report, source, spec, layout, sizes, 1, formulas, notes)
    result.sandbox = mode
    return result
