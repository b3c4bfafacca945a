"""Turn a Derivation into the generated trainer's source, and load such a source as a module."""

from __future__ import annotations

import math
import sys
import time
import types
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sympy as sp

from ..derive import YHAT, Derivation, H, T, Z, derive, proof
from ..derive import program as P
from ..errors import UserError
from ..printing import numpy as printing
from ..printing import plain, updates
from ..spec import NetworkSpec, names, optimizers, registry
from . import render

BASE_TEMPLATE = "trainer_base.py.jinja"
TRAINER_TEMPLATE = "trainer.py.jinja"
# The trainer's sections in file order: each is a block of the templates, rendered and formatted
# on its own, and the blank lines before it (PEP 8: one after the docstring and between import
# groups, two around top-level definitions). An empty block is no section.
SECTIONS: tuple[tuple[str, int], ...] = (
    ("docstring", 0),
    ("future", 1),
    ("import_io", 1),
    ("import_math", 0),
    ("import_os", 0),
    ("import_sys", 0),
    ("import_warnings", 0),
    ("import_callable", 0),
    ("import_typing", 0),
    ("import_numpy", 1),
    ("constants", 1),
    ("forward", 2),
    ("loss", 2),
    ("plain_backward", 2),
    ("predict", 2),
    ("backward", 2),
    ("optimizers", 2),
    ("training", 2),
    ("format", 2),
    ("make_data", 2),
    ("data", 2),
    ("weights", 2),
    ("gradcheck", 2),
    ("main", 2),
)
# how make_data turns the scores S = X @ A into targets of each kind the losses take
MAKE_TARGETS = {
    "real": "np.sin(X @ A)",
    "binary": "(X @ A > 0).astype(float)",
    "one_hot": "np.eye(LAYERS[-1])[np.argmax(X @ A, axis=1)]",
}


@dataclass(frozen=True)
class Section:
    """One named piece of the trainer, ruff-formatted, and the blank lines before it."""

    name: str
    gap: int
    text: str


def join_sections(
    sections: Sequence[Section], names: Collection[str] | None = None
) -> str:
    """The sections' code (only `names` when given), each after the most blank lines before it.

    A section left out passes its blank lines on to the next one kept, so a subset reads as
    the whole file does: the trainer's source is join_sections of all its sections.
    """
    out: list[str] = []
    gap = 0
    for section in sections:
        gap = max(gap, section.gap)
        if names is not None and section.name not in names:
            continue
        if out:
            out.append("\n" * gap)
        out.append(section.text)
        gap = 0
    return "".join(out)


@dataclass(frozen=True)
class InitLine:
    """How init_params draws one parameter."""

    name: str
    code: str


def _py(value: object) -> str:
    """A Python literal for nested tuples of floats, written as lists."""
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    return repr(float(value))  # type: ignore[arg-type]


def _unpack(arrays: list[str]) -> str:
    """`W1, b1 = params["W1"], params["b1"]`, or '' when nothing is needed."""
    if not arrays:
        return ""
    return ", ".join(arrays) + " = " + ", ".join(f'params["{n}"]' for n in arrays)


@dataclass(frozen=True)
class PlainBackward:
    """The readable backward(): what it unpacks, its statements (the docstring's), its result."""

    unpack_params: str
    unpack_forward: str
    uses_n: bool
    lines: list[printing.Line]
    result: str


def _printed(node: P.Node) -> list[P.Node]:
    """The nodes a statement prints: an entrywise rule's operands only where the rule uses
    their placeholder (relu'(z) reads Z, tanh'(z) reads H, yhat - y reads no Z)."""
    out = [node]
    if isinstance(node, P.Derivative):
        pairs = ((Z, node.z), (H, node.h))
    elif isinstance(node, P.OutputError):
        pairs = ((Z, node.z), (YHAT, node.prediction), (T, node.target))
    else:
        return out + [n for child in P.children(node) for n in _printed(child)]
    symbols = node.rule.free_symbols
    return out + [n for s, child in pairs if s in symbols for n in _printed(child)]


