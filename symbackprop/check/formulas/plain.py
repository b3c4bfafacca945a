"""Read one plain-text gradient formula into SymPy, never evaluating it (a whitelist over ast).

Plain text is parsed by Python's `ast` and walked with a strict whitelist: numbers, known names,
+ - * / **, whitelisted function calls and comparisons (an indicator: `(z1_1 > 0)` is 1 or 0).
A derivative is written with a prime, `relu'(z1_1)`: the prime becomes the identifier letter
PRIME before Python reads the text, so the call is to the name `reluʹ`. Nothing is passed to
eval, exec, sympify or parse_expr; the LaTeX reader is latex.py, parse.py picks between them.
"""

from __future__ import annotations

import ast
import re

import sympy as sp

from .vocab import (
    MAX_DEPTH,
    MAX_NODES,
    ParseError,
    Vocabulary,
    apply_function,
    canonical_function,
    check_length,
    check_result,
    derivative_of,
    divide,
    function_list,
    indicator,
    number,
    power,
)

# U+02B9 MODIFIER LETTER PRIME, a letter in Python names: relu'(z) is read as reluʹ(z)
PRIME = "\u02b9"
_PRIMED_CALL = re.compile(r"(?<=[A-Za-z0-9_])'(?=\s*\()")
_COMPARISONS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}
_REFUSED = {
    ast.Attribute: "attribute access (a.b) is not allowed; call functions by name, e.g. exp(z1_1)",
    ast.Lambda: "lambda is not allowed; write the formula itself",
    ast.IfExp: "'... if ... else ...' is not allowed; use step(z) or relu(z)",
    ast.BoolOp: "'and'/'or' are not allowed; multiply indicators instead: (a > 0)*(b > 0)",
    ast.NamedExpr: "':=' is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Dict: "dictionaries are not allowed",
    ast.Set: "sets are not allowed",
    ast.Tuple: "tuples are not allowed; one formula per line",
    ast.JoinedStr: "text in quotes is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Await: "await is not allowed",
}


