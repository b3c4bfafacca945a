"""Methods of a student's class as functions the child can call: an adapter per method.

The adapter (a `def` sent to the sandbox with the student's statements, run only there) builds
the object with the file's own constructor, the layer sizes passed by its parameter names, puts
the probe's parameters where the class keeps them (a dict such as `self.params`, or attributes
`self.W1`), and calls the method. The parent reads the class's code, never runs it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace

from ...errors import UserError
from ...spec import NetworkSpec
from . import bind, profiles
from .student_file import FunctionInfo, Param, Statement, StudentFile

ADAPTER_PREFIX = "_check_code_method_"
# the adapter's first parameter: the parameters in the class's keys
PARAMS_ARGUMENT = "params"
# the adapter's parameter for what the forward method stored on self (given the true values)
STATE_ARGUMENT = "cache"

# constructor parameters -> which layer's width they take (-1: the output layer)
WIDTH_NAMES: dict[str, int] = {
    "input_size": 0, "input_dim": 0, "n_x": 0, "D": 0, "n_input": 0, "num_inputs": 0,
    "hidden_size": 1, "hidden_dim": 1, "n_h": 1, "H": 1, "n_hidden": 1, "num_hidden": 1,
    "output_size": -1, "output_dim": -1, "n_y": -1, "C": -1, "num_classes": -1,
    "n_output": -1, "num_outputs": -1,
}  # fmt: skip
# constructor parameters that take every width as a list
SIZES_NAMES = frozenset({"layers", "sizes", "layer_sizes", "layer_dims", "dims"})
# constructor parameters that take the hidden widths as a list (CS231n's FullyConnectedNet)
HIDDEN_NAMES = frozenset({"hidden_dims", "hidden_sizes", "hidden_layers"})


@dataclass(frozen=True)
class Adapter:
    """A method made callable: the adapter's name, its `def`, and what binding reads."""

    name: str
    statement: Statement
    info: FunctionInfo


def _stored(init: ast.FunctionDef) -> tuple[str, tuple[str, ...]]:
    """Where __init__ keeps the weights: ("params", keys) for self.params["W1"] = ..., else
    ("", attribute names) for self.W1 = ..."""
    keys: dict[str, list[str]] = {}
    attrs: list[str] = []
    for n in ast.walk(init):
        if not isinstance(n, ast.Assign):
            continue
        for t in n.targets:
            if (
                isinstance(t, ast.Subscript)
                and isinstance(t.value, ast.Attribute)
                and isinstance(t.value.value, ast.Name)
                and t.value.value.id == "self"
                and isinstance(t.slice, ast.Constant | ast.JoinedStr)
            ):  # self.params["W1"] = ..., or self.params[f"W{i + 1}"] = ... in a loop
                found = keys.setdefault(t.value.attr, [])
                if isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str):
                    found.append(t.slice.value)
            elif (
                isinstance(t, ast.Attribute)
                and isinstance(t.value, ast.Name)
                and t.value.id == "self"
            ):
                attrs.append(t.attr)
    if keys:
        attr, found = max(keys.items(), key=lambda kv: (len(kv[1]), kv[0] == "params"))
        return attr, tuple(found)
    return "", tuple(attrs)


def _self_assigned(node: ast.FunctionDef) -> list[str]:
    """The attributes a method assigns: `self.z1 = ...` -> z1."""
    out: list[str] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                if (
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "self"
                    and t.attr not in out
                ):
                    out.append(t.attr)
    return out


