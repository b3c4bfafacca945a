"""Check a whole class in one run: the submissions in files and folders (one file, or one folder,
per student), each in its own sandbox, several at a time, with one derivation for all.

A submission is named after its file's stem, or its folder when a student handed in a folder
(the notebook in it is checked, else the .py, else a text export). One broken submission is one
row with an "error"; it never stops the others.
"""

from __future__ import annotations

import contextlib
import csv
import io
import multiprocessing
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ... import interrupt
from ...errors import UserError
from ...files import write_atomic
from ...spec import NetworkSpec
from ..inert import inert
from . import spare
from .core import probe_seed_or_new, run_check
from .grades import parts_of
from .result import NOT_CHECKED
from .sandbox import SIGNAL_POLL
from .truth import probes_for, truth_for

SUFFIXES = (".ipynb", ".py", ".txt")  # in order of preference inside a student's folder
MAX_ARCHIVE_MEMBERS = 20_000
MAX_ARCHIVE_BYTES = 500 * 2**20  # unpacked, all members together
STATUSES = ("ok", "wrong", "error", NOT_CHECKED)


@dataclass(frozen=True)
class Submission:
    """One student's work: the name it is reported under and the file checked (None: none)."""

    name: str
    path: Path | None
    # the file as the TA knows it (`class/frank/hw.ipynb`, `export.zip: dave.ipynb`)
    shown: str = ""
    # why this file and not another of the student's folder ("" when it had one)
    chosen: str = ""
    problem: str = ""  # why there is no file to check (path None): a link, say


@dataclass(frozen=True)
class Root:
    """A path the TA gave, or the folder a .zip of theirs was unpacked to (`archive`)."""

    path: Path
    archive: str = ""
    inside: str = (
        ""  # the archive's folder this root is (`submissions`), "" for its top
    )

    def shown(self, path: Path) -> str:
        """A file under this root as the TA knows it."""
        if not self.archive:
            return str(path)
        parts = [self.inside, path.relative_to(self.path).as_posix()]
        return f"{self.archive}: {'/'.join(p for p in parts if p and p != '.')}"


# folders an export or an editor adds that are nobody's submission
_NOT_SUBMISSIONS = ("__pycache__", "__MACOSX")


def _visible(path: Path) -> bool:
    return not any(p.startswith(".") or p in _NOT_SUBMISSIONS for p in path.parts)


def _in_folder(folder: Path) -> tuple[Path | None, str]:
    """The file checked for a student's folder (a notebook first, then .py, then text), and
    why that one when the folder holds several of its kind."""
    files = [  # links are not followed: a link could bring in any file the TA can read
        f
        for f in sorted(folder.rglob("*"))
        if f.is_file()
        and not f.is_symlink()
        and f.suffix.lower() in SUFFIXES
        and _visible(f.relative_to(folder))
    ]
    for suffix in SUFFIXES:
        same = [f for f in files if f.suffix.lower() == suffix]
        if same:
            why = ""
            if len(same) > 1:
                others = ", ".join(
                    inert(f.relative_to(folder).as_posix(), 100) for f in same[1:4]
                )
                why = (
                    f"checked {inert(same[0].relative_to(folder).as_posix(), 100)}, the first of "
                    f"{len(same)} {suffix} files in the folder (also {others}"
                    f"{', ...' if len(same) > 4 else ''}): keep one per student"
                )
            return same[0], why
    return None, ""


def find_submissions(roots: list[Root]) -> list[Submission]:
    """Every submission the roots hold: files, and each file or folder inside a folder."""
    found: list[Submission] = []
    for root in roots:
        path = root.path
        if path.is_file():
            found.append(Submission(path.stem, path, root.shown(path)))
        elif path.is_dir():
            for child in sorted(path.iterdir()):
                if not _visible(Path(child.name)):
                    continue
                if child.is_symlink():
                    why = (
                        f"{inert(child.name, 200)} is a link: not followed, not checked"
                    )
                    found.append(Submission(child.stem, None, problem=why))
                elif child.is_file() and child.suffix.lower() in SUFFIXES:
                    found.append(Submission(child.stem, child, root.shown(child)))
                elif child.is_dir():
                    file, why = _in_folder(child)
                    shown = root.shown(file) if file is not None else ""
                    found.append(Submission(child.name, file, shown, why))
        else:
            raise UserError(f"{path}: no such file or folder")
    if not found:
        raise UserError(
            "no submissions found: give .py, .ipynb or text files, or folders of them"
        )
    seen: Counter[str] = Counter()
    unique = []
    for sub in found:
        seen[sub.name] += 1
        name = sub.name if seen[sub.name] == 1 else f"{sub.name} ({seen[sub.name]})"
        unique.append(replace(sub, name=inert(name, 200)))
    return unique


