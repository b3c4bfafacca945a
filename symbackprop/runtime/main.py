"""The trainer's command line (argparse `main`): train, mini-batch, stop on divergence, save."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

import numpy as np

from ._trainer import (
    EPOCHS,
    LAYERS,
    LR,
    SEED,
    init_params,
    loss,
    make_data,
    sgd_step,
    train,
)
from .data import DataError, read_csv
from .format import print_epoch
from .gradcheck import GRADCHECK_THRESHOLD, gradcheck
from .weights import load_params, save_params, save_path


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (no usage block), as every error is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


EXIT_CODES = (
    "exit codes: 0 done (--gradcheck: passed), 1 --gradcheck failed, 2 bad input (a flag, "
    "the CSV, the --load file, the --save target) or the loss diverged, 130 interrupted"
)


def train_minibatch(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int,
    every: int,
) -> list[float]:
    """Mini-batch SGD with a seeded shuffle; prints the whole-data loss every `every` epochs."""
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            sgd_step(params, X[batch], y[batch], lr)
        history.append(loss(params, X, y))
        if epoch == 1 or epoch % every == 0 or epoch == epochs:
            print(f"epoch {epoch}/{epochs}  loss {history[-1]:.6g}")
        _check_diverged(epoch, history[-1], history[0], lr)
    return history


def main(argv: list[str] | None = None) -> int:
    """Train on the spec's data, a CSV, or a random set; or check the gradients (--gradcheck)."""
    parser = _Parser(description=__doc__.splitlines()[0], epilog=EXIT_CODES)
    parser.add_argument("--data", metavar="CSV", help="numeric CSV, header optional")
    parser.add_argument(
        "--targets",
        type=int,
        default=LAYERS[-1],
        help="target columns at the end (default %(default)s)",
    )
    parser.add_argument(
        "--epochs", type=int, default=EPOCHS, help="default: %(default)s"
    )
    parser.add_argument("--lr", type=float, default=LR, help="default: %(default)s")
    parser.add_argument(
        "--batch-size", type=int, help="mini-batch size (default: the whole data)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help="init, data and shuffle seed, a whole number >= 0 (default %(default)s)",
    )
    parser.add_argument("--log-every", type=int, help="print progress every K epochs")
    parser.add_argument(
        "--save",
        metavar="NPZ",
        help="save the trained weights (atomically; .npz is added if missing)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="let --save replace a file it did not write, or a symbolic link itself",
    )
    parser.add_argument("--load", metavar="NPZ", help="start from saved weights")
    parser.add_argument(
        "--gradcheck", action="store_true", help="finite-difference self-test"
    )
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except DataError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


def _check_flags(args: argparse.Namespace) -> None:
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


def _run(args: argparse.Namespace) -> int:
    _check_flags(args)
    # the --save target is checked before any training, not found wrong after it
    save = None if args.save is None else save_path(args.save, args.force)
    if args.data is not None:
        X, y = read_csv(args.data, args.targets)
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
    if args.gradcheck:
        with np.errstate(all="ignore"):  # NaN and inf are reported as a failure
            worst = gradcheck(params, X, y)
        verdict = "passed" if worst < GRADCHECK_THRESHOLD else "FAILED"
        print(
            f"gradcheck {verdict}: max rel. error {worst:.1e} (threshold {GRADCHECK_THRESHOLD:.0e})"
        )
        return 0 if worst < GRADCHECK_THRESHOLD else 1
    batch = args.batch_size or len(X)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported at once
        if batch >= len(X) and args.log_every is None:
            train(params, X, y, args.lr, args.epochs, log=_stop_if_diverged(args.lr))
        else:
            every = args.log_every or max(1, args.epochs // 20)
            train_minibatch(params, X, y, args.lr, args.epochs, batch, args.seed, every)
    if save is not None:
        print(f"saved weights to {save_params(save, params, args.force)}")
    return 0


def _stop_if_diverged(lr: float) -> Callable[[int, float, dict[str, np.ndarray]], None]:
    """The seed-format log, stopping the run the first time the loss is not finite."""

    first: list[float] = []

    def log(epoch: int, value: float, grads: dict[str, np.ndarray]) -> None:
        print_epoch(epoch, value, grads)
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
