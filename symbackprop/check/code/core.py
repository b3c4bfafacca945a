"""check-code: bind a student's forward/backward, probe them in a sandbox, diagnose each part.

`check_code(path)` returns the JSON report: {"ok", "reduction", "forward", "gradients"}.
`run_check` returns it with everything the human-readable output shows (layout, formulas).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...spec import NetworkSpec, default_spec, registry
from . import bind, diagnose, runner
from .load import (
    FunctionInfo,
    StudentFile,
    function_info_from_callable,
    read_student_file,
)
from .probe import (
    Layout,
    Probe,
    Truth,
    batch_sizes,
    candidate_layouts,
    make_probes,
    truth_for,
)
from .sandbox import ChildRun, InProcessRun, Outcome

DEFAULT_TIMEOUT = 10.0


@dataclass
class CheckResult:
    """The report and what the human-readable output adds to it."""

    report: dict[str, Any]
    source: str
    spec: NetworkSpec
    layout: Layout | None
    batch_sizes: list[int]
    points: int
    # "forward", "W1", ...: the correct lines, in the student's names and layout
    formulas: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every part is correct."""
        return bool(self.report["ok"])


def resolve_spec(spec: NetworkSpec | None, reduction: str | None) -> NetworkSpec:
    """The spec to check against: the seed's network by default, with --reduction on top."""
    spec = spec if spec is not None else default_spec()
    if reduction is not None:
        if reduction not in registry.REDUCTIONS:
            raise UserError(
                f"reduction: {reduction!r} is not one of {', '.join(registry.REDUCTIONS)}"
            )
        spec = replace(spec, reduction=reduction)
    return spec


def check_code(path: str | Path, *args: Any, **options: Any) -> dict[str, Any]:
    """Check a student's file; the JSON report. Takes run_check's arguments.

    UserError (exit 2) if the file cannot be read or bound.
    """
    return run_check(path, *args, **options).report


def run_check(
    path: str | Path,
    spec: NetworkSpec | None = None,
    reduction: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    returns: str | Sequence[str] | None = None,
    forward: str = "forward",
    backward: str = "backward",
    forward_args: str | Sequence[str] | None = None,
    forward_returns: str | Sequence[str] | None = None,
    backward_args: str | Sequence[str] | None = None,
) -> CheckResult:
    """Check a student's file in a sandboxed child process; the report and its context."""
    start = time.monotonic()
    if not timeout > 0:
        raise UserError(
            f"--timeout must be a positive number of seconds, not {timeout}"
        )
    spec = resolve_spec(spec, reduction)
    student = read_student_file(Path(path))
    infos = {
        role: _find(student, name, role)
        for role, name in (("forward", forward), ("backward", backward))
    }
    bindings = {
        "forward": bind.bind_function(
            infos["forward"], "forward", spec.depth, forward_args, forward_returns
        ),
        "backward": bind.bind_function(
            infos["backward"], "backward", spec.depth, backward_args, returns
        ),
    }
    statements = [
        {"chunk": s.chunk, "line": s.line, "source": s.source}
        for s in student.statements
    ]
    child = ChildRun(statements, [forward, backward], timeout)

    def where(frame: dict[str, Any] | None) -> str:
        if not frame or not runner.is_child_student_file(frame["file"]):
            return ""
        chunk = int(frame["file"][len(runner.STUDENT_FILE_PREFIX) : -1])
        code = student.code_at(chunk, frame["line"])
        return student.where(chunk, frame["line"]) + (f" `{code}`" if code else "")

    try:
        truth = truth_for(spec)
        probes = make_probes(truth)
        notes = _file_notes(student)
        result = _check(
            spec, truth, probes, child, bindings, infos, where, timeout, notes
        )
    finally:
        child.close()  # also when binding fails after the child started
    result.source = student.path.name
    result.seconds = time.monotonic() - start
    return result


