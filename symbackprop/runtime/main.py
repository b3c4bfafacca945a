"""The trainer's command line: train (full batch or mini-batch, with a validation split),
stop on divergence, save; or check the gradients. argparse is loaded only when flags are given.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from ._trainer import (
    EPOCHS,
    HYPER,
    LOSS,
    LR,
    OPTIMIZER,
    REDUCTION,
    SEED,
    TARGETS,
    UPDATES,
    init_params,
    init_state,
    loss,
    make_data,
    step,
    train,
)
from .data import DataError, read_csv
from .format import loss_text, print_epoch
from .gradcheck import GRADCHECK_THRESHOLD, gradcheck
from .predict import accuracy
from .weights import load_params, save_params, save_path


class Options:
    """The command line's settings, one attribute each (argparse's Namespace, without it)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


EXIT_CODES = (
    "exit codes: 0 done (--gradcheck: passed), 1 --gradcheck failed, 2 bad input (a flag, "
    "the CSV, the --load file, the --save target) or the loss diverged, 130 interrupted"
)
SEED_HELP = (
    "a whole number >= 0 (default %(default)s). It seeds init_params (with --data, or when "
    "the spec gives no weights), make_data (when the spec gives no data), the shuffle of "
    "--batch-size and the --val split; with the spec's own data and weights it changes only "
    "those last two"
)
# every setting and its value without flags (a run without flags never loads argparse)
DEFAULTS: dict[str, Any] = dict(
    data=None,
    targets=None,
    label_column="last",
    standardize=False,
    val=None,
    epochs=EPOCHS,
    lr=LR,
    optimizer=OPTIMIZER,
    **HYPER,
    batch_size=None,
    seed=SEED,
    log_every=None,
    save=None,
    force=False,
    load=None,
    gradcheck=False,
)


def _parse(argv: list[str], prog: str) -> Options:
    """The flags, by argparse; a bad one is one line on stderr and exit code 2."""
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse, but a bad flag is one line on stderr (no usage block)."""

        def error(self, message: str) -> NoReturn:
            self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    p = Parser(prog=prog, description=__doc__.splitlines()[0], epilog=EXIT_CODES)
    p.add_argument("--data", metavar="CSV", help="numeric CSV, header optional")
    p.add_argument(
        "--targets",
        type=int,
        help="how many target columns (default: every column that is not an input; for "
        "softmax one column of class labels 0..K-1 is also taken)",
    )
    p.add_argument(
        "--label-column",
        metavar="WHERE",
        help="where the targets are: first, last (default) or the 0-based index of the "
        "first target column",
    )
    p.add_argument(
        "--standardize",
        action="store_true",
        help="scale every input column to mean 0 and standard deviation 1 (the training "
        "rows' statistics, applied to the --val rows too)",
    )
    p.add_argument(
        "--val",
        type=float,
        metavar="FRACTION",
        help="hold out this fraction of the rows (chosen by --seed) and log their loss",
    )
    p.add_argument("--epochs", type=int, help="default: %(default)s")
    p.add_argument("--lr", type=float, help="learning rate (default %(default)s)")
    p.add_argument(
        "--optimizer", choices=tuple(UPDATES), help="update rule (default %(default)s)"
    )
    for name in HYPER:
        p.add_argument(f"--{name}", type=float, help="default %(default)s")
    p.add_argument(
        "--batch-size", type=int, help="mini-batch size (default: the whole data)"
    )
    p.add_argument("--seed", type=int, help=SEED_HELP)
    p.add_argument("--log-every", type=int, help="print progress every K epochs")
    p.add_argument(
        "--save",
        metavar="NPZ",
        help="save the trained weights (atomically; .npz is added if missing)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="let --save replace a file it did not write, or a symbolic link itself",
    )
    p.add_argument("--load", metavar="NPZ", help="start from saved weights")
    p.add_argument(
        "--gradcheck", action="store_true", help="finite-difference self-test"
    )
    p.set_defaults(**DEFAULTS)
    return p.parse_args(argv, namespace=Options())  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    """Train on the spec's data, a CSV, or a random set; or check the gradients (--gradcheck)."""
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0])
    args = _parse(argv, prog) if argv else Options(**DEFAULTS)
    try:
        return _run(args)
    except DataError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _check_flags(args: Options) -> None:
    """Refuse a flag value no run can use, before anything is read or trained."""
    if args.epochs < 1 or (args.batch_size is not None and args.batch_size < 1):
        wrong = "--epochs" if args.epochs < 1 else "--batch-size"
        value = args.epochs if args.epochs < 1 else args.batch_size
        raise DataError(
            f"--epochs and --batch-size must be positive; got {wrong} {value}"
        )
    if not (np.isfinite(args.lr) and args.lr > 0):
        raise DataError(f"--lr must be a positive finite number; got --lr {args.lr}")
    if args.seed < 0:
        raise DataError(f"--seed must be a whole number >= 0; got --seed {args.seed}")
    if args.log_every is not None and args.log_every < 1:
        raise DataError(
            f"--log-every must be a whole number >= 1; got --log-every {args.log_every}"
        )
    if args.val is not None and not 0 < args.val < 1:
        raise DataError(
            f"--val must be a fraction between 0 and 1; got --val {args.val}"
        )
    for name in HYPER:
        value = getattr(args, name)
        upper = 1.0 if name.startswith("beta") else np.inf
        if not (np.isfinite(value) and 0 <= value < upper) or (
            name == "eps" and value <= 0
        ):
            within = "from 0 up to (not including) 1" if upper == 1 else "above 0"
            raise DataError(f"--{name} must be a number {within}; got --{name} {value}")
    if args.gradcheck and args.save is not None:
        raise DataError("--gradcheck trains nothing for --save to save; drop one")
    if args.force and args.save is None:
        raise DataError("--force only applies to --save; drop it or add --save FILE")


