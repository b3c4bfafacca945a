"""LaTeX matrix equations rewritten, command by whitelisted command, into the plain notation.

`W^{[2]T}` -> `W2^T`, `(W^{(2)})^\\top` -> `(W2)^T`, `\\odot` -> `⊙`, `\\frac{1}{m}` ->
`(1)/(m)`, `\\sum_{i=1}^{m}` -> `Σ`, `g^{[1]\\prime}(Z^{[1]})` -> `g1'(Z1)`,
`\\mathbb{1}[Z^{[1]}>0]` -> `1[Z1>0]`, `\\frac{\\partial L}{\\partial W^{[2]}}` -> `dW2`. An
unknown command is a ParseError; the result is parsed by parse.py like any plain line.
"""

from __future__ import annotations

import re

from ..vocab import ParseError

_SYMBOLS = {
    r"\odot": " ⊙ ",
    r"\circ": " ∘ ",
    r"\ast": " * ",
    r"\cdot": " · ",
    r"\times": " × ",
    r"\top": "T",
    r"\intercal": "T",
    r"\prime": "'",
    r"\delta": "δ",
    r"\Delta": "Δ",
    r"\sigma": "sigma",
    r"\tanh": "tanh",
    r"\exp": "exp",
    r"\log": "log",
    r"\ln": "log",
    r"\max": "max",
    r"\geq": ">=",
    r"\ge": ">=",
    r"\leq": "<=",
    r"\le": "<=",
    r"\gt": ">",
    r"\lt": "<",
    r"\{": "[",
    r"\}": "]",
}
_DROP = (r"\left", r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\big", r"\Big")
_SPACES = (r"\,", r"\;", r"\!", r"\:", r"\quad", r"\qquad", "~")
_WRAPPERS = ("mathbf", "boldsymbol", "mathrm", "text", "operatorname", "mathit", "bm")
_LOSS = r"(?:L|J|\\mathcal\s*\{?\s*L\s*\}?|\\ell)"
_COMMAND = re.compile(r"\\[A-Za-z]+|\\.")
# a layer superscript: ^{[2]}, ^{(2)}, ^{[2]T}, ^{(2)\top}, ^{[1]\prime}; or a subscript _{2};
# deeplearning.ai's sample index after the layer, ^{[2](i)}, is the sum's index: dropped
_LAYER_SUP = re.compile(
    r"\^\{\s*[\[(]\s*(\d{1,3})\s*[\])]\s*(?:\(\s*[a-z]\s*\))?\s*(T|')?\s*\}"
    r"|\^\s*[\[(](\d{1,3})[\])]"
)


def _group(text: str, start: int) -> tuple[str, int]:
    """The contents of the {...} group at `start` and the index after it."""
    while start < len(text) and text[start] == " ":
        start += 1
    if start >= len(text) or text[start] != "{":
        if start < len(text):  # a one-character argument: \frac12
            return text[start], start + 1
        raise ParseError("a LaTeX command is missing its {argument}")
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i], i + 1
    raise ParseError("a { has no matching }")


def _replace_command(text: str, name: str, build: object) -> str:
    """Rewrite every `\\name{a}{b}...` with build(a, b, ...)."""
    assert callable(build)
    arity = build.__code__.co_argcount
    out = []
    i = 0
    pattern = re.compile(re.escape("\\" + name) + r"(?![A-Za-z])")
    while m := pattern.search(text, i):
        out.append(text[i : m.start()])
        j, args = m.end(), []
        for _ in range(arity):
            arg, j = _group(text, j)
            args.append(arg)
        out.append(build(*args))
        i = j
    out.append(text[i:])
    return "".join(out)


def latex_name(text: str) -> str:
    """A LaTeX name written plainly: W^{[2]} -> W2, \\delta^{(2)} -> δ2, \\hat{Y} -> Yhat."""
    return re.sub(r"\s+", "", latex_to_plain(text))


def _partial(num: str, den: str) -> str:
    if re.fullmatch(r"\s*\\partial\s*" + _LOSS + r"\s*", num):
        den = re.sub(r"^\s*\\partial\s*", "", den)
        return "d" + latex_name(den)
    return f"(({num})/({den}))"


def latex_to_plain(text: str) -> str:
    """The plain notation of a LaTeX expression (or an equation's left side)."""
    s = text.replace("$", " ")
    s = re.sub(r"\\[dt]frac(?![A-Za-z])", r"\\frac", s)
    s = _replace_command(s, "frac", _partial)
    s = re.sub(
        r"\\partial\s*" + _LOSS + r"\s*/\s*\\partial\s*", "d", s
    )  # \partial L / \partial W^{[2]}
    s = _replace_command(s, "hat", lambda a: latex_name(a) + "hat")
    s = re.sub(r"\\(?:mathbb|mathbf|bm)\s*\{\s*1\s*\}", "1", s)
    for wrapper in _WRAPPERS:
        s = _replace_command(s, wrapper, lambda a: " " + a + " ")
    s = re.sub(
        r"\\sum(?:\s*_\s*(?:\{[^{}]*\}|\S))?(?:\s*\^\s*(?:\{[^{}]*\}|\S))?", " Σ ", s
    )
    for word in _DROP:
        s = re.sub(re.escape(word) + r"(?![A-Za-z])", "", s)
    for space in _SPACES:
        s = s.replace(space, " ")
    s = _COMMAND.sub(lambda m: _command(m.group(0)), s)
    s = _LAYER_SUP.sub(_layer, s)
    s = re.sub(r"\^\s*\{\s*T\s*\}", "^T", s)
    s = re.sub(r"_\s*\{\s*(\d{1,3})\s*\}", r"\1", s)  # W_{2} -> W2
    s = re.sub(r"(?<=[A-Za-zδΔ])_(\d{1,3})", r"\1", s)
    s = re.sub(r"(?<=[A-Za-z])\s+'", "'", s)
    return s.replace("{", "(").replace("}", ")")


def _command(cmd: str) -> str:
    if cmd in _SYMBOLS:
        return _SYMBOLS[cmd]
    raise ParseError(f"the LaTeX command {cmd} is not part of the notation")


def _layer(m: re.Match[str]) -> str:
    layer = m.group(1) or m.group(3)
    mark = m.group(2) or ""
    return layer + ("^T" if mark == "T" else mark)
