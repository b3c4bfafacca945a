"""The document's cost against width: its worked example runs the trainer on one BLAS thread."""

from __future__ import annotations

import types

import pytest
from threadpoolctl import threadpool_info

from symbackprop.derive import derive
from symbackprop.emit import example
from symbackprop.emit import trainer as codegen
from symbackprop.spec import default_spec


def blas_threads() -> list[int]:
    """The thread count of every BLAS this process has loaded."""
    return [
        lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"
    ]


def test_the_worked_example_trains_on_one_blas_thread() -> None:
    """An 8-row product spread over every core spins on a busy machine (~8x slower)."""
    before = blas_threads()
    if not before or max(before) == 1:
        pytest.skip("no multi-threaded BLAS loaded")
    d = derive(default_spec())
    trainer = codegen.load_trainer(codegen.emit_trainer_unchecked(d))
    seen: list[list[int]] = []

    def train(*args: object, **kwargs: object) -> list[float]:
        seen.append(blas_threads())
        return trainer.train(*args, **kwargs)

    fake = types.SimpleNamespace(**{**vars(trainer), "train": train})
    example.run_example(d, fake)  # type: ignore[arg-type]
    assert seen == [[1] * len(before)]
    assert blas_threads() == before  # restored afterwards
