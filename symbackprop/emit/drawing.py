"""The network drawing of the derivation document: every TikZ position computed here."""

from __future__ import annotations

from dataclasses import dataclass

from ..derive import Derivation
from ..printing.notation import array_tex, h_tex
from ..printing.tex import escape_tex, shown
from ..spec.names import bias, weight

# The drawing shows at most this many units per layer (first ones, a vertical ellipsis, the
# last one).
DRAW_LIMIT = 6


@dataclass(frozen=True)
class Node:
    """A unit in the network drawing (label is maths)."""

    name: str
    at: str
    label: str
    style: str


@dataclass(frozen=True)
class Edge:
    """An arrow of the drawing, between two node names (in parentheses, as TikZ wants)."""

    start: str
    end: str


@dataclass(frozen=True)
class Caption:
    """Text placed in the drawing (a layer's name, its parameters)."""

    at: str
    text: str


@dataclass(frozen=True)
class Drawing:
    """The TikZ network, every position already computed."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    captions: tuple[Caption, ...]
    note: str


def drawing(d: Derivation) -> Drawing:
    """Units in columns, one per layer, every unit joined to every unit of the next layer."""
    spec = d.spec
    depth = len(spec.layers) - 1
    xstep = min(3.4, 12.5 / depth)
    ystep = 1.25
    tallest = max(len(shown(n, DRAW_LIMIT)) for n in spec.layers)
    nodes: list[Node] = []
    edges: list[Edge] = []
    captions: list[Caption] = []
    previous: list[str] = []
    top = (tallest - 1) * ystep / 2
    for layer, width in enumerate(spec.layers):
        units = shown(width, DRAW_LIMIT)
        x = layer * xstep
        names = []
        for pos, unit in enumerate(units):
            y = ((len(units) - 1) / 2 - pos) * ystep
            at = f"({x:.2f},{y:.2f})"
            if unit is None:
                nodes.append(Node(f"dots{layer}", at, r"\vdots", "dots"))
                continue
            name = f"n{layer}u{unit + 1}"
            style = "input" if layer == 0 else "output" if layer == depth else "hidden"
            nodes.append(Node(name, at, h_tex(d, layer, unit + 1), style))
            names.append(name)
        edges += [Edge(f"({a})", f"({b})") for a in previous for b in names]
        previous = names
        count = "unit" if width == 1 else "units"
        if layer == 0:
            label = rf"input\\{width} {count}"
        else:
            rule = d.layers[layer - 1]
            what = "output" if layer == depth else f"layer {layer}"
            label = rf"{what}\\{width} {count}, {escape_tex(rule.activation)}"
            captions.append(
                Caption(
                    f"({x - xstep / 2:.2f},{-top - 0.95:.2f})",
                    rf"${array_tex(weight(layer))},\ {array_tex(bias(layer))}$",
                )
            )
        captions.append(Caption(f"({x:.2f},{top + 1.0:.2f})", label))
    wide = [n for n in spec.layers if n > DRAW_LIMIT]
    note = (
        f" Layers wider than {DRAW_LIMIT} units are drawn with their first {DRAW_LIMIT - 2} "
        "units, a vertical ellipsis and the last unit."
        if wide
        else ""
    )
    return Drawing(tuple(nodes), tuple(edges), tuple(captions), note)
