"""check-code: bind a student's forward/backward, probe them in a sandbox, diagnose each part.

`check_code(path)` returns the JSON report: {"ok", "reduction", "forward", "gradients"}.
`run_check` returns it with everything the human-readable output shows (layout, formulas).
"""

from __future__ import annotations

import importlib.util
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...derive import Derivation
from ...errors import UserError
from ...spec import NetworkSpec, default_spec, names, registry
from .. import diagnoses as dx
from ..inert import inert
from . import bind, methods, profiles, runner, view
from .calls import (
    build_calls,
    info_from_signature,
    initial_shapes,
    load_failure_part,
    outcomes,
    returned_value,
    student_namer,
)
from .diagnose_forward import diagnose_forward
from .diagnose_gradient import diagnose_gradient
from .in_process import InProcessRun
from .layout import Layout, candidate_layouts
from .load import (
    FunctionInfo,
    StudentFile,
    function_info_from_callable,
    read_student_file,
)
from .result import (
    NOT_CHECKED,
    CallOutcome,
    CheckResult,
    Namer,
    Where,
    error_message,
    part,
)
from .roles import find_function
from .sandbox import ChildRun, choose_sandbox
from .student_form import StudentForm
from .truth import (
    Probe,
    Truth,
    batch_sizes,
    check_size,
    make_probes,
    truth_for,
)

DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 3600.0


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
    derivation: Derivation | None = None,
    sandbox: str = "auto",
    probe_seed: int | None = None,
    profile: str | None = None,
) -> CheckResult:
    """Check a student's file in a sandboxed child process; the report and its context.

    `profile`: an assignment profile (a built-in name or a TOML file) naming the functions and
    the layout; without one they are recognised from the file.

    `derivation`: the spec's, when the caller has derived it already (`build` has).
    `sandbox`: "bwrap" (isolated), "process" (not isolated) or "auto" (bwrap when on PATH).
    The time limit covers reading the file as well as running it. The probe points are new at
    every run (a table of answers cannot pass); `probe_seed` repeats a run's points.
    """
    start = time.monotonic()
    check_timeout(timeout)
    seed = probe_seed_or_new(probe_seed)
    mode, warning = choose_sandbox(sandbox)
    deadline = start + timeout
    spec = resolve_spec(spec, reduction)
    check_size(spec)
    student = read_student_file(Path(path))
    if time.monotonic() > deadline:
        raise UserError(
            f"{path}: reading the file took longer than the time limit ({timeout:g} s)",
            exit_code=1,
        )
    if "torch" in student.imports and importlib.util.find_spec("torch") is None:
        raise UserError(
            f"{student.path.name} computes on PyTorch tensors: pip install torch"
        )
    declared = profiles.load_profile(profile) if profile else None
    if declared is not None:
        forward = declared.forward if forward == "forward" else forward
        backward = declared.backward if backward == "backward" else backward
    infos = {
        role: find_function(student, name, role, declared)
        for role, name in (("forward", forward), ("backward", backward))
    }
    adapters = {
        role: methods.adapter(student, info.name, spec)
        for role, info in infos.items()
        if "." in info.name  # a method of the file's class
    }
    for role, made in adapters.items():
        infos[role] = made.info
    forward, backward = infos["forward"].name, infos["backward"].name
    for role, made in adapters.items():
        if role == "forward":
            forward = made.name
        else:
            backward = made.name
    bindings = {
        "forward": bind.bind_function(
            infos["forward"],
            "forward",
            spec.depth,
            forward_args,
            forward_returns,
            # one function for both (scores, or (loss, grads) given the targets)
            required_only=forward == backward,
        ),
        "backward": bind.bind_function(
            infos["backward"], "backward", spec.depth, backward_args, returns
        ),
    }
    for role, made in adapters.items():  # the child calls the adapter
        bindings[role] = replace(bindings[role], function=made.name)
    own = {a.name: a.statement for a in adapters.values()}  # one per method
    statements = [
        {"chunk": s.chunk, "line": s.line, "source": s.source}
        for s in [*student.statements, *own.values()]
    ]

    def where(frame: dict[str, Any] | None) -> str:
        if not frame or not runner.is_child_student_file(frame["file"]):
            return ""
        chunk = int(frame["file"][len(runner.STUDENT_FILE_PREFIX) : -1])
        if not 0 <= chunk < len(student.chunks):
            return ""
        code = inert(student.code_at(chunk, frame["line"]), 120)
        return student.where(chunk, frame["line"]) + (f" `{code}`" if code else "")

    child = ChildRun(
        statements,
        [forward, backward],
        deadline,
        mode,
        len(student.chunks) + bool(adapters),
        view.PACKAGES + tuple(p for p in view.OPTIONAL if p in student.imports),
    )

    try:
        truth = truth_for(spec, derivation)
        probes = make_probes(truth, seed)
        notes = _file_notes(student)
        result = _check(
            spec,
            truth,
            probes,
            child,
            bindings,
            infos,
            where,
            timeout,
            notes,
            profiles.read_conventions(
                [i.docstring for i in infos.values()],
                "\n".join("\n".join(c.lines.values()) for c in student.chunks),
                registry.loss(spec.loss).targets == "one_hot",
                declared,
            ),
        )
    finally:
        child.close()  # also when binding fails after the child started
    result.source = inert(student.path.name, 200)
    result.sandbox = mode
    result.warning = warning
    result.report["sandbox"] = mode
    result.report["probe_seed"] = seed
    result.seconds = time.monotonic() - start
    return result


