"""What the loader hands on: a student's file as chunks (cells), the statements kept for the
child, and what binding needs to know about each function (its parameters and returns)."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

MAX_CODE_LINE = 200  # characters of a line quoted in a message


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
    docstring: str = ""
    # a parameter unpacked into names: `(Z1, A1, W1, b1, ...) = cache`
    unpacked: dict[str, tuple[str | None, ...]] = field(default_factory=dict)


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

    def add(self, node: ast.FunctionDef, where: str, owner: str = "") -> None:
        """Record a kept `def` (a method of class `owner` as owner.name); a later one of the
        same name replaces it, as at run time."""
        name = f"{owner}.{node.name}" if owner else node.name
        self._defs[name] = (node, where)
        self._infos.pop(name, None)

    def node(self, name: str) -> ast.FunctionDef:
        """The `def` itself (a method's, to read what its class stores on self)."""
        return self._defs[name][0]

    def __getitem__(self, name: str) -> FunctionInfo:
        if name not in self._infos:
            node, where = self._defs[name]
            info = _function_info(node, where)
            if "." in name:  # a method: self is not the caller's to pass
                info = replace(info, name=name, params=info.params[1:])
            self._infos[name] = info
        return self._infos[name]

    def methods(self) -> list[str]:
        """The kept classes' methods, as Class.method (looked up like functions)."""
        return [name for name in self._defs if "." in name]

    def __iter__(self) -> Iterator[str]:  # the top-level functions
        return iter(name for name in self._defs if "." not in name)

    def __len__(self) -> int:
        return sum("." not in name for name in self._defs)


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
    imports: set[str] = field(
        default_factory=set
    )  # top-level modules the kept imports name

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
class Parsed:
    """A chunk that parsed: its (magic-blanked) lines and its module."""

    chunk: Chunk
    offset: int  # add to a line of `tree` to get the chunk's line
    lines: list[str]
    tree: ast.Module


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
        if returns is not None and len(returns) == 1 and returns[0]:
            keys = _dict_assigned(nodes, returns[0])
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
        docstring=ast.get_docstring(fn) or "",
        unpacked=_unpacked(nodes, names),
    )


def _unpacked(
    nodes: list[ast.AST], params: set[str]
) -> dict[str, tuple[str | None, ...]]:
    """Parameters unpacked into a tuple of names, and those names in order."""
    out: dict[str, tuple[str | None, ...]] = {}
    for n in nodes:
        if (
            isinstance(n, ast.Assign)
            and len(n.targets) == 1
            and isinstance(n.targets[0], ast.Tuple | ast.List)
            and isinstance(n.value, ast.Name)
            and n.value.id in params
        ):
            elts = n.targets[0].elts
            out[n.value.id] = tuple(
                e.id if isinstance(e, ast.Name) else None for e in elts
            )
    return out


def _dict_assigned(nodes: list[ast.AST], name: str) -> tuple[str, ...] | None:
    """The string keys of a dict literal assigned to `name` (`grads = {"dW1": dW1, ...}`)."""
    for n in nodes:
        if (
            isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)
            and isinstance(n.value, ast.Dict)
            and n.value.keys
            and all(
                isinstance(k, ast.Constant) and isinstance(k.value, str)
                for k in n.value.keys
            )
        ):
            return tuple(k.value for k in n.value.keys)  # type: ignore[union-attr]
    return None


def function_info_from_callable(fn: object) -> FunctionInfo | None:
    """The same information for an in-process callable, from its source when available."""
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(fn))  # type: ignore[arg-type]
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, RecursionError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            code = getattr(fn, "__code__", None)
            where = f"{code.co_filename}:{code.co_firstlineno}" if code else node.name
            return _function_info(node, where)
    return None
