"""Bind a student's parameters and returned values to the network's names, by name.

Canonical names: X (inputs), y (targets), Y (predictions), N (batch size), params (a dict of
every W and b), and W1, b1, Z1, H1, W2, ... The usual aliases are recognised (y_true, T,
target; y_pred, yhat, out; Z, H, A, A1; dW1, W1_grad, ...); options declare anything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import UserError
from ...spec.names import PENALTY
from .profiles import CACHE_NAMES, CACHES_NAMES, COEFFICIENTS
from .student_file import FunctionInfo

INPUTS = {
    "X",
    "x",
    "X_train",
    "x_train",
    "X_batch",
    "x_batch",
    "inputs",
    "input",
    "A0",
    "a0",
}
TARGETS = {
    "y", "y_true", "ytrue", "Y_true", "y_train", "Y_train", "y_batch", "T", "t", "target",
    "targets", "label", "labels", "y_target",
}  # fmt: skip
PREDICTIONS = {
    "Y", "y_pred", "ypred", "Y_pred", "yhat", "y_hat", "Yhat", "Y_hat", "out", "output",
    "outputs", "pred", "preds", "prediction", "predictions", "y_out", "y_output", "AL", "scores",
}  # fmt: skip
PARAMS = {"params", "parameters", "param", "weights", "theta", "model"}
BATCH = {"N", "n", "m", "batch_size", "n_samples", "num_samples"}
LAYER_NAME = re.compile(
    r"^(?P<kind>[WwBbZzHhAa]|weights?|bias(?:es)?)_?(?P<index>\d{0,6})\Z"
)
GRADIENT_NAME = re.compile(
    r"^(?:d|g|grad_?|gradient_?|d[LlJE](?:oss)?_?d|delta_?|nabla_?)?"
    r"(?P<kind>[WwBb])_?(?P<index>\d{1,6})(?:_?(?:grad|gradient|g|d))?\Z"
)
# the key a `(loss, grads)` function's loss is kept under, beside the gradients' names
RETURNED_LOSS = "loss"
# a list of every layer's weights or biases, or of their gradients (Nielsen's nabla_w)
LIST_NAME = re.compile(
    r"^(?:d|grads?_?|gradient_?|delta_?(?:nabla_?)?|nabla_?)?"
    r"(?:(?P<w>[Ww]s?|weights?)|(?P<b>[Bb]s?|bias(?:es)?))\Z"
)
# one layer's entry of such a list, counted from 0: nabla_w[0] is W1's gradient
LIST_ENTRY = re.compile(r"^(?P<list>\w{1,60})\[(?P<index>\d{1,6})\]\Z")

# a docstring saying that a method takes one training example (Nielsen's backprop(x, y))
ONE_EXAMPLE = re.compile(
    r"\b(?:one|a single|single) (?:training )?(?:example|sample)\b", re.I
)

# a dict (or tuple) of the forward's intermediates, keyed as the student reads them
CACHE = "cache"
CACHES = "caches"  # per layer ((input, W, b), Z): deeplearning.ai's L-layer form
FORWARD_INPUTS = ("X", "y", "N", "params", PENALTY)  # plus every W and b
# plus every W, b, Z and H
BACKWARD_INPUTS = ("X", "y", "Y", "N", "params", CACHE, CACHES, PENALTY)
# a docstring line saying that Y holds the labels: `Y -- "true" labels vector`
_Y_IS_LABELS = re.compile(r"^\s*Y\s*(?:--|:|-)\s*.*\b(?:labels?|true|targets?)\b", re.M)


def canonical_value(name: str, depth: int) -> str | None:
    """The canonical name of an argument or returned intermediate, or None if unknown."""
    for names, canonical in (
        (INPUTS, "X"),
        (TARGETS, "y"),
        (PREDICTIONS, "Y"),
        (PARAMS, "params"),
        (BATCH, "N"),
        (CACHE_NAMES, CACHE),
        (CACHES_NAMES, CACHES),
        (COEFFICIENTS, PENALTY),
    ):
        if name in names:
            return canonical
    if name in ("hidden", "hidden_layer") and depth == 2:  # the one hidden layer
        return "H1"
    if name in (f"W{depth + 1}", "W"):  # no such layer, or ambiguous
        return None
    m = LAYER_NAME.match(name)
    if not m:
        return None
    kind = m.group("kind").lower()
    index = int(m.group("index") or 1)
    if not 1 <= index <= depth:
        return None
    if kind in ("w", "weight", "weights"):
        return f"W{index}" if m.group("index") else None
    if kind in ("b", "bias", "biases"):
        return f"b{index}" if m.group("index") else None
    if kind == "z":
        return f"Z{index}"
    # h and a name activations; the last layer's activation is the prediction
    return "Y" if index == depth else f"H{index}"


def list_kind(name: str) -> str | None:
    """W for a list of every layer's weights (weights, nabla_w, dWs), b for the biases'."""
    m = LIST_NAME.match(name)
    if not m:
        return None
    return "W" if m.group("w") else "b"


def canonical_gradient(name: str, depth: int) -> str | None:
    """The parameter a returned gradient belongs to (dW1, W1_grad, grad_b2, nabla_w[0]), or
    None."""
    entry = LIST_ENTRY.match(name)
    if entry:
        kind, index = list_kind(entry.group("list")), int(entry.group("index")) + 1
        return f"{kind}{index}" if kind and index <= depth else None
    m = GRADIENT_NAME.match(name)
    if not m:
        return None
    index = int(m.group("index"))
    if not 1 <= index <= depth:
        return None
    return ("W" if m.group("kind") in "Ww" else "b") + str(index)


def parameter_names(depth: int) -> list[str]:
    """W1, b1, W2, b2, ... in layer order."""
    return [f"{kind}{i}" for i in range(1, depth + 1) for kind in ("W", "b")]


def seed_gradient_order(depth: int) -> list[str]:
    """The seed notebook's return order: every W, then every b."""
    return [f"W{i}" for i in range(1, depth + 1)] + [
        f"b{i}" for i in range(1, depth + 1)
    ]


