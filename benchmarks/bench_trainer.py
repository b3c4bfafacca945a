"""Per-step benchmark of symbackprop's generated trainers against hand-written NumPy, the
GEMM floor, JAX jit and PyTorch autograd, all measured alternately in one run.

    python benchmarks/bench_trainer.py [--quick] [--sizes 2-2-1:2,784-256-10:256]
                                       [--rounds R] [--json out.json]

Every competitor computes the same full-batch SGD step (hidden ReLU, linear output, loss
half_sse summed over the samples, float64; float32 rows too) and is checked against the generated trainer's
gradients (rtol 1e-9) before anything is timed. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "symbackprop-bench/1"
DEFAULT_SIZES = "2-2-1:2,2-2-1:1024,64-256-10:256,784-256-10:256,784-1024-10:1024"
DEFAULT_STYLES = "matrix,scalar"
DERIVE_SIZES = ((784, 64, 10), (784, 256, 10), (784, 1024, 10))
RTOL = 1e-9  # gradients and loss of every competitor vs the generated trainer
# one SGD step's update (p0 - p1) vs lr * gradient, relative to the update's scale
STEP_RTOL = 1e-6
MARKER = "@@BENCH@@"
BASELINES = {  # ratio column -> competitor id it divides by
    "hand": "hand_numpy",
    "prealloc": "hand_numpy_prealloc",
    "gemm": "gemm_floor",
    "jax": "jax_jit",
    "torch": "torch_autograd",
    "hand32": "hand_numpy_f32",  # float32 rows: vs hand-written float32 NumPy
    "f64": "generated[matrix].sgd_step",  # and vs the float64 trainer
}
# float32 competitors are checked against the float64 reference normwise, as the trainer's
# own float32 proof is: a float32 gradient is itself rounded to ~1e-7 relative
F32_RTOL = 1e-4
F32_STEP_RTOL = 1e-5  # the stepped params, normwise

Params = dict[str, np.ndarray]


# --------------------------------------------------------------------------- sizes, data


@dataclass(frozen=True)
class Size:
    """One benchmarked network and batch: in-hidden-out layer widths and N samples."""

    layers: tuple[int, int, int]
    n: int

    @property
    def key(self) -> str:
        """The --sizes spelling: 784-256-10:256."""
        return "-".join(map(str, self.layers)) + f":{self.n}"

    @property
    def label(self) -> str:
        """Human spelling: 784-256-10, N=256."""
        return "-".join(map(str, self.layers)) + f", N={self.n}"

    @property
    def lr(self) -> float:
        """A step size small enough that thousands of timed steps never diverge."""
        return 1e-3 / (self.n * max(self.layers))


def parse_sizes(text: str) -> list[Size]:
    """`2-2-1:2,784-256-10:256` -> Sizes; only one hidden layer (in-hidden-out) is supported."""
    sizes = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            layer_text, n_text = item.split(":")
            layers = tuple(int(w) for w in layer_text.split("-"))
            n = int(n_text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"size {item!r}: write IN-HIDDEN-OUT:N, e.g. 784-256-10:256"
            ) from None
        if len(layers) != 3 or min(layers) < 1 or n < 1:
            raise argparse.ArgumentTypeError(
                f"size {item!r}: need exactly three positive widths and N >= 1"
            )
        sizes.append(Size((layers[0], layers[1], layers[2]), n))
    if not sizes:
        raise argparse.ArgumentTypeError("--sizes: give at least one size")
    return sizes


def make_problem(size: Size, seed: int = 0) -> tuple[Params, np.ndarray, np.ndarray]:
    """Initial parameters (nonzero biases), a batch X ~ N(0, 1) and real targets y."""
    d, h, k = size.layers
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.normal(0.0, math.sqrt(2.0 / d), size=(h, d)),
        "b1": rng.normal(0.0, 0.1, size=h),
        "W2": rng.normal(0.0, math.sqrt(1.0 / h), size=(k, h)),
        "b2": rng.normal(0.0, 0.1, size=k),
    }
    X = rng.normal(size=(size.n, d))
    y = rng.normal(size=(size.n, k))
    return params, X, y


# --------------------------------------------------------------------------- competitors


@dataclass
class Competitor:
    """Something that runs SGD steps: reset to p0, run k steps, and expose its result."""

    id: str
    label: str
    kind: str  # generated | hand | floor | jax | torch
    reset: Callable[[], None]
    run: Callable[[int], None]
    grads: Callable[[], tuple[float, Params]] | None = None  # loss, grads at p0
    snapshot: Callable[[], Params] | None = None  # current params as NumPy
    note: str = ""
    status: str = "ok"  # ok | skipped | failed
    reason: str = ""
    k: int = 0
    samples_us: list[float] = field(default_factory=list)
    blas: str = ""  # the BLAS (or kernel library) its matrix products ran on
    rtol: float = RTOL  # loss and gradients vs the reference
    step_rtol: float = STEP_RTOL
    start: Params | None = (
        None  # its own initial params (float32 ones), for the step check
    )


def skipped(cid: str, label: str, kind: str, reason: str) -> Competitor:
    """A competitor that is reported but not run."""
    return Competitor(cid, label, kind, _noop, _noop_k, status="skipped", reason=reason)


def _noop() -> None:
    return None


def _noop_k(k: int) -> None:
    return None


def _copy(params: Params) -> Params:
    return {name: np.array(value, dtype=value.dtype) for name, value in params.items()}


def _numpy_competitor(
    cid: str,
    label: str,
    kind: str,
    p0: Params,
    run_k: Callable[[Params, int], None],
    grads: Callable[[Params], tuple[float, Params]] | None,
    note: str = "",
) -> Competitor:
    """Wrap NumPy code that runs k SGD steps on a params dict in place."""
    params = _copy(p0)

    def reset() -> None:
        for name, value in p0.items():
            np.copyto(params[name], value)

    return Competitor(
        cid,
        label,
        kind,
        reset,
        lambda k: run_k(params, k),
        grads=(lambda: grads(p0)) if grads else None,
        snapshot=lambda: _copy(params),
        note=note,
    )


def steps(step: Callable[[Params], object]) -> Callable[[Params, int], None]:
    """k calls of a one-step function."""

    def run_k(params: Params, k: int) -> None:
        for _ in range(k):
            step(params)

    return run_k


def hand_loss_and_gradients(
    p: Params, X: np.ndarray, y: np.ndarray
) -> tuple[float, Params]:
    """Straightforward NumPy backprop with `@` and temporaries, as a user would write it."""
    W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
    Z1 = X @ W1.T + b1
    H1 = np.maximum(Z1, 0.0)
    Y = H1 @ W2.T + b2
    dZ2 = Y - y
    loss = 0.5 * np.sum(dZ2**2)
    gW2 = dZ2.T @ H1
    gb2 = dZ2.sum(axis=0)
    dZ1 = (dZ2 @ W2) * (Z1 > 0)
    gW1 = dZ1.T @ X
    gb1 = dZ1.sum(axis=0)
    return float(loss), {"W1": gW1, "b1": gb1, "W2": gW2, "b2": gb2}


def hand_sgd_step(p: Params, X: np.ndarray, y: np.ndarray, lr: float) -> float:
    """One plain hand-written SGD step, in place."""
    loss, grads = hand_loss_and_gradients(p, X, y)
    for name, g in grads.items():
        p[name] -= lr * g
    return loss


class HandPrealloc:
    """Hand-written NumPy with every buffer allocated once: matmul(out=), in-place ufuncs."""

    def __init__(self, p: Params, X: np.ndarray, y: np.ndarray) -> None:
        n = X.shape[0]
        h, d = p["W1"].shape
        k = p["W2"].shape[0]
        self.X, self.y = X, y
        self.Z1 = np.empty((n, h))
        self.H1 = np.empty((n, h))
        self.mask = np.empty((n, h), dtype=bool)
        self.Y = np.empty((n, k))
        self.dZ2 = np.empty((n, k))
        self.dZ1 = np.empty((n, h))
        self.g = {
            "W1": np.empty((h, d)),
            "b1": np.empty(h),
            "W2": np.empty((k, h)),
            "b2": np.empty(k),
        }

    def loss_and_gradients(self, p: Params) -> float:
        """Fill self.g with the gradients at p; return the loss."""
        X, g = self.X, self.g
        W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
        np.matmul(X, W1.T, out=self.Z1)
        self.Z1 += b1
        np.maximum(self.Z1, 0.0, out=self.H1)
        np.matmul(self.H1, W2.T, out=self.Y)
        self.Y += b2
        np.subtract(self.Y, self.y, out=self.dZ2)
        flat = self.dZ2.ravel()
        loss = 0.5 * float(np.dot(flat, flat))
        np.matmul(self.dZ2.T, self.H1, out=g["W2"])
        np.sum(self.dZ2, axis=0, out=g["b2"])
        np.matmul(self.dZ2, W2, out=self.dZ1)
        np.greater(self.Z1, 0.0, out=self.mask)
        self.dZ1 *= self.mask
        np.matmul(self.dZ1.T, X, out=g["W1"])
        np.sum(self.dZ1, axis=0, out=g["b1"])
        return loss

    def sgd_step(self, p: Params, lr: float) -> float:
        """One step, in place, without allocating an array."""
        loss = self.loss_and_gradients(p)
        for name, g in self.g.items():
            g *= lr
            p[name] -= g
        return loss

    def grads(self, p: Params) -> tuple[float, Params]:
        """Loss and a copy of the gradients (for the correctness check)."""
        loss = self.loss_and_gradients(p)
        return loss, _copy(self.g)


class GemmFloor:
    """Only the step's five matrix products, into preallocated outputs: the floor."""

    def __init__(self, p: Params, X: np.ndarray, y: np.ndarray) -> None:
        rng = np.random.default_rng(1)
        n = X.shape[0]
        h, d = p["W1"].shape
        k = p["W2"].shape[0]
        self.X, self.W1, self.W2 = X, p["W1"].copy(), p["W2"].copy()
        self.Z1 = np.empty((n, h))
        self.H1 = np.abs(rng.normal(size=(n, h)))
        self.Y = np.empty((n, k))
        self.dZ2 = rng.normal(size=(n, k))
        self.dZ1 = rng.normal(size=(n, h))
        self.gW1 = np.empty((h, d))
        self.gW2 = np.empty((k, h))

    def run(self, k: int) -> None:
        """k times: X@W1.T, H1@W2.T, dZ2.T@H1, dZ2@W2, dZ1.T@X."""
        X, W1, W2, H1, dZ2, dZ1 = self.X, self.W1, self.W2, self.H1, self.dZ2, self.dZ1
        Z1, Y, gW1, gW2 = self.Z1, self.Y, self.gW1, self.gW2
        matmul = np.matmul
        for _ in range(k):
            matmul(X, W1.T, out=Z1)
            matmul(H1, W2.T, out=Y)
            matmul(dZ2.T, H1, out=gW2)
            matmul(dZ2, W2, out=dZ1)
            matmul(dZ1.T, X, out=gW1)


