"""The command line: emit for any spec, bad specs refused with one line and exit 2, nothing lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from symbackprop.emit.trainer import load_trainer


def run(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def test_help_lists_the_commands_and_exit_codes() -> None:
    r = run("--help")
    assert r.returncode == 0
    for word in ("build", "emit", "pdf", "check-code", "check-formulas", "exit codes"):
        assert word in r.stdout


def test_help_does_not_import_sympy() -> None:
    code = "import sys; from symbackprop import cli; cli._parser(); print('sympy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_emit_trainer_for_flags_spec(tmp_path: Path) -> None:
    out = tmp_path / "my_trainer.py"
    r = run(
        "emit",
        "trainer",
        "--layers",
        "3,5,2",
        "--activations",
        "relu,identity",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout
    t = load_trainer(out.read_text())
    assert t.LAYERS == (3, 5, 2)
    params = t.init_params(0)
    assert {k: v.shape for k, v in params.items()} == {
        "W1": (5, 3),
        "b1": (5,),
        "W2": (2, 5),
        "b2": (2,),
    }
    X, y = t.make_data(seed=0)
    history = t.train(params, X, y, 0.01, 50)
    assert history[-1] < history[0]
    assert not hasattr(t, "DEFAULT_X")  # a spec without data carries none
    # and it runs standalone, printing the seed-format line per epoch
    r = subprocess.run(
        [sys.executable, str(out), "--epochs", "3"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert [line.split()[1] for line in r.stdout.splitlines()[1:]] == ["1", "2", "3"]


def test_emit_trainer_from_toml(tmp_path: Path) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text(
        'name = "tiny"\nlayers = [2, 3, 1]\nactivations = ["relu", "identity"]\n'
        'reduction = "mean"\nlr = 0.1\nepochs = 7\n'
        "[data]\nX = [[1, 2], [3, 4], [5, 6]]\ny = [[1], [2], [3]]\n"
        "[params]\nW1 = [[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]]\nb1 = [0, 0, 0.1]\n"
        "W2 = [[1, -1, 0.5]]\nb2 = [0]\n"
    )
    out = tmp_path / "t.py"
    r = run("emit", "trainer", "--spec", str(spec), "-o", str(out))
    assert r.returncode == 0, r.stderr
    t = load_trainer(out.read_text())
    assert (t.REDUCTION, t.LR, t.EPOCHS) == ("mean", 0.1, 7)
    np.testing.assert_array_equal(t.DEFAULT_X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(t.DEFAULT_PARAMS["b1"], [0, 0, 0.1])
    r = subprocess.run([sys.executable, str(out)], capture_output=True, text=True)
    assert len(r.stdout.splitlines()) == 8  # the line saying what the loss is, 7 epochs


BAD_SPECS = [
    (["--layers", "2,0,1"], "hidden layer 1 has width 0"),
    (["--layers", "2,x,1"], "not a comma-separated list"),
    (["--layers", "2,1"], "at least 3"),
    (
        ["--layers", "2,2,1", "--activations", "relu,swish"],
        "unknown activation 'swish'",
    ),
    (["--layers", "2,2,1", "--activations", "relu"], "1 given"),
    (["--loss", "hinge"], "unknown loss 'hinge'"),
    (["--name", "2fast"], "not a valid Python identifier"),
    (["--name", "class"], "not a valid Python identifier"),
    (["--lr", "-1"], "not a positive number"),
    (["--layers", "3,2,1"], None),  # fine without data: a control case
]


@pytest.mark.parametrize(("flags", "message"), BAD_SPECS)
def test_bad_flag_specs(tmp_path: Path, flags: list[str], message: str | None) -> None:
    out = tmp_path / "t.py"
    r = run("emit", "trainer", *flags, "-o", str(out))
    if message is None:
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists()


BAD_TOML = [
    (
        "layers = [2, 2, 1]\n[data]\nX = [[1, 2, 3]]\ny = [[1]]\n",
        "data.X: shape (1, 3)",
    ),
    (  # a ragged row is named, not reported as an odd shape
        "layers = [2, 2, 1]\n[data]\nX = [[1.0, 2.0], [2.0]]\ny = [[1.0], [2.0]]\n",
        "data.X[1]: row 2 has 1 number where row 1 has 2",
    ),
    (
        "layers = [2, 2, 1]\n[data]\nX = [[1, 2]]\ny = [[1], [2]]\n",
        "data.y: shape (2, 1)",
    ),
    (
        "layers = [2, 2, 1]\n[params]\nW1 = [[1, 2], [3, 4]]\nb1 = [[0.1], [0.2]]\n"
        "W2 = [[1, 2]]\nb2 = [0]\n",
        "params.b1: shape (2, 1) does not match",
    ),
    ("layers = [2, 2, 1]\n[params]\nW1 = [[1, 2]]\n", "params.W1: shape (1, 2)"),
    ('layers = [2, 2, 1]\nname = "my net"\n', "not a valid Python identifier"),
    ("layers = [2, 2, 1]\nlayer_sizes = 3\n", "unknown key 'layer_sizes'"),
    ("layers = [2, 2, 1\n", "not valid TOML"),
    (
        'layers = [2, 2, 1]\n[data]\nX = [[1, "a"]]\ny = [[1]]\n',
        "is not a finite number",
    ),
    ("activations = ['relu']\n", "no 'layers'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TOML)
def test_bad_toml_specs(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text(text)
    out = tmp_path / "t.py"
    out.write_text("# Generated by symbackprop: an earlier, good file\n")
    before = out.read_bytes()
    r = run("emit", "trainer", "--spec", str(spec), "-o", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert out.read_bytes() == before  # nothing the user had is lost


def test_missing_spec_file(tmp_path: Path) -> None:
    r = run(
        "emit",
        "trainer",
        "--spec",
        str(tmp_path / "nope.toml"),
        "-o",
        str(tmp_path / "t.py"),
    )
    assert r.returncode == 2 and "no such spec file" in r.stderr


def test_emit_refuses_to_overwrite_a_users_file(tmp_path: Path) -> None:
    mine = tmp_path / "notes.py"
    mine.write_text("print('my own work')\n")
    r = run("emit", "trainer", "-o", str(mine))
    assert r.returncode == 2 and "--force" in r.stderr
    assert mine.read_text() == "print('my own work')\n"
    r = run("emit", "trainer", "-o", str(mine), "--force")
    assert r.returncode == 0
    assert "Generated by symbackprop" in mine.read_text()


def test_emit_into_a_directory_is_refused(tmp_path: Path) -> None:
    r = run("emit", "trainer", "-o", str(tmp_path))
    assert r.returncode == 2 and "is a directory" in r.stderr


def test_build_prints_files_and_derivation_time(tmp_path: Path) -> None:
    r = run("build", "--no-pdf", "--out", str(tmp_path / "gen"))
    assert r.returncode == 0, r.stderr
    assert f"wrote {tmp_path / 'gen' / 'trainer_2_2_1.py'}" in r.stdout
    assert "derived net_2_2_1" in r.stdout and " s " in r.stdout
    assert (tmp_path / "gen" / "trainer_2_2_1.py").exists()


def test_wide_network_keeps_only_the_vectorized_route(tmp_path: Path) -> None:
    out = tmp_path / "big.py"
    r = run("emit", "trainer", "--layers", "784,256,10", "-o", str(out), "--verbose")
    assert r.returncode == 0, r.stderr
    assert "scalar closed forms skipped" in r.stdout
    assert "proxy" in r.stdout
    t = load_trainer(out.read_text())
    assert t.init_params(0)["W1"].shape == (256, 784)


def test_build_refuses_to_replace_a_users_file(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    out.mkdir()
    mine = out / "trainer_2_2_1.py"
    mine.write_text("print('my own work')\n")
    r = run("build", "--no-pdf", "--out", str(out))
    assert r.returncode == 2 and "--force" in r.stderr
    assert mine.read_text() == "print('my own work')\n"


def test_emitting_the_seed_document_derives_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trainer, its proof and the seed notebook's check share one derivation."""
    import symbackprop.check.code.truth as truth
    import symbackprop.derive.network as network
    import symbackprop.emit.trainer as trainer
    from symbackprop import cli as cli_module

    truth._truth_cached.cache_clear()
    made: list[str] = []
    real = trainer.derive

    def counting(spec: object, closed_forms: bool | None = None) -> object:
        made.append(spec.name)  # type: ignore[attr-defined]
        return real(spec, closed_forms)  # type: ignore[arg-type]

    monkeypatch.setattr(trainer, "derive", counting)
    monkeypatch.setattr(network, "derive", counting)
    truth._derivation.cache_clear()
    assert cli_module.main(["emit", "latex", "-o", str(tmp_path / "d.tex")]) == 0
    assert made == ["net_2_2_1"]  # the proof's own and the checker's truth came from it
    assert "Checking the notebook" in (tmp_path / "d.tex").read_text(encoding="utf-8")


def test_a_wrong_check_on_the_default_network_says_how_to_name_another() -> None:
    seed = (
        Path(__file__).resolve().parent.parent
        / "symbackprop/data/notebook_221_relu.txt"
    )
    plain = run_cli("check-code", str(seed))
    assert plain.returncode == 1
    assert (
        "checked against the default network, the seed notebook's 2-2-1" in plain.stdout
    )
    named = run_cli("check-code", str(seed), "--layers", "2,2,1")
    assert named.returncode == 1 and "default network" not in named.stdout