@dataclass(frozen=True)
class Binding:
    """How to call one of the student's functions and read what it returns."""

    role: str  # "forward" or "backward"
    function: str  # the student's function name
    signature: str  # "backward(y_pred, y_true, W2, H, Z, X)" for messages
    arguments: tuple[tuple[str, str], ...]  # (student's parameter, canonical name)
    # canonical W1 -> the student's key, when a params dict is passed
    params_keys: dict[str, str]
    # the student's cache keys -> canonical Z1, H1, Y, when a cache dict is passed
    cache_keys: dict[str, str]
    # canonical names in order, when the cache is a tuple the function unpacks
    cache_order: tuple[str, ...]
    returns: tuple[str | None, ...] | None  # canonical name per returned position
    returns_declared: bool  # returns came from an option, not the return statement
    depth: int
    # the student's own expressions when an adapter calls a class's method: W1 -> self.W1,
    # Z1 -> self.z1, dW1 (W1's gradient) -> self.dW1
    own_names: dict[str, str] = field(default_factory=dict)

    def student_name(self, canonical: str) -> str:
        """The student's own parameter name for a canonical value, else the canonical name."""
        for student, name in self.arguments:
            if name == canonical:
                return student
        return canonical


def _allowed(role: str, depth: int) -> set[str]:
    allowed = set(FORWARD_INPUTS if role == "forward" else BACKWARD_INPUTS)
    allowed.update(parameter_names(depth))
    if role == "backward":
        for i in range(1, depth + 1):
            allowed.add(f"Z{i}")
            if i < depth:
                allowed.add(f"H{i}")
        allowed.add(f"dZ{depth}")  # the output error, for a backward fed it
    return allowed


