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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import UserError

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
MAX_CODE_LINE = 200  # characters of a line quoted in a message

# numpy functions an initial-array assignment may call (everything else at top level is dropped)
NUMPY_CALLS = frozenset(
    "array asarray zeros ones full eye identity empty arange linspace zeros_like ones_like "
    "float64 float32 int64 reshape transpose vstack hstack concatenate stack diag sqrt exp "
    "randn rand normal uniform standard_normal random seed default_rng integers".split()
)
# methods a kept value may call on data (an array, a random generator, a list)
METHOD_CALLS = frozenset(
    "reshape astype copy flatten ravel transpose normal uniform standard_normal random "
    "integers randn rand".split()
)
BUILTIN_CALLS = frozenset(
    "float int len tuple list range abs round min max dict".split()
)
SAFE_DECORATORS = frozenset("staticmethod classmethod property".split())
SAFE_BASES = frozenset("object Exception ValueError TypeError RuntimeError".split())
# builtins a kept value may name (when the student never rebinds them)
SAFE_BUILTINS = (
    BUILTIN_CALLS
    | SAFE_DECORATORS
    | SAFE_BASES
    | frozenset("bool complex str bytes set frozenset slice sum".split())
)


@dataclass(frozen=True)
class Chunk:
    """One cell (or the whole .py): how to name its lines, and their text for messages."""

    index: int
    label: str  # "seed.txt" or "hw.ipynb, cell 6 (In [12])"
    file_lines: bool  # True when line numbers are lines of the file itself
    lines: dict[int, str]

    def where(self, line: int) -> str:
        """`seed.txt:37`, or `hw.ipynb, cell 6 (In [12]), line 3` for notebook cells."""
        return (
            f"{self.label}:{line}" if self.file_lines else f"{self.label}, line {line}"
        )


@dataclass(frozen=True)
class Param:
    """One parameter of a student's function."""

    name: str
    has_default: bool
    kind: str  # "positional", "keyword_only", "positional_only", "var"


@dataclass(frozen=True)
class FunctionInfo:
    """What binding needs from a `def`: parameters, the names in its return statement."""

    name: str
    params: tuple[Param, ...]
    # the names of a returned tuple (None for an element that is not a name), or None
    returns: tuple[str | None, ...] | None
    return_keys: tuple[str, ...] | None  # keys of a returned dict literal
    subscript_keys: dict[str, tuple[str, ...]]  # params["W1"] keys used, per parameter
    where: str


@dataclass(frozen=True)
class Statement:
    """A kept top-level statement: its chunk, first line and source text."""

    chunk: int
    line: int
    source: str


class Functions(Mapping[str, FunctionInfo]):
    """The kept top-level functions by name; each FunctionInfo is read when first asked for,
    so a file with thousands of helpers costs nothing for the two that are checked."""

    def __init__(self) -> None:
        self._defs: dict[str, tuple[ast.FunctionDef, str]] = {}
        self._infos: dict[str, FunctionInfo] = {}

    def add(self, node: ast.FunctionDef, where: str) -> None:
        """Record a kept `def`; a later one of the same name replaces it, as at run time."""
        self._defs[node.name] = (node, where)
        self._infos.pop(node.name, None)

    def __getitem__(self, name: str) -> FunctionInfo:
        if name not in self._infos:
            node, where = self._defs[name]
            self._infos[name] = _function_info(node, where)
        return self._infos[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._defs)

    def __len__(self) -> int:
        return len(self._defs)


@dataclass
class StudentFile:
    """The safe part of a student's file, ready to send to the sandbox."""

    path: Path
    kind: str  # "py", "ipynb" or "text"
    chunks: list[Chunk]
    statements: list[Statement] = field(default_factory=list)
    functions: Functions = field(default_factory=Functions)
    dropped: list[str] = field(default_factory=list)  # "for loop (seed.txt:73)"
    syntax_errors: list[str] = field(default_factory=list)
    # function or class name -> why it was not kept
    skipped_defs: dict[str, str] = field(default_factory=dict)

    def where(self, chunk: int, line: int) -> str:
        """The student's name for a line of a chunk."""
        return self.chunks[chunk].where(line)

    def code_at(self, chunk: int, line: int) -> str:
        """The text of a line, stripped and shortened for a message, or '' when unknown."""
        if 0 <= chunk < len(self.chunks):
            text = self.chunks[chunk].lines.get(line, "").strip()
            return text if len(text) <= MAX_CODE_LINE else text[:MAX_CODE_LINE] + "..."
        return ""


