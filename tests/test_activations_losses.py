"""Every activation x loss pair, at depths 1-3: SymPy's rules, the emitted code, and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symbackprop.derive import YHAT, H, Z, activation_rule, derive
from symbackprop.emit.trainer import build_trainer, emit_trainer_unchecked, load_trainer
from symbackprop.spec import make_spec, registry

ACTS = sorted(registry.entrywise_names())
LOSSES = sorted(registry.LOSSES)


def _spec(act: str, loss: str, depth: int, out_act: str = "identity"):
    outputs = 3 if registry.loss(loss).targets == "one_hot" else 2
    layers = (3, *([3, 4, 2][:depth]), outputs)
    out_act = (
        registry.loss(loss).output or out_act
    )  # a loss on probabilities needs its own
    return make_spec(layers=layers, activations=(*[act] * depth, out_act), loss=loss)


def _fd_check(t, seed: int) -> None:
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=v.shape) for k, v in t.init_params(0).items()}
    X = rng.normal(size=(5, t.LAYERS[0]))
    k = t.LAYERS[-1]
    if t.TARGETS == "binary":
        y = rng.integers(0, 2, size=(5, k)).astype(float)
    elif t.TARGETS == "one_hot":
        y = np.eye(k)[rng.integers(0, k, size=5)]
    else:
        y = rng.normal(size=(5, k))
    grads = t.gradients(params, X, y)
    eps = 1e-6
    floor = 1e-9 * abs(t.loss(params, X, y))
    for name, value in params.items():
        assert grads[name].shape == value.shape
        for idx in np.ndindex(value.shape):
            plus = {n: v.copy() for n, v in params.items()}
            minus = {n: v.copy() for n, v in params.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            numeric = (t.loss(plus, X, y) - t.loss(minus, X, y)) / (2 * eps)
            tol = 1e-6 * max(abs(numeric), abs(grads[name][idx])) + floor
            assert abs(numeric - grads[name][idx]) <= tol, (
                name,
                idx,
                numeric,
                grads[name][idx],
            )


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_hidden_activation_and_loss_pass_finite_differences(
    act: str, loss: str, depth: int
) -> None:
    # the vectorized route only: the emitted code is the same whichever route proved it
    d = derive(_spec(act, loss, depth), closed_forms=False)
    t = load_trainer(emit_trainer_unchecked(d))
    _fd_check(t, seed=depth)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_every_pair_builds_with_its_proof(act: str, loss: str) -> None:
    # build_trainer refuses to return code that differs from SymPy's closed forms
    built = build_trainer(_spec(act, loss, 1))
    assert (
        "equals the closed forms" in built.proof
        or "equal their closed forms" in built.proof
    )


@pytest.mark.parametrize("out_act", [a for a in ACTS if a != "identity"])
@pytest.mark.parametrize("loss", ["half_sse", "mse"])
def test_output_activation_passes_finite_differences(out_act: str, loss: str) -> None:
    t = load_trainer(build_trainer(_spec("tanh", loss, 1, out_act=out_act)).source)
    _fd_check(t, seed=11)


def test_each_derivative_is_in_its_efficient_form() -> None:
    # written from the textbook, independently of SymPy's output
    h, z = H, Z
    expected = {
        "relu": sp.Heaviside(z, 0),
        "leaky_relu": sp.Float(0.01) + sp.Float(0.99) * sp.Heaviside(z, 0),
        "sigmoid": h * (1 - h),
        "tanh": 1 - h**2,
        "softplus": 1 - sp.exp(-h),  # = sigmoid(z), from the stored h
        "identity": sp.Integer(1),
    }
    for name, want in expected.items():
        _, got = activation_rule(name, 0.01)
        assert sp.simplify(sp.expand_func(got) - want) == 0, (name, got)


def test_relu_and_leaky_relu_take_the_z_gt_0_convention_at_zero() -> None:
    assert activation_rule("relu", 0.01)[1].subs(Z, 0) == 0
    assert activation_rule("leaky_relu", 0.2)[1].subs(Z, 0) == sp.Float(0.2)


@pytest.mark.parametrize(
    ("loss", "out"), [("bce_with_logits", 1), ("softmax_cross_entropy", 3)]
)
def test_sympy_reaches_p_minus_y_for_logit_losses(loss: str, out: int) -> None:
    d = derive(
        make_spec(layers=(2, 3, out), activations=("relu", "identity"), loss=loss)
    )
    assert sp.expand(d.output_delta - (YHAT - sp.Symbol("y", real=True))) == 0
    # and the unsimplified derivative it started from is not already that
    assert d.output_delta_raw.has(sp.exp)


def test_sympy_reaches_a_minus_y_through_a_softmax_output_layer() -> None:
    spec = make_spec(
        layers=(2, 3, 3), activations=("relu", "softmax"), loss="cross_entropy"
    )
    d = derive(spec)
    assert sp.expand(d.output_delta - (YHAT - sp.Symbol("y", real=True))) == 0
    assert d.output_delta_raw.has(sp.exp)  # SymPy simplified it, nobody typed it
    assert d.layers[-1].vector and d.scalar is not None


def test_softmax_output_and_logit_loss_give_the_same_gradients() -> None:
    """The same maths written two ways: softmax then cross-entropy of probabilities, or
    the logit loss; only what the network calls its output differs."""

    def trainer(output: str, loss: str):
        spec = make_spec(
            layers=(3, 4, 3), activations=("tanh", output), loss=loss, reduction="mean"
        )
        return load_trainer(emit_trainer_unchecked(derive(spec)))

    probs = trainer("softmax", "cross_entropy")
    logits = trainer("identity", "softmax_cross_entropy")
    rng = np.random.default_rng(3)
    params = {k: rng.normal(size=v.shape) for k, v in probs.init_params(0).items()}
    X = rng.normal(size=(7, 3))
    y = np.eye(3)[rng.integers(0, 3, size=7)]
    v1, g1 = probs.loss_and_gradients(params, X, y)
    v2, g2 = logits.loss_and_gradients(params, X, y)
    assert v1 == pytest.approx(v2, rel=1e-12)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-10, atol=1e-12)
    out = probs.forward(params, X)["Y"]
    np.testing.assert_allclose(out.sum(axis=1), 1.0)  # the output is probabilities
    assert (out > 0).all()


def test_softmax_output_is_stable_at_large_pre_activations() -> None:
    spec = make_spec(
        layers=(3, 2, 3), activations=("relu", "softmax"), loss="cross_entropy"
    )
    t = load_trainer(emit_trainer_unchecked(derive(spec)))
    params = t.init_params(0)
    params["W1"][:] = 1.0
    params["W2"][:] = [[1.0, 1.0], [-1.0, -1.0], [0.5, 0.5]]
    X = np.full((2, 3), 300.0)
    with np.errstate(over="raise", invalid="raise"):
        cache = t.forward(params, X)
    assert np.isfinite(cache["Y"]).all()
    np.testing.assert_allclose(cache["Y"][0], [1.0, 0.0, 0.0], atol=1e-300)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        (
            dict(activations=("softmax", "softmax"), loss="cross_entropy"),
            "output layer",
        ),
        (
            dict(activations=("relu", "softmax"), loss="half_sse"),
            "--loss cross_entropy",
        ),
        (dict(activations=("relu", "identity"), loss="cross_entropy"), "to softmax"),
        (
            dict(
                layers=(2, 3, 1), activations=("relu", "softmax"), loss="cross_entropy"
            ),
            "at least 2 outputs",
        ),
    ],
)
def test_softmax_output_pairings_are_refused_in_one_line(kw: dict, words: str) -> None:
    from symbackprop.errors import UserError

    with pytest.raises(UserError, match=words) as info:
        make_spec(**{"layers": (2, 3, 3), **kw})
    assert "\n" not in str(info.value)


def test_stable_forward_at_large_pre_activations() -> None:
    for act in ("sigmoid", "softplus"):
        t = load_trainer(
            emit_trainer_unchecked(derive(_spec(act, "bce_with_logits", 1)))
        )
        params = t.init_params(0)
        X = np.full((2, 3), 800.0)
        X[1] *= -1
        params["W1"][:] = 1.0
        with np.errstate(
            over="raise", invalid="raise", divide="raise"
        ):  # underflow is fine
            cache = t.forward(params, X)
            value = t.loss(params, X, np.array([[1.0, 0.0], [0.0, 1.0]]))
        assert np.isfinite(value)
        assert all(np.isfinite(v).all() for v in cache.values())


def test_logit_losses_refuse_a_squashing_output() -> None:
    from symbackprop.errors import UserError

    with pytest.raises(UserError, match="set the output activation to identity"):
        make_spec(
            layers=(2, 2, 1), activations=("relu", "sigmoid"), loss="bce_with_logits"
        )
    with pytest.raises(UserError, match="at least 2 outputs"):
        make_spec(layers=(2, 2, 1), loss="softmax_cross_entropy")
    with pytest.raises(UserError, match="binary targets"):
        make_spec(
            layers=(2, 2, 1), loss="bce_with_logits", X=((1.0, 2.0),), y=((0.5,),)
        )