def _find(student: StudentFile, name: str, role: str) -> FunctionInfo:
    info = student.functions.get(name)
    if info is not None:
        return info
    if name in student.skipped_defs:
        raise UserError(
            f"{student.path}: {student.skipped_defs[name]}; use plain defaults"
        )
    defined = ", ".join(sorted(student.functions)) or "none"
    hint = f"--{role} NAME" if role else ""
    extra = ""
    if student.syntax_errors:
        extra = "; cells skipped for syntax errors: " + "; ".join(
            student.syntax_errors[:3]
        )
    raise UserError(
        f"{student.path}: no function named {name!r} (functions defined: {defined}); name the "
        f"student's {role} function with {hint}{extra}"
    )


def _file_notes(student: StudentFile) -> list[str]:
    notes = []
    if student.dropped:
        shown = "; ".join(student.dropped[:4]) + (
            "; ..." if len(student.dropped) > 4 else ""
        )
        notes.append(f"not run (top-level code other than definitions): {shown}")
    notes += [f"skipped (syntax error): {e}" for e in student.syntax_errors]
    return notes


def check_callables(
    forward_fn: Callable[..., Any] | None,
    backward_fn: Callable[..., Any],
    namespace: dict[str, Any] | None = None,
    spec: NetworkSpec | None = None,
    reduction: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    returns: str | Sequence[str] | None = None,
    forward_args: str | Sequence[str] | None = None,
    forward_returns: str | Sequence[str] | None = None,
    backward_args: str | Sequence[str] | None = None,
) -> CheckResult:
    """The same check for functions already imported here: they run in this process."""
    start = time.monotonic()
    spec = resolve_spec(spec, reduction)
    fns = {"forward": forward_fn, "backward": backward_fn}
    infos: dict[str, FunctionInfo] = {}
    for role, fn in fns.items():
        if fn is None:
            continue
        if not callable(fn):
            raise UserError(f"{role} is {type(fn).__name__}, not a function")
        info = function_info_from_callable(fn)
        if info is None:
            info = _info_from_signature(fn)
        infos[role] = info
    bindings = {
        # called by role, so two functions with the same __name__ cannot collide
        role: replace(
            bind.bind_function(
                infos[role],
                role,
                spec.depth,
                forward_args if role == "forward" else backward_args,
                forward_returns if role == "forward" else returns,
            ),
            function=role,
        )
        for role in infos
    }
    if namespace is None:
        namespace = dict(getattr(backward_fn, "__globals__", {}))
    functions = {role: fns[role] for role in bindings}
    run = InProcessRun(functions, namespace, timeout)
    truth = truth_for(spec)
    probes = make_probes(truth)

    def where(frame: dict[str, Any] | None) -> str:
        return f"{frame['file']}:{frame['line']}" if frame else ""

    result = _check(spec, truth, probes, run, bindings, infos, where, timeout, [])
    module = getattr(backward_fn, "__module__", None)
    name = getattr(backward_fn, "__qualname__", "backward")
    result.source = f"{module}.{name}" if module else name
    result.seconds = time.monotonic() - start
    return result


def _info_from_signature(fn: Callable[..., Any]) -> FunctionInfo:
    import inspect

    from .load import Param

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise UserError(f"cannot read the parameters of {fn!r}") from None
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: "positional_only",
        inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
        inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    }
    params = tuple(
        Param(
            p.name, p.default is not inspect.Parameter.empty, kinds.get(p.kind, "var")
        )
        for p in sig.parameters.values()
    )
    name = getattr(fn, "__name__", "function")
    return FunctionInfo(name, params, None, None, {}, name)


def _initial_shapes(
    globals_: dict[str, list[int]], depth: int
) -> dict[str, tuple[int, ...]]:
    """The file's module-level arrays under canonical names (W1, b1, ..., X, y)."""
    out: dict[str, tuple[int, ...]] = {}
    for name, shape in globals_.items():
        canonical = bind.canonical_value(name, depth)
        if canonical is None or canonical in out:
            continue
        if canonical[0] in "Wb" or canonical in ("X", "y"):
            out[canonical] = tuple(shape)
    return out


