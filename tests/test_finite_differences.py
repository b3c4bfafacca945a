"""Generated gradients against central finite differences, at mixed-sign pre-activations."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import trainer_for

SPECS = [
    dict(layers=(3, 5, 2)),
    dict(layers=(2, 4, 3, 1)),
    dict(layers=(1, 16, 1)),
    dict(layers=(2, 3, 2), activations=("identity", "relu")),
    dict(layers=(3, 4, 2), reduction="mean"),
    dict(layers=(20, 30, 4)),  # past the scalar limit: the vectorized-only route
]


def _point(t, rng: np.random.Generator, n: int):
    """Parameters and a batch where every layer's pre-activations take both signs, off the kink."""
    for _ in range(1000):
        params = {k: rng.normal(size=v.shape) for k, v in t.init_params(0).items()}
        X = rng.normal(size=(n, t.LAYERS[0]))
        y = rng.normal(size=(n, t.LAYERS[-1]))
        zs = [v for k, v in t.forward(params, X).items() if k.startswith("Z")]
        if all((z > 0).any() and (z < 0).any() and np.abs(z).min() > 1e-3 for z in zs):
            return params, X, y
    raise AssertionError("no mixed-sign point found")


@pytest.mark.parametrize(
    "fields",
    SPECS,
    ids=lambda f: "-".join(map(str, f["layers"])) + str(f.get("reduction", "")),
)
def test_gradients_match_finite_differences(fields: dict) -> None:
    t = trainer_for(**fields)
    rng = np.random.default_rng(7)
    for n in (3, 7):
        params, X, y = _point(t, rng, n)
        grads = t.gradients(params, X, y)
        assert set(grads) == set(params)
        eps = 1e-6
        # rounding in the two loss values costs ~1e-16 |L| / eps: allow for it, nothing more
        floor = 1e-9 * abs(t.loss(params, X, y))
        for name, value in params.items():
            assert grads[name].shape == value.shape
            for idx in list(np.ndindex(value.shape))[:40]:
                plus = {k: v.copy() for k, v in params.items()}
                minus = {k: v.copy() for k, v in params.items()}
                plus[name][idx] += eps
                minus[name][idx] -= eps
                numeric = (t.loss(plus, X, y) - t.loss(minus, X, y)) / (2 * eps)
                analytic = grads[name][idx]
                tol = 1e-6 * max(abs(numeric), abs(analytic)) + floor
                assert abs(numeric - analytic) <= tol, (name, idx, numeric, analytic)


def test_batch_size_does_not_change_per_sample_sum() -> None:
    # the sum over a batch equals the sum of single-sample gradients (biases per unit, not per sample)
    t = trainer_for(layers=(3, 5, 2))
    rng = np.random.default_rng(1)
    params, X, y = _point(t, rng, 6)
    whole = t.gradients(params, X, y)
    parts = [t.gradients(params, X[i : i + 1], y[i : i + 1]) for i in range(6)]
    for name in params:
        np.testing.assert_allclose(
            whole[name], sum(p[name] for p in parts), rtol=1e-12, atol=1e-14
        )
