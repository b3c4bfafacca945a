"""An independent implementation: PyTorch autograd on the same networks (optional `bench` extra).

Skipped, with the reason shown by `pytest -ra`, when torch is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from symbackprop.derive import derive
from symbackprop.emit.trainer import emit_trainer_unchecked, load_trainer
from symbackprop.spec import make_spec, registry

torch = pytest.importorskip(
    "torch", reason="PyTorch not installed (pip install -e '.[bench]')"
)

TORCH_ACT = {
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": torch.nn.functional.softplus,
    "identity": lambda z: z,
    "softmax": lambda z: torch.softmax(z, dim=1),
}


def torch_loss(
    name: str, Y: torch.Tensor, y: torch.Tensor, reduction: str
) -> torch.Tensor:
    """The batch loss as PyTorch computes it, written independently of our registry."""
    per_sample = {
        "half_sse": lambda: 0.5 * ((Y - y) ** 2).sum(dim=1),
        "mse": lambda: ((Y - y) ** 2).mean(dim=1),
        "bce_with_logits": lambda: torch.nn.functional.binary_cross_entropy_with_logits(
            Y, y, reduction="none"
        ).sum(dim=1),
        "softmax_cross_entropy": lambda: -(y * torch.log_softmax(Y, dim=1)).sum(dim=1),
        "cross_entropy": lambda: -(y * torch.log(Y)).sum(dim=1),
        "bce": lambda: torch.nn.functional.binary_cross_entropy(
            Y, y, reduction="none"
        ).sum(dim=1),
    }[name]()
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("loss", sorted(registry.LOSSES))
@pytest.mark.parametrize("act", sorted(registry.entrywise_names()))
def test_generated_gradients_equal_torch_autograd(
    act: str, loss: str, depth: int
) -> None:
    out = 3 if registry.loss(loss).targets == "one_hot" else 2
    layers = (3, *([4, 3][:depth]), out)
    spec = make_spec(
        layers=layers,
        activations=(*[act] * depth, registry.loss(loss).output or "identity"),
        loss=loss,
        reduction="mean" if depth == 2 else "sum",
    )
    t = load_trainer(emit_trainer_unchecked(derive(spec, closed_forms=False)))
    rng = np.random.default_rng(depth)
    params = {k: rng.normal(size=v.shape) for k, v in t.init_params(0).items()}
    X = rng.normal(size=(6, 3))
    if t.TARGETS == "binary":
        y = rng.integers(0, 2, size=(6, out)).astype(float)
    elif t.TARGETS == "one_hot":
        y = np.eye(out)[rng.integers(0, out, size=6)]
    else:
        y = rng.normal(size=(6, out))
    value, grads = t.loss_and_gradients(params, X, y)

    tp = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for k, v in params.items()
    }
    a = torch.tensor(X)
    for i, name in enumerate(spec.activations, start=1):
        a = TORCH_ACT[name](a @ tp[f"W{i}"].T + tp[f"b{i}"])
    L = torch_loss(loss, a, torch.tensor(y), spec.reduction)
    L.backward()
    assert value == pytest.approx(L.item(), rel=1e-12)
    for name, g in grads.items():
        np.testing.assert_allclose(
            g, tp[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name
        )
