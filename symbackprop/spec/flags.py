"""The network-spec flags, defined once for every subcommand, and the spec they name."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from . import registry
from .load import resolve
from .model import NetworkSpec


def add_spec_options(p: argparse.ArgumentParser, training: bool = True) -> None:
    """The network spec flags; `training=False` leaves out what only a trainer uses."""
    g = p.add_argument_group(
        "network spec (default: the seed notebook's 2-2-1 ReLU network)"
    )
    g.add_argument(
        "--spec", type=Path, metavar="FILE", help="TOML spec file (see README)"
    )
    g.add_argument(
        "--layers", metavar="SIZES", help="comma-separated sizes, input first: 3,5,2"
    )
    g.add_argument(
        "--activations",
        metavar="NAMES",
        help="one per non-input layer, e.g. relu,identity; from: "
        + ", ".join(sorted(registry.ACTIVATIONS)),
    )
    g.add_argument(
        "--loss", help="default half_sse; from: " + ", ".join(sorted(registry.LOSSES))
    )
    g.add_argument(
        "--reduction", choices=registry.REDUCTIONS, help="over samples (default sum)"
    )
    g.add_argument(
        "--alpha", type=float, help="leaky_relu slope for z <= 0 (default 0.01)"
    )
    if training:
        g.add_argument("--lr", type=float, help="learning rate (default 0.05)")
        g.add_argument(
            "--epochs", type=int, help="epochs of the trainer's __main__ (default 100)"
        )
        g.add_argument("--seed", type=int, help="seed for random init/data (default 0)")
        g.add_argument(
            "--name", help="spec name, a Python identifier (default net_<sizes>)"
        )
        g.add_argument("--title", help="title shown in the generated files")


# every spec flag, in the order a command line shows them; the training-only ones last
SPEC_FLAGS = ("spec", "layers", "activations", "loss", "reduction", "alpha")
TRAINING_FLAGS = ("lr", "epochs", "seed", "name", "title")


def flag_text(args: argparse.Namespace) -> list[str]:
    """The spec flags a command was given, as `--flag value` (to say how to redo it)."""
    return [
        f"--{flag} {shlex.quote(str(getattr(args, flag)))}"
        for flag in (*SPEC_FLAGS, *TRAINING_FLAGS)
        if getattr(args, flag, None) is not None
    ]


def spec_from_args(args: argparse.Namespace) -> NetworkSpec:
    """The NetworkSpec named by --spec and the flags."""
    optional = {k: getattr(args, k, None) for k in TRAINING_FLAGS}
    return resolve(
        args.spec,
        layers=args.layers,
        activations_flag=args.activations,
        loss=args.loss,
        reduction=args.reduction,
        alpha=args.alpha,
        **optional,
    )