@dataclass
class _Cell:
    label: str
    file_lines: bool
    first_line: int  # the file line (or cell line) of the cell's first code line
    lines: list[str]


@dataclass
class _Parsed:
    """A chunk that parsed: its (magic-blanked) lines and its module."""

    chunk: Chunk
    offset: int  # add to a line of `tree` to get the chunk's line
    lines: list[str]
    tree: ast.Module


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
    except UnicodeDecodeError:
        raise UserError(
            f"{path}: not UTF-8 text; save it as .py, .ipynb or a text export of the notebook"
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
        kind, cells = "py", [_Cell(path.name, True, 1, _split_lines(text))]
    student = StudentFile(path=path, kind=kind, chunks=[])
    with _gc_paused():  # a large file makes millions of AST nodes, and no cycles
        parsed = [
            p
            for cell in cells
            if (p := _parse_chunk(student, cell, kind == "py", suffix != ".py"))
        ]
        _Filter(student, parsed).run()
        del parsed  # freed by reference counting, before the collector is back
    if not student.statements:
        raise UserError(
            f"{path}: no Python code found (no imports, functions or assignments)"
        )
    return student


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
        label = f"{path.name}, cell {i}" + (
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
            current = _Cell(path.name, True, number if rest.strip() else number + 1, [])
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
) -> _Parsed | None:
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
    return _Parsed(chunk, cell.first_line - 1, lines, tree)


# statements whose bodies are still the module's (or class body's) scope
_BLOCKS = frozenset(
    [
        ast.For,
        ast.AsyncFor,
        ast.While,
        ast.If,
        ast.With,
        ast.AsyncWith,
        ast.Try,
        ast.TryStar,
    ]
)

# What a name may hold while the kept statements run, from every binding of it in its scope.
DATA = "data"  # values computed from literals, numpy and whitelisted builtins only
MAYBE_DATA = "maybe data"  # while solving: data unless a name it depends on is not
NUMPY = "numpy"  # bound only by imports from numpy
BUILTIN = "builtin"  # one of SAFE_BUILTINS, never rebound
IMPORTED = "imported"  # bound only by imports of other modules
UNBOUND = "unbound"  # never bound here (a NameError, or a builtin not in SAFE_BUILTINS)
STUDENT = (
    "student"  # a def, a class, a lambda, anything else: may be the student's code
)

# how an expression is used
WHOLE, VALUE, ANNOTATION = "whole", "value", "annotation"


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _target_names(target: ast.expr) -> list[str] | None:
    """The names an assignment target binds; None when it is not only names."""
    names: list[str] = []
    stack = [target]
    while stack:
        t = stack.pop()
        if isinstance(t, ast.Name):
            names.append(t.id)
        elif isinstance(t, ast.Tuple | ast.List):
            stack.extend(t.elts)
        elif isinstance(t, ast.Starred):
            stack.append(t.value)
        else:
            return None
    return names


def _defaults(args: ast.arguments) -> list[ast.expr]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def _annotations(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    a = fn.args
    every = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
    found = [x.annotation for x in every if x is not None and x.annotation is not None]
    return found + ([fn.returns] if fn.returns is not None else [])


class _Scope:
    """The kinds of the names of the module, or of one class body (inside the module's)."""

    def __init__(self, body: list[ast.stmt], parent: _Scope | None = None) -> None:
        self.parent = parent
        self.kinds: dict[str, str] = {}
        self.origins: dict[str, set[str]] = {}  # a numpy name -> "numpy.random", ...
        self.counts: dict[str, int] = {}  # bindings per name
        self.other_star = False  # `from module import *` may rebind any builtin
        self.numpy_star = False
        # value -> _check(value, VALUE), made while solving (keyed by the node itself)
        self.checked: dict[ast.expr, tuple[bool, set[str]]] = {}
        self._solve(self._bindings(body))

    def is_data(self, value: ast.expr) -> bool:
        """Whether `value` computes data, reusing the check made while solving."""
        ok, reads = self.checked.get(value) or _check(value, VALUE, self)
        return ok and all(self.kind(r) == DATA for r in reads)

    def kind(self, name: str) -> str:
        """What `name` may hold when a statement of this scope reads it."""
        if _is_dunder(name):
            return STUDENT
        local = self.kinds.get(name)
        if self.parent is None:
            if local is not None:
                return local
            if self.numpy_star and name in NUMPY_CALLS:
                return NUMPY
            if name in SAFE_BUILTINS and not self.other_star:
                return BUILTIN
            return UNBOUND
        outer = self.parent.kind(name)
        if local is None:
            return outer
        if outer == UNBOUND or (outer == DATA and local in (DATA, MAYBE_DATA)):
            return local
        return STUDENT  # a class body reads either binding: both must be harmless

    def numpy_origins(self, name: str) -> set[str]:
        """`numpy.random.randn` for `from numpy.random import randn`, and so on."""
        if self.parent is not None:
            return set() if name in self.kinds else self.parent.numpy_origins(name)
        if name in self.origins:
            return self.origins[name]
        return (
            {f"numpy.{name}"} if self.numpy_star and name not in self.kinds else set()
        )

    def _bindings(self, body: list[ast.stmt]) -> dict[str, list[tuple[str, object]]]:
        """name -> [(how, detail)]: ("value", expr), ("numpy", origin), ("imported", None) or
        ("student", None); from every statement of the scope, also inside loops and blocks
        that are dropped (not inside functions, lambdas or classes)."""
        found: dict[str, list[tuple[str, object]]] = {}

        def bind(name: str, how: str, detail: object = None) -> None:
            found.setdefault(name, []).append((how, detail))

        def assign(target: ast.expr, value: ast.expr) -> None:
            pairs = [(target, value)]
            while pairs:
                t, v = pairs.pop()
                if (
                    isinstance(t, ast.Tuple | ast.List)
                    and isinstance(v, ast.Tuple | ast.List)
                    and len(t.elts) == len(v.elts)
                    and not any(isinstance(e, ast.Starred) for e in [*t.elts, *v.elts])
                ):
                    pairs.extend(zip(t.elts, v.elts, strict=True))
                    continue
                for name in _target_names(t) or []:
                    bind(name, "value", v)

        def student(target: ast.AST | None) -> None:
            if target is not None:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        bind(node.id, "student")

        stack = list(body)
        while stack:
            s = stack.pop()
            if isinstance(s, ast.Import):
                for a in s.names:
                    root = a.name.split(".")[0]
                    name = a.asname or root
                    if root == "numpy":
                        bind(name, "numpy", a.name if a.asname else root)
                    else:
                        bind(name, "imported")
            elif isinstance(s, ast.ImportFrom):
                numpy = s.level == 0 and (s.module or "").split(".")[0] == "numpy"
                for a in s.names:
                    if a.name == "*":
                        self.numpy_star |= numpy
                        self.other_star |= not numpy
                    elif numpy:
                        bind(a.asname or a.name, "numpy", f"{s.module}.{a.name}")
                    else:
                        bind(a.asname or a.name, "imported")
            elif isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bind(s.name, "student")
            elif isinstance(s, ast.Assign):
                for t in s.targets:
                    assign(t, s.value)
            elif isinstance(s, ast.AnnAssign):
                if s.value is not None:
                    assign(s.target, s.value)
            elif isinstance(s, ast.AugAssign):
                if isinstance(s.target, ast.Name):
                    current = ast.Name(id=s.target.id, ctx=ast.Load())
                    bind(s.target.id, "value", ast.BinOp(current, s.op, s.value))
            elif isinstance(s, ast.For):
                names = _target_names(s.target)
                if names is None:
                    student(s.target)
                for name in names or []:
                    bind(name, "value", s.iter)  # an element of s.iter
            elif isinstance(s, ast.AsyncFor):
                student(s.target)
            elif isinstance(s, ast.With | ast.AsyncWith):
                for item in s.items:
                    student(item.optional_vars)
            elif isinstance(s, ast.Try | ast.TryStar):
                for h in s.handlers:
                    if h.name:
                        bind(h.name, "student")
                    stack.extend(h.body)
            elif isinstance(s, ast.Match):
                for case in s.cases:
                    for p in ast.walk(case.pattern):
                        name = getattr(p, "name", None) or getattr(p, "rest", None)
                        if isinstance(name, str):
                            bind(name, "student")
                    stack.extend(case.body)
            if type(s) in _BLOCKS:
                stack.extend(getattr(s, "body", ()))
                stack.extend(getattr(s, "orelse", ()))
                stack.extend(getattr(s, "finalbody", ()))
        return found

    def _solve(self, bindings: dict[str, list[tuple[str, object]]]) -> None:
        """Kinds of the bound names. A name bound only by assignments is data when every value
        is data; values may read other such names, so it is solved as a whole: each name
        starts as maybe data and loses it, with every name that read it, when one of its
        values is not data."""
        values: dict[str, list[ast.expr]] = {}
        for name, binds in bindings.items():
            self.counts[name] = len(binds)
            hows = {how for how, _ in binds}
            if hows == {"numpy"}:
                self.kinds[name] = NUMPY
                self.origins[name] = {str(detail) for _, detail in binds}
            elif hows == {"imported"}:
                self.kinds[name] = IMPORTED
            elif hows == {"value"}:
                self.kinds[name] = MAYBE_DATA
                values[name] = [v for _, v in binds if isinstance(v, ast.expr)]
            else:
                self.kinds[name] = STUDENT
        readers: dict[str, list[str]] = {}
        lost: list[str] = []
        for name, exprs in values.items():
            for expr in exprs:
                ok, reads = _check(expr, VALUE, self)
                self.checked[expr] = ok, reads
                if not ok:
                    lost.append(name)
                    break
                for read in reads:
                    readers.setdefault(read, []).append(name)
        while lost:
            name = lost.pop()
            if self.kinds.get(name) == MAYBE_DATA:
                self.kinds[name] = STUDENT
                lost.extend(readers.get(name, ()))
        for name in values:
            if self.kinds[name] == MAYBE_DATA:
                self.kinds[name] = DATA


def _numpy_call(func: ast.expr, scope: _Scope, local: frozenset[str]) -> bool | None:
    """For `np.random.randn` and `randn` (imported from numpy): whether numpy's function is
    whitelisted; None when `func` is not reached through a numpy name."""
    if isinstance(func, ast.Name):
        if func.id in local or scope.kind(func.id) != NUMPY:
            return None
        origins = scope.numpy_origins(func.id)
        return bool(origins) and all(o.split(".")[-1] in NUMPY_CALLS for o in origins)
    root = func
    while isinstance(root, ast.Attribute):
        if root.attr.startswith("_"):
            return False
        root = root.value
    if not isinstance(root, ast.Name) or root.id in local:
        return None
    if scope.kind(root.id) != NUMPY:
        return None
    return isinstance(func, ast.Attribute) and func.attr in NUMPY_CALLS


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_NUMBER_LIKE = (ast.Constant, ast.UnaryOp)


def _check(root: ast.expr, mode: str, scope: _Scope) -> tuple[bool, set[str]]:
    """Whether evaluating `root` can call only whitelisted code, and the maybe-data names it
    reads (it is safe only if they are data). Iterative: any depth `ast.parse` accepts.

    VALUE: data. Literals, data names, numpy names, operators, attributes and subscripts of
    data, comprehensions, and calls of NUMPY_CALLS (through a numpy name), BUILTIN_CALLS
    (positional arguments only) and METHOD_CALLS (on data), with data arguments.
    WHOLE: a value stored and not called: data, any name, a lambda (its defaults WHOLE), or
    a list, tuple or dict of these. ANNOTATION: names, attributes, `X[...]` of a name that is
    not the student's (`np.ndarray`, `list[int]`, `Optional[...]`), `A | B` and strings.
    (Dispatch is on the exact node type: `ast.parse` makes no subclasses, and a chain of
    isinstance tests was most of the time spent on a large file.)
    """
    reads: set[str] = set()
    stack: list[tuple[ast.AST, str, frozenset[str]]] = [(root, mode, frozenset())]
    push, extend = stack.append, stack.extend
    while stack:
        node, mode, local = stack.pop()
        t = type(node)
        if mode == WHOLE:
            if t is ast.Name:
                continue
            if t is ast.Lambda:
                extend((d, WHOLE, local) for d in _defaults(node.args))
                continue
            if t is ast.List or t is ast.Tuple:
                for e in node.elts:
                    if type(e) is ast.Starred:
                        push((e.value, VALUE, local))  # unpacking iterates it
                    else:
                        push((e, WHOLE, local))
                continue
            if t is ast.Dict:
                for k, v in zip(node.keys, node.values, strict=True):
                    push((v, VALUE if k is None else WHOLE, local))
                    if k is not None:
                        push((k, VALUE, local))
                continue
            if t is ast.IfExp:
                push((node.test, VALUE, local))
                push((node.body, WHOLE, local))
                push((node.orelse, WHOLE, local))
                continue
            mode = VALUE
        if mode == ANNOTATION:
            if t is ast.Constant or t is ast.Name:
                continue
            if t is ast.Attribute and not node.attr.startswith("_"):
                push((node.value, ANNOTATION, local))
                continue
            if t is ast.Subscript:
                base = node.value
                while type(base) is ast.Attribute and not base.attr.startswith("_"):
                    base = base.value
                if type(base) is not ast.Name:
                    return False, reads
                kind = scope.kind(base.id)
                if kind == STUDENT:
                    return False, reads  # A[int] calls the student's __class_getitem__
                if kind == MAYBE_DATA:
                    reads.add(base.id)
                push((node.value, ANNOTATION, local))
                push((node.slice, ANNOTATION, local))
                continue
            if t is ast.Tuple or t is ast.List:
                extend((e, ANNOTATION, local) for e in node.elts)
                continue
            if t is ast.BinOp and type(node.op) is ast.BitOr:
                push((node.left, ANNOTATION, local))
                push((node.right, ANNOTATION, local))
                continue
            return False, reads
        # VALUE
        if t is ast.Constant:
            continue
        if t is ast.Name:
            if node.id in local:
                continue
            kind = scope.kind(node.id)
            if kind == MAYBE_DATA:
                reads.add(node.id)
            elif kind not in (DATA, NUMPY, BUILTIN):
                return False, reads
            continue
        if t is ast.List or t is ast.Tuple or t is ast.Set:
            for e in node.elts:  # a large array literal: most elements are numbers
                te = type(e)
                if te is ast.Constant or (
                    te is ast.UnaryOp and type(e.operand) is ast.Constant
                ):
                    continue
                push((e.value if te is ast.Starred else e, VALUE, local))
            continue
        if t is ast.BinOp:
            push((node.left, VALUE, local))
            push((node.right, VALUE, local))
            continue
        if t is ast.Attribute:
            if node.attr.startswith("_"):
                return False, reads
            push((node.value, VALUE, local))
            continue
        if t is ast.Call:
            func = node.func
            numpy = _numpy_call(func, scope, local)
            if numpy is False:
                return False, reads
            if numpy is None:
                if type(func) is ast.Name:
                    if (
                        func.id in local
                        or func.id not in BUILTIN_CALLS
                        or scope.kind(func.id) != BUILTIN
                        or node.keywords  # max(xs, key=f) would call f
                    ):
                        return False, reads
                elif type(func) is ast.Attribute and func.attr in METHOD_CALLS:
                    push((func.value, VALUE, local))  # a method of data
                else:
                    return False, reads
            extend((a, VALUE, local) for a in node.args)
            extend((k.value, VALUE, local) for k in node.keywords)
            continue
        if t is ast.UnaryOp:
            push((node.operand, VALUE, local))
            continue
        if t is ast.Subscript:
            push((node.value, VALUE, local))
            push((node.slice, VALUE, local))
            continue
        if t is ast.Dict:
            extend((k, VALUE, local) for k in node.keys if k is not None)
            extend((v, VALUE, local) for v in node.values)
            continue
        if t is ast.BoolOp:
            extend((v, VALUE, local) for v in node.values)
            continue
        if t is ast.Compare:
            push((node.left, VALUE, local))
            extend((c, VALUE, local) for c in node.comparators)
            continue
        if t is ast.IfExp:
            extend((x, VALUE, local) for x in (node.test, node.body, node.orelse))
            continue
        if t is ast.Slice:
            extend(
                (x, VALUE, local)
                for x in (node.lower, node.upper, node.step)
                if x is not None
            )
            continue
        if t is ast.Starred:
            push((node.value, VALUE, local))
            continue
        if t is ast.JoinedStr:
            extend((v, VALUE, local) for v in node.values)
            continue
        if t is ast.FormattedValue:
            push((node.value, VALUE, local))
            if node.format_spec is not None:
                push((node.format_spec, VALUE, local))
            continue
        if t in _COMPREHENSIONS:
            inner = local
            for g in node.generators:
                names = _target_names(g.target)
                if g.is_async or names is None:
                    return False, reads
                push((g.iter, VALUE, inner))  # the elements of data are data
                inner = inner | frozenset(names)
                extend((c, VALUE, inner) for c in g.ifs)
            if t is ast.DictComp:
                push((node.key, VALUE, inner))
                push((node.value, VALUE, inner))
            else:
                push((node.elt, VALUE, inner))
            continue
        return False, reads  # a lambda in a call, :=, await, yield...
    return True, reads


def _safe(node: ast.expr | None, mode: str, scope: _Scope) -> bool:
    if node is None:
        return True
    ok, reads = _check(node, mode, scope)
    return ok and not reads


@dataclass
class _Verdict:
    """Whether a statement is kept; decorators to blank; why a def or class was dropped."""

    keep: bool
    blank: list[ast.expr] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "decorators of A.f"
    reason: str = ""


class _Filter:
    """Decide, statement by statement, what the child may run (see the module docstring)."""

    def __init__(self, student: StudentFile, parsed: list[_Parsed]) -> None:
        self.student = student
        self.parsed = parsed
        body = [s for p in parsed for s in p.tree.body]
        self.module = _Scope(body)
        self.safe_bases: set[str] = set()  # kept classes a later class may derive from

    def run(self) -> None:
        for p in self.parsed:
            for node in p.tree.body:
                self._statement(p, node)

    def _statement(self, p: _Parsed, node: ast.stmt) -> None:
        student, chunk = self.student, p.chunk
        start = node.lineno + p.offset
        verdict = self._verdict(node)
        if not verdict.keep:
            student.dropped.append(f"{_describe(node)} ({chunk.where(start)})")
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                student.skipped_defs[node.name] = (
                    f"{node.name} ({chunk.where(start)}) was not loaded: {verdict.reason}"
                )
            return
        for note in verdict.notes:
            student.dropped.append(f"{note} ({chunk.where(start)})")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            text = p.lines[first - 1 : node.end_lineno]
            for d in verdict.blank:
                for line in range(d.lineno, (d.end_lineno or d.lineno) + 1):
                    text[line - first] = ""
            while len(text) > 1 and not text[0].strip():
                text.pop(0)
                first += 1
            student.statements.append(
                Statement(chunk.index, first + p.offset, "\n".join(text))
            )
            if isinstance(node, ast.FunctionDef):
                student.functions.add(node, chunk.where(start))
        else:
            student.statements.append(
                Statement(chunk.index, start, _segment(p.lines, node))
            )

    def _verdict(self, node: ast.stmt) -> _Verdict:
        scope = self.module
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.asname or a.name.split(".")[0] for a in node.names]
            return _Verdict(not any(_is_dunder(n) for n in names))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _is_dunder(node.name):
                return _Verdict(False, reason="it has a reserved __name__")
            reason = _def_problem(node, scope)
            blank = [
                d for d in node.decorator_list if not _safe_decorator(d, scope, set())
            ]
            notes = [f"decorators of {node.name}"] if blank else []
            return _Verdict(not reason, blank, notes, reason)
        if isinstance(node, ast.ClassDef):
            return self._class(node)
        if isinstance(node, ast.Assign):
            return _Verdict(_assignment_ok(node.targets, node.value, scope))
        if isinstance(node, ast.AnnAssign):
            return _Verdict(
                node.value is not None
                and _safe(node.annotation, ANNOTATION, scope)
                and _assignment_ok([node.target], node.value, scope)
            )
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            return _Verdict(_safe(node.value, VALUE, scope))  # np.random.seed(1)
        return _Verdict(False)

    def _class(self, node: ast.ClassDef) -> _Verdict:
        module = self.module
        dropped = _Verdict(
            False, reason="its bases, keywords or body run code when it is defined"
        )
        if _is_dunder(node.name) or node.keywords:
            return dropped
        for base in node.bases:
            if not isinstance(base, ast.Name):
                return dropped
            kind = module.kind(base.id)
            if not (
                (kind == BUILTIN and base.id in SAFE_BASES)
                or base.id in self.safe_bases
            ):
                return dropped  # a library's metaclass, or __init_subclass__, runs code
        scope = _Scope(node.body, module)
        blank = [
            d for d in node.decorator_list if not _safe_decorator(d, module, set())
        ]
        notes = [f"decorators of {node.name}"] if blank else []
        properties: set[str] = set()
        subclass_hook = False
        for s in node.body:
            if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef):
                reason = _def_problem(s, scope)
                if reason:
                    return _Verdict(False, reason=f"its method {s.name}: {reason}")
                unsafe = [
                    d
                    for d in s.decorator_list
                    if not _safe_decorator(d, scope, properties)
                ]
                if unsafe:
                    blank += unsafe
                    notes.append(f"decorators of {node.name}.{s.name}")
                if (
                    any(
                        isinstance(d, ast.Name) and d.id == "property"
                        for d in s.decorator_list
                    )
                    and not unsafe
                ):
                    properties.add(s.name)
                subclass_hook |= s.name == "__init_subclass__"
            elif isinstance(s, ast.Pass) or (
                isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
            ):
                continue
            elif isinstance(s, ast.Assign):
                if not _assignment_ok(s.targets, s.value, scope):
                    return dropped
            elif isinstance(s, ast.AnnAssign):
                if not (
                    isinstance(s.target, ast.Name)
                    and not _is_dunder(s.target.id)
                    and _safe(s.annotation, ANNOTATION, scope)
                    and (s.value is None or _safe(s.value, WHOLE, scope))
                ):
                    return dropped
            else:
                return dropped
        if not subclass_hook and module.counts.get(node.name) == 1:
            self.safe_bases.add(node.name)
        return _Verdict(True, blank, notes)