def hand_competitors(
    p0: Params, X: np.ndarray, y: np.ndarray, lr: float
) -> list[Competitor]:
    """The plain and preallocated hand-written references and the GEMM floor."""
    plain = _numpy_competitor(
        "hand_numpy",
        "hand NumPy",
        "hand",
        p0,
        steps(lambda p: hand_sgd_step(p, X, y, lr)),
        lambda p: hand_loss_and_gradients(p, X, y),
        note="@, temporaries",
    )
    pre = HandPrealloc(p0, X, y)
    prealloc = _numpy_competitor(
        "hand_numpy_prealloc",
        "hand NumPy, preallocated",
        "hand",
        p0,
        steps(lambda p: pre.sgd_step(p, lr)),
        pre.grads,
        note="matmul(out=), in place",
    )
    floor = GemmFloor(p0, X, y)
    gemm = Competitor(
        "gemm_floor",
        "GEMM floor",
        "floor",
        _noop,
        floor.run,
        note="the 5 matrix products only",
    )
    return [plain, prealloc, gemm]


# --------------------------------------------------------------------------- generated


def import_file(path: Path, name: str) -> types.ModuleType:
    """Import a Python file as a module, the way a user's `import` would run it."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class StyleBuild:
    """What building one style of trainer for one size gave."""

    style: str
    status: str  # ok | skipped | failed
    reason: str = ""
    seconds: float = 0.0
    source: str = ""
    module: types.ModuleType | None = None


def build_style(
    layers: tuple[int, ...],
    style: str,
    workdir: Path,
    tag: str,
    dtype: str = "float64",
) -> StyleBuild:
    """build_trainer(spec, style=style) written to a file and imported."""
    from symbackprop.emit import trainer as codegen
    from symbackprop.errors import UserError
    from symbackprop.spec import make_spec

    label = style if dtype == "float64" else f"{style}_{dtype}"
    spec = make_spec(layers=layers, activations=("relu", "identity"), dtype=dtype)
    start = time.perf_counter()
    try:
        built = codegen.build_trainer(
            spec, command="python benchmarks/bench_trainer.py", style=style
        )
    except UserError as exc:
        return StyleBuild(label, "skipped", f"refused: {exc.message}")
    except Exception as exc:  # reported, not raised: other sizes go on
        return StyleBuild(label, "failed", f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    name = f"bench_trainer_{tag}_{label}"
    path = workdir / f"{name}.py"
    path.write_text(built.source, encoding="utf-8")
    try:
        module = import_file(path, name)
    except Exception as exc:
        return StyleBuild(
            label, "failed", f"import failed: {type(exc).__name__}: {exc}"
        )
    return StyleBuild(label, "ok", "", seconds, built.source, module)


def generated_competitors(
    b: StyleBuild, p0: Params, X: np.ndarray, y: np.ndarray, lr: float
) -> list[Competitor]:
    """sgd_step() and train() of one generated trainer, or their skip/failure lines."""
    base = f"generated[{b.style}]"
    if b.module is None:
        return [
            Competitor(
                f"{base}.sgd_step",
                f"{base} sgd_step",
                "generated",
                _noop,
                _noop_k,
                status=b.status,
                reason=b.reason,
            )
        ]
    mod = b.module
    sgd = _numpy_competitor(
        f"{base}.sgd_step",
        f"{base} sgd_step",
        "generated",
        p0,
        steps(lambda p: mod.sgd_step(p, X, y, lr)),
        lambda p: mod.loss_and_gradients(p, X, y),
        note="one sgd_step() call per step",
    )
    train = _numpy_competitor(
        f"{base}.train",
        f"{base} train",
        "generated",
        p0,
        lambda p, k: mod.train(p, X, y, lr, k),
        None,
        note="train(epochs=K) / K",
    )
    return [sgd, train]


def float32_competitors(
    size: Size, p0: Params, X: np.ndarray, y: np.ndarray, workdir: Path, tag: str
) -> list[Competitor]:
    """The float32 matrix trainer's sgd_step and hand-written float32 NumPy."""
    lr = size.lr
    p32 = {n: v.astype(np.float32) for n, v in p0.items()}
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    lr32 = np.float32(lr)
    out = []
    b = build_style(size.layers, "matrix", workdir, tag, "float32")
    if b.module is not None:
        mod = b.module
        out.append(
            _numpy_competitor(
                "generated[matrix_float32].sgd_step",
                "generated[matrix] float32 sgd_step",
                "generated32",
                p32,
                steps(lambda p: mod.sgd_step(p, X32, y32, lr)),
                lambda p: mod.loss_and_gradients(p, X32, y32),
                note="dtype float32",
            )
        )
    else:
        out.append(
            skipped(
                "generated[matrix_float32].sgd_step",
                "generated float32",
                "generated32",
                b.reason,
            )
        )
    out.append(
        _numpy_competitor(
            "hand_numpy_f32",
            "hand NumPy float32",
            "hand",
            p32,
            steps(lambda p: hand_sgd_step(p, X32, y32, lr32)),
            lambda p: hand_loss_and_gradients(p, X32, y32),
            note="@, temporaries, float32",
        )
    )
    for c in out:
        c.rtol, c.step_rtol, c.start = F32_RTOL, F32_STEP_RTOL, p32
    return out


