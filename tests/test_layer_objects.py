"""Networks a file builds from its own layer objects (Neural Networks from Scratch's Layer_Dense,
the Dense/ReLU classes with backward(input, grad_output)): recognised from the syntax, composed
as the spec's network in the sandbox, and named in the feedback as the check built them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from symbackprop.check.code import layer_objects
from symbackprop.check.code.load import read_student_file
from symbackprop.spec import make_spec

CLASSES = ROOT / "tests" / "fixtures" / "coursework" / "classes"
SPEC = make_spec(
    layers=(3, 5, 2),
    activations=("relu", "identity"),
    loss="softmax_cross_entropy",
    reduction="mean",
)
FLAGS = ["--layers", "3,5,2", "--activations", "relu,identity"]
FLAGS += ["--loss", "softmax_cross_entropy", "--reduction", "mean"]


def found(name: str) -> layer_objects.LayerObjects:
    objects = layer_objects.find(read_student_file(CLASSES / name), SPEC)
    assert objects is not None
    return objects


def run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "symbackprop", "check-code", str(path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def test_nnfs_layers_keep_their_gradients_on_self() -> None:
    objects = found("dense_layers_l2_ok.py")
    dense = objects.dense
    assert dense.layer.name == "Layer_Dense" and dense.sizes == (
        "n_inputs",
        "n_neurons",
    )
    assert (dense.weight, dense.bias) == ("weights", "biases")
    assert dense.grads == ("dweights", "dbiases")
    assert dense.penalty == "weight_regularizer_l2"
    relu = objects.activations["relu"]
    assert relu.name == "Activation_ReLU" and not relu.takes_input
    assert (relu.input_gradient, relu.output) == ("dinputs", "output")


def test_layers_that_step_themselves_are_read_from_the_step() -> None:
    objects = found("dense_sgd_in_backward_ok.py")
    dense = objects.dense
    assert dense.grads is None and dense.stepped == ("grad_weights", "grad_biases")
    assert dense.rate_parameter == "learning_rate"
    assert objects.activations["relu"].takes_input  # backward(input, grad_output)
    text = layer_objects.network_text(objects, SPEC)
    assert text == "layers = [Dense(3, 5), ReLU(), Dense(5, 2)]"


def test_two_dense_classes_are_not_guessed_between(tmp_path: Path) -> None:
    source = (CLASSES / "dense_sgd_in_backward_ok.py").read_text()
    copy = source.replace("class Dense(Layer):", "class Dense2(Layer):", 1)
    twice = tmp_path / "two.py"
    twice.write_text(source + "\n\n" + copy.split("class ReLU(Layer):")[1])
    assert layer_objects.find(read_student_file(twice), SPEC) is None


def test_the_feedback_names_the_layers_it_built() -> None:
    done = run(CLASSES / "dense_update_before_grad_input.py", *FLAGS)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "built from the file's layer classes as layers = [Dense(3, 5), ReLU()" in out
    assert "fed the correct output error dZ2" in out
    # the gradient as backward's own step holds it, W2 as the list of layers holds it
    assert "grad_weights of layers[0] differs from the derivation" in out
    assert "dZ1 = (dZ2 @ layers[2].weights.T) * (Z1 > 0)" in out


def test_a_wrong_layer_is_found_in_the_composed_network() -> None:
    done = run(CLASSES / "dense_layers_db_wrong_axis.py", "--json", *FLAGS)
    report = json.loads(done.stdout)
    grads = report["gradients"]
    assert grads["W1"]["status"] == grads["W2"]["status"] == "ok"
    for bias in ("b1", "b2"):
        assert grads[bias]["status"] == "wrong"
        assert "wrong_shape" in grads[bias]["diagnoses"], grads[bias]