def _def_problem(fn: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope) -> str:
    """Why defining `fn` would run code ('' when it would not): defaults and annotations are
    evaluated by `def` itself."""
    if not all(_safe(d, WHOLE, scope) for d in _defaults(fn.args)):
        return "its default values call code when it is defined"
    if not all(_safe(a, ANNOTATION, scope) for a in _annotations(fn)):
        return "its annotations call code when it is defined"
    return ""


def _safe_decorator(d: ast.expr, scope: _Scope, properties: set[str]) -> bool:
    """`@staticmethod`, `@classmethod`, `@property` (never rebound) and `@x.setter` for a
    property x of the same class body."""
    if isinstance(d, ast.Name):
        return d.id in SAFE_DECORATORS and scope.kind(d.id) == BUILTIN
    return (
        isinstance(d, ast.Attribute)
        and d.attr in ("setter", "getter", "deleter")
        and isinstance(d.value, ast.Name)
        and d.value.id in properties
    )


def _assignment_ok(targets: list[ast.expr], value: ast.expr, scope: _Scope) -> bool:
    """Names only, none reserved (`__builtins__ = ...` would change every later lookup), and
    a whole value; unpacking iterates the value, so then it must be data or a literal."""
    unpacks = False
    for t in targets:
        names = _target_names(t)
        if not names or any(_is_dunder(n) for n in names):
            return False
        unpacks |= not isinstance(t, ast.Name)
    if scope.is_data(value):
        return True
    literal = isinstance(value, ast.Tuple | ast.List)
    return (literal or not unpacks) and _safe(value, WHOLE, scope)