def plain_backward(d: Derivation) -> PlainBackward:
    """backward() as the docstring writes it: the Program's backward steps, one line each."""
    prog = d.program
    done = {step.name for step in prog.backward}
    used: dict[str, None] = {}
    uses_n = False
    for step in prog.backward:
        for node in _printed(step.expr):
            if isinstance(node, P.Ref) and node.name not in done:
                used[node.name] = None
            uses_n = uses_n or isinstance(node, P.Mean)
    params = [n for n in d.spec.param_names if n in used]
    cached = [s.name for s in prog.forward if s.name in used]
    return PlainBackward(
        unpack_params=_unpack(params),
        unpack_forward=(
            ", ".join(cached) + " = " + ", ".join(f'cache["{n}"]' for n in cached)
            if cached
            else ""
        ),
        uses_n=uses_n,
        lines=printing.backward_lines(d),
        result="{"
        + ", ".join(f'"{n}": {prog.grads[n]}' for n in d.spec.param_names)
        + "}",
    )


def trainer_context(
    d: Derivation,
    command: str,
    style: str = "matrix",
    why: str = "",
    scalar: printing.ScalarPlan | None = None,
) -> dict[str, object]:
    """Everything the trainer template shows, as plain strings and dataclasses."""
    spec = d.spec
    forward = printing.forward_lines(d)
    backward = printing.backward_lines(d)
    forward_names = [step.name for step in d.program.forward]
    params = spec.param_names
    init = []
    for rule in d.layers:
        gain = registry.activation(rule.activation).init_gain
        std = repr(math.sqrt(gain / rule.fan_in))
        cast = ".astype(DTYPE)" if spec.dtype != "float64" else ""
        init.append(
            InitLine(
                names.weight(rule.index),
                f"rng.normal(0.0, {std}, size=({rule.units}, {rule.fan_in})){cast}",
            )
        )
        init.append(
            InitLine(
                names.bias(rule.index),
                f"np.zeros({rule.units}{', dtype=DTYPE' if cast else ''})",
            )
        )
    loss_code = printing.loss_code(d)
    data = None
    if spec.X is not None and spec.y is not None:
        data = {
            "X": _py(spec.X),
            "y": _py(spec.y),
            "params": [(n, _py(spec.params[n])) for n in params] if spec.params else [],
        }
    mean_note = " and divided by N" if spec.reduction == "mean" else ""
    update_code = updates.all_update_code()
    chosen = next(u for u in update_code if u.name == spec.optimizer)
    return dict(
        header=[
            *render.header(spec.describe(), command),
            f"Style: {style}{' (' + why + ')' if why else ''}.",
        ],
        title=spec.title.replace("\\", "\\\\").replace('"""', '\\"\\"\\"'),
        layers_text="-".join(map(str, spec.layers)),
        activations_text=", ".join(spec.activations),
        loss=spec.loss,
        loss_description=registry.loss(spec.loss).description,
        reduction=spec.reduction,
        forward_math=plain.forward_math(d),
        rule_lines=plain.rule_lines(d),
        backward=backward,
        closed_forms=plain.closed_form_lines(d),
        closed_forms_note=f"Wl_i_j is Wl[i-1, j-1]; the batch gradient sums these over samples{mean_note}",
        vectorized_only_note=" ".join(d.notes) or "Closed forms omitted.",
        layers=repr(tuple(spec.layers)),
        activations=repr(tuple(spec.activations)),
        lr=repr(float(spec.lr)),
        epochs=spec.epochs,
        seed=spec.seed,
        dtype=spec.dtype,
        dtype_arg=", dtype=DTYPE" if spec.dtype != "float64" else "",
        optimizer=spec.optimizer,
        optimizer_description=chosen.description,
        optimizer_rules=chosen.rules,
        hyper=repr(
            {key: float(getattr(spec, key)) for key in optimizers.HYPERPARAMETERS}
        ),
        state_arrays=repr({u.name: u.state for u in update_code}),
        updates=update_code,
        param_names=repr(tuple(params)),
        forward_dict="{" + ", ".join(f'"{n}": {n}' for n in forward_names) + "}",
        grad_order=repr(tuple(names.seed_order(spec.depth))),
        data=data,
        init=init,
        unpack_params=_unpack(params),
        plain=plain_backward(d),
        forward=forward,
        forward_names=forward_names,
        loss_code=loss_code,
        # the weights an L2 penalty reads, unpacked for the loss ("" without one)
        loss_weights=_unpack([names.weight(k) for k in range(1, spec.depth + 1)])
        if spec.l2
        else "",
        penalty_text=f"{spec.l2!r}/2 * sum(W**2)",
        targets=registry.loss(spec.loss).targets,
        make_targets=MAKE_TARGETS[registry.loss(spec.loss).targets],
        mean=spec.reduction == "mean",
        convention_note=(
            " (step(z) is 1 where z > 0, else 0: the derivative at a kink is the z > 0 side's)"
            if any(r.derivative.has(sp.Heaviside) for r in d.layers)
            else ""
        ),
        backward_note=(
            ", as `gradients` computes it"
            if style == "matrix"
            else " (the same maths; this trainer computes it sample by sample, unrolled)"
        ),
        style_text={
            "matrix": "vectorized, in-place on preallocated buffers",
            "scalar": "unrolled closed forms over plain floats",
        }[style],
        **_style_context(d, style, scalar),
    )


