"""The trainer is made of named sections, and the notebook shows those very sections.

The templates render one block per section; ruff formats each section on its own and
join_sections puts PEP 8's blank lines between them. These tests hold that this is what
formatting the whole file gives, for every style, and that the notebook's code cells are the
sections the proof ran, byte for byte.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from symbackprop.derive import Derivation, derive
from symbackprop.emit import notebook, render
from symbackprop.emit import trainer as codegen
from symbackprop.spec import default_spec, make_spec

SPECS = {
    "default": default_spec(),
    "tanh_mean": make_spec(
        layers=(2, 3, 1), activations=("tanh", "identity"), reduction="mean"
    ),
    "relu_mse": make_spec(
        layers=(2, 4, 3, 1), activations=("relu", "leaky_relu", "identity"), loss="mse"
    ),
    "softmax": make_spec(
        layers=(3, 5, 2), activations=("tanh", "identity"), loss="softmax_cross_entropy"
    ),
    "bce_data": make_spec(
        layers=(2, 3, 1),
        activations=("sigmoid", "identity"),
        loss="bce_with_logits",
        X=((0.5, -1.0), (1.5, 0.3)),
        y=((1.0,), (0.0,)),
    ),
    "wide": make_spec(layers=(4, 20, 20, 3), loss="softmax_cross_entropy"),
}
CASES = [
    (key, style)
    for key in SPECS
    for style in ("matrix", "scalar")
    if style == "matrix" or key in ("default", "tanh_mean", "relu_mse")
]
_DERIVED: dict[str, Derivation] = {}


def derived(key: str) -> Derivation:
    """The derivation of SPECS[key], made once per session."""
    if key not in _DERIVED:
        _DERIVED[key] = derive(SPECS[key])
    return _DERIVED[key]


@pytest.mark.parametrize(("key", "style"), CASES)
def test_formatting_each_section_is_formatting_the_whole(key: str, style: str) -> None:
    d = derived(key)
    raw = codegen.rendered_sections(d, style=style)
    formatted = codegen.trainer_sections(d, style=style)
    whole = codegen.join_sections(formatted)
    assert [s.name for s in raw] == [s.name for s in formatted]
    assert render.format_python(codegen.join_sections(raw)) == whole
    assert render.format_python(whole) == whole
    assert codegen.emit_trainer_unchecked(d, style=style) == whole
    if style == "scalar" and key == "tanh_mean":
        assert "import_math" in [s.name for s in formatted]


def test_sections_are_the_templates_blocks_in_file_order() -> None:
    env = render.environment()
    names = [name for name, _ in codegen.SECTIONS]
    own = ["backward", "training"]
    base = env.get_template(codegen.BASE_TEMPLATE)
    assert list(base.blocks) == [n for n in names if n not in own]
    for template in codegen.TEMPLATES.values():
        assert list(env.get_template(template).blocks) == own
    assert len(set(names)) == len(names)


def test_notebook_cells_name_trainer_sections_and_template_blocks() -> None:
    names = {name for name, _ in codegen.SECTIONS}
    for cell, sections in notebook.TRAINER_CELLS.items():
        assert set(sections) <= names, cell
        assert ("code", cell) in notebook.CELLS
    ids = [cell_id for _, cell_id in notebook.CELLS]
    assert len(set(ids)) == len(ids)
    blocks = render.environment().get_template(notebook.TEMPLATE).blocks
    own = [i.replace("-", "_") for i in ids if i not in notebook.TRAINER_CELLS]
    assert list(blocks) == own
    # nothing the notebook shows belongs to the command-line program
    shown = {s for sections in notebook.TRAINER_CELLS.values() for s in sections}
    assert not shown & {"docstring", "import_argparse", "import_sys", "main"}


def test_join_sections_passes_the_blank_lines_of_a_left_out_section_on() -> None:
    sections = (
        codegen.Section("a", 0, "a = 1\n"),
        codegen.Section("b", 1, "b = 2\n"),
        codegen.Section("c", 0, "c = 3\n"),
        codegen.Section("d", 2, "def d():\n    pass\n"),
    )
    assert codegen.join_sections(sections) == (
        "a = 1\n\nb = 2\nc = 3\n\n\ndef d():\n    pass\n"
    )
    assert codegen.join_sections(sections, {"a", "c"}) == "a = 1\n\nc = 3\n"
    assert codegen.join_sections(sections, {"c", "d"}) == (
        "c = 3\n\n\ndef d():\n    pass\n"
    )


@pytest.mark.parametrize("style", ["matrix", "scalar"])
def test_the_notebooks_code_cells_are_the_sections_the_proof_ran(style: str) -> None:
    built = codegen.build_trainer(derived("default"), style=style)
    assert built.source == codegen.join_sections(built.sections)
    by_name = {s.name: s for s in built.sections}
    cells = {
        c.id: c for c in notebook.notebook_cells(built, "symbackprop emit notebook")
    }
    for cell_id, names in notebook.TRAINER_CELLS.items():
        text = cells[cell_id].source
        assert text + "\n" == codegen.join_sections(built.sections, names)
        for name in names:
            if name in by_name:
                assert by_name[name].text in built.source
                assert by_name[name].text in text + "\n"


def test_one_ruff_call_per_trainer_and_one_per_notebook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []
    run = subprocess.run

    def counting(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        calls.append(args)
        return run(args, **kwargs)

    monkeypatch.setattr(render.subprocess, "run", counting)
    built = codegen.build_trainer(derived("default"))
    assert len(calls) == 1 and "format" in calls[0]
    notebook.notebook_cells(built, "symbackprop emit notebook")
    assert len(calls) == 2