def _known_names_hint(depth: int) -> str:
    layers = ", ".join(parameter_names(depth))
    return (
        "known names: X; y_true/y/T/target; y_pred/yhat/Y/out; Z/Z1, H/A/A1 (and Z2, H2, ...); "
        f"{layers}; params (a dict); N/m (batch size)"
    )


def _parse_list(text: str | Sequence[str] | None) -> list[str] | None:
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    return [item.strip() for item in items]


def bind_function(
    info: FunctionInfo,
    role: str,
    depth: int,
    declared_args: str | Sequence[str] | None = None,
    declared_returns: str | Sequence[str] | None = None,
    required_only: bool = False,
) -> Binding:
    """Match parameters to canonical names; UserError (exit 2) when one cannot be bound.
    `required_only`: leave out every parameter with a default (a loss function's y=None)."""
    params = [p for p in info.params if p.kind != "var"]
    signature = f"{info.name}({', '.join(p.name for p in info.params)})"
    option = "--forward-args" if role == "forward" else "--backward-args"
    allowed = _allowed(role, depth)
    declared = _parse_list(declared_args)
    if declared is not None and len(declared) > len(params):
        raise UserError(
            f"{option} names {len(declared)} parameters but {signature} has {len(params)}"
        )
    arguments: list[tuple[str, str]] = []
    y_is_labels = role == "backward" and _y_means_labels(info, depth)
    for i, p in enumerate(params):
        wanted = declared[i] if declared is not None and i < len(declared) else None
        if declared is not None and wanted not in (None, "_", ""):
            canonical = canonical_value(wanted, depth) or (
                wanted if wanted in allowed else None
            )
            if canonical is None or canonical not in allowed:
                raise UserError(
                    f"{option}: {wanted!r} is not a name {role} can be given here "
                    f"({_known_names_hint(depth)})"
                )
        elif declared is not None:
            canonical = None
        else:
            canonical = canonical_value(p.name, depth)
            if canonical == "Y" and p.name == "Y" and y_is_labels:
                canonical = "y"
            if canonical is not None and canonical not in allowed:
                canonical = None
            if canonical is None and role == "backward" and p.name == f"dZ{depth}":
                canonical = p.name  # the output error, d loss / d Z of the output layer
            if canonical is None and role == "forward" and p.name == "a":
                # Nielsen's feedforward(a): the input is the first activation
                canonical = None if any(c == "X" for _, c in arguments) else "X"
        if required_only and p.has_default and declared is None:
            continue
        if canonical is None:
            if p.has_default:
                continue
            raise UserError(
                f"cannot bind {signature} ({info.where}): parameter {p.name!r} is not a name "
                f"check-code knows and has no default; declare every parameter in order with "
                f"{option}, e.g. {option} {_example(role, depth, len(params))} "
                f"({_known_names_hint(depth)})"
            )
        if p.kind == "positional_only":
            raise UserError(
                f"cannot bind {signature}: positional-only parameters are not supported"
            )
        arguments.append((p.name, canonical))
    bound = {c for _, c in arguments}
    if role == "forward":
        missing = [n for n in parameter_names(depth) if n not in bound]
        if "X" not in bound or ("params" not in bound and missing):
            need = ", ".join((["X"] if "X" not in bound else []) + missing)
            raise UserError(
                f"cannot bind {signature} ({info.where}): check-code passes the inputs and the "
                f"weights in, but it takes no parameter for {need}; add them as parameters or "
                f"declare the parameters with --forward-args"
            )
    params_keys: dict[str, str] = {}
    cache_keys: dict[str, str] = {}
    cache_order: tuple[str, ...] = ()
    for student, canonical in arguments:
        if canonical == "params":
            for key in info.subscript_keys.get(student, ()):
                name = canonical_value(key, depth)
                if name in parameter_names(depth):
                    params_keys[name] = key
        if canonical == CACHE and student in info.unpacked:
            cache_order = _cache_order(info, student, depth)
        elif canonical == CACHE:
            cache_keys = _cache_keys(info.subscript_keys.get(student, ()), depth)
    returns_declared = False
    returns: tuple[str | None, ...] | None = None
    listed = _parse_list(declared_returns)
    if listed is not None:
        convert = canonical_gradient if role == "backward" else canonical_value
        returns = tuple(
            convert(n, depth) or (n if n in allowed | {"Y"} else None) for n in listed
        )
        if any(r is None for r in returns):
            flag = "--returns" if role == "backward" else "--forward-returns"
            raise UserError(
                f"{flag}: cannot read {','.join(listed)}; e.g. {flag} "
                + (
                    ",".join(seed_gradient_order(depth))
                    if role == "backward"
                    else "H1,Z1,Y"
                )
            )
        returns_declared = True
    elif info.returns is not None:
        if role == "backward":
            returns = tuple(
                canonical_gradient(n, depth) if n else None for n in info.returns
            )
        else:
            returns = tuple(
                canonical_value(n, depth) if n else None for n in info.returns
            )
            only = info.returns[0] if len(info.returns) == 1 else None
            if only and returns[0] in (None, "H1") and not any(map(str.isdigit, only)):
                returns = ("Y",)  # one array, `return a`: the network's output
    return Binding(
        role=role,
        function=info.name,
        signature=signature,
        arguments=tuple(arguments),
        params_keys=params_keys,
        cache_keys=cache_keys,
        cache_order=cache_order,
        returns=returns,
        returns_declared=returns_declared,
        depth=depth,
    )


