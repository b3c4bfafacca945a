"""Networks a file builds from its own layer objects: a dense class (`Layer_Dense(n_inputs,
n_neurons)`, `Dense(input_units, output_units)`) and activation classes (`Activation_ReLU`,
`ReLU`), each with `forward` and `backward` methods.

Read from the syntax alone: the dense class is the one whose constructor takes two sizes and
keeps a weight and a bias attribute; an activation class is named after the spec's activation.
Two adapters (sent to the sandbox with the file, run only there) compose the spec's network
from those classes, `[Dense(2, 2), ReLU(), Dense(2, 1)]`, with the probe's parameters set:
- forward: each layer's `forward` on the previous output (returned, or kept as `self.output`);
- backward: each layer's `forward` on its correct input (the state its backward reads), then
  each `backward` from the output layer down, fed the correct output error dZ, as
  `backward(input, grad_output)` or `backward(dvalues)`; the gradients are read where the class
  keeps them (`self.dweights`), or, when its backward applies the step itself, from the change
  of the weights at learning rate 1.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ...spec import NetworkSpec, names, registry
from . import bind, profiles
from .methods import Adapter, self_assigned
from .student_file import FunctionInfo, Param, Statement, StudentFile

ADAPTER_PREFIX = "_check_code_layers_"
PARAMS_ARGUMENT = "params"
# what a layer's learning rate is called, as a constructor parameter or an attribute
RATE_NAMES = ("learning_rate", "lr", "eta", "step_size", "alpha")
# what a backward that returns nothing keeps its input's gradient in
INPUT_GRADIENTS = ("dinputs", "dinput", "grad_input", "dx", "dX", "d_input", "delta")
# what a forward that returns nothing keeps its output in
OUTPUTS = ("output", "out", "outputs", "A", "a")
LAYERS = "layers"  # how the feedback names the list of layer objects the adapter builds


@dataclass(frozen=True)
class LayerClass:
    """One of the file's layer classes, as its methods read."""

    name: str
    takes_input: bool  # backward(input, grad_output), not backward(dvalues)
    input_gradient: str  # the attribute a backward that returns nothing keeps dX in
    output: str  # the attribute a forward that returns nothing keeps its output in
    # backward(output_gradient, learning_rate): it takes the rate and applies its own step
    takes_rate: bool = False


@dataclass(frozen=True)
class Dense:
    """The dense class: its size parameters, where it keeps W, b and their gradients."""

    layer: LayerClass
    sizes: tuple[str, str]  # the constructor's (fan-in, units) parameters
    weight: str
    bias: str
    # the (dW, db) attributes backward keeps; None when it applies its own step instead
    grads: tuple[str, str] | None
    # the names backward's own step multiplies the rate by (grad_weights, grad_biases)
    stepped: tuple[str, str]
    rate_parameter: str  # the constructor's learning rate parameter, "" if none
    rate_attribute: str  # the attribute __init__ keeps a learning rate in, "" if none
    penalty: (
        str  # the constructor's L2 coefficient (nnfs's weight_regularizer_l2), if any
    )


@dataclass(frozen=True)
class LayerObjects:
    """The file's dense class and an activation class for each non-identity activation."""

    dense: Dense
    activations: dict[str, LayerClass]  # activation name -> its class
    # why the layers take one example at a time ("" when they take a batch)
    one_example: str = ""


def _returns_value(node: ast.FunctionDef) -> bool:
    return any(
        isinstance(n, ast.Return) and n.value is not None for n in ast.walk(node)
    )


def _layer_class(student: StudentFile, cls: str) -> LayerClass | None:
    """A class with forward and backward methods, as they take and keep their values."""
    fwd, bwd = f"{cls}.forward", f"{cls}.backward"
    if fwd not in student.functions or bwd not in student.functions:
        return None
    takes = [p.name for p in student.functions[bwd].params if not p.has_default]
    if len(takes) not in (1, 2) or len(student.functions[fwd].params) != 1:
        return None
    stored = self_assigned(student.functions.node(bwd), every=True)
    grad_in = next((a for a in INPUT_GRADIENTS if a in stored), "")
    if not grad_in and not _returns_value(student.functions.node(bwd)):
        return None
    kept = self_assigned(student.functions.node(fwd), every=True)
    output = next((a for a in OUTPUTS if a in kept), "")
    if not output and not _returns_value(student.functions.node(fwd)):
        return None
    rate = len(takes) == 2 and takes[1] in RATE_NAMES
    return LayerClass(cls, len(takes) == 2 and not rate, grad_in, output, rate)


