"""The calls check-code makes to the student's functions and what they mean: arguments per
probe in the student's layout, each call's outcome, and the student's names for values."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from ...errors import UserError
from ...spec.names import PENALTY
from . import bind, channel, profiles, runner
from .layout import LABELS, Layout
from .result import CallOutcome, Namer, Outcome, Where
from .student_file import FunctionInfo, Param
from .truth import Probe


def info_from_signature(fn: Callable[..., Any]) -> FunctionInfo:
    """What binding needs, for a callable whose source cannot be read."""
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


def initial_shapes(
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
        return layout.samples_to_student(probe.X)
    if canonical == "y":
        return layout.labels_to_student(probe.y)
    if canonical == "Y":
        return layout.targets_to_student(probe.forward["Y"])
    if canonical == "N":
        return probe.n
    if canonical == "params":
        return {
            binding.params_keys.get(k, k): layout.to_student(k, v)
            for k, v in probe.params.items()
        }
    if canonical == bind.CACHES:  # ((A_prev, W, b), Z) per layer
        return tuple(
            (
                tuple(
                    _student_value(c, probe, layout, binding)
                    for c in ("X" if k == 1 else f"H{k - 1}", f"W{k}", f"b{k}")
                ),
                _student_value(f"Z{k}", probe, layout, binding),
            )
            for k in range(1, binding.depth + 1)
        )
    if canonical == bind.CACHE and binding.cache_order:
        return tuple(
            _student_value(c, probe, layout, binding) for c in binding.cache_order
        )
    if canonical == bind.CACHE:
        return {
            key: _student_value(c, probe, layout, binding)
            for key, c in binding.cache_keys.items()
        }
    if canonical[0] in "Wb":
        return layout.to_student(canonical, probe.params[canonical])
    known = probe.forward if canonical in probe.forward else probe.values
    return layout.samples_to_student(known[canonical])  # Z1, H1, ..., the output's dZ


def _encode_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    return {k: runner.encode(v) for k, v in values.items()}


def build_calls(
    layouts: list[Layout],
    probes: list[Probe],
    bindings: dict[str, bind.Binding],
    l2: float = 0.0,
    half_reg: bool = False,
) -> tuple[list[dict[str, Any]], dict[tuple[str, int, int], int]]:
    """Every call (forward calls first, in phase 0), deduplicated; and (role, layout, probe) -> call id."""
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
                        student: profiles.course_coefficient(
                            student, l2, probe.n, half_reg
                        )
                        if c == PENALTY
                        else _student_value(c, probe, layout, binding)
                        for student, c in binding.arguments
                    }
                )
                for student, c in binding.arguments:
                    if c == "y" and layout.targets == LABELS:
                        kwargs[student]["int"] = True  # class labels index arrays
                key = role + json.dumps(kwargs, sort_keys=True)
                if key not in seen:
                    seen[key] = len(calls)
                    call = {
                        "id": len(calls),
                        "func": binding.function,
                        "kwargs": kwargs,
                        # the forward runs before the backward's true values are sent
                        "phase": 0 if role == "forward" else 1,
                    }
                    calls.append(call)
                index[(role, li, pi)] = seen[key]
    return calls, index


def outcomes(
    outcome: Outcome, calls: list[dict[str, Any]], timeout: float
) -> dict[int, CallOutcome]:
    """Each call's outcome; the one running when the child stopped is the hang or crash."""
    out: dict[int, CallOutcome] = {}
    stopped = outcome.unfinished
    for call in calls:
        i = call["id"]
        event = outcome.events.get(i)
        if event is not None and event["event"] == "done":
            out[i] = CallOutcome("done", event["value"])
        elif event is not None:
            out[i] = CallOutcome("raised", error=event["error"])
        elif i == stopped and outcome.timed_out:
            out[i] = CallOutcome("hung", error={"where": outcome.stuck_at})
        elif i == stopped:
            reason = (
                outcome.ended
                or outcome.runner_error.strip().splitlines()[-1:]
                or ["it stopped"]
            )
            out[i] = CallOutcome(
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
            out[i] = CallOutcome("not_run", error={"message": why, "where": None})
    return out


def returned_value(call: CallOutcome) -> CallOutcome:
    """A call that returned None or another non-array becomes a failed call."""
    if call.ok and isinstance(call.value, channel.Opaque):  # e.g. a forgotten return
        kind = "None" if call.value.kind == "NoneType" else f"a {call.value.kind}"
        return CallOutcome("bad_value", error={"message": kind, "where": None})
    return call


def load_failure_part(
    loaded: dict[str, Any] | None,
    name: str,
    where: Where,
) -> str:
    """Why a function is not there after loading the file, with the first loading error."""
    errors = (loaded or {}).get("errors", [])
    detail = ""
    for e in errors:
        at = where(e.get("where"))
        detail = f"; loading the file: {e['type']}: {e['message']}" + (
            f" at {at}" if at else ""
        )
        break
    return f"{name} is not defined after loading the file{detail}"


def student_namer(
    bindings: dict[str, bind.Binding], infos: dict[str, FunctionInfo], depth: int
) -> Namer:
    """The student's names: bound parameters, returned names, gradient names and dict keys."""
    forward_names: dict[str, str] = {}
    backward_names: dict[str, str] = {}
    grads: dict[str, str] = {}
    for role, names in (("forward", forward_names), ("backward", backward_names)):
        for student, canonical in bindings[role].arguments if role in bindings else ():
            if canonical == "params":  # W1 is params["w1"] in the student's code
                for p in bind.parameter_names(depth):
                    key = bindings[role].params_keys.get(p, p)
                    names.setdefault(p, f'{student}["{key}"]')
            unpacked = infos[role].unpacked.get(student, ()) if role in infos else ()
            for c, own in zip(bindings[role].cache_order, unpacked, strict=False):
                if own:  # `(Z1, A1, ...) = cache`: H1 is their A1
                    names.setdefault(c, own)
            if canonical == bind.CACHE:  # H1 is cache["A1"]
                for key, c in bindings[role].cache_keys.items():
                    names.setdefault(c, f'{student}["{key}"]')
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
    for b in bindings.values():  # a class's own names win: self.W1, self.dW1
        for c, own in b.own_names.items():
            if c.startswith("d") and bind.canonical_gradient(c, depth):
                grads[c[1:]] = own
            else:
                forward_names[c] = backward_names[c] = own
    return Namer(forward_names, backward_names, grads)