@contextlib.contextmanager
def unpacked(paths: list[Path]) -> Iterator[list[Root]]:
    """The paths with every .zip export (Gradescope, Canvas, Moodle) unpacked into a temporary
    folder, removed afterwards. Members outside the archive's folder, links and archives
    larger than MAX_ARCHIVE_BYTES unpacked are refused in one line."""
    with tempfile.TemporaryDirectory(prefix="symbackprop-class-") as scratch:
        out = []
        for i, path in enumerate(paths):
            if path.is_file() and path.suffix.lower() == ".zip":
                folder = Path(scratch) / f"{i}-{path.stem}"
                _unzip(path, folder)
                entries = [e for e in folder.iterdir() if _visible(Path(e.name))]
                # an export that holds one folder of submissions: that folder is the class
                if len(entries) == 1 and entries[0].is_dir():
                    out.append(Root(entries[0], str(path), entries[0].name))
                else:
                    out.append(Root(folder, str(path)))
            else:
                out.append(Root(path))
        yield out


def _unzip(path: Path, folder: Path) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{path}: not a readable .zip ({exc})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise UserError(
                f"{path}: more than {MAX_ARCHIVE_MEMBERS:,} files in the archive"
            )
        if sum(m.file_size for m in members) > MAX_ARCHIVE_BYTES:
            raise UserError(
                f"{path}: unpacks to more than {MAX_ARCHIVE_BYTES >> 20} MiB"
            )
        for m in members:
            target = (folder / m.filename).resolve()
            if (
                not target.is_relative_to(folder.resolve())
                or (m.external_attr >> 28) == 0xA
            ):
                raise UserError(
                    f"{path}: {inert(m.filename, 200)} points outside the archive"
                )
        try:
            archive.extractall(folder)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot unpack it ({exc})") from None


_OPTIONS: dict[str, Any] = {}  # run_check's options, set before the workers fork


def check_one(
    sub: Submission, options: dict[str, Any] | None = None, shown: str | None = None
) -> dict[str, Any]:
    """One row: the submission's report, or its error (a file that cannot be read or bound).

    `options`: run_check's (default: the forked workers' `_OPTIONS`); `shown`: the path its
    messages name instead of `sub.path` (a worker's private copy of the file; else the
    submission's own `shown`)."""
    if sub.path is None:
        return error_row(
            sub.name, sub.problem or "no .py, .ipynb or text export in the folder", 2
        )
    try:
        result = run_check(sub.path, **(_OPTIONS if options is None else options))
    except UserError as exc:
        return submission_error(sub, exc.message, exc.exit_code, shown)
    return {"submission": sub.name, **told(sub, shown), **result.report}


def told(sub: Submission, shown: str | None = None) -> dict[str, str]:
    """The row's `file`, as the TA knows it (not a worker's copy or a temporary unpacked
    one), and why it was chosen when the student's folder held several."""
    out = {"file": shown or sub.shown or str(sub.path)}
    if sub.chosen:
        out["chosen"] = sub.chosen
    return out


def submission_error(
    sub: Submission, message: str, code: int, shown: str | None = None
) -> dict[str, Any]:
    """The error row of a submission's file, its path in the message as the TA knows it."""
    fields = told(sub, shown)
    message = message.replace(str(sub.path), fields["file"])
    return {**error_row(sub.name, message, code), **fields}


def error_row(name: str, message: str, code: int) -> dict[str, Any]:
    """The row of a submission that could not be checked: its error and exit code."""
    return {
        "submission": name,
        "ok": False,
        "error": inert(message, 1000),
        "exit_code": code,
    }