def _style_context(
    d: Derivation, style: str, plan: printing.ScalarPlan | None
) -> dict[str, object]:
    if style == "scalar":
        plan = plan or printing.scalar_plan(d)
        code = " ".join(
            [plan.loss, *plan.grads, *(line.code for line in plan.temporaries)]
        )
        return dict(
            scalar=plan,
            imports_math="math." in code,
            shapes=repr({n: d.spec.param_shape(n) for n in d.spec.param_names}),
        )
    plan = printing.inplace_plan(d)
    return dict(
        plan=plan,
        unpack_buffers=", ".join(b.name for b in plan.buffers),
        imports_math=False,
    )


STYLES = ("matrix", "scalar", "auto")
TEMPLATES = {"matrix": TRAINER_TEMPLATE, "scalar": "trainer_scalar.py.jinja"}
# Cost model of one SGD step, in microseconds (fitted on the 2-core box of benchmarks/):
# the scalar style pays per arithmetic operation per sample; the matrix style a fixed NumPy
# call overhead plus the flops of its matrix products.
SCALAR_US_PER_OP = 0.03
MATRIX_US_FIXED = 15.0
MATRIX_FLOPS_PER_US = 2_000.0
AUTO_BATCH = 32  # the batch size assumed when the spec carries no data


def scalar_refusal(d: Derivation) -> str | None:
    """Why the scalar style is not offered for this derivation, or None when it is."""
    if d.scalar is None:
        return "no closed forms: " + (" ".join(d.notes) or "the network is too large")
    if registry.loss(d.spec.loss).link is not None:
        return f"loss {d.spec.loss} needs exp/log, which plain floats cannot evaluate safely"
    if d.spec.dtype != "float64":
        return f"dtype {d.spec.dtype}: plain Python floats are float64"
    unsafe = [
        r.activation for r in d.layers if r.vector or r.forward.has(sp.exp, sp.log)
    ]
    if unsafe:
        return f"activation {unsafe[0]} needs exp/log, which plain floats can overflow"
    return None


def choose_style(
    d: Derivation, style: str, plan: printing.ScalarPlan | None = None
) -> tuple[str, str]:
    """The style to emit and why: `auto` compares the two by the cost model above.

    `plan` is the scalar plan when the caller already has it (it costs a CSE to make).
    """
    if style not in STYLES:
        raise UserError(f"style {style!r} is not one of {', '.join(STYLES)}")
    refusal = scalar_refusal(d)
    if style == "scalar":
        if refusal:
            raise UserError(
                f"--style scalar is not offered here: {refusal}; use --style matrix"
            )
        return "scalar", ""
    if style == "matrix":
        return "matrix", ""
    if refusal:
        return "matrix", f"auto: {refusal}"
    n = len(d.spec.X) if d.spec.X is not None else AUTO_BATCH
    ops = (plan or printing.scalar_plan(d)).operations
    scalar_us = SCALAR_US_PER_OP * ops * n
    flops = 6 * n * sum(r.units * r.fan_in for r in d.layers)
    matrix_us = MATRIX_US_FIXED + flops / MATRIX_FLOPS_PER_US
    pick = "scalar" if scalar_us < matrix_us else "matrix"
    return pick, (
        f"auto, batch {n}: scalar ~{scalar_us:.0f} us/step ({ops} ops/sample), "
        f"matrix ~{matrix_us:.0f} us/step"
    )