def _student_value(
    canonical: str, probe: Probe, layout: Layout, binding: bind.Binding
) -> Any:
    """What the student's parameter named `canonical` receives at a probe, in their layout."""
    if canonical == "X":
        return probe.X
    if canonical == "y":
        return layout.targets_to_student(probe.y)
    if canonical == "Y":
        return layout.targets_to_student(probe.forward["Y"])
    if canonical == "N":
        return probe.n
    if canonical == "params":
        return {
            binding.params_keys.get(k, k): layout.to_student(k, v)
            for k, v in probe.params.items()
        }
    if canonical[0] in "Wb":
        return layout.to_student(canonical, probe.params[canonical])
    return probe.forward[canonical]  # Z1, H1, ...


def _encode_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    return {k: runner.encode(v) for k, v in values.items()}


def _build_calls(
    layouts: list[Layout], probes: list[Probe], bindings: dict[str, bind.Binding]
) -> tuple[list[dict[str, Any]], dict[tuple[str, int, int], int]]:
    """Every call (forward calls first), deduplicated; and (role, layout, probe) -> call id."""
    calls: list[dict[str, Any]] = []
    index: dict[tuple[str, int, int], int] = {}
    seen: dict[str, int] = {}
    for role in ("forward", "backward"):
        if role not in bindings:
            continue
        binding = bindings[role]
        for li, layout in enumerate(layouts):
            for pi, probe in enumerate(probes):
                kwargs = _encode_kwargs(
                    {
                        student: _student_value(c, probe, layout, binding)
                        for student, c in binding.arguments
                    }
                )
                key = role + json.dumps(kwargs, sort_keys=True)
                if key not in seen:
                    seen[key] = len(calls)
                    call = {
                        "id": len(calls),
                        "func": binding.function,
                        "kwargs": kwargs,
                    }
                    calls.append(call)
                index[(role, li, pi)] = seen[key]
    return calls, index


def _outcomes(
    outcome: Outcome, calls: list[dict[str, Any]], timeout: float
) -> dict[int, diagnose.CallOutcome]:
    """Each call's outcome; the one running when the child stopped is the hang or crash."""
    out: dict[int, diagnose.CallOutcome] = {}
    stopped = outcome.unfinished
    for call in calls:
        i = call["id"]
        event = outcome.events.get(i)
        if event is not None and event["event"] == "done":
            out[i] = diagnose.CallOutcome("done", runner.decode(event["value"]))
        elif event is not None:
            out[i] = diagnose.CallOutcome("raised", error=event["error"])
        elif i == stopped and outcome.timed_out:
            out[i] = diagnose.CallOutcome("hung", error={"where": outcome.stuck_at})
        elif i == stopped:
            reason = (
                outcome.ended
                or outcome.runner_error.strip().splitlines()[-1:]
                or ["it stopped"]
            )
            out[i] = diagnose.CallOutcome(
                "died",
                error={
                    "where": outcome.stuck_at,
                    "message": reason if isinstance(reason, str) else reason[0],
                },
            )
        else:
            why = (
                f"the check stopped earlier (time limit {timeout:g} s)"
                if outcome.timed_out
                else outcome.ended or "the check process stopped early"
            )
            out[i] = diagnose.CallOutcome(
                "not_run", error={"message": why, "where": None}
            )
    return out


def _returned_value(call: diagnose.CallOutcome) -> diagnose.CallOutcome:
    """A call that returned None or another non-array becomes a failed call."""
    if call.ok and isinstance(call.value, runner.Opaque):  # e.g. a forgotten return
        kind = "None" if call.value.kind == "NoneType" else f"a {call.value.kind}"
        return diagnose.CallOutcome("bad_value", error={"message": kind, "where": None})
    return call


def _load_failure_part(
    loaded: dict[str, Any] | None,
    name: str,
    where: Callable[[dict[str, Any] | None], str],
) -> str:
    errors = (loaded or {}).get("errors", [])
    detail = ""
    for e in errors:
        at = where(e.get("where"))
        detail = f"; loading the file: {e['type']}: {e['message']}" + (
            f" at {at}" if at else ""
        )
        break
    return f"{name} is not defined after loading the file{detail}"


