"""`symbackprop emit notebook`: a valid, byte-stable .ipynb whose code cells run and train.

The code cells are executed in order in a fresh interpreter (no Jupyter kernel needed), with
matplotlib hidden so the loss curve must fall back to text. Expected activation derivatives are
written here by hand, not taken from the code under test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from symbackprop import cli
from symbackprop.emit import notebook, render
from symbackprop.emit import trainer as codegen
from symbackprop.files import write_atomic
from symbackprop.printing.markdown import MARKDOWN
from symbackprop.printing.prose import Code, Math
from symbackprop.printing.tex import TEX
from symbackprop.spec import NetworkSpec, default_spec, make_spec

SPECS = {
    "default": default_spec(),
    # lr 0.005: with the sum over the 64 samples of make_data, 0.05 diverges
    "tanh_mse": make_spec(
        layers=(3, 4, 2), activations=("tanh", "identity"), loss="mse", lr=0.005
    ),
    "softmax": make_spec(
        layers=(2, 3, 3),
        activations=("sigmoid", "identity"),
        loss="softmax_cross_entropy",
        lr=0.01,
    ),
    # narrow ReLU layers with zero biases: dead units put pre-activations exactly on the kink
    "relu_kinks": make_spec(
        layers=(3, 3, 2, 2),
        activations=("relu", "relu", "leaky_relu"),
        reduction="mean",
        lr=0.5,
        epochs=30,
    ),
    # three weight layers; the spec's data without initial weights
    "deep_bce": make_spec(
        layers=(2, 3, 3, 2),
        activations=("leaky_relu", "softplus", "identity"),
        loss="bce_with_logits",
        reduction="mean",
        lr=0.5,
        X=((0.5, -1.0), (1.5, 0.3), (-0.7, 0.8), (0.1, 0.2), (-1.2, -0.4), (0.9, -0.6)),
        y=((1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (0.0, 0.0), (1.0, 0.0)),
    ),
}
# each activation's derivative as SymPy gives it, printed in the document's notation (by hand)
DERIVATIVES = {
    "relu": r"\operatorname{ReLU}'(z) = \mathbf{1}[z > 0]",
    "tanh": r"\tanh'(z) = 1 - h^{2}",
    "sigmoid": r"\sigma'(z) = h \left(1 - h\right)",
    "identity": r"\operatorname{id}'(z) = 1",
    "leaky_relu": r"\operatorname{LeakyReLU}'(z) = 0.99 \mathbf{1}[z > 0] + 0.01",
    "softplus": r"\operatorname{softplus}'(z) = ",  # -expm1(-h), i.e. 1 - e^{-h}
}
COMMAND = "symbackprop emit notebook -o net.ipynb"
# what the network's code cells must define, for the cells after them
API = (
    "init_params",
    "forward",
    "loss",
    "loss_and_gradients",
    "gradients",
    "sgd_step",
    "train",
    "make_data",
)

RUNNER = r"""
import contextlib, io, json, sys
from unittest import mock

fake = sys.argv[2] == "fake-matplotlib"
plt = mock.MagicMock()
plt.subplots.return_value = (mock.MagicMock(), mock.MagicMock())
if fake:  # a stand-in that records the calls
    sys.modules["matplotlib"] = mock.MagicMock(pyplot=plt)
    sys.modules["matplotlib.pyplot"] = plt
else:  # as if matplotlib were not installed
    sys.modules["matplotlib"] = None
with open(sys.argv[1], encoding="utf-8") as fh:
    nb = json.load(fh)
ns = {"__name__": "__main__"}
outputs = {}
for cell in nb["cells"]:
    if cell["cell_type"] == "code":
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile("".join(cell["source"]), cell["id"], "exec"), ns)
        outputs[cell["id"]] = buf.getvalue()
