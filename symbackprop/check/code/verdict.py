"""The comparison itself: probe every plausible layout of a student's code, diagnose each part
against the derivation's truth, and keep the layout that explains the most.

Imported by core.py only once the child is booting, since it loads SymPy and the derivation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...spec import NetworkSpec, names
from .. import diagnoses as dx
from . import bind, profiles
from .calls import (
    build_calls,
    initial_shapes,
    load_failure_part,
    outcomes,
    returned_value,
    student_namer,
)
from .diagnose_forward import diagnose_forward
from .diagnose_gradient import diagnose_gradient
from .diagnose_loss import diagnose_loss
from .in_process import InProcessRun
from .layout import Layout, candidate_layouts
from .load import FunctionInfo
from .result import (
    NOT_CHECKED,
    CallOutcome,
    CheckResult,
    Namer,
    Where,
    error_message,
    part,
)
from .sandbox import ChildRun
from .student_form import StudentForm
from .truth import Probe, Truth, make_probes, probes_for, truth_for

__all__ = ["check", "make_probes", "probes_for", "truth_for"]


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


def check(
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
    sizes = sorted({p.n for p in probes})  # one example at a time: [1]
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
    if sizes == [1]:  # one example at a time: feedback speaks of x and y
        layouts = [replace(layout, one_example=True) for layout in layouts]
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
        loss = _loss_part(probed, li)
        parts = [forward, *gradients.values(), *([loss] if loss else [])]
        score = (
            sum(p["status"] == "ok" for p in parts),
            sum(p["status"] != "error" for p in parts),
            -sum(dx.WRONG_SHAPE in p["diagnoses"] for p in parts),
            -li,
        )
        if best is None or score > best[0]:
            best = (score, form, forward, gradients, loss)
    assert best is not None
    _, form, forward, gradients, loss = best
    if len(layouts) > 1:
        notes.append(
            f"layout inferred from what the code accepts ({len(layouts)} tried)"
        )
    report = _report(spec, forward, gradients, loss)
    # the correct lines are shown for a wrong part only: a correct answer prints none
    lines = {} if report["ok"] else form.lines()
    return CheckResult(report, "", spec, form.layout, sizes, len(probes), lines, notes)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _report(
    spec: NetworkSpec,
    forward: dict[str, Any],
    gradients: dict[str, dict[str, Any]],
    loss: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ordered = {name: gradients[name] for name in spec.param_names}
    # a forward that was not given is not checked; the gradients still were compared
    ok = forward["status"] in ("ok", NOT_CHECKED) and all(
        p["status"] == "ok" for p in ordered.values()
    )
    report = {
        "ok": ok and (loss is None or loss["status"] in ("ok", NOT_CHECKED)),
        "reduction": spec.reduction,
        "forward": forward,
    }
    if loss is not None:  # a (loss, grads) function: its loss is a part of its own
        report["loss"] = loss
    report["gradients"] = ordered
    return report


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
    taken = {c for _, c in probed.bindings["backward"].arguments}
    return [k for k in outputs if k == names.OUTPUTS or k in taken]


def _loss_part(probed: _Probed, li: int) -> dict[str, Any] | None:
    """The loss a `(loss, grads)` backward returns, compared with the derivation's; None when
    it returns none or a call failed (the gradients' parts say why)."""
    if "backward" not in probed.bindings or probed.missing("backward"):
        return None
    returned = probed.calls("backward", li)
    if not all(o.ok for o in returned):
        return None
    binding = probed.bindings["backward"]
    where = probed.infos["backward"].where
    named = [bind.map_returned(o.value, binding, where) for o in returned]
    return diagnose_loss(probed.truth, probed.probes, named, binding.signature)


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
