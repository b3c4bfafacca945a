"""The generated default trainer against the hand-written reference and the seed's promises."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import reference
from conftest import ROOT


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(
        np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300))
    )


def test_default_data_and_weights_are_the_seeds(default_trainer) -> None:
    np.testing.assert_array_equal(default_trainer.DEFAULT_X, reference.SEED_X)
    np.testing.assert_array_equal(default_trainer.DEFAULT_Y, reference.SEED_Y)
    for name, value in reference.seed_params().items():
        np.testing.assert_array_equal(default_trainer.DEFAULT_PARAMS[name], value)
    assert default_trainer.LAYERS == (2, 2, 1)
    assert default_trainer.ACTIVATIONS == ("relu", "identity")
    assert (default_trainer.LOSS, default_trainer.REDUCTION) == ("half_sse", "sum")
    assert (default_trainer.LR, default_trainer.EPOCHS) == (0.05, 100)


def test_epoch1_gradients_equal_reference(default_trainer) -> None:
    X, y = np.array(reference.SEED_X), np.array(reference.SEED_Y)
    want_loss, want = reference.loss_and_gradients(reference.seed_params(), X, y)
    got = default_trainer.gradients(reference.seed_params(), X, y)
    assert set(got) == set(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        assert _rel(got[name], want[name]) < 1e-12, name
    assert (
        abs(default_trainer.loss(reference.seed_params(), X, y) - want_loss)
        < 1e-12 * want_loss
    )


def test_mean_reduction_gradients_equal_reference() -> None:
    from conftest import trainer_for

    t = trainer_for(layers=(2, 2, 1), reduction="mean")
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(7, 2)), rng.normal(size=(7, 1))
    params = {
        k: v + rng.normal(size=v.shape) for k, v in reference.seed_params().items()
    }
    want_loss, want = reference.loss_and_gradients(params, X, y, reduction="mean")
    got_loss, got = t.loss_and_gradients(params, X, y)
    assert abs(got_loss - want_loss) <= 1e-12 * abs(want_loss)
    for name in want:
        assert _rel(got[name], want[name]) < 1e-12, name


def test_100_epoch_trajectory_equals_reference(default_trainer) -> None:
    X, y = np.array(reference.SEED_X), np.array(reference.SEED_Y)
    want_losses, want_params = reference.train(reference.seed_params(), X, y, 0.05, 100)
    params = reference.seed_params()
    got_losses = []
    for epoch in range(100):
        got_losses.append(default_trainer.sgd_step(params, X, y, 0.05))
        for name in params:
            assert _rel(params[name], want_params[epoch][name]) < 1e-12, (epoch, name)
    # losses to 1e-12 relative, with a floor at 1e-12 of the first loss: near 1e-7 the loss is
    # (yhat - y)^2 / 2 with yhat ~ 3, so summation order alone moves its 12th digit
    np.testing.assert_allclose(
        got_losses, want_losses, rtol=1e-12, atol=1e-12 * want_losses[0]
    )
    # the whole point: the correct gradients drive the loss to ~0, unlike the seed's 0.0365
    assert got_losses[-1] < 1e-6
    # train() gives the same trajectory as repeated sgd_step
    history = default_trainer.train(reference.seed_params(), X, y, 0.05, 100)
    np.testing.assert_allclose(history, got_losses, rtol=0, atol=0)


def test_running_the_generated_trainer_prints_100_seed_format_lines() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "generated" / "trainer_2_2_1.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    # one line saying what the loss is (the seed printed the mean, this network sums)
    header, *out = out
    assert (
        header
        == "# loss: half_sse, the sum over the samples of each batch (reduction sum)"
    )
    assert len(out) == 100
    pattern = re.compile(
        r"^Epoch: (\d+) loss: (\S+) W1_grad: \[[^\]]*\] W2_grad: \[[^\]]*\] "
        r"b1_grad: \[[^\]]*\] b2_grad: \[[^\]]*\]$"
    )
    for i, line in enumerate(out, start=1):
        m = pattern.match(line)
        assert m, line
        assert int(m.group(1)) == i
    # epoch 1 as the hand-written reference computes it, rounded as the seed prints
    X, y = np.array(reference.SEED_X), np.array(reference.SEED_Y)
    loss1, g = reference.loss_and_gradients(reference.seed_params(), X, y)
    expected = (
        f"Epoch: 1 loss: {np.round(loss1, 4)} W1_grad: {np.round(g['W1'].flatten(), 2)} "
        f"W2_grad: {np.round(g['W2'].flatten(), 2)} b1_grad: {np.round(g['b1'].flatten(), 2)} "
        f"b2_grad: {np.round(g['b2'].flatten(), 2)}"
    )
    assert out[0] == expected
    assert float(re.match(pattern, out[-1]).group(2)) < 1e-6  # printed as 0.0