def probe_seed_or_new(seed: int | None) -> int:
    """The seed of this run's probe points: the one given (to repeat a run), else a new one."""
    if seed is None:
        return secrets.randbits(32)
    if not 0 <= seed < 2**32:
        raise UserError(
            f"--probe-seed must be a whole number from 0 to {2**32 - 1}, not {seed}"
        )
    return seed


def check_timeout(timeout: float) -> None:
    """A time limit is a positive, finite number of seconds up to MAX_TIMEOUT."""
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UserError(
            f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
            f"not {timeout}"
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
    probe_seed: int | None = None,
) -> CheckResult:
    """The same check for functions already imported here: they run in this process."""
    start = time.monotonic()
    check_timeout(timeout)
    seed = probe_seed_or_new(probe_seed)
    spec = resolve_spec(spec, reduction)
    check_size(spec)
    fns = {"forward": forward_fn, "backward": backward_fn}
    infos: dict[str, FunctionInfo] = {}
    for role, fn in fns.items():
        if fn is None:
            continue
        if not callable(fn):
            raise UserError(f"{role} is {type(fn).__name__}, not a function")
        info = function_info_from_callable(fn)
        if info is None:
            info = info_from_signature(fn)
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
    probes = make_probes(truth, seed)

    def where(frame: dict[str, Any] | None) -> str:
        return f"{frame['file']}:{frame['line']}" if frame else ""

    result = _check(spec, truth, probes, run, bindings, infos, where, timeout, [])
    module = getattr(backward_fn, "__module__", None)
    name = getattr(backward_fn, "__qualname__", "backward")
    result.source = f"{module}.{name}" if module else name
    result.report["probe_seed"] = seed
    result.seconds = time.monotonic() - start
    return result


@dataclass
class _Probed:
    """Everything the diagnosis of one layout needs: the probes and what each call did."""

    truth: Truth
    probes: list[Probe]
    results: dict[int, CallOutcome]
    index: dict[tuple[str, int, int], int]  # (role, layout, probe) -> call id
    bindings: dict[str, bind.Binding]
    infos: dict[str, FunctionInfo]
    where: Where
    timeout: float
    loaded: dict[str, Any]
    namer: Namer

    def calls(self, role: str, li: int) -> list[CallOutcome]:
        """The outcomes of one function's calls under one layout, in probe order."""
        return [
            returned_value(self.results[self.index[(role, li, pi)]])
            for pi in range(len(self.probes))
        ]

    def missing(self, role: str) -> str:
        """Why the function is not there after loading the file, or ''."""
        name = self.bindings[role].function
        if name not in self.loaded.get("missing", []):
            return ""
        return load_failure_part(self.loaded, name, self.where)