def check_all(
    submissions: list[Submission],
    spec: NetworkSpec,
    jobs: int,
    mode: str,
    options: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    """Each submission's row, in order, from `jobs` worker processes forked after the truth and
    the probe points are made (so they are made once), each running one sandbox at a time.

    One run, one set of random points: each submission is judged at the same new points (it
    cannot pass them to another; its sandbox keeps nothing), made once instead of per file."""
    seed = probe_seed_or_new(options.get("probe_seed"))
    probes_for(truth_for(spec), seed)  # made here, inherited by every worker
    _OPTIONS.clear()
    _OPTIONS.update(options, spec=spec, sandbox=mode, probe_seed=seed)
    timeout = float(options.get("timeout", 10.0))
    if len(submissions) == 1:
        yield check_one(submissions[0])
        return
    if jobs <= 1:
        yield from _one_by_one(submissions, mode, timeout)
        return
    context = multiprocessing.get_context("fork")
    pool = context.Pool(
        min(jobs, len(submissions)), initializer=_start_worker, initargs=(mode, timeout)
    )
    # the workers forked now: Pool replaces one that dies (the OOM killer, a stray signal) and
    # forgets the task it held, so the run would wait for that row forever
    workers = list(pool._pool)
    lost: int | None = None  # the first row a dead worker took with it
    try:
        rows = pool.imap(check_one, submissions)
        for i in range(len(submissions)):
            while lost is None:
                try:  # a short wait, so a TERM caught by a BLAS thread is seen soon
                    row = rows.next(timeout=SIGNAL_POLL)
                    break
                except multiprocessing.TimeoutError:
                    interrupt.check()
                    if any(w.exitcode is not None for w in workers):
                        lost = i
            if lost is not None:
                break
            yield row
        if lost is None:
            # every row is in: each worker takes its end-of-work sentinel and exits through
            # its finalizers (its sandbox removed); a TERM from terminate() racing that exit
            # was lost
            pool.close()
        else:
            pool.terminate()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    if lost is not None:  # the rest one at a time here, so no row is lost again
        yield from _one_by_one(submissions[lost:], mode, timeout)


def _one_by_one(
    submissions: list[Submission], mode: str, timeout: float
) -> Iterator[dict[str, Any]]:
    """Each row in this process, one after the other, the next child booting meanwhile."""
    spare.keep_spare(mode, timeout)
    try:
        yield from map(check_one, submissions)
    finally:
        spare.stop_keeping_spare()


def _start_worker(mode: str, timeout: float) -> None:
    """A pool worker stops quietly on TERM and keeps one booted sandbox ready."""
    interrupt.install_in_worker()
    spare.keep_spare(mode, timeout)


def status_of(row: dict[str, Any]) -> str:
    """ok, wrong (a part is wrong or errs) or error (the submission could not be checked)."""
    if "error" in row:
        return "error"
    return "ok" if row["ok"] else "wrong"


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The class: submissions per status, the score distribution, and per part how many are
    correct and the most common diagnoses."""
    parts: dict[str, dict[str, Any]] = {}
    for row in rows:
        for name, p in parts_of(row).items():
            entry = parts.setdefault(
                name, {"ok": 0, "checked": 0, "diagnoses": Counter()}
            )
            entry["checked"] += 1
            entry["ok"] += p["status"] == "ok"
            entry["diagnoses"].update(p["diagnoses"])
    scores = Counter(_number(r["score"]) for r in rows)
    return {
        "summary": True,
        "submissions": len(rows),
        "statuses": dict(Counter(status_of(r) for r in rows)),
        "scores": {
            "max_score": rows[0]["max_score"] if rows else 0.0,
            "mean": sum(r["score"] for r in rows) / len(rows) if rows else 0.0,
            "counts": dict(sorted(scores.items(), key=lambda kv: float(kv[0]))),
        },
        "parts": {
            name: {
                "ok": e["ok"],
                "checked": e["checked"],
                "diagnoses": dict(e["diagnoses"].most_common(5)),
            }
            for name, e in parts.items()
        },
    }


def csv_text(rows: list[dict[str, Any]], points: dict[str, float]) -> str:
    """One row per submission: its status, each part's status and score, the total, and the
    diagnoses (rows scored by grades.scored)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [c for n in points for c in (n, f"{n}_score")]
    writer.writerow(
        ["submission", "status", *columns, "score", "max_score", "diagnoses", "error"]
    )
    for row in rows:
        parts = parts_of(row)
        cells = []
        for n in points:
            p = parts.get(n)
            cells += [p["status"], _number(p["score"])] if p else ["", _number(0.0)]
        found, said = [], set()
        for n, p in parts.items():
            if p["diagnoses"] or (_errs(p) and p["message"] not in said):
                found.append(_found(n, p))
                said.add(p["message"])
            elif _errs(p):
                found.append(f"{n}: error: the same")
        writer.writerow(
            [
                row["submission"],
                status_of(row),
                *cells,
                _number(row["score"]),
                _number(row["max_score"]),
                "; ".join(found),
                row.get("error", ""),
            ]
        )
    return out.getvalue()


def _errs(part: dict[str, Any]) -> bool:
    return part["status"] == "error" and bool(part["message"])


def _found(name: str, part: dict[str, Any]) -> str:
    """`W1: missing_activation_mask`, or for a part that raised, why (a TA needs to know)."""
    if _errs(part):
        return f"{name}: error: {inert(part['message'], 300)}"
    return f"{name}: {', '.join(part['diagnoses'])}"


def _number(x: float) -> str:
    """2 for 2.0, 1.5 for 1.5: what a gradebook reads."""
    return f"{x:g}"


def write_csv(path: Path, text: str) -> None:
    """Write the grade file atomically (a temporary file beside it, then a rename)."""
    if path.is_dir() or not path.parent.is_dir():
        raise UserError(f"--csv {path}: not a file in an existing folder")
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise UserError(
            f"--csv {path}: cannot write it ({exc.strerror or exc})"
        ) from None


def human_line(row: dict[str, Any], width: int) -> str:
    """`alice   5/5  ok` or `bob     3/5  WRONG  W1 [missing_activation_mask], b1 [...]`."""
    name = row["submission"].ljust(width)
    score = f"{_number(row['score'])}/{_number(row['max_score'])}".rjust(7)
    chosen = f" ({row['chosen']})" if row.get("chosen") else ""
    if "error" in row:
        return f"{name}  {score}  ERROR  {row['error']}{chosen}"
    if row["ok"]:
        return f"{name}  {score}  ok{chosen}"
    parts = parts_of(row)
    bad = [  # a part's diagnoses when it has them (--feedback verdict shows none)
        f"{n} [{', '.join(p['diagnoses'])}]" if p["diagnoses"] else n
        for n, p in parts.items()
        if p["status"] not in ("ok", NOT_CHECKED)
    ]
    why = next((p["message"] for p in parts.values() if _errs(p)), "")
    return (
        f"{name}  {score}  WRONG  {', '.join(bad)}"
        + (f" ({inert(why, 120)})" if why else "")
        + chosen
    )


def human_summary(totals: dict[str, Any]) -> list[str]:
    """The class table: per part, how many got it right, and its most common diagnoses."""
    n = totals["submissions"]
    statuses = ", ".join(
        f"{totals['statuses'].get(s, 0)} {s}" for s in ("ok", "wrong", "error")
    )
    sc = totals["scores"]
    lines = [
        "",
        f"class: {n} submissions ({statuses}); mean score {sc['mean']:.2f} of "
        f"{_number(sc['max_score'])}",
    ]
    for name, e in totals["parts"].items():
        common = ", ".join(f"{code} ({k})" for code, k in e["diagnoses"].items())
        lines.append(
            f"  {name:<8} {e['ok']} of {e['checked']} correct"
            + (f"; {common}" if common else "")
        )
    return lines


def progress_bar(total: int, quiet: bool) -> Any:
    """A tqdm bar on a terminal's stderr; None when stderr is not a terminal or for JSON."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="submission", file=sys.stderr, dynamic_ncols=True)


def say(bar: Any, line: str) -> None:
    """Print a submission's line above the bar (or plainly without one), then advance it."""
    if bar is None:
        print(line, flush=True)
        return
    bar.write(line, file=sys.stdout)
    bar.update()
