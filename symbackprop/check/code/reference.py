"""The seed network's truth, derived by SymPy once and shipped as data, so check-code on the seed
assignment runs without importing SymPy (about a third of a single check's time).

`symbackprop/data/reference_truth.json` holds the Programs `truth.Truth` runs (the correct one
and its mistake models, rules lowered to trees), the loss and link forms they use, and the
correct program in each sample layout with its rules printed (a wrong answer's feedback). A test
rebuilds it from a fresh derivation and compares it byte for byte (update with
`pytest tests/test_reference.py --update-generated`). Any other spec is derived as before.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...derive import evaluate
from ...derive import numeric as N
from ...derive import program as P
from ...derive.program_data import program_from_data, program_to_data
from ...printing.program import PrintedRules, print_rules
from ...spec import NetworkSpec, registry

FILE = "reference_truth.json"
FORMAT = 2


@dataclass(frozen=True)
class Shipped:
    """What the reference holds: the truth's programs, and the feedback's printable programs."""

    program: P.Program
    unmasked: dict[tuple[int, ...], P.Program]
    programs: dict[str, P.Program]  # sample layout -> the correct program in it
    printed: PrintedRules


def path() -> Path:
    """Where the package keeps the reference."""
    return Path(str(importlib.resources.files("symbackprop") / "data" / FILE))


def _spec_key(spec: NetworkSpec) -> dict[str, Any]:
    """The fields of a truth spec the gradients depend on, as JSON data."""
    return {
        "layers": list(spec.layers),
        "activations": list(spec.activations),
        "loss": spec.loss,
        "reduction": spec.reduction,
        "alpha": spec.alpha,
        "l2": spec.l2,
    }


def reference_text(
    spec: NetworkSpec,
    program: P.Program,
    unmasked: dict[tuple[int, ...], P.Program],
    layouts: Mapping[str, P.Program],
) -> str:
    """The reference file for a truth and its program in each layout (SymPy lowers the rules
    and loss forms, and prints the rules, here)."""
    k = spec.layers[-1]
    forms: list[list[Any]] = [
        ["loss", spec.loss, k, evaluate.lower_loss_form(spec.loss, k)]
    ]
    link = registry.loss(spec.loss).link
    if link is not None:
        forms.append(["link", link, k, evaluate.lower_link_form(link, k)])
    data = {
        "format": FORMAT,
        "spec": _spec_key(spec),
        "program": program_to_data(program),
        "unmasked": [[list(k), program_to_data(m)] for k, m in unmasked.items()],
        "forms": forms,
        "layouts": {name: program_to_data(p) for name, p in layouts.items()},
        "printed": _printed_to_data(print_rules(layouts.values())),
    }
    return json.dumps(data, indent=1) + "\n"


def _printed_to_data(printed: PrintedRules) -> list[Any]:
    """Each rule's tree, whether it binds looser than `*`, and its texts by arrays."""
    out: list[Any] = []
    for tree, loose in printed.loose.items():
        texts = [
            [[list(pair) for pair in arrays], text]
            for (t, arrays), text in printed.texts.items()
            if t == tree
        ]
        out.append([tree, loose, texts])
    return out


def _printed_from_data(data: list[Any]) -> PrintedRules:
    texts: dict[tuple[N.Tree, tuple[tuple[str, str], ...]], str] = {}
    loose: dict[N.Tree, bool] = {}
    for tree_data, binds, rule_texts in data:
        tree = N.from_json(tree_data)
        loose[tree] = bool(binds)
        for arrays, text in rule_texts:
            texts[tree, tuple((p, a) for p, a in arrays)] = str(text)
    return PrintedRules(texts, loose)


def read_reference(spec: NetworkSpec) -> Shipped | None:
    """The shipped programs when `spec` is the reference's truth spec, else None."""
    try:
        data = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not shipped (or unreadable): derive as usual
        return None
    if data.get("format") != FORMAT or data.get("spec") != _spec_key(spec):
        return None
    program = program_from_data(data["program"])
    unmasked = {tuple(layers): program_from_data(m) for layers, m in data["unmasked"]}
    evaluate.preload_forms(
        {
            (kind, name, k): _form_from_json(kind, form)
            for kind, name, k, form in data["forms"]
        }
    )
    layouts = {name: program_from_data(p) for name, p in data["layouts"].items()}
    return Shipped(program, unmasked, layouts, _printed_from_data(data["printed"]))


def _form_from_json(kind: str, form: list[Any]) -> tuple[Any, ...]:
    """A loss form (outs, tgts, tree) or link form (symbols, trees) read back as tuples."""
    if kind == "loss":
        outs, tgts, tree = form
        return tuple(outs), tuple(tgts), N.from_json(tree)
    symbols, trees = form
    return tuple(symbols), tuple(N.from_json(t) for t in trees)