def _y_means_labels(info: FunctionInfo, depth: int) -> bool:
    """Whether a backward's `Y` is the labels (deeplearning.ai's): the prediction comes in
    another way (a cache, AL), or the docstring says so."""
    names = [p.name for p in info.params]
    if "Y" not in names:
        return False
    others = [canonical_value(n, depth) for n in names if n != "Y"]
    if "y" in others:
        return False
    return bool(
        {CACHE, CACHES, "Y"} & set(others) or _Y_IS_LABELS.search(info.docstring)
    )


def _cache_order(info: FunctionInfo, student: str, depth: int) -> tuple[str, ...]:
    """`(Z1, A1, W1, b1, ...) = cache`: what each position of the tuple is."""
    order = []
    for name in info.unpacked[student]:
        canonical = canonical_value(name, depth) if name else None
        if canonical is None or canonical[0] not in "ZHYWb":
            raise UserError(
                f"cannot bind {info.name} ({info.where}): it unpacks {student} into "
                f"{', '.join(n or '_' for n in info.unpacked[student])}, and {name or '_'} "
                "is not a value of the network check-code can pass"
            )
        order.append(canonical)
    return tuple(order)


def _cache_keys(read: Sequence[str], depth: int) -> dict[str, str]:
    """The cache entries to pass: those the function reads, else Z1, A1, ... by default."""
    keys = {k: c for k in read if (c := canonical_value(k, depth)) is not None}
    keys = {k: c for k, c in keys.items() if c[0] in "ZHY"}
    if keys:
        return keys
    default = {f"Z{k}": f"Z{k}" for k in range(1, depth + 1)}
    default.update(
        {f"A{k}": canonical_value(f"A{k}", depth) or "" for k in range(1, depth + 1)}
    )
    return default


def _example(role: str, depth: int, count: int) -> str:
    if depth == 2 and count == (5 if role == "forward" else 6):
        # the seed's order
        return "W1,W2,b1,b2,X" if role == "forward" else "Y,y,W2,H1,Z1,X"
    if role == "forward":
        names = ["X", *parameter_names(depth)]
    else:
        names = ["Y", "y", "X", *parameter_names(depth)]
    return ",".join((names + ["_"] * count)[:count])


