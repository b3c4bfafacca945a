"""Arguments and entry point of `check-code` (no SymPy/NumPy import until it runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_check_code_arguments(p: argparse.ArgumentParser) -> None:
    """Define check-code's own arguments; cli.py adds the spec options (--reduction, ...)."""
    p.add_argument(
        "file",
        type=Path,
        help="the student's .py, .ipynb, or text export with In [n]: prompts",
    )
    p.add_argument(
        "--json", action="store_true", help="print exactly one JSON object (the report)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="wall-clock limit for reading and running the student's code (default 10 s, "
        "at most 3600)",
    )
    p.add_argument(
        "--probe-seed",
        type=int,
        metavar="N",
        help="repeat a run's random probe points (the report's probe_seed; default: new "
        "points at every run)",
    )
    p.add_argument(
        "--sandbox",
        choices=("auto", "bwrap", "process"),
        default="auto",
        help="how the student's code is isolated: bwrap (Linux namespaces, read-only view, no "
        "network; needs bubblewrap), process (a plain child process: NOT isolated), auto "
        "(bwrap when on PATH, else process with a warning; the default)",
    )
    g = p.add_argument_group(
        "student signatures (default: the seed's forward(W1, W2, b1, b2, X) -> (H, Z, y_pred) "
        "and backward(y_pred, y_true, W2, H, Z, X) -> (W1_grad, W2_grad, b1_grad, b2_grad))"
    )
    g.add_argument(
        "--forward",
        default="forward",
        metavar="NAME",
        help="name of the forward function",
    )
    g.add_argument(
        "--backward",
        default="backward",
        metavar="NAME",
        help="name of the backward function",
    )
    g.add_argument(
        "--forward-args",
        metavar="NAMES",
        help="what each forward parameter is, in order, e.g. X,W1,b1,W2,b2 (_ = keep its default)",
    )
    g.add_argument(
        "--forward-returns",
        metavar="NAMES",
        help="what forward returns, in order, e.g. Z1,H1,Y",
    )
    g.add_argument(
        "--backward-args",
        metavar="NAMES",
        help="what each backward parameter is, in order, e.g. X,y,Y,W2,Z1,H1 (_ = keep its default)",
    )
    g.add_argument(
        "--returns",
        metavar="NAMES",
        help="which gradient backward returns, in order, e.g. W1,W2,b1,b2 (default: from the "
        "names in its return statement, else the seed's order)",
    )


def run_check_code(args: argparse.Namespace) -> int:
    """Run check-code; exit 0 when everything is correct, 1 when a part is wrong or errors."""
    from ...spec.flags import spec_from_args
    from .core import run_check
    from .report import format_human, format_json

    result = run_check(
        args.file,
        spec=spec_from_args(args),
        timeout=args.timeout,
        returns=args.returns,
        forward=args.forward,
        backward=args.backward,
        forward_args=args.forward_args,
        forward_returns=args.forward_returns,
        backward_args=args.backward_args,
        sandbox=args.sandbox,
        probe_seed=args.probe_seed,
    )
    if result.warning:
        print(result.warning, file=sys.stderr, flush=True)
    print(format_json(result.report) if args.json else format_human(result), flush=True)
    return 0 if result.ok else 1
