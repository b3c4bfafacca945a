"""The `symbackprop` command: build, emit, pdf, check-code, check-formulas.

Exit codes: 0 success; 1 a check found a mistake or LaTeX failed; 2 bad input (spec, flags,
unreadable file); 3 no TeX on PATH (the .tex is written); 4 internal error (please report).
Heavy imports (SymPy, Jinja2) happen inside the commands, so `--help` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, interrupt
from .check.inert import inert
from .errors import EXIT_USAGE, UserError
from .files import write_atomic
from .spec import flags
from .spec.flags import spec_from_args

if TYPE_CHECKING:
    from .derive import Derivation
    from .emit.seed_notebook import Finding
    from .emit.trainer import TrainerBuild
    from .spec import NetworkSpec

DEFAULT_OUT = Path("generated")
EXIT_CODES = (
    "exit codes: 0 success; 1 LaTeX failed; 2 bad input (spec, flags, output path: one line "
    "says what); 3 no TeX on PATH (the .tex is written); 4 internal error; 130 interrupted"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symbackprop",
        description="Derive backprop with SymPy; emit a NumPy trainer and a LaTeX derivation; "
        "check a student's backprop.",
        epilog="exit codes: 0 ok, 1 check failed / LaTeX error, 2 bad input, 3 no TeX, 4 internal error",
    )
    parser.add_argument(
        "--version", action="version", version=f"symbackprop {__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    b = sub.add_parser(
        "build",
        help="derive the default network (or a spec's) and write generated/ (trainer, "
        ".tex, .pdf)",
        description="Derive the network (the seed's by default; --spec or the flags for "
        "another) and write its trainer, LaTeX and PDF to --out.",
        epilog=EXIT_CODES,
    )
    b.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output folder (default: generated)",
    )
    b.add_argument("--no-pdf", action="store_true", help="skip the .tex and .pdf")
    b.add_argument(
        "--force",
        action="store_true",
        help="overwrite files in --out symbackprop did not write",
    )
    _add_verbose(b)
    flags.add_spec_options(b)
    b.set_defaults(run=cmd_build)

    e = sub.add_parser(
        "emit",
        help="write one artefact for a spec of your own",
        description="Derive the spec's gradients and write one artefact.",
        epilog=EXIT_CODES,
    )
    e.add_argument(
        "artefact",
        choices=("trainer", "latex", "notebook", "pdf"),
        help="trainer: a NumPy training script (.py); latex: the derivation's LaTeX source "
        "(.tex); notebook: the derivation, the trainer's code and a training run (.ipynb); "
        "pdf: the derivation compiled to PDF (same as `symbackprop pdf`)",
    )
    e.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="the file to write, ending in .py, .tex, .ipynb or .pdf as the artefact is; "
        "its folder must exist; - writes a text artefact to stdout",
    )
    e.add_argument(
        "--force",
        action="store_true",
        help="overwrite a file symbackprop did not write",
    )
    e.add_argument(
        "--style",
        choices=("matrix", "scalar", "auto"),
        default="matrix",
        help="trainer only: vectorized NumPy (default), unrolled closed forms over floats "
        "(small networks), or auto (a cost model picks; the choice is in the header)",
    )
    _add_layout(e)
    _add_verbose(e)
    flags.add_spec_options(e)
    e.set_defaults(run=cmd_emit)

    p = sub.add_parser(
        "pdf",
        help="compile the derivation of a spec to PDF",
        description="Derive the spec's gradients and compile the derivation to a PDF.",
        epilog=EXIT_CODES,
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="the PDF to write (a name ending in .pdf, in an existing folder)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite a file symbackprop did not write",
    )
    _add_layout(p)
    _add_verbose(p)
    flags.add_spec_options(p)
    p.set_defaults(run=cmd_pdf)

    from .check.code import cli as check_cli  # argument definitions only
    from .check.formulas import cli as formulas_cli

    c = sub.add_parser(
        "check-code",
        help="check a student's forward/backward code (.py, .ipynb, text export)",
        description="Run a student's forward and backward (sandboxed) at random points and "
        "say, part by part, what is right and what is wrong. Several paths grade a class.",
        epilog="exit codes: 0 every part of every submission is correct; 1 a part is wrong "
        "or raised; 2 bad input (options, a file that cannot be read or bound); 4 internal "
        "error; 130 interrupted",
    )
    check_cli.add_check_code_arguments(c)
    flags.add_spec_options(c, training=False)
    c.set_defaults(run=check_cli.run_check_code)

    f = sub.add_parser(
        "check-formulas",
        help="check a student's gradient formulas",
        description="Prove each of a student's gradient formulas equal to SymPy's "
        "derivation, or give a counterexample.",
        epilog="exit codes: 0 every formula is correct; 1 a formula is wrong, not proven or "
        "missing; 2 the file cannot be read or a formula is refused; 4 internal error",
    )
    formulas_cli.add_check_formulas_arguments(f)
    flags.add_spec_options(f, training=False)
    f.set_defaults(run=formulas_cli.run_check_formulas)
    return parser


def _add_layout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--layout",
        choices=("rows", "columns"),
        default="rows",
        help="latex, notebook, pdf: the layout of the section 'The backward pass as matrix "
        "equations': rows (one sample per row, the trainer's and CS231n's; default) or "
        "columns (one per column, deeplearning.ai's dZ2 = A2 - Y, dW2 = 1/m dZ2 A1^T)",
    )


def _layout_flag(args: argparse.Namespace) -> str:
    """` --layout columns` when it is not the default, for the command in the header."""
    return f" --layout {args.layout}" if args.layout != "rows" else ""


def _add_verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also print the derivation's notes and how the trainer was proven",
    )


def _proven(built: TrainerBuild, verbose: bool) -> str:
    """How the trainer was proven: the whole account with --verbose, else that it was."""
    return f"proof: {built.proof}" if verbose else "proven equal to SymPy's derivation"


def _say(message: str) -> None:
    print(message, flush=True)


def _seed_findings(
    spec: NetworkSpec, derivation: Derivation | None = None
) -> tuple[Finding, ...] | None:
    """The checker's verdict on the seed notebook, for the seed network's document (else None).

    Run here, by the orchestrator, so the document stage never calls the checker; it reuses
    the trainer's derivation when given one.
    """
    from .emit import seed_notebook

    if not seed_notebook.is_seed_network(spec):
        return None
    from .check import check_code
    from .check.diagnoses import EXPLANATIONS

    path = seed_notebook.seed_notebook_path()
    report = check_code(path, derivation=derivation, quote_code=False)

    def finding(part: str, judged: dict[str, Any]) -> Finding:
        codes = tuple(judged.get("diagnoses", ()) or ())
        return seed_notebook.Finding(
            part,
            str(judged.get("status", "error")),
            tuple(seed_notebook.Diagnosis(c, EXPLANATIONS.get(c, c)) for c in codes),
            str(judged.get("message", "") or ""),
        )

    findings = [finding("forward", report.get("forward", {}))]
    findings += [finding(n, p) for n, p in report.get("gradients", {}).items()]
    return tuple(findings)


def _build(
    spec: NetworkSpec,
    command: str,
    style: str = "matrix",
    say: Callable[[str], None] | None = _say,
) -> TrainerBuild:
    """Derive, emit and prove the trainer once; the notes are said (say=None: kept quiet)."""
    from .emit import trainer as codegen

    built = codegen.build_trainer(spec, command=command, style=style)
    for note in built.derivation.notes if say is not None else ():
        say(f"note: {note}")
    return built


def cmd_build(args: argparse.Namespace) -> int:
    """Derive the default network once and write its trainer (and documents) to --out."""
    from .emit import render
    from .emit import trainer as codegen

    spec = spec_from_args(args, document=not args.no_pdf)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; --out needs a folder (default: generated)")
    trainer_path = out / f"trainer_{spec.tag}.py"
    outputs = [trainer_path]
    if not args.no_pdf:
        outputs += [
            out / f"derivation_{spec.tag}.tex",
            out / f"derivation_{spec.tag}.pdf",
        ]
    for path in outputs:  # nothing the user wrote there is replaced without --force
        render.check_writable(path, args.force)
    start = time.perf_counter()
    built = codegen.build_trainer(spec, command="symbackprop build")
    _say(
        f"derived {spec.name} in {built.derive_seconds:.2f} s ({built.derivation.route}): "
        f"{spec.describe()}; {_proven(built, args.verbose)}"
    )
    write_atomic(trainer_path, built.source)
    _say(f"wrote {trainer_path}")
    code = 0
    if not args.no_pdf:
        from .emit import document as documents

        code = documents.build_documents(
            built,
            out,
            "symbackprop build",
            _say,
            _seed_findings(spec, built.derivation),
        )
    _say(f"build finished in {time.perf_counter() - start:.2f} s")
    return code


def cmd_emit(args: argparse.Namespace) -> int:
    """Write one artefact (trainer, latex, notebook or pdf) for the spec to -o (- is stdout)."""
    from .emit import render

    if args.artefact == "pdf":
        return cmd_pdf(args)
    if args.style != "matrix" and args.artefact != "trainer":
        raise UserError(
            f"--style {args.style} is for the trainer; a {args.artefact} always shows the "
            "vectorized derivation (drop --style)"
        )
    if args.layout != "rows" and args.artefact == "trainer":
        raise UserError(
            f"--layout {args.layout} is for the documents (latex, notebook, pdf); the "
            "trainer keeps one sample per row (drop --layout)"
        )
    spec = spec_from_args(args, document=args.artefact != "trainer")
    render.check_output(args.output, args.artefact, args.force)
    to_stdout = args.output == render.STDOUT
    say = render.eprint if to_stdout else _say  # stdout carries the artefact itself
    style = f" --style {args.style}" if args.style != "matrix" else ""
    command = " ".join(
        (
            f"symbackprop emit {args.artefact}{style}{_layout_flag(args)} "
            + " ".join(flags.flag_text(args))
            + f" -o {args.output.name or '-'}"
        ).split()
    )
    if args.artefact == "notebook":
        from .emit import notebook

        notebook.require_nbformat()  # before the derivation, which takes a while
        built = _build(spec, command, say=say if args.verbose else None)
        text = notebook.notebook_text(built, command, args.layout)
    elif args.artefact == "latex":
        from .emit import document as documents

        built = _build(spec, command, say=say if args.verbose else None)
        findings = _seed_findings(spec, built.derivation)
        text = documents.derivation_tex(built, command, findings, args.layout)
    else:
        built = _build(
            spec, command, style=args.style, say=say if args.verbose else None
        )
        text = built.source
    if to_stdout:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(args.output, text)
    say(
        f"wrote {'stdout' if to_stdout else args.output} (derivation "
        f"{built.derive_seconds:.2f} s; {_proven(built, args.verbose)})"
    )
    return 0


def cmd_pdf(args: argparse.Namespace) -> int:
    """Compile the spec's derivation document to a PDF at -o."""
    from .emit import document as documents
    from .emit import render

    spec = spec_from_args(args, document=True)
    render.check_output(args.output, "pdf", args.force)
    command = "symbackprop pdf" + _layout_flag(args)
    built = _build(spec, command, say=_say if args.verbose else None)
    findings = _seed_findings(spec, built.derivation)
    return documents.write_pdf(built, args.output, command, _say, findings, args.layout)


def _interrupted() -> int:
    """Ctrl-C or TERM: one line, exit 130."""
    interrupt.forget_unhandled_mark()
    print("symbackprop: interrupted", file=sys.stderr)
    return 130


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every user error is one line on stderr and a documented exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    interrupt.install()  # every sandbox is killed and every temporary folder removed
    try:
        return int(args.run(args))
    except UserError as exc:
        # one line, whatever a file name or a student's text in it holds
        print(f"symbackprop: error: {inert(exc.message, 4000)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an internal bug: one line, the traceback only on request
        if interrupt.requested():
            # the stop landed where Python wraps it (a class being created: "Error calling
            # __set_name__"): the run was interrupted, not broken
            return _interrupted()
        if os.environ.get("SYMBACKPROP_DEBUG"):
            raise
        print(
            f"symbackprop: internal error: {type(exc).__name__}: {exc} "
            "(set SYMBACKPROP_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 4


__all__ = ["main", "EXIT_USAGE"]