def parse_plain(text: str, vocab: Vocabulary) -> sp.Expr:
    """Parse a plain-text formula such as `(yhat - y) * W2_1_2 * step(z_2) * x_1`."""
    check_length(text)
    text = text.strip()
    if not text:
        raise ParseError("the formula is empty")
    if "^" in text:
        raise ParseError(
            "'^' is not a power in plain text: write ** (e.g. x_1**2), "
            "or write the line in LaTeX"
        )
    try:
        tree = ast.parse(_PRIMED_CALL.sub(PRIME, text), mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ParseError(f"not a formula: {exc.msg}{where}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ParseError("not a formula: it cannot be parsed") from None
    _check_tree_size(tree.body)
    return check_result(_PlainBuilder(vocab).build(tree.body))


def _check_tree_size(root: ast.AST) -> None:
    """Count nodes and depth without recursion, so a hostile tree cannot exhaust the stack."""
    stack = [(root, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ParseError(f"the formula is too long (more than {MAX_NODES} parts)")
        if depth > MAX_DEPTH:
            raise ParseError(
                f"the formula is nested too deeply (more than {MAX_DEPTH} levels)"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _PlainBuilder:
    """Turn a whitelisted Python expression tree into SymPy objects."""

    def __init__(self, vocab: Vocabulary) -> None:
        """Build names through `vocab`."""
        self.vocab = vocab

    def build(self, node: ast.AST) -> sp.Expr:
        """Build one node, refusing anything off the whitelist with a reason."""
        if isinstance(node, ast.Constant):
            return self._constant(node.value)
        if isinstance(node, ast.Name):
            return self.vocab.plain_name(node.id)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.build(node.operand)
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand)
            raise ParseError(
                "only + and - may stand before a value ('not' and '~' are not allowed)"
            )
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.List):
            if len(node.elts) == 1 and isinstance(node.elts[0], ast.Compare):
                return self._compare(node.elts[0])  # Iverson bracket [z1_1 > 0]
            raise ParseError(
                "lists are not allowed; [z1_1 > 0] is the only bracket form"
            )
        reason = _REFUSED.get(type(node))
        raise ParseError(reason or f"{type(node).__name__} is not allowed in a formula")

    def _constant(self, value: object) -> sp.Expr:
        """A number literal (never text, bytes, booleans or complex numbers)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "text in quotes" if isinstance(value, str | bytes) else repr(value)
            raise ParseError(f"{kind} is not allowed; only numbers and names")
        return number(value)

    def _binop(self, node: ast.BinOp) -> sp.Expr:
        """+ - * / and ** (with a literal exponent); every other operator is refused."""
        op = node.op
        if isinstance(op, ast.Pow):
            return power(self.build(node.left), self._exponent(node.right))
        if isinstance(op, ast.MatMult):
            raise ParseError(
                "'@' is not allowed: a formula is for one entry, multiply with *"
            )
        if not isinstance(op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            raise ParseError(
                f"the operator {_op_text(op)} is not allowed; use + - * / **"
            )
        left, right = self.build(node.left), self.build(node.right)
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        return divide(left, right)

    def _exponent(self, node: ast.AST) -> sp.Expr:
        """An exponent is a number literal: 2, -1, 0.5 or 1/2 (never a formula)."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = self._exponent(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Constant):
            return self._constant(node.value)
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Div)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.right, ast.Constant)
        ):
            return divide(
                self._constant(node.left.value), self._constant(node.right.value)
            )
        raise ParseError(
            "the exponent must be a number written out (e.g. **2, **-1, **0.5), not a formula"
        )

    def _call(self, node: ast.Call) -> sp.Expr:
        """A whitelisted function called by name with positional arguments."""
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise ParseError(_REFUSED[ast.Attribute])
            raise ParseError(
                "only functions called by name are allowed, e.g. relu(z1_1)"
            )
        written = node.func.id
        primed = written.endswith(PRIME)
        name = canonical_function(written.removesuffix(PRIME))
        if name is None:
            shown = written.replace(PRIME, "'")
            raise ParseError(
                f"{shown!r} is not an allowed function; use one of {function_list()}"
            )
        if node.keywords:
            raise ParseError(f"{node.func.id}(): keyword arguments are not allowed")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise ParseError(f"{node.func.id}(): '*' arguments are not allowed")
        if primed:
            if len(node.args) != 1:
                raise ParseError(f"{name}' takes one argument")
            return derivative_of(name, self.build(node.args[0]), self.vocab.alpha)
        if name in ("step", "heaviside") and len(node.args) == 1:
            if isinstance(node.args[0], ast.Compare):
                # step(z1_1 > 0) is the indicator itself
                return self._compare(node.args[0])
        if name == "where" and (
            not node.args or not isinstance(node.args[0], ast.Compare)
        ):
            raise ParseError(
                "where(condition, a, b) needs a comparison first, e.g. z1_1 > 0"
            )
        return apply_function(
            name, [self.build(a) for a in node.args], self.vocab.alpha
        )

    def _compare(self, node: ast.Compare) -> sp.Expr:
        """`a > b` and friends: the indicator, 1 where true, else 0."""
        if len(node.ops) != 1:
            raise ParseError("chained comparisons (a < b < c) are not allowed")
        op = _COMPARISONS.get(type(node.ops[0]))
        if op is None:
            raise ParseError("only >, >=, < and <= compare (an indicator is 1 or 0)")
        return indicator(self.build(node.left), op, self.build(node.comparators[0]))

    def _subscript(self, node: ast.Subscript) -> sp.Expr:
        """Only `1[z > 0]`, an indicator; indexing is refused."""
        value, index = node.value, node.slice
        if (
            isinstance(value, ast.Constant)
            and value.value == 1
            and isinstance(index, ast.Compare)
        ):
            return self._compare(index)  # 1[z1_1 > 0]
        raise ParseError(
            "indexing with [...] is not allowed: name one entry instead, e.g. W1_1_2 "
            "(layer 1, unit 1, input 2)"
        )


def _op_text(op: ast.operator) -> str:
    """How an operator is written, for messages."""
    return {
        ast.FloorDiv: "//",
        ast.Mod: "%",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitOr: "|",
        ast.BitAnd: "&",
        ast.BitXor: "^",
    }.get(type(op), type(op).__name__)
