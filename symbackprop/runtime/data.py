"""The user's data: read_csv turns a numeric CSV into (X, y) or says in one line what is wrong."""

from __future__ import annotations

import numpy as np

from ._trainer import LAYERS, TARGETS


class DataError(Exception):
    """A problem with the user's data or weights file: shown as one line, exit code 2."""


def read_csv(path: str, targets: int) -> tuple[np.ndarray, np.ndarray]:
    """A numeric CSV (header optional): the last `targets` columns are the targets.

    For softmax cross-entropy a single target column holds integer class labels (0 .. K-1),
    turned into one-hot rows.
    """
    try:  # utf-8-sig: a byte-order mark (as Excel writes) is no part of the first cell
        with open(path, encoding="utf-8-sig") as fh:
            rows = [line.strip() for line in fh]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read it ({exc})") from None
    numbered = [(i, r.split(",")) for i, r in enumerate(rows, start=1) if r]
    if numbered and not _is_number(numbered[0][1][0].strip()):
        numbered = numbered[1:]  # a header row
    if not numbered:
        raise DataError(f"{path}: no data rows")
    width = len(numbered[0][1])
    values = []
    for line, cells in numbered:
        if len(cells) != width:
            raise DataError(
                f"{path}: row {line} has {len(cells)} columns, the first row {width}"
            )
        for column, cell in enumerate(cells, start=1):
            if not _is_number(cell.strip()):
                raise DataError(
                    f"{path}: row {line}, column {column}: {cell.strip()!r} is not a number"
                )
        values.append([float(c) for c in cells])
    data = np.array(values)
    if not 1 <= targets < width or width - targets != LAYERS[0]:
        raise DataError(
            f"{path}: {width} columns with --targets {targets} leaves {width - targets} input "
            f"columns, but the network takes {LAYERS[0]} inputs and {LAYERS[-1]} outputs"
        )
    X, y = data[:, :-targets], data[:, -targets:]
    if TARGETS == "one_hot" and targets == 1 and LAYERS[-1] > 1:
        labels = y[:, 0]
        if not np.all(
            (labels == np.round(labels)) & (labels >= 0) & (labels < LAYERS[-1])
        ):
            raise DataError(
                f"{path}: class labels must be whole numbers 0..{LAYERS[-1] - 1}"
            )
        y = np.eye(LAYERS[-1])[labels.astype(int)]
    if y.shape[1] != LAYERS[-1]:
        raise DataError(
            f"{path}: {y.shape[1]} target columns, but the network has {LAYERS[-1]} outputs"
        )
    return X, y


def _is_number(text: str) -> bool:
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False