def _segment(lines: list[str], node: ast.stmt) -> str:
    """The source text of a statement (`ast.get_source_segment` re-splits the whole source
    on every call, which made loading quadratic). Offsets count UTF-8 bytes."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    start, end = node.col_offset, node.end_col_offset
    if first == last:
        return lines[first].encode()[start:end].decode()
    head = lines[first].encode()[start:].decode()
    tail = lines[last].encode()[:end].decode() if end is not None else lines[last]
    return "\n".join([head, *lines[first + 1 : last], tail])


def _describe(node: ast.stmt) -> str:
    kinds = {
        ast.For: "for loop",
        ast.While: "while loop",
        ast.If: "if block",
        ast.With: "with block",
        ast.Try: "try block",
        ast.AugAssign: "in-place update",
    }
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return text
    if isinstance(node, ast.Expr):
        return (
            "top-level call"
            if isinstance(node.value, ast.Call)
            else "top-level expression"
        )
    if isinstance(node, ast.Assign | ast.AnnAssign):
        value = node.value
        if isinstance(value, ast.Call):
            return "assignment computed by a call"
        return "assignment that could run code"
    if isinstance(node, ast.Import | ast.ImportFrom):
        return "import binding a reserved __name__"
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return f"{node.name} (runs code when defined)"
    return type(node).__name__.lower()


def _own_nodes(fn: ast.FunctionDef) -> list[ast.AST]:
    """Nodes of a function's body, not descending into nested functions, lambdas or classes."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(
                child,
                ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef,
            ):
                stack.append(child)
    return out


