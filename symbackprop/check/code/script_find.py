"""Tutorial scripts (gradients computed at top level, no functions): find the training loop,
the gradient variables and the parameters they update (script_adapter writes what the sandbox runs).

The parent only reads the script's syntax here. The adapter (a `def` run only in the child)
executes the script's cells as written in a fresh namespace, with one change: the training
loop's iterable `it` becomes `__check_code_loop__(it)` (a `while` loop's test is wrapped
likewise), on the same lines, so the student's line numbers stay right. The wrapper copies the
data and parameters before the first pass and, once that pass is over, reads the gradient
variables and stops the script.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...errors import UserError
from .script_adapter import LOOP_HOOK, WHILE_HOOK
from .student_file import StudentFile

MAX_NAMES = 48  # names copied before the pass (the child's dicts hold up to 64 entries)
# a gradient's name -> its parameter's: dW1 -> W1, grad_W1 -> W1, W1_grad -> W1, d_W1 -> W1
GRAD_PREFIXES = ("grad_", "d_", "d")
GRAD_SUFFIXES = ("_grad", "_gradient")


@dataclass(frozen=True)
class Script:
    """A tutorial script's training loop and what the check reads from it."""

    chunk: int
    line: int  # the loop's first line
    header: str  # the loop's first line of code, for messages
    grads: tuple[str, ...]  # the gradient variables
    params: tuple[str, ...]  # the parameter each updates (same order), by first use
    names: tuple[str, ...]  # bound before the loop and read in it: X, y, params, ...
    inputs: tuple[
        str, ...
    ]  # names multiplied with a parameter in the loop (X), likeliest first
    declared: bool  # the gradient variables were named by --grad-vars or a profile
    cells: tuple[tuple[int, str], ...]  # (chunk, code) the adapter runs, loop rewritten


def _cells(student: StudentFile) -> list[tuple[int, str, ast.Module]]:
    """Every chunk that parses, as (index, code at its own line numbers, module)."""
    out = []
    for chunk in student.chunks:
        if not chunk.lines:
            continue
        first = min(chunk.lines)
        code = "\n" * (first - 1) + "\n".join(
            chunk.lines.get(i, "") for i in range(first, max(chunk.lines) + 1)
        )
        try:
            out.append((chunk.index, code, ast.parse(code)))
        except SyntaxError:
            continue
    return out


def _walk(nodes: Sequence[ast.AST]) -> list[ast.AST]:
    """Nodes under `nodes`, not descending into functions, lambdas or classes."""
    out: list[ast.AST] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
        ):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def _stored(nodes: Sequence[ast.AST]) -> set[str]:
    """Names bound by these nodes (assignments, loop targets, imports, defs)."""
    out: set[str] = set()
    for n in _walk(nodes):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
        elif isinstance(n, ast.alias):
            out.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(n.name)
    return out


def _updates(
    loop: ast.For | ast.While, assigned: set[str], bound: set[str]
) -> dict[str, str]:
    """Gradient -> parameter for the loop's `P -= lr * G`, `P += -lr * G`, `P = P - lr * G`:
    P bound before the loop, G computed in it (and not itself updated so)."""
    pairs: list[tuple[str, str]] = []
    for n in _walk(loop.body):
        target, step = None, None
        if isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Sub | ast.Add):
            target, step = n.target, n.value
        elif (
            isinstance(n, ast.Assign)
            and len(n.targets) == 1
            and isinstance(n.value, ast.BinOp)
            and isinstance(n.value.op, ast.Sub | ast.Add)
            and isinstance(n.value.left, ast.Name)
            and isinstance(n.targets[0], ast.Name)
            and n.value.left.id == n.targets[0].id
        ):
            target, step = n.targets[0], n.value.right
        if not isinstance(target, ast.Name) or step is None or target.id not in bound:
            continue
        used = [
            m.id
            for m in _walk([step])
            if isinstance(m, ast.Name) and m.id in assigned and m.id != target.id
        ]
        if len(set(used)) == 1:
            pairs.append((used[0], target.id))
    targets = {p for _, p in pairs}
    out: dict[str, str] = {}
    for g, p in pairs:
        if g not in targets:
            out.setdefault(g, p)
    return out


def _from_calls(loop: ast.For | ast.While, grads: Iterable[str], own: set[str]) -> bool:
    """Whether a gradient variable is what a function returned (`dW1, db1 = backward(...)`,
    the file's own methods too): then the functions are the check, not the loop."""
    wanted = set(grads)
    for n in _walk(loop.body):
        if not isinstance(n, ast.Assign) or not isinstance(n.value, ast.Call):
            continue
        func = n.value.func
        if isinstance(
            func, ast.Name
        ):  # a function's, unless a builtin's (`float(...)`)
            by_function = func.id in own or not hasattr(builtins, func.id)
        else:
            by_function = getattr(func, "attr", "") in own
        if by_function and wanted & _stored(n.targets):
            return True
    return False


def param_of(grad: str) -> str:
    """The parameter a gradient's name names: dW1 -> W1, grad_hidden_weights -> hidden_weights."""
    for suffix in GRAD_SUFFIXES:
        if grad.endswith(suffix) and len(grad) > len(suffix):
            return grad[: -len(suffix)]
    for prefix in GRAD_PREFIXES:
        if grad.startswith(prefix) and len(grad) > len(prefix):
            return grad[len(prefix) :]
    return ""


