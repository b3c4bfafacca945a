"""Read a student's file (.py, .ipynb, or a text export with `In [n]:` prompts) with `ast` only.

Kept: imports, function and class definitions, and top-level assignments of literal values or
array constructors (`X = np.array([...])`, `lr = 0.05`). Dropped: loops, prints and every other
top-level call, so the training loop never runs. Nothing here executes the student's code.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import UserError

PROMPT = re.compile(r"^\s*In\s*\[\s*[\d* ]*\]\s*:\s?(?P<rest>.*)$")
OUTPUT_PROMPT = re.compile(r"^\s*Out\s*\[\s*\d*\s*\]\s*:")
CODE_START = re.compile(
    r"^(def|class|import|from|for|while|if|elif|else|try|except|with|return|async|@)\b|^@"
)
MAX_BYTES = 5_000_000

# numpy functions an initial-array assignment may call (everything else at top level is dropped)
NUMPY_CALLS = frozenset(
    "array asarray zeros ones full eye identity empty arange linspace zeros_like ones_like "
    "float64 float32 int64 reshape transpose vstack hstack concatenate stack diag sqrt exp "
    "randn rand normal uniform standard_normal random seed default_rng integers".split()
)
METHOD_CALLS = frozenset(
    "reshape astype copy flatten ravel transpose normal uniform standard_normal random "
    "integers randn rand".split()
)
BUILTIN_CALLS = frozenset(
    "float int len tuple list range abs round min max dict".split()
)
SAFE_DECORATORS = frozenset("staticmethod classmethod property".split())


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


@dataclass
class StudentFile:
    """The safe part of a student's file, ready to send to the sandbox."""

    path: Path
    kind: str  # "py", "ipynb" or "text"
    chunks: list[Chunk]
    statements: list[Statement] = field(default_factory=list)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)  # "for loop (seed.txt:73)"
    syntax_errors: list[str] = field(default_factory=list)
    # function or class name -> why it was not kept
    skipped_defs: dict[str, str] = field(default_factory=dict)

    def where(self, chunk: int, line: int) -> str:
        """The student's name for a line of a chunk."""
        return self.chunks[chunk].where(line)

    def code_at(self, chunk: int, line: int) -> str:
        """The text of a line, stripped, or '' when unknown."""
        if 0 <= chunk < len(self.chunks):
            return self.chunks[chunk].lines.get(line, "").strip()
        return ""


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
    except UnicodeDecodeError:
        raise UserError(
            f"{path}: not UTF-8 text; save it as .py, .ipynb or a text export of the notebook"
        ) from None
    if path.suffix.lower() == ".ipynb":
        kind, cells = "ipynb", _ipynb_cells(path, text)
    elif path.suffix.lower() != ".py" and any(
        PROMPT.match(x) for x in text.splitlines()
    ):
        kind, cells = "text", _text_cells(path, text)
    else:
        kind, cells = "py", [_Cell(path.name, True, 1, text.splitlines())]
    student = StudentFile(path=path, kind=kind, chunks=[])
    for cell in cells:
        _add_cell(student, cell, strict=kind == "py")
    if not student.statements:
        raise UserError(
            f"{path}: no Python code found (no imports, functions or assignments)"
        )
    return student


def _ipynb_cells(path: Path, text: str) -> list[_Cell]:
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}: not a valid .ipynb (JSON error at line {exc.lineno})"
        ) from None
    if not isinstance(nb, dict):
        raise UserError(f"{path}: not a Jupyter notebook (no cells)")
    raw_cells = nb.get("cells")
    if (
        raw_cells is None
        and isinstance(nb.get("worksheets"), list)
        and nb["worksheets"]
    ):
        raw_cells = nb["worksheets"][0].get("cells")  # nbformat 3
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
        label = f"{path.name}, cell {i}" + (
            f" (In [{count}])" if count is not None else ""
        )
        cells.append(_Cell(label, False, 1, source.splitlines()))
    return cells


