"""Read a student's file (.py, .ipynb, or a text export with `In [n]:` prompts) with `ast` only.

Nothing here runs the student's code, and the statements kept for the child cannot run any
of it while they are defined either: a kept statement calls nothing but numpy's array
constructors, a few builtins and a few array methods, on values that cannot hold the
student's functions or classes. Kept, in file order:

- imports;
- `def`s and `class`es whose default values, annotations and base classes call nothing
  (decorators other than `staticmethod`, `classmethod` and `property` are blanked, not run;
  a class body may hold only methods, docstrings and assignments);
- assignments of data (literals, arithmetic, `np.array([...])`, `np.random.randn(2, 3) * 0.01`,
  `X.reshape(-1, 1)`, `len(X)`...) and of whole values that are never called (`relu = lambda
  z: np.maximum(0, z)`, `act = relu`, `{"relu": relu}`);
- top-level whitelisted calls such as `np.random.seed(1)`.

Everything else at top level (loops, prints, other calls, the training loop) is dropped and
listed in `StudentFile.dropped` with its line. A whitelisted call is not kept when its name
may be rebound by the student (`def float(x)`, `class np`, `import os as np`, `for float in
...`): every binding at top level counts (def, class, import, assignment, for, with and
except targets, also inside dropped blocks), kept or not.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import gc
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError
from ..inert import inert
from .keep import Filter
from .student_file import (
    Chunk,
    FunctionInfo,
    Param,
    Parsed,
    Statement,
    StudentFile,
    function_info_from_callable,
)

PROMPT = re.compile(r"^\s*In\s*\[\s*[\d* ]*\]\s*:\s?(?P<rest>.*)$")
OUTPUT_PROMPT = re.compile(r"^\s*Out\s*\[\s*\d*\s*\]\s*:")
CODE_START = re.compile(
    r"^(def|class|import|from|for|while|if|elif|else|try|except|with|return|async|@)\b|^@"
)
# IPython line magics (`%time`, `%%capture`), shell escapes (`!pip`, not `!=`) and help (`x?`)
MAGIC_LINE = re.compile(r"^\s*(?:%%?[A-Za-z]|!(?!=)|\?)|^\s*[\w.]+\?\??\s*$")
NEWLINE = re.compile(r"\r\n|\r|\n")  # Python's own line ends (not \f or \u2028)
MAX_BYTES = 5_000_000
MAX_PREFIX_PARSES = 10  # per cell, when dropping printed output after the code
MAX_MESSAGE = 200  # characters of a syntax error's message


@dataclass
class _Cell:
    label: str
    file_lines: bool
    first_line: int  # the file line (or cell line) of the cell's first code line
    lines: list[str]


def read_student_file(path: Path) -> StudentFile:
    """Read and filter a student's file; UserError (exit 2) when it cannot be read at all."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(
            f"{path}: is a folder; give a .py, .ipynb or text export of a notebook"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(
            f"{path}: cannot read the file ({exc.strerror or exc})"
        ) from None
    if len(raw) > MAX_BYTES:
        raise UserError(
            f"{path}: {len(raw)} bytes is too large for a student's notebook"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{path}: not UTF-8 text (line {line} has a byte UTF-8 does not allow); save "
            "the file again with UTF-8 encoding (most editors: File > Save with Encoding > "
            "UTF-8)"
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UserError(
            f"cannot read the file: {path.name}:{line}: a NUL byte; not a text file "
            "(save it as UTF-8 .py, .ipynb or a text export of the notebook)"
        )
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        kind, cells = "ipynb", _ipynb_cells(path, text)
    elif suffix != ".py" and any(PROMPT.match(x) for x in _split_lines(text)):
        kind, cells = "text", _text_cells(path, text)
    else:
        kind, cells = "py", [_Cell(_label(path), True, 1, _split_lines(text))]
    student = StudentFile(path=path, kind=kind, chunks=[])
    with _gc_paused():  # a large file makes millions of AST nodes, and no cycles
        parsed = [
            p
            for cell in cells
            if (p := _parse_chunk(student, cell, kind == "py", suffix != ".py"))
        ]
        Filter(student, parsed).run()
        del parsed  # freed by reference counting, before the collector is back
    if not student.statements and student.syntax_errors:
        count = len(student.syntax_errors)
        raise UserError(
            f"{path}: no imports, functions or assignments could be read: {count} "
            f"{'cell has a' if count == 1 else 'cells have'} syntax error"
            f"{'' if count == 1 else 's'}; the first: {student.syntax_errors[0]}"
        )
    if not student.statements:
        raise UserError(
            f"{path}: no Python code found (no imports, functions or assignments)"
        )
    return student


def _label(path: Path) -> str:
    """The file's name as shown in messages: inert (a name may hold escapes or new lines)."""
    return inert(path.name, 200)


def _split_lines(text: str) -> list[str]:
    """Lines as Python counts them: only \\n, \\r\\n and \\r end a line."""
    lines = NEWLINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _ipynb_cells(path: Path, text: str) -> list[_Cell]:
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}: not a valid .ipynb (JSON error at line {exc.lineno})"
        ) from None
    except RecursionError:
        raise UserError(
            f"{path}: not a valid .ipynb (JSON nested too deeply)"
        ) from None
    except (ValueError, MemoryError) as exc:  # e.g. an integer with too many digits
        reason = str(exc).splitlines()[0][:MAX_MESSAGE] if str(exc) else "too large"
        raise UserError(f"{path}: not a valid .ipynb ({reason})") from None
    if not isinstance(nb, dict):
        raise UserError(f"{path}: not a Jupyter notebook (no cells)")
    raw_cells = nb.get("cells")
    worksheets = nb.get("worksheets")
    if (
        raw_cells is None
        and isinstance(worksheets, list)
        and worksheets
        and isinstance(worksheets[0], dict)
    ):
        raw_cells = worksheets[0].get("cells")  # nbformat 3
    if not isinstance(raw_cells, list):
        raise UserError(f"{path}: not a Jupyter notebook (no cells)")
    cells = []
    for i, cell in enumerate(raw_cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", cell.get("input", ""))
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str):
            continue
        count = cell.get("execution_count", cell.get("prompt_number"))
        if not isinstance(count, int | str) or isinstance(count, bool):
            count = None
        if type(count) is not int:
            count = None  # the file says anything here: only a number is shown
        label = f"{_label(path)}, cell {i}" + (
            f" (In [{str(count)[:20]}])" if count is not None else ""
        )
        cells.append(_Cell(label, False, 1, _split_lines(source)))
    return cells


