"""The user's data: read_csv turns a numeric CSV into (X, y) or says in one line what is wrong.

NumPy's own reader (np.loadtxt) parses the file; only when it refuses one does a scan of the
file name the row (a line of the file) and the column, so a mistake costs no speed when there
is none.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._trainer import DTYPE, LAYERS, TARGETS


class DataError(Exception):
    """A problem with the user's data or weights file: shown as one line, exit code 2."""


def read_csv(
    path: str, targets: int | None = None, label_column: str = "last"
) -> tuple[np.ndarray, np.ndarray]:
    """A numeric CSV (header optional) as (X, y): `targets` columns (default: every column
    that is not an input) from `label_column` on ("first", "last" or a 0-based index) are y.

    For softmax cross-entropy a single target column holds integer class labels (0 .. K-1),
    turned into one-hot rows.
    """
    data = _numbers(path)
    width = data.shape[1]
    count = width - LAYERS[0] if targets is None else targets
    if targets is None and count < 1:
        raise DataError(
            f"{path}: {width} columns leave no target column after the network's "
            f"{LAYERS[0]} inputs; it has {LAYERS[-1]} outputs"
        )
    if not 1 <= count < width or width - count != LAYERS[0]:
        raise DataError(
            f"{path}: {width} columns with --targets {count} leaves {width - count} input "
            f"columns, but the network takes {LAYERS[0]} inputs and {LAYERS[-1]} outputs"
        )
    first = _first_target(path, label_column, width, count)
    targets_at = slice(first, first + count)
    # one copy of the inputs, in row order (a boolean mask would copy twice)
    X, y = np.delete(data, targets_at, axis=1), data[:, targets_at]
    if TARGETS == "one_hot" and count == 1 and LAYERS[-1] > 1:
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
    return np.ascontiguousarray(X, dtype=DTYPE), np.ascontiguousarray(y, dtype=DTYPE)


def _first_target(path: str, label_column: str, width: int, count: int) -> int:
    """The index of the first target column named by --label-column."""
    if label_column == "last":
        return width - count
    if label_column == "first":
        return 0
    try:
        index = int(label_column)
    except ValueError:
        raise DataError(
            f"--label-column {label_column}: give first, last or a column index from 0"
        ) from None
    if not 0 <= index <= width - count:
        raise DataError(
            f"{path}: --label-column {index} with --targets {count} needs columns "
            f"{index}..{index + count - 1}, but the file has columns 0..{width - 1}"
        )
    return index


def _numbers(path: str) -> np.ndarray:
    """Every number of the file, one row per data line, by NumPy's reader; its header (a
    first line whose first cell is no number) skipped. Any refusal is named by _scan."""
    try:  # utf-8-sig: a byte-order mark (as Excel writes) is no part of the first cell
        with open(path, encoding="utf-8-sig") as fh:
            first = fh.readline()
            while first and not first.strip():
                first = fh.readline()
            if _is_number(first.split(",")[0].strip()):
                fh.seek(0)  # no header: read from the start
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an empty file: refused below
                data = np.loadtxt(fh, delimiter=",", ndmin=2, comments=None)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read it ({exc})") from None
    except ValueError:
        _scan(path)  # raises the DataError naming the row and the column
        raise DataError(f"{path}: not a numeric CSV") from None
    if data.size == 0:
        raise DataError(f"{path}: no data rows")
    if not np.isfinite(data).all():
        _scan(path)
    return data


def _scan(path: str) -> None:
    """Raise a DataError naming the first bad row (a line of the file) and column, if any."""
    with open(path, encoding="utf-8-sig") as fh:
        rows = [line.strip() for line in fh]
    numbered = [(i, r.split(",")) for i, r in enumerate(rows, start=1) if r]
    if numbered and not _is_number(numbered[0][1][0].strip()):
        numbered = numbered[1:]  # a header row
    if not numbered:
        raise DataError(f"{path}: no data rows")
    width = len(numbered[0][1])
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


def _is_number(text: str) -> bool:
    try:
        return bool(np.isfinite(float(text)))
    except ValueError:
        return False