def _text_cells(path: Path, text: str) -> list[_Cell]:
    cells: list[_Cell] = []
    current: _Cell | None = None
    for number, line in enumerate(text.splitlines(), start=1):
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
    return [
        ""
        if line.lstrip().startswith(("%", "!")) or line.rstrip().endswith("?")
        else line
        for line in lines
    ]


def _parse_cell(lines: list[str]) -> tuple[ast.Module, int] | tuple[None, SyntaxError]:
    """Parse a cell, dropping trailing printed output: the longest prefix that parses and
    after which the rest does not look like code. Returns (module, kept line count)."""
    try:
        return ast.parse("\n".join(lines)), len(lines)
    except SyntaxError as exc:
        first_error = exc
    cut = len(lines)
    for i, line in enumerate(lines):
        if OUTPUT_PROMPT.match(line):
            cut = i
            break
    for k in range(cut, 0, -1):
        rest = [line for line in lines[k:] if line.strip()]
        if rest and (rest[0][:1].isspace() or CODE_START.match(rest[0])):
            continue  # what follows is indented or starts like code: not printed output
        try:
            return ast.parse("\n".join(lines[:k])), k
        except SyntaxError:
            continue
    return None, first_error


def _add_cell(student: StudentFile, cell: _Cell, strict: bool) -> None:
    index = len(student.chunks)
    numbered = {cell.first_line + i: line for i, line in enumerate(cell.lines)}
    chunk = Chunk(index, cell.label, cell.file_lines, numbered)
    student.chunks.append(chunk)
    lines = _blank_magics(cell.lines)
    if lines is None:
        student.dropped.append(f"a cell magic ({chunk.where(cell.first_line)})")
        return
    tree, info = _parse_cell(lines)
    if tree is None:
        assert isinstance(info, SyntaxError)
        line = cell.first_line + (info.lineno or 1) - 1
        message = f"{chunk.where(line)}: SyntaxError: {info.msg}"
        if strict:
            raise UserError(f"cannot read the file: {message}")
        student.syntax_errors.append(message)
        return
    offset = cell.first_line - 1
    source = "\n".join(lines)
    numpy_names = _numpy_names(tree)
    for node in tree.body:
        start = node.lineno + offset
        kept = _keep(node, numpy_names)
        if kept is None:
            student.dropped.append(f"{_describe(node)} ({chunk.where(start)})")
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                student.skipped_defs[node.name] = (
                    f"{node.name} ({chunk.where(start)}) was not loaded: its default values "
                    "call code when it is defined"
                )
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            first = node.lineno
            decorators = [d for d in node.decorator_list if _safe_decorator(d)]
            if decorators:
                text = "\n".join(
                    [
                        "@" + ast.get_source_segment(source, d, padded=False)
                        for d in decorators
                    ]
                    + [text]
                )
                first = node.lineno - len(decorators)
            if len(node.decorator_list) > len(decorators):
                student.dropped.append(
                    f"decorators of {node.name} ({chunk.where(start)})"
                )
            student.statements.append(Statement(index, first + offset, text))
            if isinstance(node, ast.FunctionDef):
                student.functions[node.name] = _function_info(node, chunk.where(start))
        else:
            segment = ast.get_source_segment(source, node) or ""
            student.statements.append(Statement(index, start, segment))
    if not tree.body and any(
        line.strip() and not line.lstrip().startswith("#") for line in lines
    ):
        student.dropped.append(f"output only ({chunk.where(cell.first_line)})")


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
        return "assignment computed by a call"
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return f"{node.name} (runs code when defined)"
    return type(node).__name__.lower()


def _numpy_names(tree: ast.Module) -> set[str]:
    """Names bound to numpy (or its submodules/functions) by the file's imports."""
    names = {"np", "numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "numpy":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] == "numpy"
        ):
            for alias in node.names:
                names.add(alias.asname or alias.name)
    return names