def _kind(attr: str) -> str | None:
    """W or b for a parameter attribute (weights, W, biases, b), None for anything else."""
    if attr.lower().startswith(("d", "grad")):
        return None
    return bind.list_kind(attr)


def _dense(student: StudentFile, cls: str) -> Dense | None:
    layer = _layer_class(student, cls)
    init = f"{cls}.__init__"
    if layer is None or init not in student.functions:
        return None
    required = [
        p.name
        for p in student.functions[init].params
        if not p.has_default and p.kind == "positional"
    ]
    if len(required) != 2:
        return None
    kept = self_assigned(student.functions.node(init), every=True)
    weight = next((a for a in kept if _kind(a) == "W"), "")
    bias = next((a for a in kept if _kind(a) == "b"), "")
    if not weight or not bias:
        return None
    backward = student.functions.node(f"{cls}.backward")
    stored = self_assigned(backward, every=True)
    dw = next((a for a in stored if a != weight and bind.list_kind(a) == "W"), "")
    db = next((a for a in stored if a != bias and bind.list_kind(a) == "b"), "")
    steps = weight in stored
    if not (dw and db) and not steps:
        return None
    params = [p.name for p in student.functions[init].params]
    rate_parameter = next((r for r in RATE_NAMES if r in params), "")
    rate_attribute = next((r for r in RATE_NAMES if r in kept), "")
    if not (dw and db) and not (rate_parameter or rate_attribute or layer.takes_rate):
        return None  # it steps at a rate the check cannot set (a module-level LR, say)
    rates = {rate_parameter, rate_attribute, *RATE_NAMES} - {""}
    return Dense(
        layer,
        (required[0], required[1]),
        weight,
        bias,
        (dw, db) if dw and db else None,
        (_stepped(backward, weight, rates), _stepped(backward, bias, rates)),
        rate_parameter,
        rate_attribute,
        next((p for p in params if p in profiles.COEFFICIENTS), ""),
    )


def _stepped(backward: ast.FunctionDef, attr: str, rates: set[str]) -> str:
    """The name backward's own step multiplies the rate by: grad_weights in
    `self.weights = self.weights - self.learning_rate * grad_weights` ("" if none)."""
    for n in ast.walk(backward):
        targets = n.targets if isinstance(n, ast.Assign) else []
        if isinstance(n, ast.AugAssign):
            targets = [n.target]
        if not any(isinstance(t, ast.Attribute) and t.attr == attr for t in targets):
            continue
        value = n.value  # type: ignore[union-attr]
        for m in ast.walk(value):
            if not (isinstance(m, ast.BinOp) and isinstance(m.op, ast.Mult)):
                continue
            for rate, other in ((m.left, m.right), (m.right, m.left)):
                named = rate.attr if isinstance(rate, ast.Attribute) else None
                named = rate.id if isinstance(rate, ast.Name) else named
                if named in rates and isinstance(other, ast.Name):
                    return other.id
    return ""


def _normal(name: str) -> str:
    """ReLU, Activation_ReLU, ReluLayer -> relu: a class name as an activation's."""
    out = name.lower()
    for part in ("activation", "layer", "_"):
        out = out.replace(part, "")
    return out


def find(student: StudentFile, spec: NetworkSpec) -> LayerObjects | None:
    """The file's layer classes when it has one dense class and a class for every activation
    of the spec that is not the identity; None when it is not written that way."""
    classes = sorted({key.split(".")[0] for key in student.functions.methods()})
    dense = [d for d in (_dense(student, c) for c in classes) if d is not None]
    if len(dense) != 1:
        return None
    activations: dict[str, LayerClass] = {}
    for act in spec.activations:
        if registry.activation(act).is_identity or act in activations:
            continue
        found = [
            c
            for c in classes
            if _normal(c) == act.replace("_", "") and c != dense[0].layer.name
        ]
        layer = _layer_class(student, found[0]) if len(found) == 1 else None
        if layer is None:
            return None
        activations[act] = layer
    return LayerObjects(dense[0], activations, _one_example(student, dense[0]))


