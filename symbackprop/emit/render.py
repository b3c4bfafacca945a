"""Render templates with Jinja2, format generated Python with ruff, write files atomically."""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..errors import UserError


def templates_dir() -> Path:
    """templates/ inside an installed wheel, else the checkout's top-level templates/."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise UserError(
        "symbackprop's templates/ folder is missing; reinstall the package", exit_code=4
    )


def environment(latex: bool = False) -> jinja2.Environment:
    """Strict Jinja2: undefined names fail; LaTeX templates use ((* *)) and ((( ))) delimiters."""
    options: dict[str, Any] = dict(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    if latex:
        options.update(
            block_start_string="((*",
            block_end_string="*))",
            variable_start_string="(((",
            variable_end_string=")))",
            comment_start_string="((=",
            comment_end_string="=))",
            line_comment_prefix="%#",
        )
    env = jinja2.Environment(**options)
    env.globals["runtime"] = runtime
    return env


RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime"
# a slot's first and last lines: `# slot NAME: why` ... `# end slot NAME` (symbackprop/runtime)
_SLOT_START = re.compile(r"^[ \t]*# slot (\w+):.*$")
_SLOT_END = "# end slot {}"


def runtime(name: str, **slots: str) -> str:
    """symbackprop/runtime/NAME.py as a template includes it: the code after its imports.

    Dropped: the module docstring and the leading imports (the generated file has its own,
    and defines what `_trainer` stands in for), the `def cell() -> None:` wrapper of a
    notebook cell's top-level code, and each slot's default, replaced by `slots[NAME]`.
    """
    out: list[str] = []
    filled: list[str] = []
    skip_to = None
    for line in _runtime_body(name):
        if skip_to is not None:
            if line.strip() == skip_to:
                skip_to = None
            continue
        start = _SLOT_START.match(line)
        if start is None:
            out.append(line)
            continue
        slot = start.group(1)
        if slot not in slots:
            raise _internal(f"runtime/{name}.py: the template gave no slot {slot}")
        filled.append(slot)
        out += slots[slot].strip("\n").split("\n") if slots[slot].strip() else []
        skip_to = _SLOT_END.format(slot)
    if skip_to is not None or sorted(filled) != sorted(slots):
        raise _internal(
            f"runtime/{name}.py has slots {filled}, the template gave {sorted(slots)}"
        )
    return "\n".join(out).strip("\n")


@functools.cache
def _runtime_body(name: str) -> tuple[str, ...]:
    """The lines of runtime/NAME.py after its docstring and imports, `cell()` inlined."""
    path = RUNTIME_DIR / f"{name}.py"
    if not re.fullmatch(r"[a-z]\w*", name) or not path.is_file():
        raise _internal(f"no runtime module {name!r} in {RUNTIME_DIR}")
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    n_header = 0
    for node in tree.body:
        docstring = n_header == 0 and isinstance(node, ast.Expr)
        if not (docstring or isinstance(node, ast.Import | ast.ImportFrom)):
            break
        n_header += 1
    header, body = tree.body[:n_header], tree.body[n_header:]
    if any(isinstance(n, ast.Import | ast.ImportFrom) for n in body):
        raise _internal(
            f"runtime/{name}.py imports after its code; the include drops imports"
        )
    cell = body[-1] if body else None
    if isinstance(cell, ast.FunctionDef) and cell.name == "cell":
        if cell.decorator_list or ast.get_docstring(cell) is None:
            raise _internal(
                f"runtime/{name}.py: cell() needs a docstring, no decorators"
            )
        first, last = cell.body[0].end_lineno or 0, cell.end_lineno or 0
        inlined = [_dedent(line, name) for line in lines[first:last]]
        expected = ast.dump(ast.Module(body=cell.body[1:], type_ignores=[]))
        if ast.dump(ast.parse("\n".join(inlined))) != expected:
            raise _internal(f"runtime/{name}.py: cell() cannot be inlined line by line")
        lines = lines[: cell.lineno - 1] + inlined
    start = (header[-1].end_lineno or 0) if header else 0
    return tuple(lines[start:])


def _dedent(line: str, name: str) -> str:
    if line.strip() and not line.startswith("    "):
        raise _internal(
            f"runtime/{name}.py: a line of cell() is not indented: {line!r}"
        )
    return line[4:]


def _internal(message: str) -> UserError:
    return UserError(f"internal error: {message}", exit_code=4)


def render(template: str, **context: Any) -> str:
    """Render one template by name; .tex templates get the LaTeX-safe delimiters."""
    env = environment(latex=template.endswith(".tex.jinja"))
    return env.get_template(template).render(**context)


def render_blocks(
    templates: Sequence[str], names: Sequence[str], **context: Any
) -> list[str]:
    """Each named block rendered on its own, from the last of `templates` that defines it.

    Every block the templates define must be named, so none is silently left out.
    """
    env = environment(latex=any(t.endswith(".tex.jinja") for t in templates))
    loaded = [env.get_template(t) for t in templates]
    unnamed = {b for t in loaded for b in t.blocks} - set(names)
    if unnamed:
        raise _internal(
            f"{', '.join(templates)}: blocks {sorted(unnamed)} not rendered"
        )
    out = []
    for name in names:
        owner = next((t for t in reversed(loaded) if name in t.blocks), None)
        if owner is None:
            raise _internal(f"no block {name!r} in {', '.join(templates)}")
        out.append("".join(owner.blocks[name](owner.new_context(context))))
    return out


def header(spec_description: str, command: str) -> list[str]:
    """The lines every generated file starts with: what made it, from what spec, how to redo it."""
    return [
        f"Generated by symbackprop {__version__} from spec {spec_description}.",
        f"Do not edit by hand: regenerate with `{command}`.",
    ]


def format_python(source: str) -> str:
    """Format generated code with ruff (the pinned version), so it is `ruff format` clean."""
    return format_python_many([source])[0]


def format_python_many(sources: Sequence[str]) -> list[str]:
    """Format several pieces of generated code, each as a file of its own, in one ruff call."""
    if not sources:
        return []
    try:
        from ruff.__main__ import find_ruff_bin

        ruff = os.fsdecode(find_ruff_bin())
    except (ImportError, FileNotFoundError):
        raise UserError(
            "ruff is not installed; run: pip install 'ruff>=0.17,<0.18'", exit_code=4
        ) from None
    with tempfile.TemporaryDirectory(prefix="symbackprop-format-") as folder:
        paths = [Path(folder) / f"piece_{i:03d}.py" for i in range(len(sources))]
        for path, source in zip(paths, sources, strict=True):
            path.write_text(source, encoding="utf-8")
        # files named one by one: ruff formats a named file whatever its folder is called
        options = ["format", "--isolated", "--no-cache", "--line-length", "88"]
        result = subprocess.run(
            [ruff, *options, *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise UserError(
                f"internal error: generated code does not parse: {result.stderr.strip()}",
                exit_code=4,
            )
        return [path.read_text(encoding="utf-8") for path in paths]


GENERATED_MARK = "Generated by symbackprop"


# what each artefact is and the name ending its file must have
ARTEFACTS = {
    "trainer": ("a Python trainer", ".py"),
    "latex": ("LaTeX source", ".tex"),
    "notebook": ("a Jupyter notebook", ".ipynb"),
    "pdf": ("a PDF", ".pdf"),
}
STDOUT = Path("-")


def check_output(path: Path, artefact: str, force: bool) -> None:
    """Refuse, before any work, an -o the artefact cannot go to: a name with another ending,
    a folder that does not exist, `-` for a PDF, or a file symbackprop did not write."""
    what, suffix = ARTEFACTS[artefact]
    if path == STDOUT:
        if artefact == "pdf":
            raise UserError(
                "-o -: a PDF is binary and is not written to stdout; give a file, e.g. -o "
                "derivation.pdf (or `symbackprop emit latex -o -` for its source)"
            )
        return
    if path.suffix.lower() != suffix and not path.is_dir():
        other = [a for a, (_, end) in ARTEFACTS.items() if end == path.suffix.lower()]
        hint = ""
        if other:
            command = (
                "symbackprop pdf"
                if other[0] == "pdf"
                else f"symbackprop emit {other[0]}"
            )
            hint = f"; for {ARTEFACTS[other[0]][0]} use `{command} -o {path}`"
        raise UserError(
            f"-o {path}: this writes {what}, so the name should end in {suffix}{hint}"
        )
    if not path.parent.is_dir():
        raise UserError(
            f"-o {path}: the folder {path.parent} does not exist; create it first or "
            "write elsewhere"
        )
    check_writable(path, force)


def check_writable(path: Path, force: bool) -> None:
    """Refuse to replace a file symbackprop did not write, unless --force says so."""
    path = Path(path)
    if path.is_dir():
        raise UserError(
            f"{path} is a directory; give a file name with -o, e.g. -o {path}/trainer.py"
        )
    if path.exists() and not force:
        try:
            head = path.read_bytes().decode("latin-1")
        except OSError as exc:
            raise UserError(
                f"{path}: cannot read it to check who wrote it ({exc})"
            ) from None
        if GENERATED_MARK not in head:
            raise UserError(
                f"{path} exists and was not generated by symbackprop; write elsewhere or pass --force"
            )


def eprint(*args: Any) -> None:
    """Print to stderr (messages that are not the command's output)."""
    print(*args, file=sys.stderr)
