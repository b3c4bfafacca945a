"""check-code: bind a student's forward/backward, probe them in a sandbox, diagnose each part.

`check_code(path)` returns the JSON report: {"ok", "reduction", "forward", "gradients"}.
`run_check` returns it with everything the human-readable output shows (layout, formulas).
"""

from __future__ import annotations

import importlib.util
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import UserError
from ...spec import NetworkSpec, default_spec, names, registry
from ..inert import inert
from . import bind, layer_find, layer_objects, methods, profiles, script_find, view
from .in_process import InProcessRun
from .load import (
    FunctionInfo,
    StudentFile,
    function_info_from_callable,
    read_student_file,
)
from .result import CheckResult
from .roles import find_function
from .sandbox import choose_sandbox, cpu_budget
from .sizes import check_size
from .spare import child_for

if TYPE_CHECKING:
    from ...derive import Derivation

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
    grad_vars: str | Sequence[str] | None = None,
    data_vars: str | Sequence[str] | None = None,
    quote_code: bool = True,
) -> CheckResult:
    """Check a student's file in a sandboxed child process; the report and its context.

    `profile`: an assignment profile (a built-in name or a TOML file) naming the functions and
    the layout; without one they are recognised from the file.

    `grad_vars` (W1's gradient variable, b1's, W2's, ...) and `data_vars` (X, y): a tutorial
    script's names; without them a script with no forward or backward function is recognised
    by its training loop's updates (`W -= lr * dW`).

    `derivation`: the spec's, when the caller has derived it already (`build` has).
    `quote_code`: messages quote the student's line of code after its file and line (False
    for a document, which names the line only).
    `sandbox`: "bwrap" (isolated), "process" (not isolated) or "auto" (bwrap when on PATH).
    The time limit covers reading the file as well as running it. The probe points are new at
    every run (a table of answers cannot pass); `probe_seed` repeats a run's points.
    """
    start = time.monotonic()
    check_timeout(timeout)
    seed = probe_seed_or_new(probe_seed)
    mode, warning = choose_sandbox(sandbox)
    spec = resolve_spec(spec, reduction)
    check_size(spec)
    student = read_student_file(Path(path))
    read = time.monotonic() - start
    if read > timeout:
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
    api = layer_find.find_api(student, declared)
    grads = _names(grad_vars, declared, "grad_vars")
    script = script_find.find_script(student, grads) if grads else None
    infos: dict[str, FunctionInfo] = {}
    unnamed = forward == "forward" and backward == "backward" and script is None
    # the file's layer classes, composed as the network when its own functions are not one
    objects = layer_objects.find(student, spec) if unnamed else None
    try:
        if script is None:
            infos = {
                role: find_function(student, name, role, declared)
                for role, name in (("forward", forward), ("backward", backward))
            }
    except UserError as exc:
        # no forward or backward function: the layer objects are the network, or gradients
        # at top level in a training loop, or a file of layer functions alone
        infos = {}
        script = (
            script_find.find_script(student) if api is None and not objects else None
        )
        if script is None and api is None and objects is None:
            raise
        if script is None and objects is None:
            assert api is not None
            from . import layer_check  # SymPy: only once the file is known to need it

            result = layer_check.layers_only(
                student, api, spec, mode, timeout, seed, exc
            )
            result.warning = warning
            result.seconds = time.monotonic() - start
            return result
    signature_options = (forward_args, forward_returns, backward_args, returns)
    if script is not None:  # a tutorial script: one pass of its loop is the check
        from . import script_check  # SymPy: only once the file is known to need it

        data = _names(data_vars, declared, "data_vars")
        result = script_check.check_script(student, script, spec, mode, timeout, data)
        result.warning = warning
        result.seconds = time.monotonic() - start
        return result
    bound = None
    if infos:
        try:
            adapters = {
                role: methods.adapter(student, info.name, spec)
                for role, info in infos.items()
                if "." in info.name  # a method of the file's class
            }
            bound = _bind(infos, adapters, spec.depth, signature_options)
        except UserError:
            if objects is None:
                raise
    if bound is None:  # the file's layer objects, composed as the spec's network
        assert objects is not None
        adapters = layer_objects.adapters(student, objects, spec)
        bound = _bind({}, adapters, spec.depth, signature_options)
    else:
        objects = None  # the file's own functions are the network
    infos, bindings, forward, backward = bound
    own = {a.name: a.statement for a in adapters.values()}  # one per method
    statements = [
        {"chunk": s.chunk, "line": s.line, "source": s.source}
        for s in [*student.statements, *own.values()]
    ]

    where = layer_find.student_where(student, quote_code)
    one_example = (
        "the profile says so"
        if declared is not None and declared.examples == "one"
        else objects.one_example
        if objects is not None
        else methods.per_example(student, infos["backward"].name)
    )

    packages = view.PACKAGES + tuple(p for p in view.OPTIONAL if p in student.imports)
    child = child_for(mode, packages, cpu_budget(timeout))  # booting from here on
    try:
        # SymPy, the derivation and the probes: while the child boots, outside its time limit
        from .verdict import check, probes_for, truth_for

        truth = truth_for(spec, derivation)
        # a batch's submissions share its points
        probes = probes_for(truth, seed, bool(one_example))
        notes = _file_notes(student)
        if one_example:
            notes.append(f"checked one example at a time (N = 1): {one_example}")
        error = names.delta(spec.depth)
        if objects is not None:
            notes.append(layer_objects.note(objects, spec))
        elif any(c == error for _, c in bindings["backward"].arguments):
            notes.append(
                f"backward is fed the correct output error {error} (the loss's own "
                "gradient is not checked)"
            )
        # the time limit covers reading the file and running it, not the parent's derivation
        deadline = time.monotonic() + timeout - read
        chunks = len(student.chunks) + bool(adapters)  # the adapters are one more chunk
        child.take(statements, [forward, backward], deadline, chunks)
        result = check(
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
        child.close()  # also when the derivation fails before it was given the file
    if api is not None:  # each layer function on its own, in a child of its own
        from . import layer_check

        layers = layer_check.check_layers(student, api, mode, timeout, where, seed)
        layer_check.add_parts(result.report, layers)
    result.source = inert(student.path.name, 200)
    result.sandbox = mode
    result.warning = warning
    result.report["sandbox"] = mode
    result.report["probe_seed"] = seed
    result.seconds = time.monotonic() - start
    return result


def _bind(
    infos: dict[str, FunctionInfo],
    adapters: dict[str, methods.Adapter],
    depth: int,
    options: tuple[Any, Any, Any, Any],
) -> tuple[dict[str, FunctionInfo], dict[str, bind.Binding], str, str]:
    """The roles' bindings, through their adapters where there are (UserError when a
    function cannot be bound), and the names the child calls for forward and backward."""
    forward_args, forward_returns, backward_args, returns = options
    infos = {**infos, **{role: made.info for role, made in adapters.items()}}
    called = {
        role: adapters[role].name if role in adapters else infos[role].name
        for role in ("forward", "backward")
    }
    bindings = {
        "forward": bind.bind_function(
            infos["forward"],
            "forward",
            depth,
            forward_args,
            forward_returns,
            # one function for both (scores, or (loss, grads) given the targets)
            required_only=called["forward"] == called["backward"],
        ),
        "backward": bind.bind_function(
            infos["backward"], "backward", depth, backward_args, returns
        ),
    }
    for role, made in adapters.items():  # the child calls the adapter
        bindings[role] = replace(
            bindings[role], function=made.name, own_names=made.names
        )
    return infos, bindings, called["forward"], called["backward"]


def _names(
    given: str | Sequence[str] | None, declared: profiles.Profile | None, key: str
) -> list[str]:
    """A comma-separated list of a script's variable names: given, else the profile's."""
    if given is None and declared is not None:
        given = getattr(declared, key)
    items = given.split(",") if isinstance(given, str) else list(given or [])
    return [n.strip() for n in items if n.strip()]


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
    from .calls import info_from_signature
    from .verdict import check, make_probes, truth_for

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

    result = check(spec, truth, probes, run, bindings, infos, where, timeout, [])
    module = getattr(backward_fn, "__module__", None)
    name = getattr(backward_fn, "__qualname__", "backward")
    result.source = f"{module}.{name}" if module else name
    result.report["probe_seed"] = seed
    result.seconds = time.monotonic() - start
    return result


__all__ = ["CheckResult", "check_code", "run_check", "check_callables"]