def _fallback_order(backward: bool, depth: int, count: int) -> list[str] | None:
    """The seed's order for this many returned values, if there is one."""
    if backward:
        return seed_gradient_order(depth) if count == 2 * depth else None
    if count == 1:
        return ["Y"]
    return ["H1", "Z1", "Y"] if depth == 2 and count == 3 else None


def _flatten_caches(value: Sequence[Any], binding: Binding) -> Any:
    """`return A2, cache`: the cache dict's entries by their keys, the array as the output."""
    dicts = [v for v in value if isinstance(v, dict)]
    if not dicts:
        return value
    names = (
        binding.returns
        if binding.returns and len(binding.returns) == len(value)
        else None
    )
    out: dict[str, Any] = {}
    arrays = [(i, v) for i, v in enumerate(value) if not isinstance(v, dict)]
    for d in dicts:
        for k, v in d.items():
            c = canonical_value(str(k), binding.depth)
            if c is not None and c[0] in "ZHY":
                out.setdefault(str(k), v)
    for i, v in arrays:
        c = names[i] if names else None
        out[c or ("Y" if len(arrays) == 1 else f"_{i}")] = v
    return out


def map_returned(value: Any, binding: Binding, where: str) -> dict[str, Any]:
    """Name what a call returned: from the return statement, else the seed's order, else fail."""
    depth = binding.depth
    backward = binding.role == "backward"
    flag = "--returns" if backward else "--forward-returns"
    if not backward and isinstance(value, tuple | list):
        value = _flatten_caches(value, binding)
    loss: dict[str, Any] = {}
    if backward and isinstance(value, tuple) and len(value) == 2:
        dicts = [v for v in value if isinstance(v, dict)]
        if len(dicts) == 1:  # (loss, grads): the loss is kept for its own part
            loss = {RETURNED_LOSS: value[1] if value[0] is dicts[0] else value[0]}
            value = dicts[0]
    if isinstance(value, dict):
        convert = canonical_gradient if backward else canonical_value
        named = {convert(str(k), depth): v for k, v in value.items()}
        named.pop(None, None)
        if named:
            return {**named, **loss}  # type: ignore[dict-item]
        raise UserError(
            f"cannot tell which entry {binding.signature} returns is which ({where}): keys "
            f"{', '.join(map(str, value))}; use keys like "
            + ("dW1, db1" if backward else "Z1, H1, Y")
        )
    items = list(value) if isinstance(value, tuple | list) else [value]
    names = binding.returns
    if binding.returns_declared and names is not None and len(names) != len(items):
        raise UserError(
            f"{flag} names {len(names)} values ({','.join(n or '_' for n in names)}) but "
            f"{binding.signature} returns {len(items)} ({where}); give one name per "
            f"returned value, in order"
        )
    if names is not None and len(names) == len(items):
        recognised = [n for n in names if n is not None]
        complete = len(set(recognised)) == len(recognised) == len(items)
        if binding.returns_declared or complete:
            return dict(zip(names, items, strict=True))  # type: ignore[arg-type]
        fallback = _fallback_order(backward, depth, len(items))
        if fallback and all(
            n in (None, f) for n, f in zip(names, fallback, strict=True)
        ):
            # the names agree with the seed's order
            return dict(zip(fallback, items, strict=True))
        if not backward and recognised and len(set(recognised)) == len(recognised):
            named = {n: v for n, v in zip(names, items, strict=True) if n is not None}
            if names[-1] is None and "Y" not in named:
                named["Y"] = items[
                    -1
                ]  # `return z, a, a @ W2 + b2`: the output comes last
            return named
    fallback = _fallback_order(backward, depth, len(items))
    if fallback:
        return dict(zip(fallback, items, strict=True))
    example = ",".join(seed_gradient_order(depth)) if backward else "H1,Z1,Y"
    raise UserError(
        f"cannot tell which of the {len(items)} values {binding.signature} returns is which "
        f"({where}); name them in the return statement (e.g. return dW1, dW2, db1, db2) or "
        f"declare the order with {flag}, e.g. {flag} {example}"
    )