def _keep(node: ast.stmt, numpy_names: set[str]) -> ast.stmt | None:
    """The statement if it is safe to define at import time, else None."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return node
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        defaults = [
            *node.args.defaults,
            *(d for d in node.args.kw_defaults if d is not None),
        ]
        return node if all(_safe_expr(d, numpy_names) for d in defaults) else None
    if isinstance(node, ast.ClassDef):
        body_ok = all(
            isinstance(s, ast.FunctionDef | ast.Pass)
            or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            or (isinstance(s, ast.Assign | ast.AnnAssign) and _keep(s, numpy_names))
            for s in node.body
        )
        bases_ok = (
            all(_safe_expr(b, numpy_names) for b in node.bases) and not node.keywords
        )
        return node if body_ok and bases_ok else None
    if isinstance(node, ast.Assign):
        targets_ok = all(_simple_target(t) for t in node.targets)
        return node if targets_ok and _safe_expr(node.value, numpy_names) else None
    if isinstance(node, ast.AnnAssign):
        if node.value is None or not _simple_target(node.target):
            return None
        return node if _safe_expr(node.value, numpy_names) else None
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return None  # a docstring or bare constant: nothing to define
    return None


def _simple_target(t: ast.expr) -> bool:
    if isinstance(t, ast.Name):
        return True
    if isinstance(t, ast.Tuple | ast.List):
        return all(_simple_target(e) for e in t.elts)
    return False


def _safe_decorator(d: ast.expr) -> bool:
    return isinstance(d, ast.Name) and d.id in SAFE_DECORATORS


def _call_name(func: ast.expr, numpy_names: set[str]) -> bool:
    """True for np.array(...), np.random.randn(...), array(...) imported from numpy, x.reshape."""
    if isinstance(func, ast.Name):
        return (
            func.id in BUILTIN_CALLS
            or func.id in numpy_names
            and func.id in NUMPY_CALLS
        )
    if isinstance(func, ast.Attribute):
        root = func.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in numpy_names:
            return func.attr in NUMPY_CALLS
        return func.attr in METHOD_CALLS
    return False


def _safe_expr(node: ast.expr, numpy_names: set[str]) -> bool:
    """Literals, names, arithmetic and whitelisted array constructors: no arbitrary calls."""

    def ok(n: ast.AST | None) -> bool:
        return n is None or _safe_expr(n, numpy_names)  # type: ignore[arg-type]

    if isinstance(node, ast.Constant | ast.Name):
        return True
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return all(ok(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(ok(k) for k in node.keys) and all(ok(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return ok(node.operand)
    if isinstance(node, ast.BinOp):
        return ok(node.left) and ok(node.right)
    if isinstance(node, ast.BoolOp):
        return all(ok(v) for v in node.values)
    if isinstance(node, ast.Compare):
        return ok(node.left) and all(ok(c) for c in node.comparators)
    if isinstance(node, ast.IfExp):
        return ok(node.test) and ok(node.body) and ok(node.orelse)
    if isinstance(node, ast.Attribute):
        return ok(node.value)
    if isinstance(node, ast.Subscript):
        return ok(node.value) and ok(node.slice)
    if isinstance(node, ast.Slice):
        return ok(node.lower) and ok(node.upper) and ok(node.step)
    if isinstance(node, ast.Starred):
        return ok(node.value)
    if isinstance(node, ast.Lambda):
        defaults = [
            *node.args.defaults,
            *(d for d in node.args.kw_defaults if d is not None),
        ]
        return all(ok(d) for d in defaults)
    if isinstance(node, ast.Call):
        return (
            _call_name(node.func, numpy_names)
            and (not isinstance(node.func, ast.Attribute) or ok(node.func.value))
            and all(ok(a) for a in node.args)
            and all(ok(k.value) for k in node.keywords)
        )
    if isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp):
        return ok(node.elt) and all(
            _safe_generator(g, numpy_names) for g in node.generators
        )
    if isinstance(node, ast.DictComp):
        return (
            ok(node.key)
            and ok(node.value)
            and all(_safe_generator(g, numpy_names) for g in node.generators)
        )
    return False


def _safe_generator(g: ast.comprehension, numpy_names: set[str]) -> bool:
    return _safe_expr(g.iter, numpy_names) and all(
        _safe_expr(i, numpy_names) for i in g.ifs
    )


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
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            code = getattr(fn, "__code__", None)
            where = f"{code.co_filename}:{code.co_firstlineno}" if code else node.name
            return _function_info(node, where)
    return None
