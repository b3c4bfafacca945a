"""check-formulas: read a student's per-entry gradient formulas and judge each one with SymPy.

The answer file has one line per parameter entry, `dL/dW1_1_2 = <formula>` (also `W1_1_2:` or
`dW1_1_2 =`), `#` comments and blank lines; `format = latex|plain|auto` switches the notation of
the lines after it. `template(spec)` writes a fill-in file that documents all of this.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from ...derive import Derivation, derive
from ...errors import EXIT_FAILED, EXIT_OK, UserError
from ...spec import NetworkSpec, registry
from .judge import Judge, Verdict, piecewise_units
from .plain import FORMATS, looks_like_latex, parse_formula
from .vocab import MAX_CHARS, ParseError, Vocabulary

MAX_FILE_BYTES = 1_000_000
MAX_LINE_CHARS = MAX_CHARS + 200  # a formula plus its `dL/dW12_34_56 =` key

_KEY_LINE = re.compile(r"\s*(?P<key>[^=:]*?)\s*[=:](?P<formula>.*)")
_PLAIN_KEY = re.compile(
    r"(?:dL\s*/\s*d|∂L\s*/\s*∂|d(?=[WwBb]\d))?(?P<name>[A-Za-z][A-Za-z0-9_]*)"
)
_LATEX_KEYS = (
    re.compile(
        r"\\[dt]?frac\s*\{\s*\\partial\s*(?:L|\\mathcal\s*\{?\s*L\s*\}?|\\ell)\s*\}"
        r"\s*\{\s*\\partial\s*(?P<name>.+)\}"
    ),
    re.compile(
        r"\\partial\s*(?:L|\\mathcal\s*\{?\s*L\s*\}?|\\ell)\s*/\s*\\partial\s*(?P<name>.+)"
    ),
)


@dataclass(frozen=True)
class Answer:
    """One line of the answer file: its number, the formula as written, and its parse."""

    line: int
    text: str
    expr: sp.Expr | None  # None: the line is there but the formula is empty


@dataclass
class EntryResult:
    """The verdict for one parameter entry."""

    name: str
    status: str  # "ok", "wrong" or "missing"
    line: int | None = None
    formula: str | None = None
    verdict: Verdict | None = None

    def to_json(self) -> dict:
        """The JSON object of one entry."""
        v = self.verdict
        return {
            "status": self.status,
            "line": self.line,
            "formula": self.formula,
            "diagnoses": [] if v is None else v.diagnoses,
            "message": self.message,
            "method": None if v is None else v.method,
            "factor": None if v is None else v.factor,
            "counterexample": None if v is None else v.counterexample,
        }

    @property
    def message(self) -> str:
        """One sentence a student can act on."""
        if self.status == "missing":
            how = "the formula is empty" if self.line else "there is no line for it"
            return f"missing: {how}; write `dL/d{self.name} = ...`"
        return self.verdict.message if self.verdict else ""


@dataclass
class FormulaReport:
    """All entries of one answer file, judged; `human()` and `to_json()` present it."""

    source: str
    spec: NetworkSpec
    entries: list[EntryResult]
    units: list[str] = field(default_factory=list)
    regions_checked: int = 1
    regions_possible: int = 1

    @property
    def ok(self) -> bool:
        """True when every entry is answered and correct."""
        return all(e.status == "ok" for e in self.entries)

    @property
    def exit_code(self) -> int:
        """0 all correct, 1 a wrong or missing formula."""
        return EXIT_OK if self.ok else EXIT_FAILED

    def counts(self) -> dict[str, int]:
        """How many entries are ok, wrong and missing."""
        out = {"total": len(self.entries), "ok": 0, "wrong": 0, "missing": 0}
        for e in self.entries:
            out[e.status] += 1
        return out

    def to_json(self) -> dict:
        """The whole report as one JSON-ready object."""
        s = self.spec
        return {
            "ok": self.ok,
            "file": self.source,
            "network": {
                "name": s.name,
                "layers": list(s.layers),
                "activations": list(s.activations),
                "loss": s.loss,
            },
            "reduction": s.reduction,
            "per_sample": True,
            "regions": {
                "units": self.units,
                "checked": self.regions_checked,
                "possible": self.regions_possible,
            },
            "summary": self.counts(),
            "entries": {e.name: e.to_json() for e in self.entries},
        }

    def human(self, unicode: bool = True) -> str:
        """One line per entry (with a counterexample under a wrong one), then a summary."""
        mark = (
            {"ok": "✓", "wrong": "✗", "missing": "?"}
            if unicode
            else {"ok": "ok", "wrong": "XX", "missing": "??"}
        )
        width = max(len(f"dL/d{e.name}") for e in self.entries)
        lines = [f"{self.source}: {_network_line(self.spec)}"]
        for e in self.entries:
            key = f"dL/d{e.name}".ljust(width)
            where = f"line {e.line}: " if e.line and e.status != "ok" else ""
            codes = (
                f"[{', '.join(e.verdict.diagnoses)}] " if e.status == "wrong" else ""
            )
            lines.append(f"{mark[e.status]} {key}  {where}{codes}{e.message}")
            if e.verdict and e.verdict.counterexample:
                lines.extend(
                    "      " + t
                    for t in _counterexample_lines(e.verdict.counterexample)
                )
        c = self.counts()
        region_note = (
            f"; {self.regions_checked} of {self.regions_possible} sign regions of "
            f"{', '.join(self.units)} checked"
            if self.units
            else ""
        )
        lines.append(
            f"{c['ok']} of {c['total']} correct, {c['wrong']} wrong, {c['missing']} missing "
            f"(formulas per sample{region_note})"
        )
        return "\n".join(lines)


def _network_line(spec: NetworkSpec) -> str:
    """One line naming the network: layers, activations, loss, reduction."""
    return (
        f"{spec.name} (layers {'-'.join(map(str, spec.layers))}, activations "
        f"{', '.join(spec.activations)}, loss {spec.loss}, reduction {spec.reduction})"
    )


def _fmt(value: float | None) -> str:
    """A value for people: 6 significant digits, or 'undefined'."""
    return "undefined" if value is None else f"{value:.6g}"


def _counterexample_lines(cx: dict) -> list[str]:
    """The counterexample under a wrong entry: the point, then both values."""
    values = ", ".join(f"{k} = {_fmt(v)}" for k, v in cx["values"].items())
    pre = ", ".join(f"{k} = {_fmt(v)}" for k, v in cx.get("intermediates", {}).items())
    got = "is undefined there" if cx["got"] is None else f"gives {_fmt(cx['got'])}"
    out = [f"counterexample: {values}"]
    out.append(
        (f"(there {pre}) " if pre else "")
        + f"the gradient is {_fmt(cx['expected'])}, your formula {got}"
    )
    return out


# -- the network ---------------------------------------------------------------------------
def _scalar_derivation(spec: NetworkSpec) -> Derivation:
    """derive(spec), refusing a network too large for per-entry closed forms."""
    derivation = derive(spec)
    if derivation.scalar is None:
        why = derivation.notes[0].split(":")[0] if derivation.notes else "too large"
        raise UserError(
            f"check-formulas needs the per-entry closed forms, which {spec.name} is too "
            f"large for ({why}); use a smaller network"
        )
    return derivation


def vocabulary(derivation: Derivation) -> Vocabulary:
    """The names formulas of this network may use."""
    alpha = getattr(derivation.spec, "alpha", 0.01)
    return Vocabulary.from_forms(derivation.scalar, alpha=alpha)


def make_judge(derivation: Derivation, vocab: Vocabulary) -> Judge:
    """A Judge for the derivation: true gradients, definitions and the sign regions."""
    forms = derivation.scalar
    assert forms is not None
    gradients = {
        sym: g
        for name in derivation.spec.param_names
        for sym, g in zip(forms.params[name], forms.gradients[name], strict=True)
    }
    loss = registry.loss(derivation.spec.loss)
    return Judge(
        vocab,
        forms.definitions,
        gradients,
        piecewise_units(derivation.layers, forms.z),
        target_kind=getattr(loss, "targets", "real"),
        seed=derivation.spec.seed,
        rules=derivation.layers,
        output_delta=derivation.output_delta,
    )


# -- the answer file -----------------------------------------------------------------------
def read_answer_file(path: Path) -> str:
    """The text of an answer file, or a UserError (exit 2) saying why it cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UserError(
                f"{path}: the file is {size} bytes; an answer file is at most "
                f"{MAX_FILE_BYTES} bytes (one line per gradient entry)"
            )
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such file; check the path given to check-formulas"
        ) from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; give the answer file") from None
    except UnicodeDecodeError:
        raise UserError(
            f"{path}: not UTF-8 text; save the answer file as plain text"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the file ({exc.strerror})") from None


def parse_answers(
    text: str, vocab: Vocabulary, source: str = "answers", fmt: str = "auto"
) -> dict[sp.Symbol, Answer]:
    """Parse every line; the first problem is a UserError naming the line and the fix."""
    entries = set(vocab.entries)
    answers: dict[sp.Symbol, Answer] = {}
    for number, raw in enumerate(text.splitlines(), start=1):

        def fail(message: str, number: int = number) -> UserError:
            """A UserError naming this line."""
            return UserError(f"{source}:{number}: {message}")

        if len(raw) > MAX_LINE_CHARS:
            raise fail(
                f"the line is {len(raw)} characters long; the limit is {MAX_LINE_CHARS}"
            )
        line = _strip_comment(raw).strip()
        if not line:
            continue
        m = _KEY_LINE.fullmatch(line)
        if m is None:
            raise fail(
                f"expected `dL/dW1_1_2 = formula` (or `W1_1_2: formula`), found {line[:60]!r}"
            )
        key, formula = m["key"], m["formula"].strip()
        if key.lower() == "format":
            fmt = formula.lower()
            if fmt not in FORMATS:
                raise fail(
                    f"format must be one of {', '.join(FORMATS)}, not {formula!r}"
                )
            continue
        try:
            entry = _entry(key, vocab)
        except ParseError as exc:
            raise fail(str(exc)) from None
        if entry not in entries:
            raise fail(
                f"{key!r} is not a parameter entry of {vocab_span(vocab)}; answer lines are "
                "for the weights and biases only"
            )
        if entry in answers:
            raise fail(
                f"{entry} is answered twice (first on line {answers[entry].line})"
            )
        if not formula:
            answers[entry] = Answer(number, "", None)
            continue
        if looks_like_latex(formula) or fmt == "latex":
            formula = _strip_latex_comment(formula)
        try:
            expr = parse_formula(formula, vocab, fmt)
        except ParseError as exc:
            raise fail(f"dL/d{entry}: {exc}") from None
        answers[entry] = Answer(number, formula, expr)
    return answers


def vocab_span(vocab: Vocabulary) -> str:
    """`W1_1_1 .. b2_1` for messages."""
    e = vocab.entries
    return f"this network ({e[0]} .. {e[-1]})"


def _strip_comment(line: str) -> str:
    """Drop a `#` comment, and a whole line starting with LaTeX's `%`."""
    if line.lstrip().startswith("%"):
        return ""
    return line.split("#", 1)[0]


def _strip_latex_comment(formula: str) -> str:
    """Drop a LaTeX `%` comment (an escaped \\% stays)."""
    return re.split(r"(?<!\\)%", formula, maxsplit=1)[0].strip()


def _entry(key: str, vocab: Vocabulary) -> sp.Symbol:
    """The parameter a key names: dL/dW1_1_2, dW1_1_2, W1_1_2, w1_12, \\frac{\\partial L}{...}."""
    for pattern in _LATEX_KEYS:
        m = pattern.fullmatch(key)
        if m:
            from .latex import parse_latex_symbol

            return parse_latex_symbol(m["name"], vocab)
    m = _PLAIN_KEY.fullmatch(key)
    latex = re.fullmatch(r"(?:dL\s*/\s*d|∂L\s*/\s*∂)\s*(?P<name>.*[\\{^].*)", key)
    if m is None and latex is not None:  # dL/dw^{(1)}_{12}
        from .latex import parse_latex_symbol

        return parse_latex_symbol(latex["name"], vocab)
    if m is None:
        raise ParseError(
            f"{key!r} does not name an entry; write e.g. dL/dW1_1_2 = ... or W1_1_2: ..."
        )
    return vocab.plain_name(m["name"])


# -- checking ------------------------------------------------------------------------------
def check_formulas(
    spec: NetworkSpec, text: str, source: str = "answers", fmt: str = "auto"
) -> FormulaReport:
    """Judge an answer file's text against the spec's gradients (UserError on bad input)."""
    derivation = _scalar_derivation(spec)
    vocab = vocabulary(derivation)
    answers = parse_answers(text, vocab, source, fmt)
    judge = make_judge(derivation, vocab)
    results = []
    for entry in vocab.entries:
        answer = answers.get(entry)
        if answer is None or answer.expr is None:
            results.append(
                EntryResult(
                    entry.name, "missing", None if answer is None else answer.line
                )
            )
            continue
        verdict = judge.judge(entry, answer.expr)
        status = "ok" if verdict.ok else "wrong"
        results.append(
            EntryResult(entry.name, status, answer.line, answer.text, verdict)
        )
    return FormulaReport(
        source=source,
        spec=spec,
        entries=results,
        units=[u.name for u in judge.regions.units],
        regions_checked=len(judge.regions.regions),
        regions_possible=judge.regions.possible,
    )


# -- the template --------------------------------------------------------------------------
def template(
    spec: NetworkSpec, check_command: str = "symbackprop check-formulas"
) -> str:
    """A fill-in answer file: every entry of the spec, and the notation, as comments."""
    derivation = _scalar_derivation(spec)
    vocab = vocabulary(derivation)
    loss = registry.loss(spec.loss)
    one_hidden = spec.depth == 2
    per_batch = (
        "the sum of these over the samples (reduction sum)"
        if spec.reduction == "sum"
        else "the average of these over the N samples (reduction mean)"
    )
    forward = []
    prev = "x"
    for rule in derivation.layers:
        n = rule.index
        out = "yhat" if n == spec.depth else f"h{n}"
        act = loss.link if n == spec.depth and loss.link else rule.activation
        forward.append(f"z{n} = W{n} {prev} + b{n}, {out} = {act}(z{n})")
        prev = f"h{n}"
    x, y, yhat = vocab.inputs, vocab.targets, vocab.h[-1]
    lines = [
        f"# symbackprop check-formulas answer file for {_network_line(spec)}",
        f"# loss {spec.loss}: {loss.description}",
        "#",
        "# After each `=`, write the derivative of ONE sample's loss L with respect to that",
        f"# parameter entry: the formulas are per sample. The batch gradient is {per_batch};",
        "# do not write the sum over samples or a 1/N yourself.",
        "#",
        "# Notation (plain text, Python-like):",
        f"#   {_span(x)}  inputs;  {_span(y)}{' (or y)' if len(y) == 1 else ''}  targets;  "
        f"{_span(yhat)}{' (or yhat)' if len(yhat) == 1 else ''}  network outputs",
        "#   Wl_i_j  weight of layer l from input j to unit i (row i, column j of Wl);"
        " also wl_ij, e.g. w2_12",
        "#   bl_i    bias of unit i of layer l",
        "#   zl_i, hl_i  pre-activation and activation of unit i of layer l"
        + ("; with one hidden layer also z_i, h_i" if one_hidden else ""),
        "#   forward pass: " + ";  ".join(forward),
        *(
            [
                f"#   yhat_k is the prediction {loss.link}(z{spec.depth}) (the loss takes the"
                f" logits z{spec.depth})"
            ]
            if getattr(loss, "link", None)
            else []
        ),
        "#   relu(z) = max(z, 0);  step(z) = 1 if z > 0 else 0 = relu'(z)"
        " (also written (z > 0) or heaviside(z))",
        "#   exp, log, tanh, sigmoid, softplus, sqrt, abs, where(z > 0, a, b) (a if z > 0"
        " else b);",
        "#   + - * / ( );  powers with ** (whole numbers up to 10, or 0.5); not ^"
        + (
            f";  alpha = {spec.alpha} (leaky_relu(z) = z if z > 0 else alpha*z)"
            if "leaky_relu" in spec.activations
            else ""
        ),
        "# LaTeX is read too: a line with a backslash or a brace, or every line after"
        " `format = latex`:",
        r"#   (\hat{y}-y)\,w^{(2)}_{12}\,\mathbb{1}[z_2>0]\,x_1   \frac{a}{b}  \cdot  \times"
        r"  \max(z,0)  \sigma(z)  \tanh  \exp  \log",
        "# A line is `dL/dW1_1_2 = formula`, `dW1_1_2 = formula` or `W1_1_2: formula`;"
        " # starts a comment.",
        f"# Check it:  {check_command} FILE   (exit 0: all correct; 1: a formula is wrong or"
        " missing; 2: the file cannot be read)",
    ]
    for n in range(1, spec.depth + 1):
        W = vocab.params[f"W{n}"]
        lines += [
            "",
            f"# layer {n}: W{n} is {W.rows} x {W.cols} (units x inputs), b{n} has {W.rows}"
            f" entr{'y' if W.rows == 1 else 'ies'}",
        ]
        lines += [f"dL/d{s} = " for s in W]
        lines += [f"dL/d{s} = " for s in vocab.params[f"b{n}"]]
    return "\n".join(lines) + "\n"


def _span(symbols: tuple[sp.Symbol, ...]) -> str:
    """`x_1..x_3`, or the one name."""
    return symbols[0].name if len(symbols) == 1 else f"{symbols[0]}..{symbols[-1]}"


def template_entries(spec: NetworkSpec) -> list[str]:
    """The entry names a template lists, in order."""
    return [s.name for s in vocabulary(_scalar_derivation(spec)).entries]


def print_report(
    report: FormulaReport, as_json: bool, say: Callable[[str], None] = print
) -> int:
    """Print the report (human or one JSON object) and return the exit code."""
    if as_json:
        say(json.dumps(report.to_json(), indent=2))
    else:
        say(report.human(unicode=_can_print("✓✗")))
    return report.exit_code


def _can_print(chars: str) -> bool:
    """True when stdout can encode these characters (else ASCII marks)."""
    try:
        chars.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


__all__ = [
    "FormulaReport",
    "check_formulas",
    "parse_answers",
    "print_report",
    "read_answer_file",
    "template",
    "template_entries",
    "vocabulary",
]
