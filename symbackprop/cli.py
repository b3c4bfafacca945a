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
from pathlib import Path

from . import __version__
from .errors import EXIT_USAGE, UserError

DEFAULT_OUT = Path("generated")


def _add_spec_options(p: argparse.ArgumentParser, training: bool = True) -> None:
    """The network spec flags; `training=False` leaves out what only a trainer uses."""
    from . import activations, losses  # registries only: names, no SymPy work

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
        + ", ".join(sorted(activations.REGISTRY)),
    )
    g.add_argument(
        "--loss", help="default half_sse; from: " + ", ".join(sorted(losses.REGISTRY))
    )
    g.add_argument(
        "--reduction", choices=("sum", "mean"), help="over samples (default sum)"
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


def spec_from_args(args: argparse.Namespace):  # noqa: ANN201 - NetworkSpec, imported lazily
    """The NetworkSpec named by --spec and the flags."""
    from .spec import resolve

    optional = {
        k: getattr(args, k, None) for k in ("lr", "epochs", "seed", "name", "title")
    }
    return resolve(
        args.spec,
        layers=args.layers,
        activations_flag=args.activations,
        loss=args.loss,
        reduction=args.reduction,
        alpha=args.alpha,
        **optional,
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
        help="derive the default network and write generated/ (trainer, .tex, .pdf)",
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
    b.set_defaults(run=cmd_build)

    e = sub.add_parser("emit", help="write one artefact for a spec of your own")
    e.add_argument("artefact", choices=("trainer", "latex", "notebook"))
    e.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
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
    _add_spec_options(e)
    e.set_defaults(run=cmd_emit)

    p = sub.add_parser("pdf", help="compile the derivation of a spec to PDF")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite a file symbackprop did not write",
    )
    _add_spec_options(p)
    p.set_defaults(run=cmd_pdf)

    from .check import cli as check_cli  # argument definitions only: no SymPy import
    from .check import formulas_cli

    c = sub.add_parser(
        "check-code",
        help="check a student's forward/backward code (.py, .ipynb, text export)",
    )
    check_cli.add_check_code_arguments(c)
    _add_spec_options(c, training=False)
    c.set_defaults(run=check_cli.run_check_code)

    f = sub.add_parser("check-formulas", help="check a student's gradient formulas")
    formulas_cli.add_check_formulas_arguments(f)
    _add_spec_options(f, training=False)
    f.set_defaults(run=formulas_cli.run_check_formulas)
    return parser


def _say(message: str) -> None:
    print(message, flush=True)


def cmd_build(args: argparse.Namespace) -> int:
    """Derive the default network and write its trainer (and derivation documents) to --out."""
    from . import codegen, render
    from .spec import default_spec

    spec = default_spec()
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
        f"{spec.describe()}; proof: {built.proof}"
    )
    render.write_atomic(trainer_path, built.source)
    _say(f"wrote {trainer_path}")
    code = 0
    if not args.no_pdf:
        from . import documents

        code = documents.build_documents(
            built, out, command="symbackprop build", say=_say
        )
    _say(f"build finished in {time.perf_counter() - start:.2f} s")
    return code


def cmd_emit(args: argparse.Namespace) -> int:
    """Write one artefact (trainer, latex or notebook) for the spec to -o."""
    from . import render

    spec = spec_from_args(args)
    render.check_writable(args.output, args.force)
    style = f" --style {args.style}" if args.style != "matrix" else ""
    command = (
        f"symbackprop emit {args.artefact}{style} "
        + " ".join(_spec_flags(args))
        + f" -o {args.output.name}"
    )
    if args.artefact == "trainer":
        from . import codegen

        built = codegen.build_trainer(
            spec, command=" ".join(command.split()), style=args.style
        )
        for note in built.derivation.notes:
            _say(f"note: {note}")
        render.write_atomic(args.output, built.source)
        _say(
            f"wrote {args.output} (derivation {built.derive_seconds:.2f} s; proof: {built.proof})"
        )
        return 0
    from . import documents

    return documents.emit(args.artefact, spec, args.output, command=command, say=_say)


def cmd_pdf(args: argparse.Namespace) -> int:
    """Compile the spec's derivation document to a PDF at -o."""
    from . import documents, render

    spec = spec_from_args(args)
    render.check_writable(args.output, args.force)
    return documents.emit("pdf", spec, args.output, command="symbackprop pdf", say=_say)


def _spec_flags(args: argparse.Namespace) -> list[str]:
    out = []
    for flag in (
        "spec",
        "layers",
        "activations",
        "loss",
        "reduction",
        "lr",
        "epochs",
        "seed",
        "name",
    ):
        value = getattr(args, flag, None)
        if value is not None:
            out.append(f"--{flag} {value}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every user error is one line on stderr and a documented exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except UserError as exc:
        print(f"symbackprop: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("symbackprop: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an internal bug: one line, the traceback only on request
        if os.environ.get("SYMBACKPROP_DEBUG"):
            raise
        print(
            f"symbackprop: internal error: {type(exc).__name__}: {exc} "
            "(set SYMBACKPROP_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 4


__all__ = ["main", "EXIT_USAGE"]