def _text_cells(path: Path, text: str) -> list[_Cell]:
    cells: list[_Cell] = []
    current: _Cell | None = None
    for number, line in enumerate(_split_lines(text), start=1):
        m = PROMPT.match(line)
        if m:
            rest = m.group("rest")
            current = _Cell(
                _label(path), True, number if rest.strip() else number + 1, []
            )
            if rest.strip():
                current.lines.append(rest)
            cells.append(current)
        elif current is not None:
            current.lines.append(line)
    return cells


def _blank_magics(lines: list[str]) -> list[str] | None:
    """Blank IPython magics and shell escapes; None for a cell magic that is not Python."""
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split()[0] if lines[0].strip() != "%%" else ""
        if magic not in ("time", "timeit", "capture"):
            return None
        lines = [""] + lines[1:]
    return ["" if MAGIC_LINE.match(line) else line for line in lines]


class _Unreadable(SyntaxError):
    """`ast.parse` failed without a syntax error: too deep, too large, a NUL byte."""


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: with a large file's AST alive, each collection
    walks millions of nodes, and loading spent most of its time there."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse(source: str) -> ast.Module:
    """`ast.parse`, with every way it can fail raised as a SyntaxError (lineno None when it
    has no line)."""
    try:
        with _gc_paused():
            return ast.parse(source)
    except SyntaxError:
        raise
    except (RecursionError, MemoryError):
        raise _Unreadable("the code is nested too deeply to read") from None
    except (ValueError, OverflowError) as exc:  # NUL bytes before Python 3.12, ...
        raise _Unreadable(str(exc) or type(exc).__name__) from None


