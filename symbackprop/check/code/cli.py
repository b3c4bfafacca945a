"""Arguments and entry point of `check-code` (no SymPy/NumPy import until it runs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def add_check_code_arguments(p: argparse.ArgumentParser) -> None:
    """Define check-code's own arguments; cli.py adds the spec options (--reduction, ...)."""
    p.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="the student's .py, .ipynb, or text export with In [n]: prompts; several files, "
        "or folders of them (one file or one folder per student), check a class",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print exactly one JSON object (the report; for bad input, one with "error")',
    )
    p.add_argument(
        "--jsonl",
        action="store_true",
        help='one JSON object per submission (with "submission"), then a summary object',
    )
    p.add_argument(
        "--csv", type=Path, metavar="FILE", help="write one row per submission to FILE"
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="write the class's HTML page to FILE: the grade distribution, the diagnoses per "
        "part, and each student's feedback (self-contained: no script, nothing loaded)",
    )
    p.add_argument(
        "--points",
        metavar="PARTS",
        help="points per part, e.g. forward=2,W1=2,b1=1 (a part scores its points when it is "
        "correct; parts not listed: 1 point each)",
    )
    p.add_argument(
        "--gradescope",
        type=Path,
        metavar="FILE",
        help="for one submission: write Gradescope's results.json to FILE (a test per part; "
        "a file that cannot be checked scores 0 with the reason)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a --csv, --report or --gradescope file symbackprop did not write",
    )
    p.add_argument(
        "--feedback",
        choices=("full", "hint", "verdict"),
        default="full",
        help="what the student is told: full (diagnosis, why, the correct formula; the "
        "default), hint (diagnosis and why, no formula), verdict (ok / wrong per part only)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="submissions checked at a time (default: the number of cores); ignored with "
        "--dask-scheduler, where the cluster's worker threads decide",
    )
    p.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="check the submissions on an existing Dask cluster, e.g. tcp://host:8786 (needs "
        "pip install 'symbackprop[dask]' here and on the workers); each worker runs the same "
        "sandbox (bwrap on its PATH, or --sandbox process) and is sent each file's content, "
        "so workers need not share this filesystem; --jobs is ignored",
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
        "--profile",
        metavar="NAME|FILE",
        help="an assignment profile: seed, dlai, dlai-L-layer, cs231n, or a TOML file with "
        "forward, backward (function or method names), samples (rows|columns), targets "
        "(arrays|labels); for a tutorial script grad_vars and data_vars (as --grad-vars, "
        "--data-vars); default: recognised from the file's names, docstrings and code",
    )
    g.add_argument(
        "--grad-vars",
        metavar="NAMES",
        help="a tutorial script (gradients computed at top level): its gradient variables, "
        "W1's, b1's, W2's, ... in that order, e.g. dW,db,dW2,db2; it runs on its own data and "
        "initial weights for one pass of its training loop (default: the variables its loop "
        "updates the parameters with, `W -= lr * dW`)",
    )
    g.add_argument(
        "--data-vars",
        metavar="X,Y",
        help="a tutorial script's inputs and targets, e.g. inputs,expected_output (default: "
        "what the loop multiplies with a parameter, and the usual names y, Y, labels, ...)",
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
    """Run check-code: exit 0 when everything is correct, 1 when a part is wrong or errs, 2 for
    bad input. Several files or a folder check a class (exit 0 only when all are correct)."""
    from ...errors import UserError

    first = args.files[0]
    several = len(args.files) > 1 or first.is_dir() or first.suffix.lower() == ".zip"
    try:
        if args.gradescope and (
            several or args.jsonl or args.csv or args.report or args.dask_scheduler
        ):
            raise UserError(
                "--gradescope is for one submission (Gradescope runs one per student); "
                "use --csv or --jsonl for a class"
            )
        several = several or args.jsonl or bool(args.csv) or bool(args.report)
        several = several or bool(args.dask_scheduler)  # a cluster takes the class path
        return _run_class(args) if several else _run_one(args)
    except UserError as exc:
        if (
            args.json or args.jsonl
        ):  # an autograder parses stdout: still one JSON object
            error = {"ok": False, "error": exc.message, "exit_code": exc.exit_code}
            print(json.dumps(error), flush=True)
        raise  # and the usual one line on stderr


def _options(args: argparse.Namespace) -> dict[str, object]:
    return {
        "timeout": args.timeout,
        "returns": args.returns,
        "forward": args.forward,
        "backward": args.backward,
        "forward_args": args.forward_args,
        "forward_returns": args.forward_returns,
        "backward_args": args.backward_args,
        "probe_seed": args.probe_seed,
        "profile": args.profile,
        "grad_vars": args.grad_vars,
        "data_vars": args.data_vars,
    }


def _run_one(args: argparse.Namespace) -> int:
    import time

    from ...errors import UserError
    from ...spec.flags import spec_from_args
    from . import grades
    from .core import run_check
    from .report import format_human, format_json, restrict

    spec = spec_from_args(args)
    points = grades.parse_points(args.points, grades.part_names(spec.param_names))
    if args.gradescope:
        _check_output_file("--gradescope", args.gradescope, args.force)
    start = time.monotonic()
    try:
        result = run_check(
            args.files[0], spec=spec, sandbox=args.sandbox, **_options(args)
        )
    except UserError as exc:
        if (
            args.gradescope
        ):  # Gradescope needs its file: the student scores 0 and reads why
            row = grades.scored({"ok": False, "error": exc.message}, points)
            _write_gradescope(
                args.gradescope,
                grades.gradescope(row, points, exc.message, time.monotonic() - start),
            )
        raise
    if result.warning:
        print(result.warning, file=sys.stderr, flush=True)
    if not result.ok and _default_network(args):
        result.notes.append(
            "checked against the default network, the seed notebook's "
            f"{'-'.join(map(str, spec.layers))} ({', '.join(spec.activations)}), loss "
            f"{spec.loss} ({spec.reduction}); "
            "if your assignment's network differs, give it: --layers, --activations, "
            "--loss, --reduction (or --spec FILE)"
        )
    report = grades.scored(restrict(result.report, args.feedback), points)
    verdict = format_human(result, args.feedback)
    if args.gradescope:
        _write_gradescope(
            args.gradescope,
            grades.gradescope(report, points, verdict, time.monotonic() - start),
        )
    if args.json:
        print(format_json(report), flush=True)
    else:
        print(verdict, flush=True)
    return 0 if result.ok else 1


def _default_network(args: argparse.Namespace) -> bool:
    """Whether no option named the network (the check used the seed's)."""
    from ...spec.flags import SPEC_FLAGS

    named = (*SPEC_FLAGS, "profile", "loss_formula", "activation_formula")
    return all(not getattr(args, flag, None) for flag in named)


# how each grade file symbackprop writes begins: a file that does not is someone else's
_OURS = {
    "--csv": lambda head: head.startswith("submission,status,"),
    "--report": lambda head: "Generated by symbackprop" in head,
    "--gradescope": lambda head: '"stdout_visibility"' in head and '"tests"' in head,
}


def _check_output_file(flag: str, path: Path, force: bool = False) -> None:
    """Refuse, before anything runs, a grade file that could not be written, or that would
    replace a file symbackprop did not write (unless --force)."""
    from ...errors import UserError

    if path.is_dir() or not path.parent.is_dir():
        raise UserError(f"{flag} {path}: not a file in an existing folder")
    if (
        path.exists() and not path.is_file()
    ):  # a FIFO or a device would block or be lost
        raise UserError(f"{flag} {path}: not a regular file; write to a file")
    if force or not path.exists():
        return
    try:
        with path.open("rb") as f:
            head = f.read(1 << 16).decode("utf-8", "replace")
    except OSError as exc:
        raise UserError(
            f"{flag} {path}: cannot read it to check who wrote it ({exc.strerror or exc})"
        ) from None
    if not _OURS[flag](head):
        raise UserError(
            f"{flag} {path} exists and was not written by symbackprop; write elsewhere "
            "or pass --force to replace it"
        )


def _write_gradescope(path: Path, results: dict[str, Any]) -> None:
    from ...errors import UserError
    from ...files import write_atomic

    try:
        write_atomic(path, json.dumps(results, indent=2) + "\n")
    except OSError as exc:
        raise UserError(
            f"--gradescope {path}: cannot write it ({exc.strerror or exc})"
        ) from None
    print(f"gradescope: wrote {path}", file=sys.stderr, flush=True)


def _run_class(args: argparse.Namespace) -> int:
    from ...errors import UserError
    from ...spec.flags import spec_from_args
    from . import batch, grades
    from .core import check_timeout

    if args.json:
        raise UserError("--json is for one file; use --jsonl for several submissions")
    if not 1 <= args.jobs <= 256:
        raise UserError(f"--jobs must be a whole number from 1 to 256, not {args.jobs}")
    check_timeout(args.timeout)
    if args.csv:
        _check_output_file("--csv", args.csv, args.force)
    if args.report:
        _check_output_file("--report", args.report, args.force)
    if args.csv and args.report and args.csv.resolve() == args.report.resolve():
        raise UserError(f"--csv and --report name the same file, {args.csv}; give two")
    spec = spec_from_args(args)
    points = grades.parse_points(args.points, grades.part_names(spec.param_names))
    with batch.unpacked(args.files) as paths:
        return _grade(args, spec, points, batch.find_submissions(paths))


def _grade(
    args: argparse.Namespace,
    spec: Any,
    points: dict[str, float],
    submissions: list[Any],
) -> int:
    """Check the submissions, print a line each (or JSON lines) and the class table."""
    from . import batch, grades
    from .report import restrict
    from .sandbox import choose_sandbox

    if (
        args.dask_scheduler
    ):  # the workers' PATH decides auto; only process needs a warning
        from .dask_executor import check_on_cluster

        _, warning = (
            choose_sandbox("process") if args.sandbox == "process" else ("", "")
        )
        checked = check_on_cluster(
            args.dask_scheduler, submissions, spec, args.sandbox, _options(args)
        )
    else:
        mode, warning = choose_sandbox(args.sandbox, several=len(submissions) > 1)
        checked = batch.check_all(submissions, spec, args.jobs, mode, _options(args))
    if warning:
        print(warning, file=sys.stderr, flush=True)
    rows = []
    width = max(len(s.name) for s in submissions)
    bar = batch.progress_bar(len(submissions), quiet=args.jsonl)
    try:
        for row in checked:
            if "error" not in row:
                row = restrict(row, args.feedback)
            row = grades.scored(row, points)
            rows.append(row)
            if args.jsonl:
                print(json.dumps(row), flush=True)
            else:
                batch.say(bar, batch.human_line(row, width))
    finally:
        if bar is not None:
            bar.close()
    totals = batch.summary(rows)
    if args.jsonl:
        print(json.dumps(totals), flush=True)
    else:
        print("\n".join(batch.human_summary(totals)), flush=True)
    if args.csv:
        batch.write_csv(args.csv, batch.csv_text(rows, points))
        print(f"csv: wrote {args.csv}", file=sys.stderr, flush=True)
    if args.report:
        from .class_report import write_report

        write_report(args.report, rows, totals, points, spec, args.feedback)
        print(f"report: wrote {args.report}", file=sys.stderr, flush=True)
    return 0 if all(batch.status_of(r) == "ok" for r in rows) else 1
