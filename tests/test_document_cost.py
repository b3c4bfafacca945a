"""The document's cost against width: its worked example runs the trainer on one BLAS thread."""

from __future__ import annotations

import types

import pytest

from symbackprop.derive import derive
from symbackprop.emit import blas_threads, example
from symbackprop.emit import trainer as codegen
from symbackprop.spec import default_spec


def test_the_worked_example_trains_on_one_blas_thread() -> None:
    """An 8-row product spread over every core spins on a busy machine (~8x slower)."""
    if blas_threads.blas_threads() in (None, 1):
        pytest.skip("no multi-threaded OpenBLAS loaded")
    d = derive(default_spec())
    trainer = codegen.load_trainer(codegen.emit_trainer_unchecked(d))
    seen: list[int | None] = []

    def train(*args: object, **kwargs: object) -> list[float]:
        seen.append(blas_threads.blas_threads())
        return trainer.train(*args, **kwargs)

    fake = types.SimpleNamespace(**{**vars(trainer), "train": train})
    example.run_example(d, fake)  # type: ignore[arg-type]
    assert seen == [1]
    assert blas_threads.blas_threads() not in (None, 1)  # restored afterwards


def test_one_blas_thread_restores_the_count_after_an_error() -> None:
    before = blas_threads.blas_threads()
    with pytest.raises(ZeroDivisionError), blas_threads.one_blas_thread():
        1 / 0  # noqa: B018
    assert blas_threads.blas_threads() == before
