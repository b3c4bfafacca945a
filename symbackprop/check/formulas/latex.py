r"""A small LaTeX reader for gradient formulas: tokenizer plus recursive descent, no eval.

Reads what students write by hand: `(\hat{y}-y)\,w^{(2)}_{12}\,\mathbb{1}[z_2>0]\,x_1`,
`\frac{a}{b}`, `\cdot`, `\times`, `\left( \right)`, `^{...}`, `\max(z, 0)`, `\sigma(z)`,
`\operatorname{ReLU}'(z)`, Iverson brackets `[z > 0]`. Juxtaposition is multiplication.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ...spec import registry
from .vocab import (
    BASES,
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
    indicator,
    number,
    power,
)

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<cmd>\\[A-Za-z]+|\\.)"
    r"|(?P<num>\d+(?:\.\d+)?|\.\d+)"
    r"|(?P<word>[A-Za-z]+)"
    r"|(?P<op>>=|<=|[-+*/^_{}()\[\],<>=|'.])"
)
_SKIP = {
    *(r"\, \; \: \! \  \quad \qquad \displaystyle \textstyle".split()),
    *(r"\big \Big \bigg \Bigg \bigl \bigr \Bigl \Bigr \biggl \biggr".split()),
}
_SKIP.add("\\ ")
_TIMES = {"*", r"\cdot", r"\times", r"\ast"}
_COMPARE = {
    ">": ">",
    "<": "<",
    ">=": ">=",
    "<=": "<=",
    r"\gt": ">",
    r"\lt": "<",
    r"\geq": ">=",
    r"\ge": ">=",
    r"\geqslant": ">=",
    r"\leq": "<=",
    r"\le": "<=",
    r"\leqslant": "<=",
}
# The grammar's maths commands; activations are named as the registry's `latex` says.
_MATH_COMMANDS = {
    r"\exp": "exp",
    r"\log": "log",
    r"\ln": "log",
    r"\max": "max",
    r"\min": "min",
}
# Functions whose argument may follow without parentheses (\exp x, \log x): these, and
# activations named by one command (\tanh, \sigma).
_BARE_ARGUMENT = ("exp", "log")
_STYLE_COMMANDS = {
    r"\mathbb",
    r"\mathbf",
    r"\mathds",
    r"\boldsymbol",
    r"\bm",
    r"\mathrm",
    r"\operatorname",
    r"\text",
    r"\textrm",
    r"\mathit",
}
_HAT = {r"\hat", r"\widehat"}
_NOT_FACTOR = {*_TIMES, *_COMPARE, r"\}"}
_OPEN_CLOSE = {"(": ")", "[": "]", "{": "}", r"\{": r"\}", "|": "|"}


@dataclass(frozen=True)
class Token:
    """One token: kind (cmd, num, word, op, end), its text and its column (from 1)."""

    kind: str
    text: str
    column: int


def tokenize(text: str) -> list[Token]:
    """Split LaTeX into tokens, dropping spacing and sizing commands (\\, \\left, \\big...)."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ParseError(f"unexpected character {text[pos]!r} at column {pos + 1}")
        kind = m.lastgroup or ""
        value = m.group()
        pos = m.end()
        if kind == "ws" or value in _SKIP:
            continue
        if value in (r"\left", r"\right"):
            nxt = _TOKEN.match(text, pos)
            if nxt is not None and nxt.group() == ".":
                pos = nxt.end()  # \left. and \right. are invisible delimiters
            continue
        tokens.append(Token(kind, value, m.start() + 1))
        if len(tokens) > MAX_NODES:
            raise ParseError(f"the formula is too long (more than {MAX_NODES} tokens)")
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def activation_commands() -> dict[str, str]:
    r"""Each activation's LaTeX name, as the registry writes it -> the activation.

    `\sigma` -> sigmoid, `\operatorname{ReLU}` -> relu; spacing inside a name is dropped, as
    the reader drops it. Read at every call: activations may be registered at run time.
    """
    out = {}
    for act in registry.ACTIVATIONS.values():
        tokens = _name_tokens(act.latex)
        if tokens:
            out["".join(t.text for t in tokens)] = act.name
    return out