# --------------------------------------------------------------------------- JAX, PyTorch


def jax_competitor(
    p0: Params, X: np.ndarray, y: np.ndarray, lr: float, disabled: bool
) -> Competitor:
    """jax.jit of value_and_grad + update, float64, params donated; skipped if absent."""
    cid, label = "jax_jit", "JAX jit"
    if disabled:
        return skipped(cid, label, "jax", "disabled by --no-jax")
    try:
        import jax
        import jax.numpy as jnp
    except Exception as exc:  # any import failure means "not available"
        return skipped(
            cid,
            label,
            "jax",
            f"JAX not installed ({type(exc).__name__}: {exc}); "
            "pip install -e '.[bench]'",
        )
    jax.config.update("jax_enable_x64", True)

    def loss_fn(p: dict[str, Any], Xj: Any, yj: Any) -> Any:
        H1 = jax.nn.relu(Xj @ p["W1"].T + p["b1"])  # relu'(0) = 0, as generated
        Y = H1 @ p["W2"].T + p["b2"]
        return 0.5 * jnp.sum((Y - yj) ** 2)

    value_and_grad = jax.value_and_grad(loss_fn)

    def step(p: dict[str, Any], Xj: Any, yj: Any) -> tuple[dict[str, Any], Any]:
        value, g = value_and_grad(p, Xj, yj)
        return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), value

    jstep = jax.jit(step, donate_argnums=(0,))
    jgrad = jax.jit(value_and_grad)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    holder: dict[str, Any] = {}

    def reset() -> None:
        holder["p"] = {name: jnp.asarray(value) for name, value in p0.items()}
        jax.block_until_ready(holder["p"])

    def run(k: int) -> None:
        p = holder["p"]
        for _ in range(k):
            p, _value = jstep(p, Xj, yj)
        jax.block_until_ready(p)
        holder["p"] = p

    def grads() -> tuple[float, Params]:
        value, g = jgrad({n: jnp.asarray(v) for n, v in p0.items()}, Xj, yj)
        return float(value), {n: np.asarray(v) for n, v in g.items()}

    reset()
    return Competitor(
        cid,
        label,
        "jax",
        reset,
        run,
        grads=grads,
        snapshot=lambda: {n: np.asarray(v) for n, v in holder["p"].items()},
        note=f"jax {jax.__version__}, x64, donated, blocked per measurement",
        blas=JAX_BLAS,
    )


def torch_competitor(
    p0: Params, X: np.ndarray, y: np.ndarray, lr: float, disabled: bool
) -> Competitor:
    """PyTorch autograd, float64, loss.backward() + manual SGD under no_grad."""
    cid, label = "torch_autograd", "PyTorch autograd"
    if disabled:
        return skipped(cid, label, "torch", "disabled by --no-torch")
    try:
        import torch
    except Exception as exc:
        return skipped(
            cid,
            label,
            "torch",
            f"PyTorch not installed ({type(exc).__name__}: {exc}); "
            "pip install -e '.[bench]'",
        )
    params = {
        n: torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for n, v in p0.items()
    }
    Xt = torch.from_numpy(np.ascontiguousarray(X))
    yt = torch.from_numpy(np.ascontiguousarray(y))
    order = list(params.values())

    def loss_fn() -> Any:
        H1 = torch.relu(Xt @ params["W1"].T + params["b1"])
        Y = H1 @ params["W2"].T + params["b2"]
        return 0.5 * ((Y - yt) ** 2).sum()

    def reset() -> None:
        with torch.no_grad():
            for n, v in p0.items():
                params[n].copy_(torch.from_numpy(v))
        for p in order:
            p.grad = None

    def run(k: int) -> None:
        for _ in range(k):
            value = loss_fn()
            value.backward()
            with torch.no_grad():
                for p in order:
                    p -= lr * p.grad
                    p.grad = None

    def grads() -> tuple[float, Params]:
        reset()
        value = loss_fn()
        value.backward()
        out = {n: p.grad.detach().numpy().copy() for n, p in params.items()}
        reset()
        return float(value.detach()), out

    return Competitor(
        cid,
        label,
        "torch",
        reset,
        run,
        grads=grads,
        snapshot=lambda: {n: p.detach().numpy().copy() for n, p in params.items()},
        note=f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        blas=torch_blas(torch),
    )


JAX_BLAS = "XLA:CPU's own kernels (Eigen / oneDNN), not NumPy's BLAS"


def numpy_blas() -> str:
    """NumPy's BLAS as its build configuration names it (scipy-openblas 0.3.x, say)."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # informational only
        return "unknown"
    return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()


def torch_blas(torch: types.ModuleType) -> str:
    """PyTorch's CPU BLAS: MKL when its build has it (torch.backends.mkl), else its own."""
    if torch.backends.mkl.is_available():
        return "MKL (PyTorch's bundled)"
    return "not MKL (see torch.__config__.show())"


