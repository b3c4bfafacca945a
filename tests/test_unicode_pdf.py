"""A title in any script compiles: LuaLaTeX with a CJK fallback font, or one line and exit 3.

The seed notebook itself is written in Chinese, so a course's own title must work.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

from symbackprop.emit import pdf
from symbackprop.printing.tex import needs_unicode_tex

TITLE = "两层网络的反向传播"


@pytest.mark.parametrize(
    ("text", "unicode"),
    [
        ("My network", False),
        ("café — “naïve” …", False),  # pdfLaTeX sets Latin-1, dashes and quotes
        (TITLE, True),
        ("Нейронная сеть", True),
        ("Δίκτυο", True),
    ],
)
def test_which_titles_need_lualatex(text: str, unicode: bool) -> None:
    assert needs_unicode_tex(text) is unicode


def test_a_chinese_title_compiles_with_lualatex(tmp_path: Path) -> None:
    if pdf.find_tex(unicode=True) is None:
        pytest.fail(f"LuaLaTeX with a CJK font is needed: {pdf.UNICODE_HINT}")
    out = run_cli("pdf", "--title", TITLE, "-o", str(tmp_path / "zh.pdf"))
    assert out.returncode == 0, out.stderr
    assert "latexmk-lua" in out.stdout or "lualatex" in out.stdout
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "zh.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert TITLE in text and "Backpropagation, derived by SymPy" in text


def test_without_lualatex_a_chinese_title_is_one_line_and_exit_3(
    tmp_path: Path,
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("pdflatex", "latexmk", "kpsewhich", "fc-list"):  # TeX, but no LuaLaTeX
        for folder in os.environ["PATH"].split(os.pathsep):
            if (Path(folder) / name).exists():
                (tools / name).symlink_to(Path(folder) / name)
                break
    out = run_cli(
        "pdf", "--title", TITLE, "-o", str(tmp_path / "zh.pdf"), path=str(tools)
    )
    assert out.returncode == 3
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "texlive-luatex fonts-noto-cjk" in lines[0]
    assert (tmp_path / "zh.tex").exists() and not (tmp_path / "zh.pdf").exists()