@dataclass
class _Probed:
    """Everything the diagnosis of one layout needs: the probes and what each call did."""

    spec: NetworkSpec
    probes: list[Probe]
    results: dict[int, diagnose.CallOutcome]
    index: dict[tuple[str, int, int], int]  # (role, layout, probe) -> call id
    bindings: dict[str, bind.Binding]
    infos: dict[str, FunctionInfo]
    where: Callable[[dict[str, Any] | None], str]
    timeout: float
    loaded: dict[str, Any]
    act_names: dict[int, str]

    def calls(self, role: str, li: int) -> list[diagnose.CallOutcome]:
        """The outcomes of one function's calls under one layout, in probe order."""
        return [
            _returned_value(self.results[self.index[(role, li, pi)]])
            for pi in range(len(self.probes))
        ]

    def missing(self, role: str) -> str:
        """Why the function is not there after loading the file, or ''."""
        name = self.bindings[role].function
        if name not in self.loaded.get("missing", []):
            return ""
        return _load_failure_part(self.loaded, name, self.where)


def _check(
    spec: NetworkSpec,
    truth: Truth,
    probes: list[Probe],
    run: ChildRun | InProcessRun,
    bindings: dict[str, bind.Binding],
    infos: dict[str, FunctionInfo],
    where: Callable[[dict[str, Any] | None], str],
    timeout: float,
    notes: list[str],
) -> CheckResult:
    """Probe every plausible layout, diagnose each, keep the layout that explains the most."""
    sizes = batch_sizes(spec.layers)
    loaded = run.loaded()
    if loaded is None:  # hung or crashed while loading the file
        outcome = run.outcome
        at = where(outcome.stuck_at)
        what = (
            f"loading the file did not finish within {timeout:g} s"
            if outcome.timed_out
            else "loading the file failed: "
            + (outcome.ended or _last_line(outcome.runner_error) or "no report")
        ) + (f" ({at})" if at else "")
        message = diagnose.part("error", [], what)
        report = _report(spec, message, {n: dict(message) for n in spec.param_names})
        return CheckResult(report, "", spec, None, sizes, len(probes), {}, notes)
    for e in loaded.get("errors", []):
        at = where(e.get("where"))
        notes.append(
            f"while loading: {e['type']}: {e['message']}" + (f" ({at})" if at else "")
        )
    layouts = candidate_layouts(
        spec, _initial_shapes(loaded.get("globals", {}), spec.depth)
    )
    calls, index = _build_calls(layouts, probes, bindings)
    results = _outcomes(run.run(calls), calls, timeout)
    probed = _Probed(
        spec,
        probes,
        results,
        index,
        bindings,
        infos,
        where,
        timeout,
        loaded,
        _activation_derivative_names(truth),
    )
    best = None
    for li, layout in enumerate(layouts):
        forward = _forward_part(probed, li, layout)
        gradients = _gradient_parts(probed, li, layout)
        parts = [forward, *gradients.values()]
        score = (
            sum(p["status"] == "ok" for p in parts),
            sum(p["status"] != "error" for p in parts),
            -sum(diagnose.dx.WRONG_SHAPE in p["diagnoses"] for p in parts),
            -li,
        )
        if best is None or score > best[0]:
            best = (score, layout, forward, gradients)
    assert best is not None
    _, layout, forward, gradients = best
    from .report import correct_lines

    formulas = correct_lines(truth, layout, _namer(bindings, infos, spec.depth))
    if len(layouts) > 1:
        notes.append(
            f"layout inferred from what the code accepts ({len(layouts)} tried)"
        )
    report = _report(spec, forward, gradients)
    return CheckResult(report, "", spec, layout, sizes, len(probes), formulas, notes)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _report(
    spec: NetworkSpec, forward: dict[str, Any], gradients: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    ordered = {name: gradients[name] for name in spec.param_names}
    ok = forward["status"] == "ok" and all(
        p["status"] == "ok" for p in ordered.values()
    )
    return {
        "ok": ok,
        "reduction": spec.reduction,
        "forward": forward,
        "gradients": ordered,
    }


def _namer(
    bindings: dict[str, bind.Binding], infos: dict[str, FunctionInfo], depth: int
) -> diagnose.Namer:
    forward_names: dict[str, str] = {}
    backward_names: dict[str, str] = {}
    grads: dict[str, str] = {}
    for role, names in (("forward", forward_names), ("backward", backward_names)):
        for student, canonical in bindings[role].arguments if role in bindings else ():
            if canonical == "params":  # W1 is params["w1"] in the student's code
                for p in bind.parameter_names(depth):
                    key = bindings[role].params_keys.get(p, p)
                    names.setdefault(p, f'{student}["{key}"]')
    if "forward" in bindings:
        b = bindings["forward"]
        forward_names.update({c: s for s, c in b.arguments})
        if b.returns and infos["forward"].returns and not b.returns_declared:
            for c, s in zip(b.returns, infos["forward"].returns, strict=False):
                if c and s:
                    forward_names[c] = s
    if "backward" in bindings:
        b = bindings["backward"]
        backward_names.update({c: s for s, c in b.arguments})
        info_returns = infos["backward"].returns
        order = b.returns
        keys = infos["backward"].return_keys
        if keys:  # a returned dict literal: its keys are the student's names
            for key in keys:
                param = bind.canonical_gradient(key, depth)
                if param:
                    grads[param] = key
        named = [n for n in info_returns or () if n]
        distinct = len(set(named)) == len(named)
        if info_returns and distinct and len(info_returns) == 2 * depth:
            if not order or any(o is None for o in order):
                order = tuple(bind.seed_gradient_order(depth))
            for c, s in zip(order, info_returns, strict=False):
                if c and s:
                    grads[c] = s
    return diagnose.Namer(forward_names, backward_names, grads)


def _activation_derivative_names(truth: Truth) -> dict[int, str]:
    from ...derive import H, Z
    from ...printing import numpy as printing

    out = {}
    for rule in truth.derivation.layers[:-1]:  # type: ignore[attr-defined]
        l = rule.index  # noqa: E741
        out[l] = printing.numpy_expr(rule.derivative, {Z: f"Z{l}", H: f"H{l}"})
    return out


def _forward_part(probed: _Probed, li: int, layout: Layout) -> dict[str, Any]:
    """The forward PART under one layout."""
    if "forward" not in probed.bindings:
        return diagnose.part("ok", [], "not checked: no forward function was given")
    if probed.missing("forward"):
        return diagnose.part("error", [], probed.missing("forward"))
    binding = probed.bindings["forward"]
    where = probed.infos["forward"].where
    named = [
        call if not call.ok else bind.map_returned(call.value, binding, where)
        for call in probed.calls("forward", li)
    ]
    namer = _namer(probed.bindings, probed.infos, binding.depth)
    return diagnose.diagnose_forward(
        probed.probes,
        layout,
        named,
        namer,
        probed.where,
        probed.timeout,
        binding.signature,
    )


def _gradient_parts(
    probed: _Probed, li: int, layout: Layout
) -> dict[str, dict[str, Any]]:
    """Every gradient's PART under one layout; a failed call makes them all errors."""
    binding = probed.bindings["backward"]
    names = probed.spec.param_names
    if probed.missing("backward"):
        return {
            n: diagnose.part("error", [], probed.missing("backward")) for n in names
        }
    outcomes = probed.calls("backward", li)
    ns = [p.n for p in probed.probes]
    failed = [(o, n) for o, n in zip(outcomes, ns, strict=True) if not o.ok]
    if failed:
        order = {"hung": 0, "died": 1, "raised": 2}
        o, n = min(failed, key=lambda f: order.get(f[0].state, 3))
        message = diagnose.error_message(
            binding.signature, o, n, probed.where, probed.timeout
        )
        return {name: diagnose.part("error", [], message) for name in names}
    where = probed.infos["backward"].where
    named = [bind.map_returned(o.value, binding, where) for o in outcomes]
    namer = _namer(probed.bindings, probed.infos, probed.spec.depth)
    return {
        name: diagnose.diagnose_gradient(
            name,
            probed.probes,
            layout,
            named,
            namer,
            probed.spec.reduction,
            probed.act_names,
        )
        for name in names
    }


__all__ = ["CheckResult", "check_code", "run_check", "check_callables"]