def jax_loop_competitor(
    p0: Params, X: np.ndarray, y: np.ndarray, lr: float, disabled: bool
) -> Competitor:
    """K steps fused in one jax.jit(lax.fori_loop(...)) call, float64; skipped if absent."""
    cid, label = "jax_fori_loop", "JAX lax.fori_loop"
    if disabled:
        return skipped(cid, label, "jax", "disabled by --no-jax")
    try:
        import jax
        import jax.numpy as jnp
    except Exception as exc:
        return skipped(
            cid, label, "jax", f"JAX not installed ({type(exc).__name__}: {exc})"
        )
    jax.config.update("jax_enable_x64", True)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def loss_fn(p: dict[str, Any]) -> Any:
        H1 = jax.nn.relu(Xj @ p["W1"].T + p["b1"])
        return 0.5 * jnp.sum((H1 @ p["W2"].T + p["b2"] - yj) ** 2)

    def one(_: Any, p: dict[str, Any]) -> dict[str, Any]:
        g = jax.grad(loss_fn)(p)
        return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)

    train = jax.jit(lambda p, k: jax.lax.fori_loop(0, k, one, p))
    jgrad = jax.jit(jax.value_and_grad(loss_fn))
    holder: dict[str, Any] = {}

    def reset() -> None:
        holder["p"] = {name: jnp.asarray(value) for name, value in p0.items()}
        jax.block_until_ready(holder["p"])

    def run(k: int) -> None:
        holder["p"] = jax.block_until_ready(train(holder["p"], k))

    def grads() -> tuple[float, Params]:
        value, g = jgrad({n: jnp.asarray(v) for n, v in p0.items()})
        return float(value), {n: np.asarray(v) for n, v in g.items()}

    reset()
    return Competitor(
        cid,
        label,
        "jax",
        reset,
        run,
        grads=grads,
        snapshot=lambda: {n: np.asarray(v) for n, v in holder["p"].items()},
        note=f"jax {jax.__version__}, x64, K steps in one compiled loop",
        blas=JAX_BLAS,
    )


def torch_hand_competitor(
    p0: Params, X: np.ndarray, y: np.ndarray, lr: float, disabled: bool
) -> Competitor:
    """PyTorch tensors with the backward pass written by hand (no autograd), float64."""
    cid, label = "torch_hand", "PyTorch hand gradients"
    if disabled:
        return skipped(cid, label, "torch", "disabled by --no-torch")
    try:
        import torch
    except Exception as exc:
        return skipped(
            cid, label, "torch", f"PyTorch not installed ({type(exc).__name__}: {exc})"
        )
    params = {n: torch.tensor(v, dtype=torch.float64) for n, v in p0.items()}
    Xt = torch.from_numpy(np.ascontiguousarray(X))
    yt = torch.from_numpy(np.ascontiguousarray(y))

    def loss_and_grads() -> tuple[Any, dict[str, Any]]:
        W1, b1, W2, b2 = (params[n] for n in ("W1", "b1", "W2", "b2"))
        Z1 = torch.addmm(b1, Xt, W1.T)
        H1 = torch.relu(Z1)
        dY = torch.addmm(b2, H1, W2.T) - yt
        dZ1 = (dY @ W2) * (Z1 > 0)  # relu'(0) = 0, as generated
        value = 0.5 * (dY * dY).sum()
        grads = {"W1": dZ1.T @ Xt, "b1": dZ1.sum(0), "W2": dY.T @ H1, "b2": dY.sum(0)}
        return value, grads

    def reset() -> None:
        for n, v in p0.items():
            params[n].copy_(torch.from_numpy(v))

    def run(k: int) -> None:
        for _ in range(k):
            _, g = loss_and_grads()
            for n, p in params.items():
                p.sub_(g[n], alpha=lr)

    def grads() -> tuple[float, Params]:
        reset()
        value, g = loss_and_grads()
        return float(value), {n: t.numpy().copy() for n, t in g.items()}

    return Competitor(
        cid,
        label,
        "torch",
        reset,
        run,
        grads=grads,
        snapshot=lambda: {n: p.numpy().copy() for n, p in params.items()},
        note=f"torch {torch.__version__}, {torch.get_num_threads()} threads, no autograd",
        blas=torch_blas(torch),
    )


# --------------------------------------------------------------------------- checking


def _max_rel_err(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(np.asarray(a) - b))) / scale if b.size else 0.0


