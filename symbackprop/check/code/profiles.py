"""Course conventions as data: the function names each course gives its forward and backward,
the names of their containers, and the words by which a file says how it lays out samples.

Binding and layout read these tables; nothing here runs a student's code.
"""

from __future__ import annotations

from collections.abc import Iterable

# the names a course gives each role, most specific first (the seed's first)
FUNCTION_NAMES: dict[str, tuple[str, ...]] = {
    "forward": (
        "forward",
        "forward_propagation",
        "forward_pass",
        "feedforward",
        "feed_forward",
        "forward_prop",
    ),
    "backward": (
        "backward",
        "backward_propagation",
        "backward_propagation_with_regularization",
        "backward_pass",
        "backprop",
        "back_propagation",
        "backward_prop",
    ),
}

# a dict of the forward pass's intermediates handed to the backward (deeplearning.ai's cache)
CACHE_NAMES = frozenset({"cache", "forward_cache", "memory"})

# what a file says when its samples are columns (X is (n_x, m)) or rows (X is (N, D)),
# compared with the file's text with its spaces taken out
COLUMN_HINTS = (
    "X.shape[1]",
    "(n_x,m)",
    "(n_x,numberofexamples)",
    "(inputsize,numberofexamples)",
    "(1,numberofexamples)",
    "(n_y,m)",
    "np.dot(W1,X)",
    "W1@X",
)
ROW_HINTS = ("X.shape[0]", "(N,D)", "np.dot(X,W1)", "X@W1", "X.dot(W1)")


def conventional_names(role: str) -> tuple[str, ...]:
    """The names a course may give the function of this role, in the order tried."""
    return FUNCTION_NAMES[role]


def sample_layouts(*sources: Iterable[str]) -> tuple[str, ...]:
    """The sample layouts the file allows, the likelier first: the first source that says
    (the functions' docstrings, then the whole file) decides; else both, rows first."""
    for source in sources:
        text = "".join("".join(source).split())
        columns = any(hint in text for hint in COLUMN_HINTS)
        rows = any(hint in text for hint in ROW_HINTS)
        if columns != rows:
            return ("columns",) if columns else ("rows",)
    return ("rows", "columns")