def _function_info(fn: ast.FunctionDef, where: str) -> FunctionInfo:
    args = fn.args
    params: list[Param] = []
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    for i, a in enumerate(positional):
        kind = "positional_only" if i < len(args.posonlyargs) else "positional"
        params.append(Param(a.arg, i >= first_default, kind))
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append(Param(a.arg, d is not None, "keyword_only"))
    for a in (args.vararg, args.kwarg):
        if a is not None:
            params.append(Param(a.arg, True, "var"))
    nodes = _own_nodes(fn)
    returns_nodes = sorted(
        (n for n in nodes if isinstance(n, ast.Return) and n.value is not None),
        key=lambda n: (n.lineno, n.col_offset),
    )
    returns: tuple[str | None, ...] | None = None
    keys: tuple[str, ...] | None = None
    if returns_nodes:
        value = returns_nodes[-1].value
        if isinstance(value, ast.Tuple | ast.List):
            returns = tuple(
                e.id if isinstance(e, ast.Name) else None for e in value.elts
            )
        elif isinstance(value, ast.Name):
            returns = (value.id,)
        elif isinstance(value, ast.Dict) and all(
            isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys
        ):
            keys = tuple(k.value for k in value.keys)  # type: ignore[union-attr]
    names = {p.name for p in params}
    subscripts: dict[str, list[str]] = {}
    for n in nodes:
        if (
            isinstance(n, ast.Subscript)
            and isinstance(n.value, ast.Name)
            and n.value.id in names
            and isinstance(n.slice, ast.Constant)
            and isinstance(n.slice.value, str)
        ):
            subscripts.setdefault(n.value.id, [])
            if n.slice.value not in subscripts[n.value.id]:
                subscripts[n.value.id].append(n.slice.value)
    return FunctionInfo(
        name=fn.name,
        params=tuple(params),
        returns=returns,
        return_keys=keys,
        subscript_keys={k: tuple(v) for k, v in subscripts.items()},
        where=where,
    )


def function_info_from_callable(fn: object) -> FunctionInfo | None:
    """The same information for an in-process callable, from its source when available."""
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(fn))  # type: ignore[arg-type]
        tree = _parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            code = getattr(fn, "__code__", None)
            where = f"{code.co_filename}:{code.co_firstlineno}" if code else node.name
            return _function_info(node, where)
    return None
