"""The whitelist grammar of a matrix equation's right-hand side, by recursive descent.

NumPy-like (`np.dot(W2.T, dZ2)`, `dZ2 * (Z1 > 0)`, `np.sum(dZ2, axis=1, keepdims=True)`) and
maths-like (`W2^T dZ2 ⊙ g'(Z1)`: juxtaposition is the matrix product, `1/m dZ2 A1^T` scales by
1/m, `Σ dZ2` sums over the samples). Only the constructs below are read; anything else is a
ParseError naming it. LaTeX is first rewritten into this notation (latex.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..vocab import MAX_CHARS, MAX_DEPTH, MAX_NODES, ParseError, canonical_function
from . import ast as A

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)"
    r"|(?P<name>[A-Za-z_δΔσŶŷ][A-Za-z0-9_δ]*)"
    r"|(?P<op>\*\*|\.\*|>=|<=|==|[-+*/@⊙∘·×^ᵀ⊤()\[\],=><≥≤Σ∑'.]))"
)
_MODULES = ("np", "numpy")
# entrywise products, matrix products and division, one precedence level, left to right
_TERM_OPS = {
    "*": "mul",
    ".*": "mul",
    "⊙": "mul",
    "∘": "mul",
    "@": "matmul",
    "·": "matmul",
    "×": "matmul",
    "/": "/",
}
_CASTS = ("int64", "float64", "float32", "int32", "float", "int", "array", "asarray")
_ELEMENTWISE = ("exp", "log", "sqrt", "abs", "tanh")
_COMPARE = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "≥": ">=", "≤": "<="}


@dataclass(frozen=True)
class Token:
    """One token: its kind (num, name, op, end), its text and where it starts."""

    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """The tokens of a right-hand side; a character outside the grammar is a ParseError."""
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            raise ParseError(f"{bad!r} at column {pos + 1} is not part of the notation")
        kind = m.lastgroup or "op"
        out.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


def parse_rhs(text: str) -> A.Node:
    """The tree of one right-hand side (never evaluated)."""
    if len(text) > MAX_CHARS:
        raise ParseError(
            f"the equation is {len(text)} characters long; the limit is {MAX_CHARS}"
        )
    parser = _Parser(tokenize(text))
    node = parser.expr()
    if parser.peek.kind != "end":
        raise ParseError(
            f"unexpected {parser.peek.text!r} at column {parser.peek.pos + 1}"
        )
    return node


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.nodes = 0
        self.depth = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def ahead(self, k: int = 1) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def take(self, text: str | None = None) -> Token:
        tok = self.peek
        if text is not None and tok.text != text:
            found = tok.text or "the end"
            raise ParseError(
                f"expected {text!r} at column {tok.pos + 1}, found {found!r}"
            )
        self.i += 1
        return tok

    def accept(self, *texts: str) -> Token | None:
        if self.peek.kind == "op" and self.peek.text in texts:
            return self.take()
        return None

    def _count(self, start: int) -> A.Span:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ParseError(f"the equation is too long (more than {MAX_NODES} parts)")
        return (start, self.tokens[self.i - 1].pos + len(self.tokens[self.i - 1].text))

    def expr(self) -> A.Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(f"the equation is nested more than {MAX_DEPTH} deep")
        start = self.peek.pos
        node = self.term()
        while tok := self.accept("+", "-"):
            node = A.Binary(tok.text, node, self.term(), self._count(start))
        self.depth -= 1
        return node

    def term(self) -> A.Node:
        start = self.peek.pos
        node = self.unary()
        while self.peek.kind == "op" and self.peek.text in _TERM_OPS:
            op = _TERM_OPS[self.take().text]
            right = self.unary()
            if op == "/" and isinstance(right, _Juxt) and _scalar(right.items[0]):
                # 1/m dZ2 A1^T: the coefficient 1/m times the product
                first = A.Binary("/", node, right.items[0], self._count(start))
                node = _fold([first, *right.items[1:]], self)
            else:
                node = A.Binary(
                    op,
                    _fold_one(node, self),
                    _fold_one(right, self),
                    self._count(start),
                )
        return _fold_one(node, self)

    def unary(self) -> A.Node:
        start = self.peek.pos
        if self.accept("-"):
            return A.Neg(_fold_one(self.unary(), self), self._count(start))
        if self.accept("+"):
            return self.unary()
        items = [self.power()]
        while self._starts_atom():
            items.append(self.power())
        return items[0] if len(items) == 1 else _Juxt(tuple(items))

    def _starts_atom(self) -> bool:
        tok = self.peek
        return tok.kind in ("num", "name") or tok.text in ("(", "Σ", "∑", "[")

    def power(self) -> A.Node:
        start = self.peek.pos
        node = self.postfix()
        while True:
            if self.accept("ᵀ", "⊤"):
                node = A.Transpose(node, self._count(start))
            elif self.accept("^"):
                if self.peek.text in ("T", "⊤", "ᵀ"):
                    self.take()
                    node = A.Transpose(node, self._count(start))
                else:
                    node = A.Binary("**", node, self._exponent(), self._count(start))
            elif self.accept("**"):
                node = A.Binary("**", node, self._exponent(), self._count(start))
            else:
                return node

    def _exponent(self) -> A.Node:
        start = self.peek.pos
        if self.accept("("):
            inner = self.expr()
            self.take(")")
            return inner
        if self.accept("-"):
            return A.Neg(self.postfix(), self._count(start))
        return self.postfix()

    def postfix(self) -> A.Node:
        start = self.peek.pos
        node = self.atom()
        while self.peek.text == "." and self.ahead().kind == "name":
            self.take(".")
            method = self.take().text
            if method == "T":
                node = A.Transpose(node, self._count(start))
                continue
            args, kwargs = self.arguments()
            node = self._method(method, node, args, kwargs, start)
        return node

    def _method(
        self,
        method: str,
        node: A.Node,
        args: list[A.Node],
        kwargs: dict[str, A.Node],
        start: int,
    ) -> A.Node:
        if method == "dot" and len(args) == 1:
            return A.Binary("matmul", node, args[0], self._count(start))
        if method in ("sum", "mean"):
            return self._sum(method, [node, *args], kwargs, start)
        if method == "astype":
            return node
        if method == "transpose" and not args:
            return A.Transpose(node, self._count(start))
        raise ParseError(f".{method}(...) is not part of the notation")

    def atom(self) -> A.Node:
        tok = self.peek
        start = tok.pos
        if tok.kind == "num":
            self.take()
            if tok.text == "1" and self.peek.text == "[":  # 1[Z1 > 0]
                return self._bracket(start)
            return A.Num(float(tok.text), self._count(start))
        if tok.text == "[":
            return self._bracket(start)
        if self.accept("Σ", "∑"):
            return A.Sum(self.power(), None, True, span=self._count(start))
        if self.accept("("):
            inner = self._comparison()
            self.take(")")
            return _fold_one(inner, self)
        if tok.kind != "name":
            raise ParseError(
                f"unexpected {tok.text or 'end'!r} at column {tok.pos + 1}"
            )
        self.take()
        name = tok.text
        if name in _MODULES and self.peek.text == ".":
            self.take(".")
            name = self.take().text
            if self.peek.text != "(":
                raise ParseError(f"np.{name} must be called, e.g. np.{name}(A)")
            args, kwargs = self.arguments()
            return self._numpy(name, args, kwargs, start)
        primes = 0
        while self.peek.text == "'" and (self.ahead().text in ("'", "(")):
            self.take()
            primes += 1
        if self.peek.text == "(" and (primes or _is_function(name)):
            args, kwargs = self.arguments()
            return self._function(name, primes, args, kwargs, start)
        if primes:
            raise ParseError(f"{name}' must be applied, e.g. {name}'(Z1)")
        return A.Name(name, self._count(start))

    def _bracket(self, start: int) -> A.Node:
        self.take("[")
        inner = self._comparison()
        self.take("]")
        if not isinstance(inner, A.Compare):
            raise ParseError("1[...] needs a comparison inside, e.g. 1[Z1 > 0]")
        return inner

    def _comparison(self) -> A.Node:
        start = self.peek.pos
        left = self.expr()
        if self.peek.text in _COMPARE:
            op = _COMPARE[self.take().text]
            return A.Compare(op, left, self.expr(), self._count(start))
        return left

    def arguments(self) -> tuple[list[A.Node], dict[str, A.Node]]:
        self.take("(")
        args: list[A.Node] = []
        kwargs: dict[str, A.Node] = {}
        while self.peek.text != ")":
            if self.peek.kind == "name" and self.ahead().text == "=":
                key = self.take().text
                self.take("=")
                kwargs[key] = self._keyword()
            else:
                args.append(self._comparison())
            if not self.accept(","):
                break
        self.take(")")
        return args, kwargs

    def _keyword(self) -> A.Node:
        start = self.peek.pos
        if self.peek.text in ("True", "False"):
            return A.Num(float(self.take().text == "True"), self._count(start))
        if self.accept("-"):
            return A.Num(-float(self.take().text), self._count(start))
        return self.atom()

    def _numpy(
        self, name: str, args: list[A.Node], kwargs: dict[str, A.Node], start: int
    ) -> A.Node:
        def need(n: int) -> None:
            if len(args) != n:
                raise ParseError(
                    f"np.{name}() takes {n} argument(s) here, got {len(args)}"
                )

        if name in ("dot", "matmul", "multiply", "add", "subtract", "divide"):
            need(2)
            op = {"dot": "matmul", "matmul": "matmul", "multiply": "mul", "add": "+"}
            op |= {"subtract": "-", "divide": "/"}
            return A.Binary(op[name], args[0], args[1], self._count(start))
        if name == "transpose":
            need(1)
            return A.Transpose(args[0], self._count(start))
        if name in ("sum", "mean"):
            return self._sum(name, args, kwargs, start)
        if name in _CASTS:
            need(1)
            return args[0]
        if name == "square":
            need(1)
            return A.Binary("**", args[0], A.Num(2.0), self._count(start))
        if name == "power":
            need(2)
            return A.Binary("**", args[0], args[1], self._count(start))
        if name in ("maximum", "minimum"):
            need(2)
            return A.Call(name[:3], tuple(args), span=self._count(start))
        if name == "where":
            need(3)
            return A.Where(args[0], args[1], args[2], self._count(start))
        if name == "heaviside":
            need(2)
            at_zero = args[1]
            op = ">=" if isinstance(at_zero, A.Num) and at_zero.value == 1 else ">"
            return A.Compare(op, args[0], A.Num(0.0), self._count(start))
        if name in _ELEMENTWISE:
            need(1)
            return A.Call(name, tuple(args), span=self._count(start))
        raise ParseError(f"np.{name} is not part of the notation")

    def _sum(
        self, name: str, args: list[A.Node], kwargs: dict[str, A.Node], start: int
    ) -> A.Node:
        if len(args) not in (1, 2) or set(kwargs) - {"axis", "keepdims"}:
            raise ParseError(f"{name}(A, axis=..., keepdims=...) is the form read")
        axis_node = kwargs.get("axis", args[1] if len(args) == 2 else None)
        axis: int | None = None
        if axis_node is not None:
            if not (isinstance(axis_node, A.Num) and axis_node.value in (0, 1, -1)):
                raise ParseError("axis must be 0 or 1")
            axis = 1 if axis_node.value == -1 else int(axis_node.value)
        keep = kwargs.get("keepdims")
        keepdims = isinstance(keep, A.Num) and keep.value == 1
        if axis is None and keep is None and name in ("sum", "mean") and len(args) == 1:
            if name == "sum" and self.tokens[0].text not in _MODULES:
                keepdims = True  # sum(dZ2) in maths: over the samples
        node = A.Sum(args[0], axis, keepdims, name == "mean", self._count(start))
        if axis is None and keep is not None:
            return A.Sum(
                args[0], -1, keepdims, name == "mean", node.span
            )  # every entry
        return node

    def _function(
        self,
        name: str,
        primes: int,
        args: list[A.Node],
        kwargs: dict[str, A.Node],
        start: int,
    ) -> A.Node:
        if kwargs and name not in ("sum", "mean"):
            raise ParseError(f"{name}() takes no keywords")
        if name in ("sum", "mean") and not primes:
            return self._sum(name, args, kwargs, start)
        if name in ("sum_rows", "sum_cols", "sum_samples"):
            if len(args) != 1:
                raise ParseError(f"{name}() takes one argument")
            axis = {"sum_rows": 1, "sum_cols": 0, "sum_samples": None}[name]
            return A.Sum(args[0], axis, True, span=self._count(start))
        if name in ("dot", "matmul") and len(args) == 2:
            return A.Binary("matmul", args[0], args[1], self._count(start))
        if name in ("transpose",) and len(args) == 1:
            return A.Transpose(args[0], self._count(start))
        if name in _CASTS and len(args) == 1:
            return args[0]
        if primes > 1:
            raise ParseError(
                f"{name}{chr(39) * primes}: only first derivatives are read"
            )
        m = re.fullmatch(r"g_?(\d{0,3})", name)
        if m:
            func, layer = "g", int(m.group(1) or 0)
        else:
            canonical = canonical_function(name)
            func, layer = (canonical or name.lower()), 0
        if func in ("step", "heaviside", "indicator"):
            return A.Compare(">", args[0], A.Num(0.0), self._count(start))
        allowed = func == "g" or func == "softmax" or func in _ELEMENTWISE
        allowed = allowed or func in ("max", "min") or canonical_function(func) == func
        if not allowed:
            raise ParseError(f"{name}() is not a function of the notation")
        if func not in ("max", "min") and len(args) != 1:
            raise ParseError(f"{name}() takes one argument")
        return A.Call(func, tuple(args), bool(primes), layer, self._count(start))


@dataclass(frozen=True)
class _Juxt:
    """Items written side by side: a matrix product, folded once its context is known."""

    items: tuple[A.Node, ...]


def _scalar(node: A.Node) -> bool:
    """A number or the batch size: what `1/m ...` divides by."""
    return isinstance(node, A.Num) or (
        isinstance(node, A.Name) and node.text in ("m", "N")
    )


def _fold(items: list[A.Node], parser: _Parser) -> A.Node:
    node = items[0]
    for item in items[1:]:
        start = node.span[0] if hasattr(node, "span") else 0
        parser.nodes += 1
        node = A.Binary("matmul", node, item, (start, item.span[1]))
    return node


def _fold_one(node: A.Node | _Juxt, parser: _Parser) -> A.Node:
    return _fold(list(node.items), parser) if isinstance(node, _Juxt) else node


def _is_function(name: str) -> bool:
    """Whether `name(` is a call: a function of the grammar or the registry, or g, g1."""
    if re.fullmatch(r"g_?\d{0,3}", name):
        return True
    fixed = ("sum", "mean", "sum_rows", "sum_cols", "sum_samples", "dot", "matmul")
    fixed += ("transpose", "softmax", *_CASTS, *_ELEMENTWISE)
    return name in fixed or canonical_function(name) is not None