def _first_use(loop: ast.For | ast.While, name: str) -> tuple[int, int]:
    """Where the loop body first reads `name`."""
    spots = [
        (n.lineno, n.col_offset)
        for n in _walk(loop.body)
        if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
    ]
    return min(spots, default=(10**9, 0))


def _product_partners(loop: ast.For | ast.While, params: set[str]) -> list[str]:
    """Names multiplied with a parameter (np.dot(X, W), X @ W, X.dot(W)), in code order."""
    pairs: list[tuple[ast.AST, ast.AST, ast.AST]] = []
    for n in _walk(loop.body):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult):
            pairs.append((n, n.left, n.right))
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            if n.func.attr in ("dot", "matmul") and len(n.args) == 2:
                pairs.append((n, n.args[0], n.args[1]))
            elif n.func.attr == "dot" and len(n.args) == 1:
                pairs.append((n, n.func.value, n.args[0]))
    out: list[tuple[tuple[int, int], str]] = []
    for node, a, b in pairs:
        for x, w in ((a, b), (b, a)):
            if isinstance(x, ast.Name) and isinstance(w, ast.Name) and w.id in params:
                if x.id not in params:
                    out.append(((node.lineno, node.col_offset), x.id))  # type: ignore[attr-defined]
    return list(dict.fromkeys(name for _, name in sorted(out)))


def find_script(
    student: StudentFile, grad_vars: Sequence[str] | None = None
) -> Script | None:
    """The training loop and its gradient variables (`grad_vars`, else those the parameters
    are updated by); None when no loop updates parameters and none were named. UserError when
    named variables are not a loop's."""
    cells = _cells(student)
    before: set[str] = set()
    found: list[
        tuple[int, int, ast.For | ast.While, dict[str, str], set[str], int]
    ] = []
    for index, _code, tree in cells:
        for top in tree.body:
            loops = [n for n in _walk([top]) if isinstance(n, ast.For | ast.While)]
            for loop in loops:
                assigned = _stored(loop.body)
                # bound before the loop: earlier statements, and set-up in the same one
                bound = before | (_stored([top]) - assigned)
                end = top.end_lineno or top.lineno
                updates = _updates(loop, assigned, bound)
                found.append((index, end, loop, updates, bound, len(found)))
            before |= _stored([top])
    if grad_vars:
        wanted = list(grad_vars)
        fits = [f for f in found if set(wanted) <= _stored(f[2].body)]
        if not fits:
            where = "no loop of the script" if found else "the script has no loop that"
            raise UserError(
                f"--grad-vars: {where} assigns {', '.join(wanted)} "
                f"({student.path.name}; the names are the script's own gradient variables)"
            )
        chosen = max(
            fits, key=lambda f: (f[2].lineno, f[2].col_offset)
        )  # the innermost
        updates = {g: p for g, p in chosen[3].items()}
        params = []
        for g in wanted:
            p = updates.get(g) or param_of(g)
            if not p or p not in chosen[4]:
                raise UserError(
                    f"--grad-vars: no parameter of {student.path.name} is updated by {g} "
                    f"(no `P -= lr * {g}` in the loop, and no variable named {param_of(g) or g!r})"
                )
            params.append(p)
        grads = tuple(wanted)
    else:
        own = {
            n.split(".")[-1] for n in [*student.functions, *student.functions.methods()]
        }
        own |= set(student.skipped_defs)
        useful = [
            f for f in found if len(f[3]) >= 2 and not _from_calls(f[2], f[3], own)
        ]
        if not useful:
            return None
        chosen = max(useful, key=lambda f: (len(f[3]), f[2].lineno))
        pairs = sorted(chosen[3].items(), key=lambda gp: _first_use(chosen[2], gp[1]))
        grads = tuple(g for g, _ in pairs)
        params = [p for _, p in pairs]
    index, end, loop, _, bound, _ = chosen
    read = [
        n.id
        for n in sorted(
            (n for n in _walk(loop.body) if isinstance(n, ast.Name)),
            key=lambda n: (n.lineno, n.col_offset),
        )
        if n.id in bound
    ]
    names = tuple(dict.fromkeys([*params, *read]))[:MAX_NAMES]
    code = next(c for i, c, _ in cells if i == index)
    header = student.code_at(index, loop.lineno)
    return Script(
        index,
        loop.lineno,
        header,
        grads,
        tuple(params),
        names,
        tuple(_product_partners(loop, set(params))),
        bool(grad_vars),
        _rewritten(cells, index, code, loop, end),
    )


def _rewritten(
    cells: list[tuple[int, str, ast.Module]], index: int, code: str,
    loop: ast.For | ast.While, end: int,
) -> tuple[tuple[int, str], ...]:  # fmt: skip
    """The cells up to the loop's, the loop's iterable (or test) wrapped, nothing after it."""
    lines = code.split("\n")[:end]
    node = loop.iter if isinstance(loop, ast.For) else loop.test
    hook = LOOP_HOOK if isinstance(loop, ast.For) else WHILE_HOOK
    assert node.end_lineno is not None and node.end_col_offset is not None
    for line, col, text in sorted(
        [(node.end_lineno, node.end_col_offset, ")"), (node.lineno, node.col_offset, f"{hook}(")],
        reverse=True,
    ):  # fmt: skip
        raw = lines[line - 1].encode("utf-8")  # AST columns count UTF-8 bytes
        lines[line - 1] = (raw[:col] + text.encode() + raw[col:]).decode("utf-8")
    out = [(i, c) for i, c, _ in cells if i < index]
    return (*out, (index, "\n".join(lines) + "\n"))