@dataclass(frozen=True)
class TrainerBuild:
    """A verified trainer: its sections, the derivation behind it, and what was proven."""

    sections: tuple[Section, ...]
    derivation: Derivation
    proof: str
    derive_seconds: float
    total_seconds: float

    @property
    def source(self) -> str:
        """The trainer file: its sections joined, the very text the proof ran."""
        return join_sections(self.sections)


def rendered_sections(
    d: Derivation, command: str = "symbackprop emit trainer", style: str = "matrix"
) -> tuple[Section, ...]:
    """The trainer's sections for a derivation as the templates render them, unformatted."""
    plan = None  # SymPy's CSE runs once, whether auto needs it to decide or scalar to print
    if style in ("scalar", "auto") and scalar_refusal(d) is None:
        plan = printing.scalar_plan(d)
    style, why = choose_style(d, style, plan)
    context = trainer_context(d, command, style, why, plan)
    names = [name for name, _ in SECTIONS]
    texts = render.render_blocks((BASE_TEMPLATE, TEMPLATES[style]), names, **context)
    return tuple(
        Section(name, gap, text.strip("\n") + "\n")
        for (name, gap), text in zip(SECTIONS, texts, strict=True)
        if text.strip()
    )


def trainer_sections(
    d: Derivation, command: str = "symbackprop emit trainer", style: str = "matrix"
) -> tuple[Section, ...]:
    """The trainer's sections for a derivation, each ruff-formatted (all in one ruff call).

    Formatted one by one and joined, they are what formatting the joined file gives (a test
    holds this for every style): ruff's layout of a top-level definition does not depend on
    its neighbours, and join_sections puts PEP 8's blank lines between them.
    """
    sections = rendered_sections(d, command, style)
    formatted = render.format_python_many([s.text for s in sections])
    return tuple(
        Section(s.name, s.gap, text)
        for s, text in zip(sections, formatted, strict=True)
    )


def emit_trainer_unchecked(
    d: Derivation, command: str = "symbackprop emit trainer", style: str = "matrix"
) -> str:
    """Render and format the trainer for a derivation, without the numeric proof."""
    return join_sections(trainer_sections(d, command, style))


def build_trainer(
    spec_or_derivation: NetworkSpec | Derivation,
    command: str = "symbackprop emit trainer",
    style: str = "matrix",
) -> TrainerBuild:
    """Derive (if needed), emit, and prove the emitted code equal to SymPy's closed forms."""
    start = time.perf_counter()
    if isinstance(spec_or_derivation, Derivation):
        d = spec_or_derivation
    else:
        d = derive(spec_or_derivation)
    sections = trainer_sections(d, command, style)
    trainer = load_trainer(join_sections(sections))
    proof_text = proof.prove_module(d, trainer, _proxy_trainer)
    return TrainerBuild(sections, d, proof_text, d.seconds, time.perf_counter() - start)


def _proxy_trainer(spec: NetworkSpec) -> tuple[Derivation, types.ModuleType]:
    """A proxy network's derivation (with closed forms) and its trainer, loaded: what the
    proof runs for a network too wide for closed forms."""
    d = derive(spec, closed_forms=True)
    return d, load_trainer(emit_trainer_unchecked(d))


def emit_trainer(
    spec_or_derivation: NetworkSpec | Derivation,
    command: str = "symbackprop emit trainer",
    style: str = "matrix",
) -> str:
    """The generated trainer's source for a spec, proven correct before it is returned."""
    return build_trainer(spec_or_derivation, command, style).source


def load_trainer(
    source: str, name: str = "symbackprop_generated_trainer"
) -> types.ModuleType:
    """Import generated trainer source (our own output, never a student's) as a fresh module."""
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    sys.modules[name] = module  # dataclasses/annotations resolve through sys.modules
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    finally:
        sys.modules.pop(name, None)
    return module
