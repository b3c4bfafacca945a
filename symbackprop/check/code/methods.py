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
from ...spec import NetworkSpec, names
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
    # canonical W1, Z1, dW1 (a gradient) -> the student's own expression: self.W1, self.z1
    names: dict[str, str]


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


def _layer_lists(init: ast.FunctionDef) -> tuple[str, str] | None:
    """(weights, biases): the attributes __init__ keeps every layer's weights and biases in, as
    two lists in layer order (Nielsen's `self.weights = [np.random.randn(y, x) ...]`)."""
    lists: dict[str, str] = {}
    for n in ast.walk(init):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.List | ast.ListComp):
            for t in n.targets:
                if (
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "self"
                    and (kind := bind.list_kind(t.attr))
                ):
                    lists.setdefault(kind, t.attr)
    return (lists["W"], lists["b"]) if set(lists) == {"W", "b"} else None


def _list_returns(info: FunctionInfo) -> tuple[str, str] | None:
    """(biases, weights) names of `return (nabla_b, nabla_w)`, in the order returned: each a
    list of every layer's gradients."""
    returned = info.returns or ()
    kinds = [bind.list_kind(n) if n else None for n in returned]
    if len(returned) != 2 or sorted(map(str, kinds)) != ["W", "b"]:
        return None
    return (returned[0] or "", returned[1] or "")


def _list_keys(listed: tuple[str, str], depth: int) -> tuple[str, ...]:
    """`nabla_w[0]`, `nabla_b[0]`, ...: every layer's gradient as the student indexes it."""
    held = {bind.list_kind(n): n for n in listed}
    return tuple(f"{held[k]}[{i}]" for i in range(depth) for k in ("W", "b"))


def _from_lists(listed: tuple[str, str] | None) -> str:
    """The adapter's lines that name each layer's entry of the returned lists."""
    if not listed:
        return ""
    first, second = listed
    return (
        "    if isinstance(_out, tuple | list) and len(_out) == 2:\n"
        f"        _first, _second = (list(_v) for _v in _out)\n"
        f"        _out = {{**{{f'{first}[{{_i}}]': _v for _i, _v in enumerate(_first)}}, "
        f"**{{f'{second}[{{_i}}]': _v for _i, _v in enumerate(_second)}}}}\n"
    )


def per_example(student: StudentFile, key: str) -> str:
    """Why method `key` takes one training example at a time, or "": the file calls it once
    per (x, y) pair of a loop, or its docstring says so (Nielsen's backprop(x, y))."""
    method = key.rsplit(".", 1)[-1]
    defs = [*student.functions, *student.functions.methods()]
    for loop in (n for d in defs for n in ast.walk(student.functions.node(d))):
        if not (isinstance(loop, ast.For) and isinstance(loop.target, ast.Tuple)):
            continue
        pair = [t.id for t in loop.target.elts if isinstance(t, ast.Name)]
        for call in (c for c in ast.walk(loop) if isinstance(c, ast.Call)):
            f = call.func
            called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            args = [a.id for a in call.args if isinstance(a, ast.Name)]
            if called == method and len(pair) > 1 and args == pair:
                return f"the file calls {method} once per ({', '.join(pair)}) of a loop"
    said = bind.ONE_EXAMPLE.search(student.functions[key].docstring)
    return f"{method}'s docstring says it takes {said[0]}" if said else ""