def _check_finite(params: dict[str, np.ndarray], path: str) -> None:
    """Refuse to train from loaded weights that hold NaN or inf: every step would be NaN."""
    for name, value in params.items():
        if not np.isfinite(value).all():
            raise DataError(
                f"{path}: {name} holds NaN or infinite values, which no training can "
                "start from; load finite weights (or run --gradcheck on these)"
            )


def split(
    X: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, X_val, y_val): `fraction` of the rows, drawn with `seed`, held out."""
    held = round(fraction * len(X))
    if not 1 <= held < len(X):
        raise DataError(
            f"--val {fraction} of {len(X)} rows holds out {held}; keep at least one row "
            "for each side"
        )
    order = np.random.default_rng(seed).permutation(len(X))
    rest, out = order[held:], order[:held]
    return X[rest], y[rest], X[out], y[out]


def standardize(X: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """X and `others` with X's column means subtracted and divided by its column standard
    deviations (a constant column is only centred)."""
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1
    return [((A - mean) / std).astype(X.dtype) for A in (X, *others)]


def _run(args: Options) -> int:
    _check_flags(args)
    # the --save target is checked before any training, not found wrong after it
    save = None if args.save is None else save_path(args.save, args.force)
    if args.data is not None:
        X, y = read_csv(args.data, args.targets, args.label_column)
        params = init_params(args.seed)
    # slot default_data: the template puts the spec's own data (if any) in this else branch
    else:
        X, y = make_data(seed=args.seed)
        params = init_params(args.seed)
    # end slot default_data
    if args.load is not None:
        params = load_params(args.load)
        if not args.gradcheck:  # which reports such weights as a failure
            _check_finite(params, args.load)
    X_val = y_val = None
    if args.val is not None:
        X, y, X_val, y_val = split(X, y, args.val, args.seed)
    if args.standardize:
        X, *rest = standardize(X, *([] if X_val is None else [X_val]))
        X_val = rest[0] if rest else None
    if args.gradcheck:
        with np.errstate(all="ignore"):  # NaN and inf are reported as a failure
            worst = gradcheck(params, X, y)
        verdict = "passed" if worst < GRADCHECK_THRESHOLD else "FAILED"
        print(
            f"gradcheck {verdict}: max rel. error {worst:.1e} beyond the rounding noise "
            f"(threshold {GRADCHECK_THRESHOLD:.0e})"
        )
        return 0 if worst < GRADCHECK_THRESHOLD else 1
    state = init_state(
        params, args.optimizer, **{name: getattr(args, name) for name in HYPER}
    )
    what = "sum" if REDUCTION == "sum" else "mean"
    print(
        f"# loss: {LOSS}, the {what} over the samples of each batch (reduction {what})"
    )
    report = _reporter(params, X, y, X_val, y_val)
    batch = args.batch_size or len(X)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported at once
        if batch >= len(X) and args.log_every is None:
            log = _stop_if_diverged(args.lr, report)
            train(params, X, y, args.lr, args.epochs, log=log, state=state)
        else:
            every = args.log_every or max(1, args.epochs // 20)
            train_minibatch(
                params,
                state,
                X,
                y,
                args.lr,
                args.epochs,
                batch,
                args.seed,
                every,
                report,
            )
    if save is not None:
        print(f"saved weights to {save_params(save, params, args.force)}")
    return 0


def _reporter(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray | None,
    y_val: np.ndarray | None,
) -> Callable[[], list[str]]:
    """The log's extra fields at the current weights: accuracy (classifiers), val_loss and
    val_accuracy (with --val)."""
    classifier = TARGETS in ("binary", "one_hot")

    def fields() -> list[str]:
        out = []
        if classifier:
            out += ["accuracy:", f"{accuracy(params, X, y):.4f}"]
        if X_val is not None and y_val is not None:
            out += ["val_loss:", loss_text(loss(params, X_val, y_val))]
            if classifier:
                out += ["val_accuracy:", f"{accuracy(params, X_val, y_val):.4f}"]
        return out

    return fields


def train_minibatch(
    params: dict[str, np.ndarray],
    state: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int,
    every: int,
    report: Callable[[], list[str]] = list,
) -> list[float]:
    """Mini-batch steps of the state's optimizer with a seeded shuffle; prints the whole
    training set's loss (and `report`'s fields) every `every` epochs."""
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            step(params, state, X[batch], y[batch], lr)
        history.append(loss(params, X, y))
        if epoch == 1 or epoch % every == 0 or epoch == epochs:
            extra = " ".join(report())
            print(
                f"epoch {epoch}/{epochs}  loss: {loss_text(history[-1])}"
                + (f"  {extra}" if extra else "")
            )
        _check_diverged(epoch, history[-1], history[0], lr)
    return history


def _stop_if_diverged(
    lr: float, report: Callable[[], list[str]] = list
) -> Callable[[int, float, dict[str, np.ndarray]], None]:
    """The seed-format log (and `report`'s fields), stopping the run the first time the loss
    is not finite."""

    first: list[float] = []

    def log(epoch: int, value: float, grads: dict[str, np.ndarray]) -> None:
        print_epoch(epoch, value, grads, *report())
        first.append(value)
        _check_diverged(epoch, value, first[0], lr)

    return log


def _check_diverged(epoch: int, value: float, first: float, lr: float) -> None:
    """Stop a run whose loss is no longer finite, or has grown a million-fold."""
    if not np.isfinite(value) or value > 1e6 * max(first, 1.0):
        raise DataError(
            f"the loss diverged at epoch {epoch} (loss {value:.3g}): --lr {lr:g} is too "
            "large; try a smaller one"
        )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into `head`
        sys.exit(0)
