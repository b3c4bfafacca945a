"""Course conventions as data: the function names each course gives its forward and backward,
the names of their containers, and the words by which a file says how it lays out samples.

Binding and layout read these tables; nothing here runs a student's code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError

# the names a course gives each role, most specific first (the seed's first)
FUNCTION_NAMES: dict[str, tuple[str, ...]] = {
    "forward": (
        "forward",
        "forward_propagation",
        "L_model_forward",
        "forward_pass",
        "feedforward",
        "feed_forward",
        "forward_prop",
        "nn_forward_pass",
    ),
    "backward": (
        "backward",
        "backward_propagation",
        "backward_propagation_with_regularization",
        "L_model_backward",
        "backward_pass",
        "backprop",
        "back_propagation",
        "backward_prop",
    ),
}

# a function computing both from the targets: scores without them, (loss, grads) with them
LOSS_AND_GRADS_NAMES = (
    "loss",
    "two_layer_net",
    "loss_and_grads",
    "loss_and_gradients",
    "nn_forward_backward",
)

# what a file says when its targets are integer class labels (CS231n's y)
LABEL_HINTS = (
    "np.arange(N),y]",
    "range(N),y]",
    "isaninteger",
    "integerintherange",
    "traininglabels",
)
# what a file says of how it stores W and b (its spaces taken out): only one kind saying decides
WEIGHT_HINTS = {
    "out_in": ("randn(n_h,n_x)", "(n_h,n_x)", "(n_y,n_h)", "(out,in)"),
    "in_out": (
        "randn(input_size,hidden_size)",
        "(D,H)",
        "(H,C)",
        "(n_x,n_h)",
        "(in,out)",
    ),
}
BIAS_HINTS = {
    "col": ("zeros((n_h,1))", "(n_h,1)", "(n_y,1)"),
    "row": ("zeros((1,hidden_size))", "zeros((1,n_h))", "(1,n_h)", "(1,H)"),
    "flat": ("zeros(hidden_size)", "(H,)", "(C,)", "zeros(n_h)", "(out,)", "(M,)"),
}


@dataclass(frozen=True)
class LayerPair:
    """A course's layer: its forward `(out, cache)` and backward `(dout, cache)` functions,
    the layer (affine, or an activation of the spec's registry), what the backward returns."""

    forward: str
    backward: str
    layer: str
    grads: tuple[str, ...]


@dataclass(frozen=True)
class LayerApi:
    """A course's layer functions and their convention: samples as rows (CS231n) or columns
    (deeplearning.ai, whose dW, db are averaged over the m samples of a per-sample dZ)."""

    name: str
    pairs: tuple[LayerPair, ...]
    samples: str
    averaged: bool


LAYER_APIS: dict[str, LayerApi] = {
    "cs231n": LayerApi(
        "cs231n",
        (
            LayerPair(
                "affine_forward", "affine_backward", "affine", ("dx", "dw", "db")
            ),
            LayerPair("relu_forward", "relu_backward", "relu", ("dx",)),
            LayerPair("sigmoid_forward", "sigmoid_backward", "sigmoid", ("dx",)),
            LayerPair("tanh_forward", "tanh_backward", "tanh", ("dx",)),
        ),
        "rows",
        False,
    ),
    "dlai": LayerApi(
        "dlai",
        (
            LayerPair(
                "linear_forward", "linear_backward", "affine", ("dA_prev", "dW", "db")
            ),
            LayerPair("relu", "relu_backward", "relu", ("dZ",)),
            LayerPair("sigmoid", "sigmoid_backward", "sigmoid", ("dZ",)),
        ),
        "columns",
        True,
    ),
}


# CS231n's 2015 loss 0.5 * reg * sum(W**2): there reg is the spec's l2 itself
HALF_REG_HINTS = ("0.5*reg*", "reg*0.5*", "0.5*self.reg*")

# a dict of the forward pass's intermediates handed to the backward (deeplearning.ai's cache)
CACHE_NAMES = frozenset({"cache", "forward_cache", "memory"})
# deeplearning.ai's L-layer caches: per layer ((A_prev, W, b), Z), input layer first
CACHES_NAMES = frozenset({"caches"})

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
ROW_HINTS = (
    "X.shape[0]",
    "(N,D)",
    "np.dot(X,W1)",
    "X@W1",
    "X.dot(W1)",
    "(N,d_1,...,d_k)",  # CS231n's layer API
    "x.reshape(x.shape[0],-1)",
)


# the coefficient a course passes for the L2 penalty -> (factor, times the batch size): the
# course's value is factor * l2 (* m), where the spec's penalty is l2/2 * sum(W**2)
COEFFICIENTS: dict[str, tuple[float, bool]] = {
    "lambd": (1.0, True),  # deeplearning.ai: lambd/(2m) * sum(W**2), dW += lambd/m * W
    "reg": (0.5, False),  # CS231n: reg * sum(W * W), dW += 2 * reg * W
    "l2": (1.0, False),
    "lam": (1.0, False),
    "lmbda": (1.0, False),
    "lambda_": (1.0, False),
    "weight_decay": (1.0, False),
    # Neural Networks from Scratch: l2 * sum(w * w), dweights += 2 * l2 * w
    "weight_regularizer_l2": (0.5, False),
}


def course_coefficient(name: str, l2: float, m: int, half_reg: bool = False) -> float:
    """The value a course's coefficient parameter takes for the spec's l2, at batch size m
    (`half_reg`: the file's penalty is 0.5 * reg * sum(W**2))."""
    factor, per_sample = COEFFICIENTS[name]
    if half_reg and name == "reg":
        factor = 1.0
    return factor * l2 * (m if per_sample else 1)


def conventional_names(role: str) -> tuple[str, ...]:
    """The names a course may give the function of this role, in the order tried."""
    return FUNCTION_NAMES[role]


def says(text: str, hints: tuple[str, ...]) -> bool:
    """Whether the text, its spaces taken out, contains one of the hints."""
    flat = "".join(text.split())
    return any(hint in flat for hint in hints)


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


@dataclass(frozen=True)
class Conventions:
    """What a file's text says about its layout: samples as rows or columns, targets as class
    labels, CS231n's 0.5 * reg penalty."""

    samples: tuple[str, ...] = ("rows",)
    labels: bool = False
    half_reg: bool = False
    weights: tuple[str, ...] = ("out_in", "in_out")
    biases: tuple[str, ...] = ("flat", "row", "col")


SEED = Conventions()  # the seed's: samples as rows, targets as arrays


def read_conventions(
    docstrings: Iterable[str],
    text: str,
    one_hot: bool,
    declared: Profile | None = None,
) -> Conventions:
    """The conventions of a file: what a profile declares, else from its functions'
    docstrings, then its whole text."""
    docs = list(docstrings)
    samples = sample_layouts(docs, [text])
    labels = one_hot and says("\n".join(docs) + text, LABEL_HINTS)
    if declared is not None and declared.samples:
        samples = (declared.samples,)
    if declared is not None and declared.targets:
        labels = one_hot and declared.targets == "labels"
    weights = _one_kind(text, WEIGHT_HINTS) or SEED.weights
    if declared is not None and declared.weights:
        weights = (WEIGHT_KINDS[declared.weights],)
    return Conventions(
        samples,
        labels,
        says(text, HALF_REG_HINTS),
        weights,
        _one_kind(text, BIAS_HINTS) or SEED.biases,
    )


def _one_kind(text: str, hints: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The one kind the text's hints name, or () when none or several do."""
    named = [kind for kind, words in hints.items() if says(text, words)]
    return tuple(named) if len(named) == 1 else ()


# an assignment profile: a small TOML file naming the functions (or Class.method) of each role
# and the layout; built-in ones ship in symbackprop/data/profiles/
PROFILE_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "profiles"
PROFILE_KEYS = (
    "forward",
    "backward",
    "samples",
    "targets",
    "weights",
    "layers",
    # "one": the backward takes one training example at a time (Nielsen's backprop(x, y))
    "examples",
    # a tutorial script: its gradient variables (W1's, b1's, W2's, ...), its X and y
    "grad_vars",
    "data_vars",
)
PROFILE_VALUES = {
    # the course's layer functions, each checked on its own (affine_backward, relu_backward)
    "layers": tuple(LAYER_APIS),
    "samples": ("rows", "columns"),
    "targets": ("arrays", "labels"),
    # W as (units, inputs) (the seed's, deeplearning.ai's) or (inputs, units) (CS231n's)
    "weights": ("units_first", "inputs_first"),
    "examples": ("batch", "one"),
}
WEIGHT_KINDS = {"units_first": "out_in", "inputs_first": "in_out"}
MAX_PROFILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Profile:
    """What a profile declares: the function of each role, and the layout where it says."""

    name: str
    forward: str
    backward: str
    samples: str = ""
    targets: str = ""
    weights: str = ""
    layers: str = ""
    examples: str = ""
    grad_vars: str = ""
    data_vars: str = ""


def built_in_profiles() -> list[str]:
    """The names of the shipped profiles (seed, dlai, dlai-L-layer, cs231n, cs231n-layers)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(which: str) -> Profile:
    """A built-in profile by name, else a profile file; UserError naming what is wrong."""
    path = (
        PROFILE_DIR / f"{which}.toml" if which in built_in_profiles() else Path(which)
    )
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_PROFILE_BYTES + 1)
        raw = tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"--profile {which}: not a built-in profile ({', '.join(built_in_profiles())}) "
            "and no such file"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"--profile {which}: cannot read it ({exc})") from None
    if len(data) > MAX_PROFILE_BYTES:
        raise UserError(
            f"--profile {which}: larger than {MAX_PROFILE_BYTES // 1024} KiB"
        )
    unknown = sorted(set(raw) - set(PROFILE_KEYS))
    if unknown:
        raise UserError(
            f"--profile {which}: unknown key {unknown[0]!r}; a profile takes "
            f"{', '.join(PROFILE_KEYS)}"
        )
    for key in PROFILE_KEYS:
        value = raw.get(key, "")
        if not isinstance(value, str) or (
            key in PROFILE_VALUES and value and value not in PROFILE_VALUES[key]
        ):
            allowed = " or ".join(PROFILE_VALUES.get(key, ("a function name",)))
            raise UserError(f"--profile {which}: {key} must be {allowed}")
    if not raw.get("grad_vars") and (not raw.get("forward") or not raw.get("backward")):
        raise UserError(
            f"--profile {which}: it must name forward and backward (or a script's grad_vars)"
        )
    return Profile(Path(which).stem, **{"forward": "", "backward": "", **raw})