print(json.dumps({
    "outputs": outputs,
    "history": [float(v) for v in ns["history"]],
    "errors": ns["errors"],
    "plotted": plt.subplots.called and plt.show.called,
}))
"""

_TEXTS: dict[str, str] = {}


def notebook_of(spec: NetworkSpec) -> str:
    """The notebook text of a spec, derived and proven first."""
    return notebook.notebook_text(codegen.build_trainer(spec, command=COMMAND), COMMAND)


def notebook_for(key: str) -> str:
    """The notebook text of SPECS[key], built once per session."""
    if key not in _TEXTS:
        built = codegen.build_trainer(SPECS[key], command=COMMAND)
        _TEXTS[key] = notebook.notebook_text(built, COMMAND)
    return _TEXTS[key]


def run_cells(tmp_path: Path, text: str, mode: str = "no-matplotlib") -> dict:
    """Execute the code cells in order in a fresh interpreter; their outputs and results."""
    path = tmp_path / "net.ipynb"
    path.write_text(text, encoding="utf-8")
    runner = tmp_path / "run_cells.py"
    runner.write_text(RUNNER, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(runner), str(path), mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def markdown(text: str) -> str:
    nb = json.loads(text)
    return "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
    )


def code_cells(text: str) -> dict[str, str]:
    nb = json.loads(text)
    return {
        c["id"]: "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
    }


# --------------------------------------------------------------------------- the file


@pytest.mark.parametrize("key", SPECS)
def test_notebook_is_valid_nbformat_without_outputs(key: str) -> None:
    text = notebook_for(key)
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "intro" and "gradient-check" in ids and "loss-curve" in ids
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    first = nb.cells[0].source
    assert first.startswith("# ") and "*Generated by symbackprop" in first
    assert SPECS[key].name.replace("_", r"\_") in first
    assert f"`{COMMAND}`" in first
    assert text.endswith("}\n")


def test_emitting_twice_gives_identical_bytes(tmp_path: Path) -> None:
    spec = SPECS["default"]
    paths = [tmp_path / "a.ipynb", tmp_path / "b.ipynb"]
    for path in paths:
        built = codegen.build_trainer(spec, command=COMMAND)
        write_atomic(path, notebook.notebook_text(built, COMMAND))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_text(encoding="utf-8") == notebook_for("default")
    render.check_writable(paths[0], force=False)  # it carries symbackprop's mark


# --------------------------------------------------------------------------- running it


@pytest.mark.parametrize("key", SPECS)
def test_code_cells_run_in_order_check_gradients_and_train(
    tmp_path: Path, key: str
) -> None:
    result = run_cells(tmp_path, notebook_for(key))
    out = result["outputs"]
    assert set(result["errors"]) == set(SPECS[key].param_names)
    assert max(result["errors"].values()) < 1e-6
    assert "gradient check passed" in out["gradient-check"]
    history = result["history"]
    assert len(history) == SPECS[key].epochs
    assert history[-1] < history[0]
    assert "The loss fell from" in out["training-run"]
    assert "matplotlib is not installed" in out["loss-curve"]
    assert out["loss-curve"].count("\nepoch") >= 10


def test_gradient_check_skips_entries_whose_step_crosses_a_kink(tmp_path: Path) -> None:
    text = notebook_for("relu_kinks")
    assert 'KINKS = ("Z1", "Z2", "Z3")' in code_cells(text)["gradient-check"]
    assert 'KINKS = ("Z1",)' in code_cells(notebook_for("default"))["gradient-check"]
    assert "KINKS = ()" in code_cells(notebook_for("softmax"))["gradient-check"]
    # without the nudge some units sit exactly on the kink: their entries are skipped
    unnudged = text.replace("NUDGE = 1e-3", "NUDGE = 0.0")
    assert unnudged != text
    out = run_cells(tmp_path, unnudged)["outputs"]["gradient-check"]
    assert "at a kink skipped" in out and "gradient check passed" in out


def test_loss_curve_plots_when_matplotlib_is_there(tmp_path: Path) -> None:
    result = run_cells(tmp_path, notebook_for("default"), mode="fake-matplotlib")
    assert result["plotted"]
    assert "matplotlib is not installed" not in result["outputs"]["loss-curve"]


def test_a_wrong_backward_pass_fails_the_gradient_check(tmp_path: Path) -> None:
    nb = json.loads(notebook_for("default"))
    at = [c["id"] for c in nb["cells"]].index("backward") + 1
    wrong = (  # W1's gradient 1% too large, as a subtle mistake would make it
        "right = gradients\n"
        "def gradients(params, X, y):\n"
        "    grads = right(params, X, y)\n"
        "    grads['W1'] = grads['W1'] * 1.01\n"
        "    return grads\n"
    )
    nb["cells"].insert(at, {"cell_type": "code", "id": "bug", "source": wrong})
    path = tmp_path / "net.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    runner = tmp_path / "run_cells.py"
    runner.write_text(RUNNER, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(runner), str(path), "no-matplotlib"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "gradient check failed" in result.stderr


def test_a_scalar_style_notebook_runs_too(tmp_path: Path) -> None:
    built = codegen.build_trainer(SPECS["default"], command=COMMAND, style="scalar")
    text = notebook.notebook_text(built, COMMAND)
    assert "def _flat(" in code_cells(text)["backward"]
    result = run_cells(tmp_path, text)
    assert max(result["errors"].values()) < 1e-6
    assert result["history"][-1] < result["history"][0]


# --------------------------------------------------------------------------- code and maths


@pytest.mark.parametrize("key", ["default", "deep_bce"])
def test_code_cells_hold_the_generated_trainer_without_its_main(key: str) -> None:
    source = codegen.emit_trainer(SPECS[key], command=COMMAND)
    cells = code_cells(notebook_for(key))
    trainer_code = "\n".join(cells[s] for s in notebook.TRAINER_CELLS)
    functions = re.findall(r"^def (\w+)", trainer_code, flags=re.MULTILINE)
    assert set(API) <= set(functions)
    for name in functions:  # each one verbatim from the trainer
        start = source.index(f"\ndef {name}(") + 1
        end = source.find("\n\n\n", start)
        assert source[start:end] in trainer_code, name
    joined = "\n".join(cells.values())
    assert "def main(" not in joined and "__main__" not in joined
    assert "argparse" not in joined and "sys." not in joined
    assert cells["setup"].startswith("from __future__ import annotations\n\n")
    assert "LAYERS = " in cells["setup"] and "import numpy as np" in cells["setup"]
    assert (
        '"""' not in cells["setup"]
    )  # the module docstring: the Markdown says it better


