"""Output paths are checked before any work, `-` is stdout, every command documents its exit
codes, and `build` takes a spec like `emit` does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import run_cli


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["emit", "latex", "-o", "out.pdf"],
            "should end in .tex; for a PDF use `symbackprop pdf -o out.pdf`",
        ),
        (
            ["pdf", "-o", "out.tex"],
            "should end in .pdf; for LaTeX source use `symbackprop emit latex -o out.tex`",
        ),
        (
            ["emit", "trainer", "-o", "net.ipynb"],
            "should end in .py; for a Jupyter notebook use",
        ),
        (["emit", "notebook", "-o", "net"], "should end in .ipynb"),
        (["emit", "pdf", "-o", "-"], "a PDF is binary"),
        (["pdf", "-o", "-"], "a PDF is binary"),
        (
            ["emit", "notebook", "--style", "scalar", "-o", "n.ipynb"],
            "--style scalar is for the trainer",
        ),
    ],
)
def test_an_output_the_artefact_cannot_go_to_is_refused_first(
    tmp_path: Path, args: list[str], words: str
) -> None:
    out = run_cli(*args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert words in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "derived" not in out.stdout  # refused before the derivation
    assert list(tmp_path.iterdir()) == []  # nothing written, no file named "-"


def test_a_missing_folder_is_refused_not_created(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "x.py"
    out = run_cli("emit", "trainer", "-o", str(target))
    assert out.returncode == 2
    assert f"the folder {target.parent} does not exist" in out.stderr
    assert not (tmp_path / "no").exists()


def test_dash_writes_a_text_artefact_to_stdout(tmp_path: Path) -> None:
    out = run_cli("emit", "trainer", "-o", "-", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    compile(out.stdout, "trainer.py", "exec")  # the whole trainer, and only it
    assert out.stdout.startswith('"""') or out.stdout.startswith("#")
    assert "wrote stdout" in out.stderr
    assert list(tmp_path.iterdir()) == []
    tex = run_cli("emit", "latex", "-o", "-", cwd=tmp_path)
    assert tex.returncode == 0 and tex.stdout.rstrip().endswith(r"\end{document}")


def test_emit_pdf_is_the_pdf_command(tmp_path: Path) -> None:
    if shutil.which("latexmk") is None and shutil.which("pdflatex") is None:
        pytest.fail("TeX is needed: see the README (CI installs it)")
    out = run_cli("emit", "pdf", "-o", "d.pdf", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d.pdf").read_bytes().startswith(b"%PDF")


def test_build_takes_a_spec(tmp_path: Path) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text('layers = [3, 4, 1]\nactivations = ["tanh", "identity"]\n')
    out = run_cli(
        "build", "--spec", str(spec), "--no-pdf", "--out", str(tmp_path / "g")
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "g" / "trainer_3_4_1.py").exists()
    flags = run_cli(
        "build", "--layers", "2,3,1", "--no-pdf", "--out", str(tmp_path / "h")
    )
    assert flags.returncode == 0 and (tmp_path / "h" / "trainer_2_3_1.py").exists()


@pytest.mark.parametrize(
    "command", ["build", "emit", "pdf", "check-code", "check-formulas"]
)
def test_every_command_documents_its_exit_codes(command: str) -> None:
    out = run_cli(command, "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "exit codes: 0" in text
    assert "2 bad input" in text or "2 the file" in text


def test_emit_help_explains_the_artefact_and_the_output() -> None:
    text = " ".join(run_cli("emit", "--help").stdout.split())
    assert "trainer: a NumPy training script (.py)" in text
    assert "- writes a text artefact to stdout" in text


def test_version() -> None:
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("symbackprop ")


@pytest.mark.parametrize(
    ("flag", "names", "count"),
    [("--returns", "W1,W2", 4), ("--forward-returns", "H1,Z1", 3)],
)
def test_declared_returns_of_another_length_are_refused(
    flag: str, names: str, count: int
) -> None:
    """Four returned values and two declared names: said, not silently read the seed's way."""
    student = Path(__file__).parent / "fixtures" / "students" / "correct.py"
    out = run_cli("check-code", str(student), flag, names)
    assert out.returncode == 2
    assert f"{flag} names 2 values ({names})" in out.stderr
    assert f"returns {count}" in out.stderr


def test_the_proof_account_and_notes_are_printed_on_request(tmp_path: Path) -> None:
    quiet = run_cli(
        "emit", "trainer", "--layers", "784,256,10", "-o", "t.py", cwd=tmp_path
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "proven equal to SymPy's derivation" in quiet.stdout
    assert "proxy" not in quiet.stdout and "note:" not in quiet.stdout
    loud = run_cli(
        "emit",
        "trainer",
        "--layers",
        "784,256,10",
        "-o",
        "t.py",
        "--verbose",
        cwd=tmp_path,
    )
    assert "proof: vectorized route" in loud.stdout and "note: " in loud.stdout
