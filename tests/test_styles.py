"""The two emission styles give the same numbers; auto and refusals say what they chose and why."""

from __future__ import annotations

import numpy as np
import pytest

from symbackprop.emit.trainer import build_trainer, load_trainer
from symbackprop.errors import UserError
from symbackprop.spec import default_spec, make_spec

SPECS = [
    default_spec(),
    make_spec(
        layers=(3, 5, 2), activations=("leaky_relu", "identity"), reduction="mean"
    ),
    make_spec(
        layers=(2, 3, 3, 1), activations=("tanh", "relu", "identity"), loss="mse"
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name + "_" + s.reduction)
def test_scalar_and_matrix_styles_agree(spec) -> None:
    matrix = load_trainer(build_trainer(spec, style="matrix").source)
    scalar = load_trainer(build_trainer(spec, style="scalar").source)
    rng = np.random.default_rng(0)
    for n in (1, 4, 9):
        params = matrix.init_params(n)
        params = {k: v + 0.3 * rng.normal(size=v.shape) for k, v in params.items()}
        X, y = (
            rng.normal(size=(n, spec.layers[0])),
            rng.normal(size=(n, spec.layers[-1])),
        )
        lm, gm = matrix.loss_and_gradients(params, X, y)
        ls, gs = scalar.loss_and_gradients(params, X, y)
        assert ls == pytest.approx(lm, rel=1e-12, abs=1e-300)
        for name in params:
            np.testing.assert_allclose(gs[name], gm[name], rtol=1e-11, atol=1e-13)
        # whole training runs, through train() and through sgd_step()
        pm = {k: v.copy() for k, v in params.items()}
        ps = {k: v.copy() for k, v in params.items()}
        hm = matrix.train(pm, X, y, 0.01, 30)
        hs = scalar.train(ps, X, y, 0.01, 30)
        np.testing.assert_allclose(hs, hm, rtol=1e-10, atol=1e-14)
        for name in params:
            np.testing.assert_allclose(ps[name], pm[name], rtol=1e-10, atol=1e-13)
        assert scalar.sgd_step(ps, X, y, 0.01) == pytest.approx(
            matrix.sgd_step(pm, X, y, 0.01), rel=1e-10
        )


def test_matrix_gradients_are_fresh_arrays() -> None:
    # the workspace is reused between steps; what gradients() hands out must not change under it
    t = load_trainer(build_trainer(default_spec()).source)
    X, y = t.DEFAULT_X, t.DEFAULT_Y
    first = t.gradients(t.DEFAULT_PARAMS, X, y)
    kept = {k: v.copy() for k, v in first.items()}
    t.gradients({k: 2 * v for k, v in t.DEFAULT_PARAMS.items()}, X, y)
    for name in kept:
        np.testing.assert_array_equal(first[name], kept[name])


def test_matrix_log_sees_gradients_before_the_update() -> None:
    t = load_trainer(build_trainer(default_spec()).source)
    seen = []
    params = {k: v.copy() for k, v in t.DEFAULT_PARAMS.items()}
    t.train(
        params,
        t.DEFAULT_X,
        t.DEFAULT_Y,
        0.05,
        1,
        log=lambda e, v, g: seen.append(g["b2"].copy()),
    )
    want = t.gradients(t.DEFAULT_PARAMS, t.DEFAULT_X, t.DEFAULT_Y)["b2"]
    np.testing.assert_array_equal(seen[0], want)


def test_auto_picks_scalar_for_the_seed_and_matrix_when_wide() -> None:
    small = build_trainer(default_spec(), style="auto").source
    assert "# Style: scalar (auto, batch 2" in small
    wide = build_trainer(make_spec(layers=(64, 256, 10)), style="auto").source
    assert "# Style: matrix (auto: no closed forms" in wide


def test_scalar_is_refused_where_it_does_not_fit() -> None:
    with pytest.raises(UserError, match="not offered here: no closed forms"):
        build_trainer(make_spec(layers=(784, 256, 10)), style="scalar")
    with pytest.raises(UserError, match="sigmoid needs exp/log"):
        build_trainer(
            make_spec(layers=(2, 2, 1), activations=("sigmoid", "identity")),
            style="scalar",
        )
    with pytest.raises(UserError, match="style 'fast' is not one of"):
        build_trainer(default_spec(), style="fast")


def test_scalar_sgd_step_updates_non_contiguous_params_in_place() -> None:
    scalar = load_trainer(build_trainer(default_spec(), style="scalar").source)
    matrix = load_trainer(build_trainer(default_spec(), style="matrix").source)
    base = {k: v.copy() for k, v in scalar.DEFAULT_PARAMS.items()}
    odd = dict(base, W1=np.asfortranarray(base["W1"]).T.copy().T)  # a column-major W1
    assert not odd["W1"].flags.c_contiguous
    want = {k: v.copy() for k, v in base.items()}
    matrix.sgd_step(want, scalar.DEFAULT_X, scalar.DEFAULT_Y, 0.05)
    scalar.sgd_step(odd, scalar.DEFAULT_X, scalar.DEFAULT_Y, 0.05)
    for name in want:
        np.testing.assert_allclose(odd[name], want[name], rtol=1e-12)
