"""The network-spec flags, defined once for every subcommand, and the spec they name."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from . import optimizers, registry
from .formula_entries import Formula, parse_assignment
from .limits import MAX_DEPTH, MAX_DOCUMENT_PARAMETERS, MAX_PARAMETERS, MAX_WIDTH
from .load import resolve
from .model import NetworkSpec, check_document_size, parse_real, parse_whole


def add_spec_options(p: argparse.ArgumentParser, training: bool = True) -> None:
    """The network spec flags; `training=False` leaves out what only a trainer uses."""
    g = p.add_argument_group(
        "network spec (default: the seed notebook's 2-2-1 ReLU network)"
    )
    g.add_argument(
        "--spec", type=Path, metavar="FILE", help="TOML spec file (see README)"
    )
    g.add_argument(
        "--layers",
        metavar="SIZES",
        help=f"comma-separated sizes, input first: 3,5,2 (at most {MAX_WIDTH:,} units a "
        f"layer, {MAX_DEPTH} weight layers, {MAX_PARAMETERS:,} parameters; a document "
        f"{MAX_DOCUMENT_PARAMETERS:,})",
    )
    g.add_argument(
        "--activations",
        metavar="NAMES",
        help="one per non-input layer, e.g. relu,identity; from: "
        + ", ".join(sorted(registry.entrywise_names()))
        + "; output layer only: "
        + ", ".join(
            sorted(set(registry.ACTIVATIONS) - set(registry.entrywise_names()))
        ),
    )
    g.add_argument(
        "--loss", help="default half_sse; from: " + ", ".join(sorted(registry.LOSSES))
    )
    g.add_argument(
        "--activation-formula",
        action="append",
        metavar="NAME=FORMULA",
        help="define an activation by a formula in z, e.g. 'swish=z * sigmoid(z)' "
        "(repeatable); name it in --activations",
    )
    g.add_argument(
        "--loss-formula",
        metavar="NAME=FORMULA",
        help="define a loss by a formula in yhat and y for one output, summed over the "
        "outputs, and use it unless --loss names another: 'mae=abs(yhat - y)'",
    )
    g.add_argument(
        "--reduction", choices=registry.REDUCTIONS, help="over samples (default sum)"
    )
    # numbers are read as text and converted by the spec, so a bad one is one spec line
    g.add_argument("--alpha", help="leaky_relu slope for z <= 0 (default 0.01)")
    g.add_argument(
        "--l2",
        help="L2 penalty lambda: lambda/2 * the sum of every W**2 (not the biases) added "
        "to the batch loss after the reduction (default 0)",
    )
    if training:
        g.add_argument("--lr", help="learning rate (default 0.05)")
        g.add_argument(
            "--epochs", help="epochs of the trainer's __main__ (default 100)"
        )
        g.add_argument("--seed", help="seed for random init/data (default 0)")
        g.add_argument(
            "--optimizer",
            help="the trainer's update rule (default sgd); from: "
            + ", ".join(optimizers.OPTIMIZERS),
        )
        for h in optimizers.HYPERPARAMETERS.values():
            g.add_argument(f"--{h.name}", help=f"{h.meaning} (default {h.default:g})")
        g.add_argument(
            "--dtype",
            help="float64 (default) or float32: the trainer's buffers, weights, gradients",
        )
        g.add_argument(
            "--name", help="spec name, a Python identifier (default net_<sizes>)"
        )
        g.add_argument("--title", help="title shown in the generated files")


# every spec flag, in the order a command line shows them; the training-only ones last
SPEC_FLAGS = ("spec", "layers", "activations", "loss", "reduction", "alpha", "l2")
TRAINING_FLAGS = (
    "lr",
    "epochs",
    "seed",
    "optimizer",
    *optimizers.HYPERPARAMETERS,
    "dtype",
    "name",
    "title",
)


def flag_text(args: argparse.Namespace) -> list[str]:
    """The spec flags a command was given, as `--flag value` (to say how to redo it)."""
    out = [
        f"--{flag} {shlex.quote(str(getattr(args, flag)))}"
        for flag in (*SPEC_FLAGS, *TRAINING_FLAGS)
        if getattr(args, flag, None) is not None
    ]
    for text in getattr(args, "activation_formula", None) or ():
        out.append(f"--activation-formula {shlex.quote(text)}")
    if getattr(args, "loss_formula", None) is not None:
        out.append(f"--loss-formula {shlex.quote(args.loss_formula)}")
    return out


def _formulas(args: argparse.Namespace) -> tuple[Formula, ...]:
    """The --activation-formula and --loss-formula flags, as NAME=FORMULA pairs."""
    out = [
        Formula("activation", *parse_assignment("--activation-formula", text))
        for text in getattr(args, "activation_formula", None) or ()
    ]
    loss = getattr(args, "loss_formula", None)
    if loss is not None:
        out.append(Formula("loss", *parse_assignment("--loss-formula", loss)))
    return tuple(out)


def _numbers(args: argparse.Namespace) -> dict[str, float | int | None]:
    """The numeric spec flags converted, each refused in one line when it is not a number."""
    out: dict[str, float | int | None] = {}
    for flag, parse, example in (
        ("alpha", parse_real, "--alpha 0.01"),
        ("l2", parse_real, "--l2 0.01"),
        ("lr", parse_real, "--lr 0.05"),
        ("epochs", parse_whole, "--epochs 100"),
        ("seed", parse_whole, "--seed 0"),
        *(
            (h.name, parse_real, f"--{h.name} {h.default!r}")
            for h in optimizers.HYPERPARAMETERS.values()
        ),
    ):
        text = getattr(args, flag, None)
        out[flag] = None if text is None else parse(f"--{flag}", text, example)
    return out


def spec_from_args(args: argparse.Namespace, document: bool = False) -> NetworkSpec:
    """The NetworkSpec named by --spec and the flags, validated (once, for every command).

    `document=True` (latex, pdf, notebook) also applies the smaller size limit of a document.
    """
    numbers = _numbers(args)
    text = {k: getattr(args, k, None) for k in TRAINING_FLAGS if k not in numbers}
    formulas = _formulas(args)
    chosen_loss = args.loss
    if chosen_loss is None and formulas and formulas[-1].kind == "loss":
        chosen_loss = formulas[-1].name
    spec = resolve(
        args.spec,
        layers=args.layers,
        activations_flag=args.activations,
        formulas=formulas,
        loss=chosen_loss,
        reduction=args.reduction,
        **numbers,
        **text,
    )
    if document:
        check_document_size(spec)
    return spec
