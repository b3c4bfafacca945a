"""Optimizers: the trainer's step() against hand-written momentum and Adam, specs and flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, trainer_for


def _momentum(params, grads_of, lr, beta, steps):
    """PyTorch's SGD with momentum (dampening 0), written out by hand."""
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    for _ in range(steps):
        grads = grads_of(params)
        for k in params:
            velocity[k] = beta * velocity[k] + grads[k]
            params[k] = params[k] - lr * velocity[k]
    return params


def _adam(params, grads_of, lr, beta1, beta2, eps, steps):
    """Adam as Kingma and Ba's Algorithm 1 writes it, by hand."""
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(a) for k, a in params.items()}
    for t in range(1, steps + 1):
        grads = grads_of(params)
        for k in params:
            m[k] = beta1 * m[k] + (1 - beta1) * grads[k]
            v[k] = beta2 * v[k] + (1 - beta2) * grads[k] ** 2
            m_hat = m[k] / (1 - beta1**t)
            v_hat = v[k] / (1 - beta2**t)
            params[k] = params[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params


def _problem(t):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(9, t.LAYERS[0]))
    y = rng.normal(size=(9, t.LAYERS[-1]))
    return t.init_params(3), X, y


@pytest.mark.parametrize("style", ["momentum", "adam"])
def test_step_equals_the_hand_written_optimizer(style: str) -> None:
    t = trainer_for(layers=(3, 4, 2), activations=("tanh", "identity"))
    params, X, y = _problem(t)
    start = {k: v.copy() for k, v in params.items()}
    hyper = {"momentum": dict(beta=0.8), "adam": dict(beta1=0.85, beta2=0.99, eps=1e-7)}
    state = t.init_state(params, style, **hyper[style])
    for _ in range(6):
        t.step(params, state, X, y, 0.03)

    def grads_of(p):
        return t.backward(p, X, y)

    if style == "momentum":
        want = _momentum(start, grads_of, 0.03, 0.8, 6)
    else:
        want = _adam(start, grads_of, 0.03, 0.85, 0.99, 1e-7, 6)
    for k in params:
        np.testing.assert_allclose(params[k], want[k], rtol=1e-12, atol=1e-14)


def test_train_uses_the_specs_optimizer_and_its_hyperparameters() -> None:
    t = trainer_for(layers=(3, 4, 2), optimizer="adam", beta1=0.7)
    assert t.OPTIMIZER == "adam" and t.HYPER["beta1"] == 0.7
    params, X, y = _problem(t)
    start = {k: v.copy() for k, v in params.items()}
    history = t.train(params, X, y, 0.01, 4)
    want = _adam(start, lambda p: t.backward(p, X, y), 0.01, 0.7, 0.999, 1e-8, 4)
    for k in params:
        np.testing.assert_allclose(params[k], want[k], rtol=1e-12, atol=1e-14)
    assert len(history) == 4
    # sgd_step is still plain gradient descent, whatever the spec's optimizer
    p2 = {k: v.copy() for k, v in start.items()}
    g = t.backward(p2, X, y)
    t.sgd_step(p2, X, y, 0.1)
    for k in p2:
        np.testing.assert_allclose(p2[k], start[k] - 0.1 * g[k], rtol=1e-13)


def test_scalar_style_steps_like_the_matrix_style() -> None:
    from symbackprop.emit.trainer import build_trainer, load_trainer
    from symbackprop.spec import default_spec

    scalar = load_trainer(build_trainer(default_spec(), style="scalar").source)
    matrix = trainer_for()
    params, X, y = _problem(matrix)
    for name in ("sgd", "momentum", "adam"):
        a = {k: v.copy() for k, v in params.items()}
        b = {k: v.copy() for k, v in params.items()}
        sa, sb = scalar.init_state(a, name), matrix.init_state(b, name)
        for _ in range(3):
            scalar.step(a, sa, X, y)
            matrix.step(b, sb, X, y)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12)


