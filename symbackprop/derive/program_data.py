"""A Program as plain JSON data and back, its entrywise rules as NumPy trees (numeric.py).

What is read back runs on the NumPy backend of `evaluate` exactly like the Program it was
written from, without SymPy; it cannot be printed (printers take the SymPy rules).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from . import numeric as N
from . import program as P

_NODES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        P.Ref,
        P.MatMul,
        P.Transpose,
        P.Hadamard,
        P.AddBias,
        P.SumSamples,
        P.Activate,
        P.Derivative,
        P.OutputError,
        P.Link,
        P.Mean,
        P.Loss,
        P.Penalty,
        P.PenaltyGrad,
    )
}
_RULE = "rule"  # the field that holds a SymPy rule


def program_to_data(prog: P.Program) -> dict[str, Any]:
    """The program as JSON-ready data (SymPy lowers each rule to its tree here)."""
    return {
        "layout": prog.layout,
        "depth": prog.depth,
        "reduction": prog.reduction,
        "forward": [_step_to_data(s) for s in prog.forward],
        "loss": _step_to_data(prog.loss),
        "backward": [_step_to_data(s) for s in prog.backward],
    }


def program_from_data(data: dict[str, Any]) -> P.Program:
    """The program `program_to_data` wrote (KeyError or TypeError if it is not one)."""
    return P.Program(
        data["layout"],
        data["depth"],
        data["reduction"],
        tuple(_step_from_data(s) for s in data["forward"]),
        _step_from_data(data["loss"]),
        tuple(_step_from_data(s) for s in data["backward"]),
    )


def _step_to_data(step: P.Step) -> dict[str, Any]:
    return {
        "name": step.name,
        "expr": _node_to_data(step.expr),
        "shape": list(step.shape),
        "role": step.role,
        "layer": step.layer,
    }


def _step_from_data(data: dict[str, Any]) -> P.Step:
    return P.Step(
        data["name"],
        _node_from_data(data["expr"]),
        tuple(data["shape"]),
        data["role"],
        data["layer"],
    )


def _node_to_data(node: P.Node) -> dict[str, Any]:
    out: dict[str, Any] = {"node": type(node).__name__}
    for f in fields(node):
        value = getattr(node, f.name)
        if f.name == _RULE:
            out[f.name] = N.as_tree(value)
        elif isinstance(value, tuple):  # Penalty's weights
            out[f.name] = [_node_to_data(v) for v in value]
        elif is_dataclass(value):
            out[f.name] = _node_to_data(value)
        else:
            out[f.name] = value
    return out


def _node_from_data(data: dict[str, Any]) -> P.Node:
    cls = _NODES[data["node"]]
    values: dict[str, Any] = {}
    for f in fields(cls):
        value = data[f.name]
        if f.name == _RULE:
            values[f.name] = N.from_json(value)
        elif isinstance(value, list):
            values[f.name] = tuple(_node_from_data(v) for v in value)
        elif isinstance(value, dict):
            values[f.name] = _node_from_data(value)
        else:
            values[f.name] = value
    node: P.Node = cls(**values)
    return node