def test_data_cell_uses_the_specs_data() -> None:
    cells = code_cells(notebook_for("default"))
    assert "X, y = DEFAULT_X, DEFAULT_Y" in cells["data"]
    cells = code_cells(notebook_for("deep_bce"))
    assert "[[0.5, -1.0], [1.5, 0.3], [-0.7, 0.8]," in cells["data"]
    assert "params = init_params(SEED)" in cells["data"]
    cells = code_cells(notebook_for("softmax"))
    assert "X, y = make_data(seed=SEED)" in cells["data"]


@pytest.mark.parametrize("key", SPECS)
def test_markdown_shows_each_activations_derivative(key: str) -> None:
    md = markdown(notebook_for(key))
    for act in SPECS[key].activations:
        assert DERIVATIVES[act] in md, act
    if "relu" in SPECS[key].activations:
        assert r"\operatorname{ReLU}'(0) = 0" in md  # the convention at the kink
    for needle in (r"\delta^{(1)}_{i}", r"\mathcal{L} &= ", r"\odot", r"\hat{y}"):
        assert needle in md


def test_markdown_has_the_derivation_for_every_layer_of_a_deep_network() -> None:
    md = markdown(notebook_for("deep_bce"))
    for layer in (1, 2, 3):
        assert rf"z^{{({layer})}} &= W^{{({layer})}}" in md  # forward, matrix form
        assert rf"\frac{{\partial L}}{{\partial W^{{({layer})}}}}" in md  # vectorized
        assert f"`gW{layer} = dZ{layer}.T @ " in md  # the batch code table
    assert r"\delta^{(2)} &= \bigl(W^{(3)\top} \delta^{(3)}\bigr) \odot" in md