def _looks_like_output(line: str) -> bool:
    """A line the printed output after a cell's code may start with: not indented, not code."""
    return bool(line.strip()) and not line[:1].isspace() and not CODE_START.match(line)


def _parse_cell(
    lines: list[str], strict: bool
) -> tuple[ast.Module, int] | tuple[None, SyntaxError]:
    """Parse a chunk; returns (module, number of lines kept) or (None, the error).

    strict (a .py file): the whole text or nothing. Otherwise printed output after the code
    is dropped: the longest prefix that parses and is followed by a line that looks like
    output. Each failed attempt bounds the next prefix by its error's line, so a cell takes a
    few parses (at most MAX_PREFIX_PARSES), not one per line.
    """
    try:
        return _parse("\n".join(lines)), len(lines)
    except SyntaxError as exc:
        first = exc
    if strict or first.lineno is None:
        return None, first
    bound = min(len(lines) - 1, first.lineno - 1)  # keep at most this many lines
    for i, line in enumerate(lines):
        if OUTPUT_PROMPT.match(line):
            bound = min(bound, i)
            break
    cuts = [k for k in range(1, len(lines)) if _looks_like_output(lines[k])]
    for _ in range(MAX_PREFIX_PARSES):
        j = bisect.bisect_right(cuts, bound) - 1
        if j < 0:
            break
        k = cuts[j]
        try:
            return _parse("\n".join(lines[:k])), k
        except SyntaxError as exc:
            bound = min(k - 1, (exc.lineno or k) - 1)
    return None, first


def _syntax_message(exc: SyntaxError) -> str:
    text = (exc.msg or str(exc) or "invalid syntax").splitlines()[0]
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def _parse_chunk(
    student: StudentFile, cell: _Cell, strict: bool, magics: bool
) -> Parsed | None:
    """Add the cell's Chunk; its parsed form, or None (a syntax error, a cell magic)."""
    index = len(student.chunks)
    numbered = {cell.first_line + i: line for i, line in enumerate(cell.lines)}
    chunk = Chunk(index, cell.label, cell.file_lines, numbered)
    student.chunks.append(chunk)
    lines = _blank_magics(cell.lines) if magics else cell.lines
    if lines is None:
        student.dropped.append(f"a cell magic ({chunk.where(cell.first_line)})")
        return None
    tree, info = _parse_cell(lines, strict)
    if tree is None:
        assert isinstance(info, SyntaxError)
        line = cell.first_line + (info.lineno or 1) - 1
        where = chunk.label if strict and info.lineno is None else chunk.where(line)
        kind = "" if isinstance(info, _Unreadable) else "SyntaxError: "
        message = f"{where}: {kind}{_syntax_message(info)}"
        if strict:
            raise UserError(f"cannot read the file: {message}")
        student.syntax_errors.append(message)
        return None
    assert isinstance(info, int)
    rest = [line for line in lines[info:] if line.strip()]
    if rest and not cell.file_lines:  # a notebook cell's source holds no printed output
        student.dropped.append(
            "text after the code that does not parse "
            f"({chunk.where(cell.first_line + info)})"
        )
    if not tree.body and any(
        line.strip() and not line.lstrip().startswith("#") for line in lines
    ):
        student.dropped.append(f"output only ({chunk.where(cell.first_line)})")
    return Parsed(chunk, cell.first_line - 1, lines, tree)


__all__ = [
    "Chunk",
    "FunctionInfo",
    "Param",
    "Statement",
    "StudentFile",
    "function_info_from_callable",
    "read_student_file",
]
