"""Arguments and entry point of `check-formulas` (SymPy is imported only when it runs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import EXIT_USAGE, UserError
from . import EXIT_CODES


def add_check_formulas_arguments(p: argparse.ArgumentParser) -> None:
    """Define check-formulas' arguments (no heavy imports here)."""
    p.description = (
        "Check a student's per-sample gradient formulas, one line per parameter entry "
        "(`dL/dW1_1_2 = (yhat - y)*W2_1_1*step(z1_1)*x_2`, plain text or LaTeX), against "
        "SymPy's derivation. Start from `--template`."
    )
    p.epilog = f"exit codes: {EXIT_CODES}"
    p.add_argument("file", nargs="?", type=Path, help="the answer file")
    p.add_argument(
        "--template",
        action="store_true",
        help="print a fill-in answer file listing every gradient entry and the notation",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout"
    )
    p.add_argument(
        "--format",
        choices=("auto", "plain", "latex"),
        default="auto",
        help="notation of the formulas (default auto: LaTeX when a line has \\ or braces)",
    )


def run_check_formulas(args: argparse.Namespace) -> int:
    """Run check-formulas; returns the exit code (errors are UserErrors, exit 2)."""
    try:
        return _run(args)
    except UserError as exc:
        if getattr(args, "json", False):
            error = {"ok": False, "error": exc.message, "exit_code": exc.exit_code}
            print(json.dumps(error))
        raise


def _run(args: argparse.Namespace) -> int:
    """The command itself; SymPy is imported here, not at module import."""
    from ...spec.flags import spec_from_args
    from .answers import read_answer_file
    from .check import check_formulas
    from .report import print_report
    from .template import template

    if args.template and args.file is not None:
        raise UserError("give either --template or an answer FILE, not both")
    spec = spec_from_args(args)
    if args.template:
        blank = template(spec, check_command=_check_command(args))
        if args.json:
            print(json.dumps({"template": blank.text, "entries": blank.entries}))
        else:
            print(blank.text, end="")
        return 0
    if args.file is None:
        raise UserError(
            "give the answer FILE to check, or --template to print one to fill in",
            EXIT_USAGE,
        )
    text = read_answer_file(args.file)
    report = check_formulas(spec, text, source=str(args.file), fmt=args.format)
    return print_report(report, args.json)


def _check_command(args: argparse.Namespace) -> str:
    """The command that checks a filled template, with the same spec flags."""
    from ...spec.flags import flag_text

    return " ".join(["symbackprop check-formulas", *flag_text(args)])