def _check(
    spec: NetworkSpec,
    truth: Truth,
    probes: list[Probe],
    run: ChildRun | InProcessRun,
    bindings: dict[str, bind.Binding],
    infos: dict[str, FunctionInfo],
    where: Where,
    timeout: float,
    notes: list[str],
    conventions: profiles.Conventions = profiles.SEED,
) -> CheckResult:
    """Probe every plausible layout, diagnose each, keep the layout that explains the most.
    `conventions`: what the file's text says (sample layouts to try, class labels)."""
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
        message = part("error", [], what)
        report = _report(spec, message, {n: dict(message) for n in spec.param_names})
        return CheckResult(report, "", spec, None, sizes, len(probes), {}, notes)
    for e in loaded.get("errors", []):
        at = where(e.get("where"))
        notes.append(
            f"while loading: {e['type']}: {e['message']}" + (f" ({at})" if at else "")
        )
    layouts = candidate_layouts(
        spec,
        initial_shapes(loaded.get("globals", {}), spec.depth),
        conventions.samples,
        conventions.labels,
        conventions.weights,
        conventions.biases,
    )
    calls, index = build_calls(layouts, probes, bindings, spec.l2, conventions.half_reg)
    results = outcomes(run.run(calls), calls, timeout)
    namer = student_namer(bindings, infos, spec.depth)
    probed = _Probed(
        truth, probes, results, index, bindings, infos, where, timeout, loaded, namer
    )
    best = None
    for li, layout in enumerate(layouts):
        form = StudentForm(truth, layout, namer)
        forward = _forward_part(probed, li, layout)
        gradients = _gradient_parts(probed, li, form)
        parts = [forward, *gradients.values()]
        score = (
            sum(p["status"] == "ok" for p in parts),
            sum(p["status"] != "error" for p in parts),
            -sum(dx.WRONG_SHAPE in p["diagnoses"] for p in parts),
            -li,
        )
        if best is None or score > best[0]:
            best = (score, form, forward, gradients)
    assert best is not None
    _, form, forward, gradients = best
    if len(layouts) > 1:
        notes.append(
            f"layout inferred from what the code accepts ({len(layouts)} tried)"
        )
    report = _report(spec, forward, gradients)
    return CheckResult(
        report, "", spec, form.layout, sizes, len(probes), form.lines(), notes
    )


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _report(
    spec: NetworkSpec, forward: dict[str, Any], gradients: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    ordered = {name: gradients[name] for name in spec.param_names}
    # a forward that was not given is not checked; the gradients still were compared
    ok = forward["status"] in ("ok", NOT_CHECKED) and all(
        p["status"] == "ok" for p in ordered.values()
    )
    return {
        "ok": ok,
        "reduction": spec.reduction,
        "forward": forward,
        "gradients": ordered,
    }


def _forward_part(probed: _Probed, li: int, layout: Layout) -> dict[str, Any]:
    """The forward PART under one layout."""
    if "forward" not in probed.bindings:
        return part(NOT_CHECKED, [], "no forward function was given")
    if probed.missing("forward"):
        return part("error", [], probed.missing("forward"))
    binding = probed.bindings["forward"]
    where = probed.infos["forward"].where
    named = [
        call if not call.ok else bind.map_returned(call.value, binding, where)
        for call in probed.calls("forward", li)
    ]
    return diagnose_forward(
        probed.probes,
        layout,
        named,
        probed.namer,
        probed.where,
        probed.timeout,
        binding.signature,
        _needed_from_forward(probed),
    )


def _needed_from_forward(probed: _Probed) -> list[str]:
    """The forward values the check needs returned: the output, and whatever backward takes."""
    outputs = [k for k in probed.probes[0].forward if k != names.PREDICTION]
    backward = probed.bindings["backward"]
    taken = {c for _, c in backward.arguments}
    return [k for k in outputs if k == names.OUTPUTS or k in taken]


def _gradient_parts(
    probed: _Probed, li: int, form: StudentForm
) -> dict[str, dict[str, Any]]:
    """Every gradient's PART under one layout; a failed call makes them all errors."""
    binding = probed.bindings["backward"]
    params = probed.truth.spec.param_names
    if probed.missing("backward"):
        return {n: part("error", [], probed.missing("backward")) for n in params}
    returned = probed.calls("backward", li)
    ns = [p.n for p in probed.probes]
    failed = [(o, n) for o, n in zip(returned, ns, strict=True) if not o.ok]
    if failed:
        order = {"hung": 0, "died": 1, "raised": 2}
        o, n = min(failed, key=lambda f: order.get(f[0].state, 3))
        message = error_message(binding.signature, o, n, probed.where, probed.timeout)
        return {name: part("error", [], message) for name in params}
    where = probed.infos["backward"].where
    named = [bind.map_returned(o.value, binding, where) for o in returned]
    return {
        name: diagnose_gradient(name, probed.truth, probed.probes, form, named)
        for name in params
    }


__all__ = ["CheckResult", "check_code", "run_check", "check_callables"]
