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


# a file with its own network functions and, further down, the same network as layer objects
OWN_AND_LAYERS = """import numpy as np


def forward(X, params):
    Z1 = X @ params["W1"] + params["b1"]
    H1 = np.maximum(Z1, 0)
    Z2 = H1 @ params["W2"] + params["b2"]
    return {"Z1": Z1, "H1": H1, "Z2": Z2, "Y": Z2}


def backward(X, y, params, cache):
    dZ2 = 2 * (cache["Y"] - y)
    dW2 = cache["H1"].T @ dZ2
    db2 = dZ2.sum(axis=0)
    dZ1 = (dZ2 @ params["W2"].T) * (cache["Z1"] > 0)
    return {"dW1": X.T @ dZ1, "db1": dZ1.sum(axis=0), "dW2": dW2, "db2": db2}


class Dense:
    def __init__(self, n_in, n_out):
        self.W = 0.1 * np.random.randn(n_in, n_out)
        self.b = np.zeros(n_out)

    def forward(self, X):
        self.X = X
        return X @ self.W + self.b

    def backward(self, dout):
        self.dW = self.X.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class ReLU:
    def forward(self, X):
        self.mask = X > 0
        return X * self.mask

    def backward(self, dout):
        return dout * self.mask
"""


def test_the_files_own_network_functions_come_before_its_layers(tmp_path: Path) -> None:
    """Its backward doubles dZ2 (half squared error: dZ2 = Y - y), which the layer objects,
    fed the correct dZ2, would hide."""
    path = tmp_path / "both.py"
    path.write_text(OWN_AND_LAYERS)
    report = json.loads(run(path, "--json").stdout)
    assert all(g["status"] == "wrong" for g in report["gradients"].values()), report
    assert {"scaled"} == {
        d for g in report["gradients"].values() for d in g["diagnoses"]
    }
    # without its own functions, the layer objects are the network (and they are right)
    alone = tmp_path / "layers.py"
    alone.write_text(
        "import numpy as np\n\n\nclass " + OWN_AND_LAYERS.split("\n\nclass ", 1)[1]
    )
    report = json.loads(run(alone, "--json").stdout)
    assert report["ok"], report


def test_a_class_that_only_makes_the_network_is_not_mistaken_for_it(
    tmp_path: Path,
) -> None:
    fixture = (
        ROOT / "tests" / "fixtures" / "coursework" / "classes" / "neuralnetwork_ok.py"
    )
    source = fixture.read_text().split('if __name__ == "__main__":')[0]
    path = tmp_path / "with_check.py"
    path.write_text(
        source
        + "\n\nclass GradCheck:\n    def run(self, X, y):\n"
        + "        nn = NeuralNetwork(2, 4, 1)\n        return nn.forward(X)\n"
    )
    flags = ["--layers", "2,4,1", "--activations", "tanh,sigmoid", "--loss", "bce"]
    report = json.loads(run(path, "--json", *flags, "--reduction", "mean").stdout)
    assert report["ok"], report


def test_layers_that_take_the_learning_rate_and_one_example(tmp_path: Path) -> None:
    """The Independent Code's layers: backward(output_gradient, learning_rate) steps itself,
    one example (a column) at a time; a wrong tanh derivative in its Tanh class is found."""
    source = """import numpy as np


class Dense:
    def __init__(self, input_size, output_size):
        self.weights = np.random.randn(output_size, input_size)
        self.bias = np.random.randn(output_size, 1)

    def forward(self, input):
        self.input = input
        return np.dot(self.weights, self.input) + self.bias

    def backward(self, output_gradient, learning_rate):
        weights_gradient = np.dot(output_gradient, self.input.T)
        input_gradient = np.dot(self.weights.T, output_gradient)
        self.weights -= learning_rate * weights_gradient
        self.bias -= learning_rate * output_gradient
        return input_gradient


class Tanh:
    def forward(self, input):
        self.input = input
        return np.tanh(input)

    def backward(self, output_gradient, learning_rate):
        return np.multiply(output_gradient, 1 - np.tanh(self.input) ** 2)
"""
    flags = ["--layers", "2,3,1", "--activations", "tanh,identity"]
    good = tmp_path / "tic.py"
    good.write_text(source)
    done = run(good, *flags)
    assert done.returncode == 0, done.stdout
    assert "one example at a time" in done.stdout
    bad = tmp_path / "tic_bad.py"
    bad.write_text(
        source.replace("1 - np.tanh(self.input) ** 2", "1 - self.input ** 2")
    )
    report = json.loads(run(bad, "--json", *flags).stdout)
    grads = report["gradients"]
    assert grads["W2"]["status"] == grads["b2"]["status"] == "ok"
    assert grads["W1"]["status"] == grads["b1"]["status"] == "wrong"