def test_adam_trainer_passes_its_gradient_check_and_learns(tmp_path: Path) -> None:
    from symbackprop.emit.trainer import build_trainer
    from symbackprop.spec import make_spec

    spec = make_spec(layers=(2, 3, 1), optimizer="adam", lr=0.01)
    path = tmp_path / "adam.py"
    path.write_text(build_trainer(spec).source)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(path), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    r = run("--gradcheck")
    assert r.returncode == 0 and "gradcheck passed" in r.stdout
    r = run("--epochs", "300", "--log-every", "100")
    assert r.returncode == 0, r.stderr
    losses = [float(line.split()[3]) for line in r.stdout.splitlines()[1:]]
    assert losses[-1] < 0.5 * losses[0]
    r = run("--optimizer", "momentum", "--beta", "1.5")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--beta must be a number from 0 up to (not including) 1" in r.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--optimizer", "rmsprop"], "optimizer: unknown optimizer 'rmsprop'"),
        (["--beta2", "1"], "beta2: 1.0 is not a number from 0 up to (not including) 1"),
        (["--eps", "0"], "eps: 0.0 is not a number above 0"),
        (["--beta", "x"], "--beta: 'x' is not a number"),
    ],
)
def test_bad_optimizer_settings_are_one_line(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    r = run_cli("emit", "trainer", *flags, "-o", str(tmp_path / "t.py"))
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "t.py").exists()


def test_update_rules_print_from_the_registry() -> None:
    from symbackprop.printing import updates
    from symbackprop.spec import optimizers

    adam = updates.update_code(optimizers.optimizer("adam"))
    assert adam.rules[0] == "m <- beta1*m + (1 - beta1)*g"
    shown = updates.update_displays(optimizers.optimizer("momentum"))
    assert [(d.lhs, d.rhs[0]) for d in shown] == [
        ("v", r"\beta v + g"),
        ("p", r"p - \eta v"),
    ]


def test_float32_trainer_is_float32_end_to_end(tmp_path: Path) -> None:
    t = trainer_for(layers=(3, 4, 2), dtype="float32", optimizer="adam")
    params = t.init_params(0)
    X, y = t.make_data(6)
    state = t.init_state(params)
    t.step(params, state, X, y)
    grads = t.gradients(params, X, y)
    arrays = [*params.values(), *grads.values(), X, y, *state["m"].values()]
    arrays += list(t._WORKSPACES[6])
    assert {a.dtype for a in arrays} == {np.dtype("float32"), np.dtype("bool")}
    # the gradient check takes its differences in float64, with a float32 tolerance
    assert t.GRADCHECK_THRESHOLD == 1e-3
    assert t.gradcheck(params, X, y) < 1e-4
    r = run_cli("emit", "trainer", "--dtype", "float16", "-o", str(tmp_path / "t.py"))
    assert (
        r.returncode == 2
        and "dtype: 'float16' is not one of float64, float32" in r.stderr
    )


@pytest.mark.parametrize("broken", ["sgd", "momentum", "adam"])
def test_the_update_proof_catches_a_wrong_update(broken: str) -> None:
    """check_updates runs every optimizer on small arrays of each parameter's rank (its cost
    is the same at every width); an update that is off is still refused."""
    import types

    from symbackprop.derive import proof
    from symbackprop.errors import DerivationError

    t = trainer_for(layers=(5, 7, 3), activations=("relu", "identity"))
    assert proof.check_updates(t) < 1e-12
    update = t.UPDATES[broken]

    def twice(params, state, grads, lr):  # the step taken twice over: a wrong update
        return update(params, state, grads, 2 * lr)

    module = types.SimpleNamespace(**vars(t))
    module.UPDATES = {**t.UPDATES, broken: twice}
    with pytest.raises(DerivationError, match=f"optimizer {broken}"):
        proof.check_updates(module)
