"""What a kept statement may evaluate while the child defines it: the names of the module (and
of class bodies) by what they may hold, and a check that an expression calls nothing but
whitelisted numpy constructors, builtins and array methods on data."""

from __future__ import annotations

import ast

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


def is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def target_names(target: ast.expr) -> list[str] | None:
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


def defaults_of(args: ast.arguments) -> list[ast.expr]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def annotations_of(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    a = fn.args
    every = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
    found = [x.annotation for x in every if x is not None and x.annotation is not None]
    return found + ([fn.returns] if fn.returns is not None else [])


class Scope:
    """The kinds of the names of the module, or of one class body (inside the module's)."""

    def __init__(self, body: list[ast.stmt], parent: Scope | None = None) -> None:
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
        if is_dunder(name):
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
                for name in target_names(t) or []:
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
                names = target_names(s.target)
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


def _numpy_call(func: ast.expr, scope: Scope, local: frozenset[str]) -> bool | None:
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


def _package_attribute(
    node: ast.Attribute, scope: Scope, local: frozenset[str]
) -> bool:
    """`torch.float32`, `np.random.default_rng`: public attributes of a name only imports bind
    (the installed packages the sandbox offers, never the student's code)."""
    base: ast.expr = node
    while type(base) is ast.Attribute:
        if base.attr.startswith("_"):
            return False
        base = base.value
    return (
        type(base) is ast.Name
        and base.id not in local
        and scope.kind(base.id) in (IMPORTED, NUMPY)
    )


def _check(root: ast.expr, mode: str, scope: Scope) -> tuple[bool, set[str]]:
    """Whether evaluating `root` can call only whitelisted code, and the maybe-data names it
    reads (it is safe only if they are data). Iterative: any depth `ast.parse` accepts.

    VALUE: data. Literals, data names, numpy names, operators, attributes and subscripts of
    data, comprehensions, and calls of NUMPY_CALLS (through a numpy name), BUILTIN_CALLS
    (positional arguments only) and METHOD_CALLS (on data), with data arguments.
    WHOLE: a value stored and not called: data, any name, an imported package's attribute
    (`torch.float32`), a lambda (its defaults WHOLE), or a list, tuple or dict of these. ANNOTATION: names, attributes, `X[...]` of a name that is
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
                extend((d, WHOLE, local) for d in defaults_of(node.args))
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
            if t is ast.Attribute and _package_attribute(node, scope, local):
                continue  # `dtype=torch.float32`: read off an installed package, not called
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
                names = target_names(g.target)
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


def is_safe(node: ast.expr | None, mode: str, scope: Scope) -> bool:
    if node is None:
        return True
    ok, reads = _check(node, mode, scope)
    return ok and not reads