def _name_tokens(latex: str) -> list[Token]:
    """The tokens of a registry LaTeX name (none if the reader cannot read it)."""
    try:
        return tokenize(latex)[:-1]
    except ParseError:
        return []


def _bare_argument(function: str) -> bool:
    r"""Whether the argument may follow without parentheses: \exp x, \log x, \tanh x."""
    if function in _BARE_ARGUMENT:
        return True
    act = registry.ACTIVATIONS.get(function)
    tokens = [] if act is None else _name_tokens(act.latex)
    return len(tokens) == 1 and tokens[0].kind == "cmd"


def parse_latex(text: str, vocab: Vocabulary) -> sp.Expr:
    r"""Parse a LaTeX formula such as `(\hat{y}-y)\,w^{(2)}_{12}\,\mathbb{1}[z_2>0]\,x_1`."""
    check_length(text)
    text = text.strip().strip("$").strip()
    if not text:
        raise ParseError("the formula is empty")
    parser = _LatexParser(tokenize(text), vocab)
    try:
        expr = parser.expression()
    except RecursionError:
        raise ParseError("the formula is nested too deeply") from None
    parser.expect_end()
    return check_result(expr)


def parse_latex_symbol(text: str, vocab: Vocabulary) -> sp.Symbol:
    r"""Parse one LaTeX name such as `w^{(1)}_{12}` (used for `\partial` keys)."""
    expr = parse_latex(text, vocab)
    if not isinstance(expr, sp.Symbol):
        raise ParseError(f"{text!r} is not a single name")
    return expr


