"""The seed notebook (a student's wrong backprop) and the document section that judges it.

The coursework checker is run by the CLI, which hands its verdict here as `Finding`s; this
module only compares the numbers the notebook prints with the trainer's and prints the section.
"""

from __future__ import annotations

import importlib.resources
import re
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..printing.prose import Code
from ..printing.tex import TEX, escape_tex
from ..spec import NetworkSpec, default_spec

SEED_NOTEBOOK = "notebook_221_relu.txt"


@dataclass(frozen=True)
class Diagnosis:
    """A named mistake: the checker's code for it and the sentence explaining it."""

    code: str
    explanation: str


@dataclass(frozen=True)
class Finding:
    """One part of the seed notebook as judged: forward, or a gradient (W1, b1, ...)."""

    part: str
    status: str  # ok, wrong, error, or differs (when only the numbers were compared)
    diagnoses: tuple[Diagnosis, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class NotebookRow:
    """One quantity the seed notebook prints at epoch 1, next to the correct value."""

    name: str
    printed: str
    correct: str
    agrees: bool


@dataclass(frozen=True)
class NotebookCheck:
    """The "Checking the notebook" section: epoch-1 comparison and the mistakes, as LaTeX."""

    rows: tuple[NotebookRow, ...]
    findings: tuple[str, ...]
    source: str


def is_seed_network(spec: NetworkSpec) -> bool:
    """True for the seed notebook's network, data, weights and training settings."""
    seed = default_spec()
    keys = ("layers", "activations", "loss", "reduction", "lr", "X", "y")
    same = all(getattr(spec, k) == getattr(seed, k) for k in keys)
    if not same or spec.params is None or seed.params is None:
        return False
    return all(tuple(spec.params[k]) == tuple(seed.params[k]) for k in seed.param_names)


def seed_notebook_path() -> Path:
    """The packaged seed notebook (a student's wrong backprop, with its printed output)."""
    return Path(str(importlib.resources.files("symbackprop") / "data" / SEED_NOTEBOOK))


def printed_epoch(text: str, epoch: int = 1) -> dict[str, list[float]]:
    """The values a notebook prints on one `Epoch: 1 loss: ... W1_grad: [...]` line."""
    for line in text.splitlines():
        m = re.match(rf"^\s*Epoch:\s*{epoch}\s+loss:\s*(\S+)\s+(.*)$", line)
        if m:
            out = {"loss": [float(m.group(1))]}
            for name, values in re.findall(r"(\w+)_grad:\s*\[([^\]]*)\]", m.group(2)):
                out[name] = [float(v) for v in values.split()]
            return out
    raise UserError(f"no 'Epoch: {epoch}' line in the notebook's output", exit_code=4)


def correct_epoch(
    spec: NetworkSpec, trainer: types.ModuleType
) -> dict[str, list[float]]:
    """What the notebook should print at epoch 1, rounded as it rounds: from the trainer."""
    X, y = trainer.DEFAULT_X, trainer.DEFAULT_Y
    params = {k: v.copy() for k, v in trainer.DEFAULT_PARAMS.items()}
    value, grads = trainer.loss_and_gradients(params, X, y)
    per_sample = value / len(X) if spec.reduction == "sum" else value
    correct = {"loss": [float(np.round(per_sample, 4))]}
    for name in trainer.GRAD_ORDER:
        correct[name] = [float(v) for v in np.round(grads[name].flatten(), 2)]
    return correct


def compared(
    correct: dict[str, list[float]], printed: dict[str, list[float]]
) -> tuple[Finding, ...]:
    """Without the checker's verdict: which printed gradients differ from the correct ones."""
    names = [n for n in correct if n != "loss"]
    differ = [n for n in names if printed.get(n) != correct[n]]
    agree = [n for n in names if n not in differ]
    findings = [Finding(", ".join(differ), "differs")] if differ else []
    findings += [Finding(", ".join(agree), "ok")] if agree else []
    return tuple(findings)


def _finding_tex(f: Finding) -> str:
    """One finding as a sentence of the document."""
    if f.part == "forward":
        label = "The forward pass"
    elif "," in f.part:
        label = f"The gradients of {f.part}"
    else:
        label = f"The gradient of {f.part}"
    if f.status == "ok":
        return TEX.text(f"{label}: correct.")
    if f.status == "differs":
        # the values differ when the forward pass is wrong, even where the formula is right
        return TEX.text(f"{label}: the printed values differ from the correct ones.")
    # one sentence each, never one parenthesis inside another: the verdict, the checker's
    # message, then every diagnosis named with what it means
    sentences = [TEX.text(f"{label}: {f.status}")]
    if f.message:
        sentences.append(escape_tex(f.message))
    sentences += [TEX.text(Code(c.code), f": {c.explanation}") for c in f.diagnoses]
    return " ".join(_sentence(t) for t in sentences)


def _sentence(text: str) -> str:
    """The text ending in one full stop."""
    return text.rstrip(".") + "."


def _values(values: list[float] | None, decimals: int) -> str:
    if values is None:
        return "(not printed)"
    shown = ", ".join(f"{v:.{decimals}f}".replace("-0.00", "0.00") for v in values)
    return f"$({shown})$" if len(values) > 1 else f"${shown}$"


def notebook_check(
    spec: NetworkSpec,
    trainer: types.ModuleType,
    findings: tuple[Finding, ...] | None,
) -> NotebookCheck | None:
    """The "Checking the notebook" section for the seed network (else None).

    `findings` is the checker's verdict; None compares the printed numbers only.
    """
    if not is_seed_network(spec):
        return None
    printed = printed_epoch(seed_notebook_path().read_text(encoding="utf-8"))
    correct = correct_epoch(spec, trainer)
    rows = tuple(
        NotebookRow(
            "loss (mean over samples)"
            if name == "loss"
            else escape_tex(f"{name}_grad"),
            _values(printed.get(name), 4 if name == "loss" else 2),
            _values(values, 4 if name == "loss" else 2),
            printed.get(name) == values,
        )
        for name, values in correct.items()
    )
    checked = findings is not None
    if findings is None:
        findings = compared(correct, printed)
    source = (
        TEX.text(
            "The coursework checker (",
            Code("symbackprop check-code"),
            ") runs the notebook's own functions and names its mistakes:",
        )
        if checked
        else "The coursework checker is not available in this installation, so its mistakes "
        "are not named here; comparing the printed numbers only:"
    )
    return NotebookCheck(rows, tuple(_finding_tex(f) for f in findings), source)