def self_assigned(node: ast.FunctionDef, every: bool = False) -> list[str]:
    """The attributes a method binds, in order: `self.z1 = ...` -> z1; with `every`, also
    those it updates in place (`self.W -= ...`, `self.dinputs[mask] = 0`)."""
    out: list[str] = []
    for n in ast.walk(node):
        targets = n.targets if isinstance(n, ast.Assign) else []
        if every and isinstance(n, ast.AugAssign | ast.AnnAssign):
            targets = [n.target]
        for t in targets:
            while every and isinstance(t, ast.Subscript):
                t = t.value
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
                for attr in self_assigned(student.functions.node(key)):
                    c = bind.canonical_value(attr, depth)
                    if c is not None and c[0] in "ZHY":
                        state.append(attr)
                break
    own = self_assigned(student.functions.node(f"{cls}.{method}"))
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
    info = student.functions[key]
    listed = _list_returns(info)
    state, grads = _state_and_grads(student, cls, method, spec.depth)
    lists = _layer_lists(student.functions.node(init)) if not attr and keys else None
    if lists:  # self.weights = [W1, W2, ...], self.biases = [b1, b2, ...]
        keys = tuple(bind.parameter_names(spec.depth))
        put = "".join(
            f"    _obj.{held} = [{PARAMS_ARGUMENT}[_k] for _k in {list(keys[i::2])!r}]\n"
            for i, held in enumerate(lists)
        )
    elif attr:
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
        + _from_lists(listed)
        + "    return _out\n"
    )
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
    if listed:  # the gradients are named as the student indexes them: nabla_w[0]
        info = replace(info, returns=None, return_keys=_list_keys(listed, spec.depth))

    own = _own_names(attr, keys, lists, state, grads, spec.depth)
    for value, held in _pass_lists(student.functions.node(key), spec.depth).items():
        own.setdefault(value, held)
    return Adapter(name, Statement(len(student.chunks), 1, source), info, own)


def _pass_lists(node: ast.FunctionDef, depth: int) -> dict[str, str]:
    """H1 -> activations[1], Z1 -> zs[0]: the lists a method's own forward pass keeps each
    layer's values in, as Nielsen's backprop does (`activations = [x]` and `zs = []`, each
    appended once per layer in one loop)."""
    inputs = [a.arg for a in node.args.args if a.arg != "self"][:1]
    starts: dict[str, int] = {}  # list -> index of the first layer it holds
    for stmt in node.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.List)
        ):
            held = [e.id for e in stmt.value.elts if isinstance(e, ast.Name)]
            if not stmt.value.elts or (held == inputs and len(stmt.value.elts) == 1):
                starts[stmt.targets[0].id] = len(stmt.value.elts)
    for loop in (n for n in node.body if isinstance(n, ast.For)):
        grown = [
            c.func.value.id
            for c in ast.walk(loop)
            if isinstance(c, ast.Call)
            and isinstance(c.func, ast.Attribute)
            and c.func.attr == "append"
            and isinstance(c.func.value, ast.Name)
            and c.func.value.id in starts
        ]
        zs = [g for g in grown if starts[g] == 0]
        acts = [g for g in grown if starts[g] == 1]
        if len(set(zs)) == 1 and len(set(acts)) == 1:
            out = {
                names.pre_activation(k): f"{zs[0]}[{k - 1}]" for k in range(1, depth)
            }
            for k in range(1, depth):
                out[names.activation(k, depth)] = f"{acts[0]}[{k}]"
            return out
    return {}


def _own_names(
    attr: str,
    keys: tuple[str, ...],
    lists: tuple[str, str] | None,
    state: tuple[str, ...],
    grads: tuple[str, ...],
    depth: int,
) -> dict[str, str]:
    """What the student's class calls each value: self.W1, self.params["W1"], self.weights[0]
    for the parameters, self.z1 for what forward stored, d + W1 -> self.dW1 for gradients."""
    out: dict[str, str] = {}
    for k, param in enumerate(bind.parameter_names(depth)):
        if lists:
            out[param] = f"self.{lists[k % 2]}[{k // 2}]"
    for key in keys if not lists else ():
        param = bind.canonical_value(key, depth)
        if param in bind.parameter_names(depth):
            out.setdefault(param, f'self.{attr}["{key}"]' if attr else f"self.{key}")
    for held in state:
        value = bind.canonical_value(held, depth)
        if value is not None:
            out.setdefault(value, f"self.{held}")
    for held in grads:
        param = bind.canonical_gradient(held, depth)
        if param is not None:
            out.setdefault(f"d{param}", f"self.{held}")
    return out