class _LatexParser:
    """Recursive descent over the tokens; every node is built by vocab.py's builders."""

    def __init__(self, tokens: list[Token], vocab: Vocabulary) -> None:
        """Parse `tokens`, naming symbols through `vocab`."""
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.vocab = vocab

    # -- token helpers -------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        """The token `ahead` places on (the end token past the end)."""
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        """Consume and return the next token."""
        token = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def accept(self, *texts: str) -> Token | None:
        """Consume the next token if its text is one of `texts`."""
        if self.peek().kind != "end" and self.peek().text in texts:
            return self.take()
        return None

    def expect(self, text: str) -> Token:
        """Consume the next token, which must be `text`."""
        token = self.take()
        if token.text != text:
            found = repr(token.text) if token.kind != "end" else "the end"
            raise ParseError(
                f"expected {text!r} at column {token.column}, found {found}"
            )
        return token

    def expect_end(self) -> None:
        """Refuse anything left after a complete formula."""
        token = self.peek()
        if token.kind != "end":
            raise ParseError(f"unexpected {token.text!r} at column {token.column}")

    def push_back(self, pieces: list[Token]) -> None:
        """Replace the current token by several (a word split into letters, '12' into digits)."""
        self.tokens[self.pos : self.pos + 1] = pieces

    def split_first_char(self) -> None:
        """Keep only the first character of the current token (LaTeX: x_12 is x_1 times 2)."""
        token = self.peek()
        if len(token.text) > 1 and token.kind in ("num", "word"):
            rest = token.text[1:]
            self.push_back(
                [
                    Token(token.kind, token.text[0], token.column),
                    Token(token.kind, rest, token.column + 1),
                ]
            )

    # -- grammar -------------------------------------------------------------------------
    def expression(self) -> sp.Expr:
        """Sums and differences of terms."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(
                f"the formula is nested too deeply (more than {MAX_DEPTH} levels)"
            )
        if self.accept("-"):
            result = -self.term()
        else:
            self.accept("+")
            result = self.term()
        while True:
            if self.accept("+"):
                result = result + self.term()
            elif self.accept("-"):
                result = result - self.term()
            else:
                break
        self.depth -= 1
        return result

    def term(self) -> sp.Expr:
        """Products: explicit (*, \\cdot, \\times), division (/) and juxtaposition."""
        result = self.signed()
        while True:
            if self.accept(*_TIMES):
                result = result * self.signed()
            elif self.accept("/"):
                result = divide(result, self.signed())
            elif self.starts_factor():
                result = result * self.postfix()
            else:
                return result

    def signed(self) -> sp.Expr:
        """A factor with any leading signs (read in a loop: no recursion per sign)."""
        negative = False
        while self.peek().text in ("-", "+"):
            negative ^= self.take().text == "-"
        value = self.postfix()
        return -value if negative else value

    def starts_factor(self) -> bool:
        """True when the next token begins a factor: juxtaposition multiplies."""
        token = self.peek()
        if token.kind in ("num", "word"):
            return True
        if token.kind == "cmd":
            return token.text not in _NOT_FACTOR
        return token.text in ("(", "[", "{")

    def postfix(self) -> sp.Expr:
        """A primary with any powers: x^2, (a+b)^{-1}, e^{-z}."""
        base = self.primary()
        while self.accept("^"):
            exponent = self.script()
            base = sp.exp(exponent) if base == sp.E else power(base, exponent)
        return base

    def script(self) -> sp.Expr:
        """The argument of ^ or \\frac: a {group} or a single character."""
        if self.accept("{"):
            value = self.expression()
            self.expect("}")
            return value
        if self.accept("-"):
            self.split_first_char()
            return -self.primary()
        self.split_first_char()
        return self.primary()

    def primary(self) -> sp.Expr:
        """A number, a (group), an [indicator], a name or a command."""
        token = self.peek()
        if token.kind == "num":
            self.take()
            return number(float(token.text) if "." in token.text else int(token.text))
        if token.text in ("(", "{"):
            self.take()
            value = self.expression()
            if self.peek().text in _COMPARE:  # (z > 0) is an indicator
                value = indicator(value, _COMPARE[self.take().text], self.expression())
            self.expect(_OPEN_CLOSE[token.text])
            return value
        if token.text == "[":
            return self.bracket_indicator()
        if token.kind == "word":
            return self.word()
        if token.kind == "cmd":
            return self.command()
        found = "the end of the formula" if token.kind == "end" else repr(token.text)
        raise ParseError(f"expected a value at column {token.column}, found {found}")

    def bracket_indicator(self) -> sp.Expr:
        """[z > 0], \\{z > 0\\}, (z > 0) or {z > 0} after an indicator: 1 or 0."""
        opener = self.take()
        closer = _OPEN_CLOSE.get(opener.text)
        if closer is None:
            raise ParseError(
                f"expected [condition] after the indicator at column {opener.column}"
            )
        value = self.condition()
        self.expect(closer)
        return value

    def condition(self) -> sp.Expr:
        """`a > b` (or <, >=, <=, \\geq, \\leq): its indicator."""
        lhs = self.expression()
        token = self.take()
        op = _COMPARE.get(token.text)
        if op is None:
            raise ParseError(
                f"expected a comparison such as z > 0 at column {token.column}"
            )
        return indicator(lhs, op, self.expression())

    def word(self) -> sp.Expr:
        """A run of letters: a function (relu), yhat, or single-letter names multiplied."""
        token = self.peek()
        text = token.text
        function = canonical_function(text)
        if function is not None and len(text) > 1:
            self.take()
            return self.call(function)
        if text.lower() == "yhat":
            self.take()
            return self.symbol("yhat", text)
        if len(text) > 1:
            self.push_back(
                [Token("word", c, token.column + k) for k, c in enumerate(text)]
            )
            return self.word()
        self.take()
        if text == "e":
            return sp.E
        base = BASES.get(text.lower())
        if base is None or base == "yhat":
            raise ParseError(
                f"unknown name {text!r} at column {token.column}; the names are "
                f"{self.vocab.describe()} (LaTeX: x_1, y, \\hat{{y}}, w^{{(1)}}_{{12}}, "
                f"b^{{(1)}}_1, z^{{(1)}}_1, h^{{(1)}}_1)"
            )
        return self.symbol(base, text)

    def symbol(self, base: str, written: str) -> sp.Symbol:
        """A name with its subscript (indices) and a parenthesized superscript (layer)."""
        layer: int | None = None
        indices: list[str] | None = None
        for _ in range(2):
            if self.peek().text == "_" and indices is None:
                self.take()
                indices = self.subscript()
                written += "_" + ",".join(indices)
            elif (
                self.peek().text == "^"
                and self.peek(1).text == "{"
                and self.peek(2).text in ("(", "[")
                and layer is None
            ):
                if base in ("x", "y", "yhat"):
                    raise ParseError(
                        f"{written}^{{(...)}}: a superscript in parentheses is a layer, and "
                        f"{written} has none; write a power as ^2"
                    )
                self.take()
                self.take()
                opener = self.take().text
                layer_token = self.take()
                if layer_token.kind != "num" or not layer_token.text.isdigit():
                    raise ParseError(
                        f"the layer at column {layer_token.column} must be a number, "
                        "e.g. w^{(1)}_{12}"
                    )
                self.expect(_OPEN_CLOSE[opener])
                self.expect("}")
                layer = int(layer_token.text)
                written = f"{written}^({layer})"
            else:
                break
        return self.vocab.lookup(base, layer, indices, written)

    def subscript(self) -> list[str]:
        """_1, _{12}, _{1,2} or _{1 2}: a list of digit strings."""
        if self.accept("{"):
            parts: list[str] = []
            while not self.accept("}"):
                token = self.take()
                if token.kind == "num" and token.text.isdigit():
                    parts.append(token.text)
                elif token.text != ",":
                    raise ParseError(
                        f"a subscript holds unit and input numbers, e.g. _{{12}} or _{{1,2}}; "
                        f"found {token.text!r} at column {token.column}"
                    )
            if not parts:
                raise ParseError("an empty subscript _{} has no index")
            return parts
        self.split_first_char()
        token = self.take()
        if token.kind != "num" or not token.text.isdigit():
            raise ParseError(
                f"a subscript must be a number, e.g. x_1 or w^{{(1)}}_{{12}}; found "
                f"{token.text!r} at column {token.column}"
            )
        return [token.text]

    def command(self) -> sp.Expr:
        """A backslash command from the whitelist; anything else is refused."""
        token = self.take()
        name = token.text
        if name in (r"\frac", r"\dfrac", r"\tfrac"):
            numerator = self.script()
            return divide(numerator, self.script())
        if name == r"\sqrt":
            return power(self.script(), sp.Rational(1, 2))
        if name in _HAT:
            return self.hat(token)
        if name == r"\alpha":
            return self.vocab.alpha
        if name in _MATH_COMMANDS:
            return self.call(_MATH_COMMANDS[name])
        activations = activation_commands()
        if name in activations:
            return self.call(activations[name])
        if name in _STYLE_COMMANDS:
            return self.styled(token)
        if name == r"\{":
            value = self.condition()
            self.expect(r"\}")
            return value
        named = ", ".join(activations)
        raise ParseError(
            f"the command {name} at column {token.column} is not supported; use \\frac, "
            f"\\cdot, \\times, \\hat{{y}}, \\max, \\exp, \\log, \\sqrt, "
            f"\\mathbb{{1}}[...], {named}"
        )

    def hat(self, token: Token) -> sp.Expr:
        r"""\hat{y}, \hat y, \hat{y}_1 or \hat{y_1}: the network's output."""
        braced = self.accept("{") is not None
        if not braced:
            self.split_first_char()
        letter = self.take()
        if letter.text != "y":
            raise ParseError(
                f"{token.text} at column {token.column} is only used on y (\\hat{{y}}, the output)"
            )
        if braced:
            value = self.symbol("yhat", r"\hat{y}") if self.peek().text == "_" else None
            self.expect("}")
            if value is not None:
                return value
        return self.symbol("yhat", r"\hat{y}")

    def styled(self, token: Token) -> sp.Expr:
        r"""\mathbb{1}, \operatorname{ReLU}, \mathrm{step}, \mathbf{x}...: look at the content."""
        if self.accept("{"):
            content = ""
            while not self.accept("}"):
                piece = self.take()
                if piece.kind == "end":
                    raise ParseError(
                        f"{token.text}{{ at column {token.column} is not closed"
                    )
                content += piece.text
        else:
            self.split_first_char()
            content = self.take().text
        if content in ("1", "I") or (content == "" and token.text == r"\mathbb"):
            return self.indicator_after(token)
        function = activation_commands().get(f"{token.text}{{{content}}}")
        function = function or canonical_function(content.replace(" ", ""))
        if function is not None:
            return self.call(function)
        if content.lower() == "yhat":
            return self.symbol("yhat", content)
        base = BASES.get(content.lower())
        if len(content) == 1 and base is not None:
            return self.symbol(base, content)
        raise ParseError(
            f"{token.text}{{{content}}} at column {token.column} is not understood; use "
            "\\mathbb{1}[z > 0], \\operatorname{ReLU}(z), \\mathrm{step}(z), or a name"
        )

    def indicator_after(self, token: Token) -> sp.Expr:
        """The condition after \\mathbb{1}: [..], (..), \\{..\\} or _{..}."""
        if self.accept("_"):
            if self.accept("{"):
                nested = self.peek().text in (r"\{", "[", "(")
                value = self.bracket_indicator() if nested else self.condition()
                self.expect("}")
                return value
            raise ParseError(
                "write the condition of \\mathbb{1}_{...} in braces: _{z > 0}"
            )
        if self.peek().text in ("[", "(", "{", r"\{"):
            return self.bracket_indicator()
        raise ParseError(
            f"{token.text}{{1}} at column {token.column} needs a condition: \\mathbb{{1}}[z > 0]"
        )

    def call(self, function: str) -> sp.Expr:
        """A function application: f(x), f{x}, f x (for \\exp and \\log), f'(x) a derivative."""
        prime = self.accept("'") is not None
        bare = _bare_argument(function)
        if self.peek().text == "^" and bare:
            raise ParseError(
                f"write a power of {function} after its argument: ({function}(z))^2"
            )
        if self.peek().text in ("(", "{", r"\{", "["):
            opener = self.take().text
            args = [self.argument(function)]
            while self.accept(","):
                args.append(self.argument(function))
            self.expect(_OPEN_CLOSE[opener])
        elif bare:
            args = [self.postfix()]
        else:
            raise ParseError(
                f"{function} needs its argument in parentheses: {function}(z)"
            )
        if prime:
            if len(args) != 1:
                raise ParseError(f"{function}' takes one argument")
            return derivative_of(function, args[0], self.vocab.alpha)
        if function == "step" and len(args) == 1 and isinstance(args[0], _Condition):
            return args[0].value
        values = [a.value if isinstance(a, _Condition) else a for a in args]
        return apply_function(function, values, self.vocab.alpha)

    def argument(self, function: str) -> sp.Expr:
        """One argument; step's may be a comparison (step(z > 0) is the indicator)."""
        value = self.expression()
        if self.peek().text in _COMPARE:
            if function != "step":
                raise ParseError(f"{function}() does not take a comparison")
            op = _COMPARE[self.take().text]
            return _Condition(indicator(value, op, self.expression()))
        return value


@dataclass(frozen=True)
class _Condition:
    """An indicator built from a comparison inside step(...)."""

    value: sp.Expr
