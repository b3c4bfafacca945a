"""Where a spec comes from: a TOML file, command-line flags, or the seed's defaults."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ..errors import UserError
from .formula_entries import Formula
from .limits import MAX_NESTING, MAX_SPEC_BYTES, MAX_SPEC_MIB, shown
from .model import DEFAULT, NetworkSpec, make_spec

SPEC_KEYS = (
    "name title layers activations loss reduction lr epochs seed alpha optimizer beta beta1 "
    "beta2 eps dtype penalty data params activation"
).split()


def _freeze(value: Any) -> Any:
    """Lists become tuples and ints floats (an int beyond floats stays, for validate to name)."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return value
    return value


def _nesting(value: Any) -> int:
    """How many tables and arrays deep a parsed TOML value goes (the file itself is 1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def _read(path: Path) -> str:
    """The spec file's text, read no further than the size limit (a FIFO or /dev/zero too)."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such spec file; check the path given to --spec"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the spec file ({exc})") from None
    if len(data) > MAX_SPEC_BYTES:
        raise UserError(
            f"{path}: the spec file is larger than the limit of {MAX_SPEC_MIB} MiB; a spec "
            "holds a network and a small example, give large data to the trainer's --data"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: cannot read the spec file ({exc})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as read_text would


def load_toml(path: Path) -> dict[str, Any]:
    """Read a spec file into make_spec keyword arguments (validated later, all at once)."""
    text = _read(path)
    too_deep = UserError(
        f"{path}: tables and arrays nested more than {MAX_NESTING} levels deep (the file, a "
        "table such as [data], a matrix, its rows); see the README for an example spec"
    )
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(
            f"{path}: not valid TOML ({exc}); see the README for an example spec"
        ) from None
    except RecursionError:  # tomllib recurses once per level
        raise too_deep from None
    except ValueError:  # Python refuses to convert an int of more than ~4300 digits
        raise UserError(
            f"{path}: a whole number in it has too many digits to read, far above every "
            "limit; see the README's limits"
        ) from None
    if _nesting(raw) > MAX_NESTING:
        raise too_deep
    out: dict[str, Any] = {}
    formulas: list[Formula] = []
    for key, value in raw.items():
        if key not in SPEC_KEYS:
            raise UserError(
                f"{path}: unknown key {shown(key)}; known keys are {', '.join(SPEC_KEYS)}"
            )
        if key == "data":
            if not isinstance(value, dict) or set(value) - {"X", "y"}:
                raise UserError(f"{path}: [data] takes exactly X and y (lists of rows)")
            out["X"] = _freeze(value.get("X")) if "X" in value else None
            out["y"] = _freeze(value.get("y")) if "y" in value else None
        elif key == "penalty":
            if not isinstance(value, dict) or set(value) - {"l2"}:
                raise UserError(f"{path}: [penalty] takes l2 (e.g. l2 = 0.01)")
            if "l2" in value:
                out["l2"] = _freeze(value["l2"])
        elif key == "params":
            if not isinstance(value, dict):
                raise UserError(
                    f"{path}: [params] must be a table of W1, b1, W2, b2, ..."
                )
            out["params"] = {k: _freeze(v) for k, v in value.items()}
        elif key == "activation" or (key == "loss" and isinstance(value, dict)):
            kind = key
            if kind == "loss" and len(value) != 1:
                raise UserError(
                    f"{path}: [loss.NAME] defines the one loss the spec uses; give one"
                )
            found = _formula_tables(path, kind, value)
            formulas += found
            if kind == "loss":
                out["loss"] = found[0].name
        elif key == "activations":
            if isinstance(value, str):
                value = value.split(",")
            if not isinstance(value, list) or not all(
                isinstance(a, str) for a in value
            ):
                raise UserError(
                    f'{path}: activations must be a list of names, e.g. ["relu", "identity"]'
                )
            out[key] = tuple(a.strip() for a in value)
        else:
            out[key] = value
    if formulas:
        out["formulas"] = tuple(formulas)
    if "layers" not in out:
        raise UserError(
            f"{path}: the spec has no 'layers'; add e.g. layers = [2, 2, 1]"
        )
    for key, typ in (
        ("name", str),
        ("title", str),
        ("loss", str),
        ("reduction", str),
        ("optimizer", str),
        ("dtype", str),
    ):
        if key in out and not isinstance(out[key], typ):
            raise UserError(f"{path}: {key} must be a string")
    return out


def _formula_tables(path: Path, kind: str, value: object) -> list[Formula]:
    """[activation.NAME] / [loss.NAME] tables, each holding one `formula` string."""
    example = (
        'formula = "z * sigmoid(z)"'
        if kind == "activation"
        else 'formula = "abs(yhat - y)"'
    )
    if not isinstance(value, dict):
        raise UserError(f"{path}: [{kind}.NAME] must be a table with {example}")
    out = []
    for name, table in value.items():
        if (
            not isinstance(table, dict)
            or set(table) != {"formula"}
            or not isinstance(table["formula"], str)
        ):
            raise UserError(
                f"{path}: [{kind}.{shown(name)}] takes exactly one key, {example}"
            )
        out.append(Formula(kind, name, table["formula"]))
    return out


def resolve(
    spec_path: Path | None = None,
    *,
    layers: str | None = None,
    activations_flag: str | None = None,
    formulas: tuple[Formula, ...] = (),
    **overrides: Any,
) -> NetworkSpec:
    """The spec a command works on: the default, else the TOML file, then flags on top.

    `formulas` from flags replace the file's of the same kind and name."""
    fields: dict[str, Any]
    if spec_path is not None:
        fields = load_toml(spec_path)
    elif layers is None:
        fields = dict(DEFAULT)
    else:
        fields = {}
    if layers is not None:
        fields["layers"] = layers
    if activations_flag is not None:
        fields["activations"] = tuple(a.strip() for a in activations_flag.split(","))
    for key, value in overrides.items():
        if value is not None:
            fields[key] = value
    if formulas:
        given = {(f.kind, f.name) for f in formulas}
        kept = [f for f in fields.get("formulas", ()) if (f.kind, f.name) not in given]
        fields["formulas"] = (*kept, *formulas)
    return make_spec(**fields)
