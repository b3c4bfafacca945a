"""Decide, statement by statement, which top-level statements of a student's file the child
may run (the rules are in load.py's docstring; the expression check is whitelist.py's)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .student_file import Parsed, Statement, StudentFile
from .whitelist import (
    ANNOTATION,
    BUILTIN,
    SAFE_BASES,
    SAFE_DECORATORS,
    VALUE,
    WHOLE,
    Scope,
    annotations_of,
    defaults_of,
    is_dunder,
    is_safe,
    target_names,
)


@dataclass
class _Verdict:
    """Whether a statement is kept; decorators to blank; why a def or class was dropped."""

    keep: bool
    blank: list[ast.expr] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "decorators of A.f"
    reason: str = ""


class Filter:
    """Decide, statement by statement, what the child may run (see the module docstring)."""

    def __init__(self, student: StudentFile, parsed: list[Parsed]) -> None:
        self.student = student
        self.parsed = parsed
        body = [s for p in parsed for s in p.tree.body]
        self.module = Scope(body)
        self.safe_bases: set[str] = set()  # kept classes a later class may derive from

    def run(self) -> None:
        for p in self.parsed:
            for node in p.tree.body:
                self._statement(p, node)

    def _statement(self, p: Parsed, node: ast.stmt) -> None:
        student, chunk = self.student, p.chunk
        start = node.lineno + p.offset
        verdict = self._verdict(node)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return  # a docstring or a bare string: nothing to run, nothing to report
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
            if isinstance(node, ast.ClassDef):  # its methods, as Class.method
                for m in node.body:
                    if isinstance(m, ast.FunctionDef):
                        student.functions.add(m, chunk.where(m.lineno), node.name)
        else:
            student.statements.append(
                Statement(chunk.index, start, _segment(p.lines, node))
            )
            if isinstance(node, ast.Import):
                student.imports |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                student.imports.add(node.module.split(".")[0])

    def _verdict(self, node: ast.stmt) -> _Verdict:
        scope = self.module
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.asname or a.name.split(".")[0] for a in node.names]
            return _Verdict(not any(is_dunder(n) for n in names))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if is_dunder(node.name):
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
                and is_safe(node.annotation, ANNOTATION, scope)
                and _assignment_ok([node.target], node.value, scope)
            )
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            return _Verdict(is_safe(node.value, VALUE, scope))  # np.random.seed(1)
        return _Verdict(False)

    def _class(self, node: ast.ClassDef) -> _Verdict:
        module = self.module
        dropped = _Verdict(
            False, reason="its bases, keywords or body run code when it is defined"
        )
        if is_dunder(node.name) or node.keywords:
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
        scope = Scope(node.body, module)
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
                    and not is_dunder(s.target.id)
                    and is_safe(s.annotation, ANNOTATION, scope)
                    and (s.value is None or is_safe(s.value, WHOLE, scope))
                ):
                    return dropped
            else:
                return dropped
        if not subclass_hook and module.counts.get(node.name) == 1:
            self.safe_bases.add(node.name)
        return _Verdict(True, blank, notes)


def _def_problem(fn: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope) -> str:
    """Why defining `fn` would run code ('' when it would not): defaults and annotations are
    evaluated by `def` itself."""
    if not all(is_safe(d, WHOLE, scope) for d in defaults_of(fn.args)):
        return "its default values call code when it is defined; use plain values as defaults"
    if not all(is_safe(a, ANNOTATION, scope) for a in annotations_of(fn)):
        return "its annotations call code when it is defined; write them as names or strings"
    return ""


def _safe_decorator(d: ast.expr, scope: Scope, properties: set[str]) -> bool:
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


def _assignment_ok(targets: list[ast.expr], value: ast.expr, scope: Scope) -> bool:
    """Names only, none reserved (`__builtins__ = ...` would change every later lookup), and
    a whole value; unpacking iterates the value, so then it must be data or a literal."""
    unpacks = False
    for t in targets:
        names = target_names(t)
        if not names or any(is_dunder(n) for n in names):
            return False
        unpacks |= not isinstance(t, ast.Name)
    if scope.is_data(value):
        return True
    literal = isinstance(value, ast.Tuple | ast.List)
    return (literal or not unpacks) and is_safe(value, WHOLE, scope)


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