def check_competitors(
    comps: list[Competitor],
    reference: tuple[str, float, Params],
    p0: Params,
    lr: float,
) -> dict[str, Any]:
    """Compare every competitor's loss, gradients and one SGD step with the reference."""
    ref_id, ref_loss, ref_grads = reference
    results: dict[str, Any] = {}
    passed = True
    for c in comps:
        if c.status != "ok" or c.kind == "floor":
            continue
        entry: dict[str, Any] = {}
        try:
            if c.grads is not None:
                loss, g = c.grads()
                entry["loss_rel_err"] = abs(loss - ref_loss) / max(
                    abs(ref_loss), 1e-300
                )
                entry["grad_max_rel_err"] = max(
                    _max_rel_err(g[n], ref_grads[n]) for n in ref_grads
                )
                entry["shapes_ok"] = all(
                    np.shape(g[n]) == ref_grads[n].shape for n in ref_grads
                )
            c.reset()
            c.run(1)
            assert c.snapshot is not None
            after = c.snapshot()
            if c.start is None:
                entry["step_rel_err"] = max(
                    _max_rel_err(p0[n] - after[n], lr * ref_grads[n]) for n in ref_grads
                )
            else:  # float32: an update below its rounding of p is checked on p itself
                entry["step_rel_err"] = max(
                    _max_rel_err(after[n], c.start[n] - lr * ref_grads[n])
                    for n in ref_grads
                )
            c.reset()
            ok = (
                entry.get("loss_rel_err", 0.0) <= c.rtol
                and entry.get("grad_max_rel_err", 0.0) <= c.rtol
                and entry.get("shapes_ok", True)
                and entry["step_rel_err"] <= c.step_rtol
            )
        except Exception as exc:  # a crash is a failed check
            entry["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        entry["ok"] = bool(ok)
        if not ok:
            c.status = "failed"
            c.reason = "disagrees with the reference: " + json.dumps(
                {k: v for k, v in entry.items() if k != "ok"}, default=str
            )
            passed = False
        results[c.id] = entry
    return {
        "passed": passed,
        "reference": ref_id,
        "rtol": RTOL,
        "step_rtol": STEP_RTOL,
        "results": results,
    }


# --------------------------------------------------------------------------- timing


def _time_ns(c: Competitor, k: int) -> int:
    c.reset()
    start = time.perf_counter_ns()
    c.run(k)
    return time.perf_counter_ns() - start


def calibrate(c: Competitor, min_ns: int) -> int:
    """Warm up (JIT compile, caches) and choose K so K steps take at least min_ns."""
    _time_ns(c, 1)
    _time_ns(c, 1)
    k = 1
    for _ in range(8):
        elapsed = _time_ns(c, k)
        if elapsed >= min_ns:
            return k
        k = max(k + 1, math.ceil(k * min_ns * 1.2 / max(elapsed, 1)))
    return k


def time_round_robin(comps: list[Competitor], rounds: int, min_ns: int) -> None:
    """R rounds of A B C ..., B C A ..., ...: each measurement is K steps' time / K, in us."""
    active = [c for c in comps if c.status == "ok"]
    for c in active:
        c.k = calibrate(c, min_ns)
    for r in range(rounds):
        # rotate the order each round: no competitor always runs right after the same one
        # (PyTorch's OpenMP threads still spinning slowed whatever came next)
        shift = r % len(active) if active else 0
        for c in active[shift:] + active[:shift]:
            c.samples_us.append(_time_ns(c, c.k) / c.k / 1000.0)
            time.sleep(0.001)  # let spinning BLAS/OpenMP threads of the last one settle


def summarize(comps: list[Competitor]) -> dict[str, dict[str, Any]]:
    """Median, min and ratios (of medians, and the median of per-round ratios)."""
    med = {c.id: statistics.median(c.samples_us) for c in comps if c.samples_us}
    out: dict[str, dict[str, Any]] = {}
    for c in comps:
        entry: dict[str, Any] = {
            "label": c.label,
            "kind": c.kind,
            "status": c.status,
            "reason": c.reason,
            "note": c.note,
            "blas": c.blas,
        }
        if c.samples_us:
            by_id = {o.id: o for o in comps}
            entry.update(
                k=c.k,
                median_us=med[c.id],
                min_us=min(c.samples_us),
                samples_us=[round(s, 4) for s in c.samples_us],
                ratio={
                    col: (med[c.id] / med[bid] if bid in med else None)
                    for col, bid in BASELINES.items()
                },
                paired_ratio={
                    col: (
                        statistics.median(
                            a / b
                            for a, b in zip(
                                c.samples_us, by_id[bid].samples_us, strict=False
                            )
                        )
                        if bid in med
                        else None
                    )
                    for col, bid in BASELINES.items()
                },
            )
        out[c.id] = entry
    return out


# --------------------------------------------------------------------------- one size


def auto_style(layers: tuple[int, ...], n: int) -> dict[str, Any]:
    """What build_trainer(style="auto") would emit for a spec whose data has n samples."""
    import dataclasses

    from symbackprop.derive import derive
    from symbackprop.emit import trainer as codegen
    from symbackprop.spec import make_spec

    try:
        d = derive(make_spec(layers=layers, activations=("relu", "identity")))
        # auto reads only the number of samples of the spec's data
        spec = dataclasses.replace(
            d.spec, X=((0.0,) * layers[0],) * n, y=((0.0,) * layers[-1],) * n
        )
        style, why = codegen.choose_style(dataclasses.replace(d, spec=spec), "auto")
    except Exception as exc:  # informational only
        return {"style": None, "why": f"{type(exc).__name__}: {exc}"}
    return {"style": style, "why": why}


def bench_size(size: Size, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Build, check and time every competitor at one size."""
    p0, X, y = make_problem(size)
    lr = size.lr
    tag = f"{'_'.join(map(str, size.layers))}_n{size.n}"
    builds: dict[str, StyleBuild] = {}
    for style in args.styles:
        builds[style] = build_style(size.layers, style, workdir, tag)
    comps: list[Competitor] = []
    for b in builds.values():
        comps += generated_competitors(b, p0, X, y, lr)
    comps += hand_competitors(p0, X, y, lr)
    if not args.no_float32:
        comps += float32_competitors(size, p0, X, y, workdir, tag)
    comps.append(jax_competitor(p0, X, y, lr, args.no_jax))
    comps.append(jax_loop_competitor(p0, X, y, lr, args.no_jax))
    comps.append(torch_competitor(p0, X, y, lr, args.no_torch))
    comps.append(torch_hand_competitor(p0, X, y, lr, args.no_torch))
    for c in comps:
        if c.kind in ("generated", "generated32", "hand", "floor"):
            c.blas = numpy_blas()

    ref = next(
        (c for c in comps if c.kind == "generated" and c.status == "ok" and c.grads),
        next(c for c in comps if c.id == "hand_numpy"),
    )
    assert ref.grads is not None
    ref_loss, ref_grads = ref.grads()
    check = check_competitors(comps, (ref.id, ref_loss, ref_grads), p0, lr)
    generated_ok = [c for c in comps if c.kind == "generated" and c.status == "ok"]
    if not generated_ok:
        check["note"] = "no generated trainer ran: checked against hand NumPy only"
    time_round_robin(comps, args.rounds, int(args.min_time_ms * 1e6))
    auto = auto_style(size.layers, size.n)
    summary = summarize(comps)
    return {
        "size": size.key,
        "label": size.label,
        "layers": list(size.layers),
        "n": size.n,
        "lr": lr,
        "styles": {
            s: {
                "status": b.status,
                "reason": b.reason,
                "build_seconds": round(b.seconds, 4),
            }
            for s, b in builds.items()
        },
        "auto_style": auto,
        "fastest_generated": {
            api: fastest_generated({"competitors": summary}, api)
            for api in ("sgd_step", "train")
        },
        "check": check,
        "competitors": summary,
    }


# --------------------------------------------------------------------------- startup


def _run(
    cmd: list[str], cwd: Path | None = None
) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter_ns()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    return (time.perf_counter_ns() - start) / 1e9, proc


def _marked(stdout: str) -> Any:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    raise RuntimeError(f"no result line in output: {stdout[-500:]!r}")


def symbackprop_command() -> list[str]:
    """The installed `symbackprop` script next to this Python, else `python -m symbackprop`."""
    script = Path(sys.executable).parent / "symbackprop"
    return [str(script)] if script.exists() else [sys.executable, "-m", "symbackprop"]


def bench_build(workdir: Path, runs: int) -> dict[str, Any]:
    """Wall time of `symbackprop build --no-pdf --out DIR` (fresh folder each run)."""
    times, errors = [], []
    out = workdir / "build_0"
    for i in range(runs):
        out = workdir / f"build_{i}"
        seconds, proc = _run(
            [*symbackprop_command(), "build", "--no-pdf", "--out", str(out)], workdir
        )
        if proc.returncode == 0:
            times.append(seconds)
        else:
            errors.append(f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    trainer = out / "trainer_2_2_1.py"
    return {
        "command": "symbackprop build --no-pdf --out DIR",
        "runs_s": [round(t, 4) for t in times],
        "median_s": statistics.median(times) if times else None,
        "errors": errors,
        "trainer": str(trainer) if trainer.exists() else None,
    }


def bench_end_to_end(trainer: Path, runs: int) -> dict[str, Any]:
    """`python trainer_2_2_1.py > /dev/null` vs `python -c "import numpy"`, alternating."""
    cmds = {
        "trainer": [sys.executable, str(trainer)],
        "import_numpy": [sys.executable, "-c", "import numpy"],
        "import_trainer": [sys.executable, "-c", f"import {trainer.stem}"],
        "python_pass": [sys.executable, "-c", "pass"],
    }
    for cmd in cmds.values():  # warm the page cache
        subprocess.run(cmd, cwd=trainer.parent, stdout=subprocess.DEVNULL, check=False)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    failures = []
    for _ in range(runs):
        for name, cmd in cmds.items():
            start = time.perf_counter_ns()
            proc = subprocess.run(
                cmd,
                cwd=trainer.parent,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
            times[name].append((time.perf_counter_ns() - start) / 1e6)
            if proc.returncode != 0:
                failures.append(f"{name}: exit {proc.returncode}")
    med = {name: statistics.median(t) for name, t in times.items()}
    return {
        "trainer": str(trainer),
        "runs": runs,
        "ms": {name: [round(v, 3) for v in t] for name, t in times.items()},
        "median_ms": med,
        "min_ms": {name: min(t) for name, t in times.items()},
        "ratio_trainer_to_import_numpy": med["trainer"] / med["import_numpy"],
        "failures": failures,
    }


def check_imports(trainer: Path, help_runs: int) -> dict[str, Any]:
    """Which of sympy/jinja2 `import trainer` and `symbackprop --help` pull in."""
    probe = (
        "import sys, json\n{body}\n"
        "print({marker!r} + json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('sympy', 'jinja2'))))"
    )
    body = f"import {trainer.stem}"
    _, proc = _run(
        [sys.executable, "-c", probe.format(body=body, marker=MARKER)], trainer.parent
    )
    trainer_mods = _marked(proc.stdout) if proc.returncode == 0 else None
    help_body = (
        "from symbackprop.cli import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass"
    )
    _, proc2 = _run([sys.executable, "-c", probe.format(body=help_body, marker=MARKER)])
    help_mods = _marked(proc2.stdout) if proc2.returncode == 0 else None
    help_times = []
    for _ in range(help_runs):
        seconds, proc3 = _run([*symbackprop_command(), "--help"])
        if proc3.returncode == 0:
            help_times.append(seconds * 1000)
    return {
        "trainer_import": {
            "command": f"python -c 'import {trainer.stem}'",
            "heavy_modules": trainer_mods,
            "error": None if trainer_mods is not None else proc.stderr[-500:],
            "pass": trainer_mods is not None
            and not any(m.split(".")[0] in ("sympy", "jinja2") for m in trainer_mods),
        },
        "cli_help": {
            "command": "symbackprop --help",
            "heavy_modules": help_mods,
            "error": None if help_mods is not None else proc2.stderr[-500:],
            "pass": help_mods is not None
            and not any(m.split(".")[0] == "sympy" for m in help_mods),
            "wall_ms": [round(t, 2) for t in help_times],
            "median_wall_ms": statistics.median(help_times) if help_times else None,
        },
    }


DERIVE_PROBE = """
import json, time
t0 = time.perf_counter()
from symbackprop import derive
from symbackprop.emit import trainer as codegen
from symbackprop.spec import make_spec
t_import = time.perf_counter() - t0
spec = make_spec(layers={layers!r}, activations=("relu", "identity"))
t0 = time.perf_counter()
d = derive.derive(spec)
t_derive = time.perf_counter() - t0
t0 = time.perf_counter()
b = codegen.build_trainer(spec)
t_build = time.perf_counter() - t0
t0 = time.perf_counter()
derive.derive(spec)
t_warm = time.perf_counter() - t0
print({marker!r} + json.dumps(dict(import_s=t_import, derive_s=t_derive,
      build_trainer_s=t_build, derive_again_s=t_warm, route=d.route, proof=b.proof)))
"""


def bench_derive(runs: int) -> dict[str, Any]:
    """derive() and build_trainer() (derive + emit + proof) in a fresh process per run."""
    out: dict[str, Any] = {}
    for layers in DERIVE_SIZES:
        key = "-".join(map(str, layers))
        rows, errors = [], []
        for _ in range(runs):
            code = DERIVE_PROBE.format(layers=layers, marker=MARKER)
            _, proc = _run([sys.executable, "-c", code])
            if proc.returncode == 0:
                rows.append(_marked(proc.stdout))
            else:
                errors.append(proc.stderr.strip()[-500:])
        entry: dict[str, Any] = {"runs": rows, "errors": errors}
        for metric in ("import_s", "derive_s", "build_trainer_s", "derive_again_s"):
            entry[f"median_{metric}"] = (
                statistics.median(r[metric] for r in rows) if rows else None
            )
        entry["route"] = rows[0]["route"] if rows else None
        out[key] = entry
    return out


# --------------------------------------------------------------------------- targets


def bench_csv(workdir: Path, runs: int, rows: int = 10_000) -> dict[str, Any]:
    """A 784-32-10 classifier's read_csv on a rows x 785 CSV (label first, as MNIST's CSV
    export) against np.loadtxt of the same file, alternating."""
    from symbackprop.emit import trainer as codegen
    from symbackprop.spec import make_spec

    spec = make_spec(
        layers=(784, 32, 10),
        activations=("relu", "identity"),
        loss="softmax_cross_entropy",
        reduction="mean",
    )
    path = workdir / "bench_csv_trainer.py"
    path.write_text(codegen.build_trainer(spec, command="bench").source, "utf-8")
    module = import_file(path, "bench_csv_trainer")
    rng = np.random.default_rng(0)
    data = np.column_stack([rng.integers(0, 10, rows), rng.random((rows, 784))])
    csv = workdir / "bench.csv"
    header = ",".join(["label", *(f"pixel{i}" for i in range(784))])
    np.savetxt(csv, data, delimiter=",", fmt=["%d"] + ["%.3f"] * 784, header=header)
    times: dict[str, list[float]] = {"read_csv": [], "np.loadtxt": []}
    for _ in range(runs):
        start = time.perf_counter()
        X, y = module.read_csv(str(csv), None, "first")
        times["read_csv"].append(time.perf_counter() - start)
        start = time.perf_counter()
        np.loadtxt(csv, delimiter=",", skiprows=1)
        times["np.loadtxt"].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    return {
        "file": f"{rows} x 785 CSV, label first, header",
        "shapes": [list(X.shape), list(y.shape)],
        "median_s": med,
        "ratio": med["read_csv"] / med["np.loadtxt"],
    }


def _target(
    name: str,
    measured: float | None,
    limit: float,
    unit: str = "",
    strict: bool = False,
) -> dict[str, Any]:
    """One target line: met, or missed by how much (relative to the limit)."""
    if measured is None:
        return {"target": name, "measured": None, "limit": limit, "status": "n/a"}
    met = measured < limit if strict else measured <= limit
    return {
        "target": name,
        "measured": measured,
        "limit": limit,
        "unit": unit,
        "status": "met" if met else "missed",
        "missed_by_pct": None if met else 100.0 * (measured / limit - 1.0),
    }


NOISY = 1.5  # a median this far above the minimum: the machine was busy, no verdict


def _noise(entry: dict[str, Any]) -> float:
    """median / min of one competitor's samples (1.0 on a quiet machine)."""
    low = entry.get("min_us") or entry.get("min")
    return entry.get("median_us", 0.0) / low if low else 1.0


def _mark_noisy(target: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """A missed target whose samples are too spread out is reported as noisy instead."""
    worst = max(_noise(e) for e in entries)
    target["noise"] = worst
    if target["status"] == "missed" and worst > NOISY:
        target["status"] = "noisy"
        target["detail"] = (
            f"{target.get('detail', '')}; median {worst:.2f}x the minimum (limit "
            f"{NOISY}x): rerun on a quieter machine"
        )


def fastest_generated(result: dict[str, Any], api: str) -> str | None:
    """The id of the fastest timed generated style at this size through `api`."""
    timed = [
        (e["median_us"], cid)
        for cid, e in result["competitors"].items()
        if e["kind"] == "generated" and cid.endswith("." + api) and "median_us" in e
    ]
    return min(timed)[1] if timed else None


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue with its measured value in this run."""
    by_size = {r["size"]: r for r in report["sizes"]}
    targets = []

    def ratio(
        size: str, col: str, name: str, limit: float, strict: bool = False
    ) -> None:
        r = by_size.get(size)
        for api in ("sgd_step", "train"):
            gen = fastest_generated(r, api) if r else None
            value = r["competitors"][gen]["ratio"].get(col) if r and gen else None
            if r is None:
                detail = f"size {size} not run"
            elif gen is None:
                detail = "no generated trainer was timed"
            elif value is None:
                detail = f"{gen}; {BASELINES[col]} not timed"
            else:
                detail = f"fastest style: {gen}"
            t = _target(f"{name} [{api}]", value, limit, "x", strict)
            t["detail"] = detail
            if r and gen and value is not None:
                _mark_noisy(
                    t, [r["competitors"][gen], r["competitors"][BASELINES[col]]]
                )
            targets.append(t)

    ratio("2-2-1:2", "hand", "2-2-1 N=2: generated <= 0.3 x hand NumPy", 0.3)
    ratio("2-2-1:2", "jax", "2-2-1 N=2: generated <= 0.4 x JAX jit", 0.4)
    e2e = report.get("startup", {}).get("end_to_end")
    t = _target(
        "2-2-1 end to end: python trainer_2_2_1.py <= 1.1 x python -c 'import numpy'",
        e2e["ratio_trainer_to_import_numpy"] if e2e else None,
        1.1,
        "x",
    )
    if e2e:
        t["detail"] = (
            f"{e2e['median_ms']['trainer']:.1f} ms vs {e2e['median_ms']['import_numpy']:.1f}"
            f" ms (import only: {e2e['median_ms']['import_trainer']:.1f} ms)"
        )
        _mark_noisy(
            t,
            [
                {"median_us": e2e["median_ms"][k], "min_us": e2e["min_ms"][k]}
                for k in ("trainer", "import_numpy")
            ],
        )
    targets.append(t)
    for size in ("784-256-10:256", "784-1024-10:1024"):
        pretty = size.replace(":", " N=")
        ratio(
            size, "prealloc", f"{pretty}: generated <= 1.0 x hand NumPy prealloc", 1.0
        )
        ratio(size, "gemm", f"{pretty}: generated <= 1.1 x GEMM floor", 1.1)
        ratio(size, "jax", f"{pretty}: generated < 1.0 x JAX jit", 1.0, strict=True)
        ratio(size, "torch", f"{pretty}: generated < 1.0 x PyTorch", 1.0, strict=True)
    build = report.get("startup", {}).get("build")
    targets.append(
        _target(
            "symbackprop build --no-pdf (2-2-1) <= 2 s wall",
            build["median_s"] if build else None,
            2.0,
            "s",
        )
    )
    derive = report.get("startup", {}).get("derive")
    mid = derive.get("784-256-10") if derive else None
    targets.append(
        _target(
            "derive() 784-256-10 <= 3 s (fresh process, after imports)",
            mid["median_derive_s"] if mid else None,
            3.0,
            "s",
        )
    )
    targets.append(
        _target(
            "build_trainer() 784-256-10 (derive + emit + proof) <= 3 s",
            mid["median_build_trainer_s"] if mid else None,
            3.0,
            "s",
        )
    )
    narrow = derive.get("784-64-10") if derive else None
    wide = derive.get("784-1024-10") if derive else None
    t = _target(
        "derive() not growing with width: t(784-1024-10) <= 1.5 x t(784-64-10) "
        "(or within 50 ms)",
        None,
        1.5,
        "x",
    )
    if narrow and wide and narrow["median_derive_s"] and wide["median_derive_s"]:
        t_narrow, t_wide = narrow["median_derive_s"], wide["median_derive_s"]
        t = _target(t["target"], t_wide / t_narrow, 1.5, "x")
        if t_wide - t_narrow <= 0.05:  # below timer/load noise: not growth
            t.update(status="met", missed_by_pct=None)
        t["detail"] = (
            f"784-64-10 {t_narrow:.3f} s, 784-256-10 "
            f"{mid['median_derive_s'] if mid else float('nan'):.3f} s, "
            f"784-1024-10 {t_wide:.3f} s"
        )
    targets.append(t)
    imports = report.get("startup", {}).get("imports")
    for key, name in (
        ("trainer_import", "import of the generated trainer imports no SymPy/Jinja2"),
        ("cli_help", "symbackprop --help imports no SymPy"),
    ):
        entry = imports[key] if imports else None
        targets.append(
            {
                "target": name,
                "measured": entry["heavy_modules"] if entry else None,
                "limit": [],
                "status": ("met" if entry["pass"] else "missed") if entry else "n/a",
            }
        )
    return targets


# --------------------------------------------------------------------------- output


def _fmt_us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_size(result: dict[str, Any]) -> None:
    """The table of one size: median/min µs per step and ratios to the baselines."""
    check = result["check"]
    print(
        f"\n== {result['label']}  (lr {result['lr']:.3g}; correctness vs "
        f"{check['reference']}: {'PASS' if check['passed'] else 'FAIL'})"
    )
    cols = tuple(BASELINES)
    head = f"  {'competitor':<34}{'median µs':>11}{'min µs':>11}{'K':>7}"
    head += "".join(f"{'x' + c:>10}" for c in cols)
    print(head)
    print("  " + "-" * (len(head) - 2))
    for e in result["competitors"].values():
        if e.get("median_us") is None:
            print(f"  {e['label']:<34}{e['status'] + ': ' + e['reason']}")
            continue
        row = (
            f"  {e['label']:<34}{_fmt_us(e['median_us']):>11}{_fmt_us(e['min_us']):>11}"
        )
        row += f"{e['k']:>7}" + "".join(
            f"{_fmt_ratio(e['ratio'][c]):>10}" for c in cols
        )
        print(row + (f"   {e['note']}" if e["note"] else ""))
    blas = sorted({e["blas"] for e in result["competitors"].values() if e.get("blas")})
    print("  BLAS: " + "; ".join(blas))
    auto = result["auto_style"]
    fastest = result["fastest_generated"]
    print(
        f"  style auto at N={result['n']}: {auto['style'] or 'unknown'} ({auto['why']}); "
        f"fastest measured: {fastest['sgd_step']} / {fastest['train']}"
    )


def print_startup(startup: dict[str, Any]) -> None:
    """Build, end-to-end, import and derivation timings."""
    print("\n== startup and derivation")
    build = startup.get("build")
    if build:
        med = build["median_s"]
        print(
            f"  symbackprop build --no-pdf: median {med:.2f} s of {build['runs_s']}"
            if med is not None
            else f"  symbackprop build --no-pdf: FAILED {build['errors']}"
        )
    e2e = startup.get("end_to_end")
    if e2e:
        m = e2e["median_ms"]
        print(
            f"  end to end ({e2e['runs']} runs each, alternating): trainer "
            f"{m['trainer']:.1f} ms, python -c 'import numpy' {m['import_numpy']:.1f} ms "
            f"(import of the trainer only {m['import_trainer']:.1f} ms, python -c pass "
            f"{m['python_pass']:.1f} ms) -> ratio "
            f"{e2e['ratio_trainer_to_import_numpy']:.3f}  [{e2e['trainer']}]"
        )
    imports = startup.get("imports")
    if imports:
        for entry in imports.values():
            state = "PASS" if entry["pass"] else "FAIL"
            print(
                f"  {state}: {entry['command']} imports {entry['heavy_modules'] or 'none'}"
            )
        wall = imports["cli_help"]["median_wall_ms"]
        if wall is not None:
            print(f"  symbackprop --help wall: median {wall:.0f} ms")
    print_csv(startup.get("csv"))
    derive = startup.get("derive")
    if derive:
        for key, e in derive.items():
            if e["median_derive_s"] is None:
                print(f"  derive {key}: FAILED {e['errors']}")
                continue
            print(
                f"  {key:<12} derive() {e['median_derive_s']:.3f} s, build_trainer() "
                f"{e['median_build_trainer_s']:.3f} s, derive() again "
                f"{e['median_derive_again_s']:.3f} s, imports {e['median_import_s']:.2f} s"
                f"  ({e['route']})"
            )


def print_csv(csv: dict[str, Any] | None) -> None:
    """The trainer's CSV reader against NumPy's."""
    if csv:
        m = csv["median_s"]
        print(
            f"  read_csv of a {csv['file']}: {m['read_csv']:.2f} s, np.loadtxt "
            f"{m['np.loadtxt']:.2f} s -> ratio {csv['ratio']:.2f}"
        )


def print_targets(targets: list[dict[str, Any]]) -> None:
    """Each target of the issue: measured value and met / missed by X%."""
    print("\n== targets (medians, this run)")
    for t in targets:
        measured = t["measured"]
        if isinstance(measured, float):
            shown = f"{measured:.3f}{' ' + t['unit'] if t.get('unit') else ''}"
        else:
            shown = str(measured)
        status = t["status"]
        if status == "noisy":
            status = "NOISY, no verdict"
        elif status == "missed" and t.get("missed_by_pct") is not None:
            status = f"MISSED by {t['missed_by_pct']:.0f}%"
        elif status == "missed":
            status = "MISSED"
        line = f"  [{status:>16}] {t['target']}: {shown}"
        if t.get("detail"):
            line += f"  -- {t['detail']}"
        print(line)


# --------------------------------------------------------------------------- main


def _versions() -> dict[str, Any]:
    import symbackprop

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "symbackprop": symbackprop.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "thread_env": {
            k: os.environ.get(k)
            for k in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS",
                "OMP_WAIT_POLICY",
                "MKL_NUM_THREADS",
                "XLA_FLAGS",
            )
        },
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        cfg = np.show_config(mode="dicts")
        info["blas"] = cfg.get("Build Dependencies", {}).get("blas", {}).get("name")
    except Exception:  # informational only
        info["blas"] = None
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; --quick shortens everything for development and the smoke test."""
    p = argparse.ArgumentParser(
        description="Per-step benchmark of symbackprop's generated trainers "
        "(see benchmarks/README.md)."
    )
    p.add_argument(
        "--quick", action="store_true", help="few rounds, short measurements (~1 min)"
    )
    p.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help=f"IN-HIDDEN-OUT:N,... (default {DEFAULT_SIZES})",
    )
    p.add_argument(
        "--rounds", type=int, default=None, help="rounds (default 15, quick 5)"
    )
    p.add_argument(
        "--min-time-ms",
        type=float,
        default=None,
        help="each measurement runs K steps taking at least this (default 20, quick 5)",
    )
    p.add_argument(
        "--styles",
        default=DEFAULT_STYLES,
        help=f"generated styles to build (default {DEFAULT_STYLES})",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write every result here")
    p.add_argument("--no-jax", action="store_true", help="skip JAX even if installed")
    p.add_argument(
        "--no-float32",
        action="store_true",
        help="skip the float32 rows (generated float32 trainer, hand float32 NumPy)",
    )
    p.add_argument(
        "--no-torch", action="store_true", help="skip PyTorch even if installed"
    )
    p.add_argument(
        "--no-startup",
        action="store_true",
        help="skip build, end-to-end, import and derivation timings",
    )
    args = p.parse_args(argv)
    args.sizes = args.sizes or parse_sizes(DEFAULT_SIZES)
    args.styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    if args.rounds is None:
        args.rounds = 5 if args.quick else 15
    if args.min_time_ms is None:
        args.min_time_ms = 5.0 if args.quick else 20.0
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    args.e2e_runs = 5 if args.quick else 15
    args.build_runs = 1 if args.quick else 3
    args.derive_runs = 1 if args.quick else 3
    return args


def main(argv: list[str] | None = None) -> int:
    """Run everything, print the tables and targets, write --json; exit 1 if a check failed."""
    args = parse_args(argv)
    # before PyTorch (and its OpenMP runtime) is imported: idle threads sleep, not spin
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    warnings.simplefilter("ignore", category=UserWarning)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "settings": {
            "rounds": args.rounds,
            "min_time_ms": args.min_time_ms,
            "styles": args.styles,
            "sizes": [s.key for s in args.sizes],
            "dtype": "float64, and float32 rows unless --no-float32",
            "network": "hidden relu, linear output, half_sse summed over samples, "
            "full-batch SGD",
        },
        "environment": _versions(),
        "sizes": [],
    }
    mode = (
        "QUICK run (few rounds; numbers are indicative only)" if args.quick else "run"
    )
    print(f"symbackprop trainer benchmark: {mode}")
    print(
        f"  python {report['environment']['python']}, numpy "
        f"{report['environment']['numpy']}, {os.cpu_count()} CPUs, load "
        f"{report['environment']['loadavg_start']}"
    )
    with tempfile.TemporaryDirectory(prefix="symbackprop-bench-") as tmp:
        workdir = Path(tmp)
        for size in args.sizes:
            result = bench_size(size, args, workdir)
            report["sizes"].append(result)
            print_size(result)
        if not args.no_startup:
            startup: dict[str, Any] = {}
            startup["build"] = bench_build(workdir, args.build_runs)
            trainer = Path(
                startup["build"]["trainer"] or ROOT / "generated/trainer_2_2_1.py"
            )
            startup["end_to_end"] = bench_end_to_end(trainer, args.e2e_runs)
            startup["imports"] = check_imports(trainer, 3)
            startup["derive"] = bench_derive(args.derive_runs)
            startup["csv"] = bench_csv(
                workdir, args.build_runs, rows=2_000 if args.quick else 10_000
            )
            report["startup"] = startup
            print_startup(startup)
    report["correctness_passed"] = all(r["check"]["passed"] for r in report["sizes"])
    report["targets"] = evaluate_targets(report)
    print_targets(report["targets"])
    report["environment"]["loadavg_end"] = (
        list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    )
    report["seconds"] = time.perf_counter() - started
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
        print(f"\nwrote {args.json}")
    print(f"finished in {report['seconds']:.1f} s")
    if not report["correctness_passed"]:
        print("correctness pre-check FAILED: see the tables above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
