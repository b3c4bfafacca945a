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
        "Check a student's gradient formulas against SymPy's derivation: matrix equations "
        "(`dW2 = 1/m dZ2 A1^T`, `dZ1 = W2.T @ dZ2 * (Z1 > 0)`, NumPy-like, maths or LaTeX; any "
        "size) or per-sample entries, one line per parameter entry (`dL/dW1_1_2 = "
        "(yhat - y)*W2_1_1*step(z1_1)*x_2`). Start from `--template [--matrix]`."
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
        "--matrix",
        action="store_true",
        help="matrix equations (dZ2, dW2, db2, ...); read a file as such when its lines name "
        "whole arrays; with --template, print the matrix answer file",
    )
    p.add_argument(
        "--layout",
        choices=("rows", "columns"),
        help="matrix mode: samples are rows (the seed's, CS231n's; default) or columns "
        "(deeplearning.ai's)",
    )
    p.add_argument(
        "--weights",
        choices=("units_first", "inputs_first"),
        help="matrix mode: W is (units, inputs) (default; Z = X W^T + b in rows) or "
        "(inputs, units) as in CS231n (Z = X W + b)",
    )
    p.add_argument(
        "--profile",
        metavar="NAME|FILE",
        help="matrix mode: take --layout and --weights from an assignment profile (seed, dlai, "
        "dlai-L-layer, cs231n, or a profile file as for check-code); the flags win",
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
    _take_profile(args)
    spec = spec_from_args(args)
    if args.template and args.matrix:
        from .matrix.template import matrix_template

        text = matrix_template(spec, args.layout, check_command=_check_command(args))
        print(
            json.dumps({"template": text}) if args.json else text,
            end="\n" if args.json else "",
        )
        return 0
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
    from .matrix.equations import is_matrix_file

    if args.matrix or is_matrix_file(text, spec.depth):
        from .matrix.check import check_matrix
        from .matrix.report import print_matrix_report

        matrix = check_matrix(
            spec, text, str(args.file), args.layout, args.weights, fmt=args.format
        )
        return print_matrix_report(matrix, args.json)
    report = check_formulas(spec, text, source=str(args.file), fmt=args.format)
    return print_report(report, args.json)


def _take_profile(args: argparse.Namespace) -> None:
    """--layout and --weights: the flag, else the profile's, else rows and units first."""
    declared = None
    if args.profile:
        from ..code.profiles import load_profile

        declared = load_profile(args.profile)
    if args.layout is None:
        args.layout = (declared.samples if declared else "") or "rows"
    if args.weights is None:
        args.weights = (declared.weights if declared else "") or "units_first"


def _check_command(args: argparse.Namespace) -> str:
    """The command that checks a filled template, with the same spec flags."""
    from ...spec.flags import flag_text

    return " ".join(["symbackprop check-formulas", *flag_text(args)])