def _one_example(student: StudentFile, dense: Dense) -> str:
    """Why the dense layer takes one example at a time: its step moves the bias by the
    output gradient itself, unsummed (a batch's would not fit the bias)."""
    backward = student.functions[f"{dense.layer.name}.backward"]
    grad = backward.params[1 if dense.layer.takes_input else 0].name
    if dense.grads is None and dense.stepped[1] == grad:
        return f"{dense.layer.name}.backward steps its bias by {grad} itself, unsummed"
    return ""


def _layers(
    objects: LayerObjects, spec: NetworkSpec
) -> list[tuple[LayerClass, tuple[int, int] | None, str]]:
    """Each layer of the spec's network: its class, a dense layer's (fan-in, units), and what
    it outputs (a dense layer Z1, an activation H1 or Y); an identity activation has none."""
    out: list[tuple[LayerClass, tuple[int, int] | None, str]] = []
    for k in range(1, spec.depth + 1):
        sizes = (spec.layers[k - 1], spec.layers[k])
        out.append((objects.dense.layer, sizes, names.pre_activation(k)))
        act = spec.activations[k - 1]
        if act in objects.activations:
            out.append(
                (objects.activations[act], None, names.activation(k, spec.depth))
            )
    return out


def network_text(objects: LayerObjects, spec: NetworkSpec) -> str:
    """`layers = [Dense(2, 2), ReLU(), Dense(2, 1)]`: what the adapters build, for the notes."""
    shown = [
        f"{c.name}({', '.join(map(str, sizes or ()))})"
        for c, sizes, _ in _layers(objects, spec)
    ]
    return f"{LAYERS} = [{', '.join(shown)}]"


def note(objects: LayerObjects, spec: NetworkSpec) -> str:
    """What the check composed from the file's classes, and what it fed the backward."""
    return (
        f"built from the file's layer classes as {network_text(objects, spec)}; their "
        f"backward is fed the correct output error {names.delta(spec.depth)} (the file's "
        "loss gradient is not checked)"
    )


def _build(objects: LayerObjects, spec: NetworkSpec, extra: str) -> str:
    """The adapters' shared helper: the layer objects, with the probe's parameters set."""
    d = objects.dense
    lines = [f"def {ADAPTER_PREFIX}network({PARAMS_ARGUMENT}{extra}):"]
    made = []
    k = 0
    for i, (cls, sizes, _) in enumerate(_layers(objects, spec)):
        args = [str(n) for n in sizes or ()]
        if sizes and d.rate_parameter:
            args.append(f"{d.rate_parameter}=1.0")
        if sizes and d.penalty:
            args.append(f"{d.penalty}={d.penalty}")
        lines.append(f"    _l{i} = {cls.name}({', '.join(args)})")
        if cls is d.layer:
            k += 1
            lines.append(
                f"    _l{i}.{d.weight} = {PARAMS_ARGUMENT}[{names.weight(k)!r}]"
            )
            lines.append(f"    _l{i}.{d.bias} = {PARAMS_ARGUMENT}[{names.bias(k)!r}]")
            if d.rate_attribute:
                lines.append(f"    _l{i}.{d.rate_attribute} = 1.0")
        made.append(f"_l{i}")
    lines.append(f"    return [{', '.join(made)}]")
    return "\n".join(lines) + "\n"


def _forward(objects: LayerObjects, spec: NetworkSpec, extra: str) -> str:
    lines = [
        f"def {ADAPTER_PREFIX}forward({PARAMS_ARGUMENT}, X{extra}):",
        f"    _layers = {ADAPTER_PREFIX}network({PARAMS_ARGUMENT}{extra})",
        "    _h = X",
    ]
    outputs = []
    for i, (cls, _, out) in enumerate(_layers(objects, spec)):
        lines.append(f"    _r = _layers[{i}].forward(_h)")
        kept = f"_layers[{i}].{cls.output}" if cls.output else "None"
        lines.append(f"    {out} = _h = {kept} if _r is None else _r")
        outputs.append(out)
    if names.OUTPUTS not in outputs:  # an identity output: Y is the last Z
        outputs.append(names.OUTPUTS)
        lines.append(f"    {names.OUTPUTS} = _h")
    lines.append("    return {" + ", ".join(f"{o!r}: {o}" for o in outputs) + "}")
    return "\n".join(lines) + "\n"