@pytest.mark.parametrize("key", SPECS)
def test_markdown_text_outside_maths_has_no_latex_commands(key: str) -> None:
    md = markdown(notebook_for(key))
    assert md.count("$$") % 2 == 0
    prose = re.sub(r"\$\$.*?\$\$", "", md, flags=re.DOTALL)
    prose = re.sub(r"(?<!\\)\$.*?(?<!\\)\$", "", prose)
    prose = re.sub(r"`[^`]*`", "", prose)
    assert not re.search(r"\\[A-Za-z]", prose), re.search(
        r".{40}\\[A-Za-z].{40}", prose
    )


def test_big_network_keeps_the_per_layer_rules_and_says_why() -> None:
    spec = make_spec(layers=(4, 20, 20, 3), loss="softmax_cross_entropy", lr=0.01)
    md = markdown(notebook_of(spec))
    assert "583 parameters" in md and "Closed forms derived by SymPy" not in md
    assert r"\delta^{(1)} &= \bigl(W^{(2)\top} \delta^{(2)}\bigr) \odot" in md


def test_user_text_is_escaped_for_markdown() -> None:
    title = r"My *net* $x$ <b>_x_</b> # [a](b) `c` \ end"
    text = notebook_of(make_spec(layers=(2, 2, 1), title=title, epochs=3))
    heading = next(
        line for line in markdown(text).splitlines() if line.startswith("# ")
    )
    assert heading == (r"# My \*net\* \$x\$ \<b\>\_x\_\</b\> \# \[a\](b) \`c\` \\ end")


def test_one_sentence_printed_for_latex_and_for_markdown() -> None:
    spans = ("take ", Math("x_1"), " in ", Code("f(a_b) > 0"), " -- 100% & more")
    assert TEX.text(*spans) == (
        r"take $x_1$ in \texttt{f(a\_b) \textgreater{} 0} -{}-{} 100\% \& more"
    )
    assert MARKDOWN.text(*spans) == r"take $x_1$ in `f(a_b) > 0` -- 100% \& more"
    # a remark beside a MathJax display: text in \text{}, maths as maths
    assert MARKDOWN.remark("loss, output ", Math("k")) == r"\text{loss, output }k"
    assert TEX.remark("loss, output ", Math("k")) == "loss, output $k$"


# --------------------------------------------------------------------------- the CLI


def test_cli_emit_notebook(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "net.ipynb"
    args = ["emit", "notebook", "--layers", "2,3,1", "--epochs", "20", "-o", str(out)]
    assert cli.main(args) == 0
    first = out.read_bytes()
    nbformat.validate(nbformat.reads(first.decode("utf-8"), as_version=4))
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out + captured.err
    assert cli.main(args) == 0  # our own file: replaced without --force
    assert out.read_bytes() == first
    assert "symbackprop emit notebook --layers 2,3,1 --epochs 20 -o net.ipynb" in (
        first.decode("utf-8")
    )


def test_the_notebook_opens_with_its_title_and_a_readable_spec() -> None:
    first = json.loads(notebook_for("softmax"))["cells"][0]["source"]
    text = "".join(first)
    assert text.startswith(
        "# "
    )  # the title first; the "do not edit" note after the intro
    assert text.index("Do not edit by hand") > text.index("This notebook derives")
    assert "| Loss | `softmax_cross_entropy`, summed over the samples |" in text
    assert "`net_2_3_3: layers" not in text


def test_the_notebooks_loss_is_mathematics_not_words() -> None:
    md = markdown(notebook_for("softmax"))
    assert r"L &= - y_{1} \log \hat{y}_{1} - y_{2} \log \hat{y}_{2} - y_{3} \log" in md
    assert "cross-entropy of softmax" not in md and "Proof that" not in md
    assert r"\sigma(Z^{(1)})" in md  # the batch table names the sigmoid