def _state_and_grads(
    student: StudentFile, cls: str, method: str, depth: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The forward method's stored intermediates (self.z1, self.a1, ...) a backward method
    reads, and the gradients the method stores on self (self.dW1, ...)."""
    state: list[str] = []
    if method not in profiles.conventional_names("forward"):
        for name in profiles.conventional_names("forward"):
            key = f"{cls}.{name}"
            if key in student.functions:
                for attr in _self_assigned(student.functions.node(key)):
                    c = bind.canonical_value(attr, depth)
                    if c is not None and c[0] in "ZHY":
                        state.append(attr)
                break
    own = _self_assigned(student.functions.node(f"{cls}.{method}"))
    grads = [a for a in own if bind.canonical_gradient(a, depth)]
    return tuple(state), tuple(grads)


def penalty_parameter(student: StudentFile, cls: str, method: str) -> str:
    """The constructor's L2 coefficient (CS231n's `reg`) when the method does not take one:
    the adapter takes it and passes it on, so it binds as the penalty."""
    init, own = f"{cls}.__init__", f"{cls}.{method}"
    if init not in student.functions:
        return ""
    taken = {p.name for p in student.functions[own].params}
    for p in student.functions[init].params:
        if p.name in profiles.COEFFICIENTS and not taken & set(profiles.COEFFICIENTS):
            return p.name
    return ""


def _constructor_args(
    student: StudentFile, cls: str, spec: NetworkSpec, penalty: str = ""
) -> str:
    """The constructor's arguments, by its own parameter names: widths or the size list
    (and the adapter's `penalty` parameter passed on)."""
    key = f"{cls}.__init__"
    if key not in student.functions:
        return ""
    args = []
    for p in student.functions[key].params:
        if p.name in WIDTH_NAMES and (spec.depth == 2 or WIDTH_NAMES[p.name] != 1):
            args.append(f"{p.name}={int(spec.layers[WIDTH_NAMES[p.name]])}")
        elif p.name in SIZES_NAMES:
            args.append(f"{p.name}={[int(n) for n in spec.layers]!r}")
        elif p.name in HIDDEN_NAMES:
            args.append(f"{p.name}={[int(n) for n in spec.layers[1:-1]]!r}")
        elif p.name == penalty:
            args.append(f"{p.name}={p.name}")
        elif not p.has_default and p.kind != "var":
            raise UserError(
                f"cannot build {cls} ({student.functions[key].where}): its constructor takes "
                f"{p.name!r}, which is not a layer size check-code knows (e.g. input_size, "
                "hidden_size, output_size, layer_dims)"
            )
    return ", ".join(args)


def adapter(student: StudentFile, key: str, spec: NetworkSpec) -> Adapter:
    """The adapter of method `key` ("TwoLayerNet.loss")."""
    cls, method = key.split(".", 1)
    init = f"{cls}.__init__"
    attr, keys = (
        _stored(student.functions.node(init)) if init in student.functions else ("", ())
    )
    name = f"{ADAPTER_PREFIX}{cls}_{method}"
    state, grads = _state_and_grads(student, cls, method, spec.depth)
    if attr:
        put = f"    for _k, _v in {PARAMS_ARGUMENT}.items():\n        _obj.{attr}[_k] = _v\n"
    else:
        put = f"    for _k, _v in {PARAMS_ARGUMENT}.items():\n        setattr(_obj, _k, _v)\n"
    penalty = penalty_parameter(student, cls, method)
    extra = [PARAMS_ARGUMENT] + ([STATE_ARGUMENT] if state else [])
    extra += [penalty] if penalty else []
    source = (
        f"def {name}({', '.join(extra)}, **kwargs):\n"
        f"    _obj = {cls}({_constructor_args(student, cls, spec, penalty)})\n"
        f"{put}"
        + (
            f"    for _k, _v in {STATE_ARGUMENT}.items():\n        setattr(_obj, _k, _v)\n"
            if state
            else ""
        )
        + f"    _out = _obj.{method}(**kwargs)\n"
        + (  # gradients stored on self, when the method returns nothing
            f"    if _out is None:\n        _out = {{_k: getattr(_obj, _k) for _k in "
            f"{list(grads)!r} if hasattr(_obj, _k)}}\n"
            if grads
            else ""
        )
        + "    return _out\n"
    )
    info = student.functions[key]
    if any(p.name in extra for p in info.params):
        raise UserError(
            f"cannot bind {key}: it has a parameter named {' or '.join(extra)}"
        )
    info = replace(
        info,
        params=(*(Param(e, False, "positional") for e in extra), *info.params),
        subscript_keys={
            **info.subscript_keys,
            PARAMS_ARGUMENT: keys,
            STATE_ARGUMENT: state,
        },
    )
    return Adapter(name, Statement(len(student.chunks), 1, source), info)
