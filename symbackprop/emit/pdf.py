"""Compile a .tex source to PDF bytes with latexmk (or pdflatex), in a temporary directory.

Nothing is written next to the user's files here: the caller writes the PDF atomically only
when compilation succeeded, so a failed or interrupted run never leaves half a PDF.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import EXIT_FAILED, EXIT_NO_TEX, UserError

# Seconds for the whole compilation (latexmk may run pdflatex 3 times).
TIME_LIMIT = 120.0
JOB = "derivation"
INSTALL_HINT = (
    "install TeX, e.g. on Debian/Ubuntu: apt-get install --no-install-recommends latexmk "
    "texlive-latex-base texlive-latex-recommended texlive-pictures texlive-fonts-recommended "
    "lmodern"
)
# a title or name beyond Latin-1 (the seed notebook is written in Chinese) is set by LuaLaTeX
# in Latin Modern OpenType, with these fonts as luaotfload's fallback for what it lacks
CJK_FONTS = ("Noto Serif CJK SC", "Noto Sans CJK SC")
UNICODE_HINT = (
    "a title or name beyond Latin-1 needs LuaLaTeX and a CJK font, e.g. on Debian/Ubuntu: "
    "apt-get install --no-install-recommends texlive-luatex fonts-noto-cjk"
)
# Reproducible output: pdfTeX takes its dates from here (the preamble also omits them).
REPRODUCIBLE_ENV = {"SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
_OVERFULL = re.compile(
    r"^Overfull \\[hv]box \((\d+(?:\.\d+)?)pt too (?:wide|high)\)", re.M
)
_PAGES = re.compile(r"Output written on \S+ \((\d+) pages?")


@dataclass(frozen=True)
class Engine:
    """The TeX command found on PATH: latexmk (preferred) or plain pdflatex."""

    name: str
    path: str


@dataclass(frozen=True)
class Compiled:
    """A successful compilation: the PDF, its page count and the overfull boxes (in pt)."""

    pdf: bytes
    pages: int
    overfull: tuple[float, ...]
    log: str
    engine: str


class LatexError(UserError):
    """LaTeX stopped with an error; `excerpt` holds the relevant lines of its log."""

    def __init__(self, message: str, excerpt: list[str]) -> None:
        super().__init__(message, exit_code=EXIT_FAILED)
        self.excerpt = excerpt


def find_tex(unicode: bool = False) -> Engine | None:
    """latexmk if it and pdflatex are on PATH, else pdflatex, else None (no TeX installed);
    for a Unicode document, lualatex (under latexmk when found) with its fonts, else None."""
    if unicode:
        return _find_lualatex()
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        return None
    latexmk = shutil.which("latexmk")
    return Engine("latexmk", latexmk) if latexmk else Engine("pdflatex", pdflatex)


def _find_lualatex() -> Engine | None:
    lualatex = shutil.which("lualatex")
    kpsewhich = shutil.which("kpsewhich")
    fc_list = shutil.which("fc-list")
    if lualatex is None or kpsewhich is None or fc_list is None:
        return None
    found = subprocess.run(
        [kpsewhich, "fontspec.sty", "luaotfload-main.lua", "lmroman10-regular.otf"],
        capture_output=True,
        text=True,
    ).stdout.split()
    fonts = subprocess.run(
        [fc_list, ":", "family"], capture_output=True, text=True
    ).stdout
    if len(found) < 3 or not any(f in fonts for f in CJK_FONTS):
        return None
    latexmk = shutil.which("latexmk")
    return Engine("latexmk-lua", latexmk) if latexmk else Engine("lualatex", lualatex)


def no_tex_error(wrote: str, unicode: bool = False) -> UserError:
    """The one-line message (exit 3) when no TeX (or no Unicode TeX) is installed."""
    if unicode:
        return UserError(
            f"no LuaLaTeX with a CJK font: {wrote}, but not the PDF; {UNICODE_HINT}",
            exit_code=EXIT_NO_TEX,
        )
    return UserError(
        f"no TeX on PATH (latexmk or pdflatex): {wrote}, but not the PDF; {INSTALL_HINT}",
        exit_code=EXIT_NO_TEX,
    )


def error_excerpt(log: str, limit: int = 12) -> list[str]:
    """The log lines that explain a LaTeX error: each `! ...` line up to its `l.<n>` line."""
    lines = log.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("! "):
            out.append(line)
            for follow in lines[i + 1 : i + 8]:
                if follow.strip():
                    out.append(follow)
                if re.match(r"^l\.\d+", follow):
                    break
            if len(out) >= limit:
                break
    if not out:  # no TeX error line: e.g. a missing file reported by latexmk itself
        out = [line for line in lines if "rror" in line][:limit]
    return out[:limit]


def overfull_boxes(log: str) -> tuple[float, ...]:
    """The widths (pt) by which boxes overflow, from `Overfull \\hbox (12.3pt too wide)`."""
    return tuple(float(m) for m in _OVERFULL.findall(log))


def _command(engine: Engine) -> list[str]:
    common = ["-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape"]
    if engine.name == "latexmk":
        return [engine.path, "-norc", "-pdf", "-silent", *common, f"{JOB}.tex"]
    if engine.name == "latexmk-lua":
        return [engine.path, "-norc", "-lualatex", "-silent", *common, f"{JOB}.tex"]
    return [engine.path, *common, f"{JOB}.tex"]


def _run(cmd: list[str], cwd: str, timeout: float) -> tuple[int, str]:
    """Run in its own process group, so a timeout also stops pdflatex under latexmk."""
    env = {**os.environ, **REPRODUCIBLE_ENV}
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise UserError(
            f"LaTeX did not finish within {timeout:.0f} s; no PDF was written",
            exit_code=EXIT_FAILED,
        ) from None
    return proc.returncode, out.decode("utf-8", errors="replace")


def compile_tex(
    source: str, engine: Engine | None = None, timeout: float = TIME_LIMIT
) -> Compiled:
    """Compile `source` in a fresh temporary directory; raise LatexError on a LaTeX error."""
    engine = engine or find_tex()
    if engine is None:
        raise no_tex_error("nothing was compiled")
    with tempfile.TemporaryDirectory(prefix="symbackprop-tex-") as tmp:
        Path(tmp, f"{JOB}.tex").write_text(source, encoding="utf-8")
        runs = 1 if engine.name.startswith("latexmk") else 3
        log = ""
        for _ in range(runs):
            code, output = _run(_command(engine), tmp, timeout)
            log_path = Path(tmp, f"{JOB}.log")
            log = (
                log_path.read_text(encoding="latin-1") if log_path.exists() else output
            )
            if code != 0:
                excerpt = error_excerpt(log) or output.splitlines()[-12:]
                first = next((line for line in excerpt if line.startswith("! ")), "")
                summary = (
                    first[2:].strip() if first else f"{engine.name} exited with {code}"
                )
                raise LatexError(
                    f"LaTeX failed: {summary}; no PDF was written", excerpt
                )
            if "Rerun to get" not in log and "Label(s) may have changed" not in log:
                break
        pdf_path = Path(tmp, f"{JOB}.pdf")
        if not pdf_path.exists():
            raise LatexError(f"{engine.name} produced no PDF", error_excerpt(log))
        pages = _PAGES.search(log)
        return Compiled(
            pdf=pdf_path.read_bytes(),
            pages=int(pages.group(1)) if pages else 0,
            overfull=overfull_boxes(log),
            log=log,
            engine=engine.name,
        )