def _backward(
    objects: LayerObjects, spec: NetworkSpec, extra: str
) -> tuple[str, list[str]]:
    """The backward adapter and the correct values it takes (X, Z1, H1, ..., dZ_L)."""
    d = objects.dense
    layers = _layers(objects, spec)
    if layers[-1][2] == names.OUTPUTS:  # fed dZ: the output activation is not run
        layers = layers[:-1]
    inputs = [names.INPUTS] + [out for _, _, out in layers[:-1]]
    error = names.delta(spec.depth)
    taken = list(dict.fromkeys([*inputs, error]))
    lines = [
        f"def {ADAPTER_PREFIX}backward({PARAMS_ARGUMENT}, {', '.join(taken)}{extra}):",
        f"    _layers = {ADAPTER_PREFIX}network({PARAMS_ARGUMENT}{extra})",
    ]
    dense = [i for i, (cls, _, _) in enumerate(layers) if cls is d.layer]
    for i, x in enumerate(inputs):
        lines.append(f"    _layers[{i}].forward({x})  # the state its backward reads")
    if d.grads is None:
        for i in dense:
            lines.append(f"    _w{i} = _layers[{i}].{d.weight} * 1.0")
            lines.append(f"    _b{i} = _layers[{i}].{d.bias} * 1.0")
    lines.append(f"    _g = {error}")
    for i in reversed(range(len(layers))):
        cls = layers[i][0]
        given = [inputs[i]] if cls.takes_input else []
        given += ["_g", "1.0"] if cls.takes_rate else ["_g"]
        call = f"_layers[{i}].backward({', '.join(given)})"
        lines.append(f"    _r = {call}")
        kept = f"_layers[{i}].{cls.input_gradient}" if cls.input_gradient else "None"
        lines.append(f"    _g = {kept} if _r is None else _r")
    grads = []
    for k, i in enumerate(dense, 1):
        if d.grads is not None:
            w, b = (f"_layers[{i}].{g}" for g in d.grads)
        else:  # its own step at learning rate 1: the change is the gradient
            w, b = f"_w{i} - _layers[{i}].{d.weight}", f"_b{i} - _layers[{i}].{d.bias}"
        grads += [f"{'d' + names.weight(k)!r}: {w}", f"{'d' + names.bias(k)!r}: {b}"]
    lines.append("    return {" + ", ".join(grads) + "}")
    return "\n".join(lines) + "\n", taken


def adapters(
    student: StudentFile, objects: LayerObjects, spec: NetworkSpec
) -> dict[str, Adapter]:
    """The forward and backward adapters (the shared builder rides with the forward's)."""
    d = objects.dense
    extra = f", {d.penalty}" if d.penalty else ""
    chunk = len(student.chunks)
    backward, taken = _backward(objects, spec, extra)
    own: dict[str, str] = {}
    for k, i in enumerate(
        (i for i, (c, _, _) in enumerate(_layers(objects, spec)) if c is d.layer), 1
    ):
        where = f"{LAYERS}[{i}]"
        own[names.weight(k)] = f"{where}.{d.weight}"
        own[names.bias(k)] = f"{where}.{d.bias}"
        for param, grad, local in zip(
            (names.weight(k), names.bias(k)),
            d.grads or ("", ""),
            d.stepped,
            strict=True,
        ):
            stepped = f"{local or 'the step'} of {where}"  # read from its own update
            own["d" + param] = f"{where}.{grad}" if grad else stepped
    keys = tuple(bind.parameter_names(spec.depth))
    penalty = (Param(d.penalty, False, "positional"),) if d.penalty else ()
    out = {}
    for role, source, taken_names in (
        (
            "forward",
            _build(objects, spec, extra) + "\n\n" + _forward(objects, spec, extra),
            [names.INPUTS],
        ),
        ("backward", backward, taken),
    ):
        name = f"{ADAPTER_PREFIX}{role}"
        params = (
            Param(PARAMS_ARGUMENT, False, "positional"),
            *(Param(t, False, "positional") for t in taken_names),
            *penalty,
        )
        info = FunctionInfo(
            name,
            params,
            None,
            None,
            {PARAMS_ARGUMENT: keys},
            f"{d.layer.name} and its layers",
        )
        out[role] = Adapter(name, Statement(chunk, 1, source), info, own)
    return out
