"""The blank matrix answer file of `check-formulas --template --matrix`, for the spec and layout."""

from __future__ import annotations

from ....spec import NetworkSpec, names, registry
from .. import EXIT_CODES
from ..report import network_line


def matrix_template(
    spec: NetworkSpec, layout: str, check_command: str = "symbackprop check-formulas"
) -> str:
    """The equations to fill in (dZ, dW, db per layer, output layer first) and the notation."""
    depth = spec.depth
    cols = layout == "columns"
    batch = "m" if cols else "N"
    shape = (lambda n: f"({n}, {batch})") if cols else (lambda n: f"({batch}, {n})")
    bias = (lambda n: f"({n}, 1)") if cols else (lambda n: f"({n},)")
    loss = registry.loss(spec.loss)
    mean = spec.reduction == "mean"
    lines = [
        f"# symbackprop check-formulas matrix answer file for {network_line(spec)}",
        f"# layout {layout}: "
        + (
            "one sample per column (deeplearning.ai): X is "
            if cols
            else "one sample per row (CS231n, the seed): X is "
        )
        + shape(spec.layers[0])
        + f", Z{depth} and A{depth} are {shape(spec.layers[-1])}",
        f"# loss {spec.loss}: {loss.description}; reduction {spec.reduction}"
        + (
            f" (the cost averages over the {batch} samples)"
            if mean
            else " (summed over samples)"
        ),
        f"# Names: X, Y (targets), Z1, A1 (or H1), ..., A{depth} (or Yhat), W1, b1, ..., m or N "
        "(batch)",
        "#        dZ1 (or delta1), dA1, dW1, db1; a name defined on an earlier line may be used",
        "#        later. Lower case (x, a1, z1, delta1, yhat) is one sample's column vector; then",
        "#        dW = ... is one sample's gradient and the batch's is their "
        + ("mean." if mean else "sum."),
        "# Notation: NumPy (W2.T @ dZ2, np.dot, np.multiply, np.sum(A, axis=1, keepdims=True),",
        "#   (Z1 > 0), np.transpose) or maths (W2^T dZ2 with juxtaposition the matrix product,",
        "#   * ⊙ ∘ .* entrywise, g'(Z1), relu'(Z1), 1[Z1 > 0], 1/m dZ2 A1^T, Σ dZ2 over the samples,",
        "#   sum_rows(A) the row sums) or LaTeX (W^{[2]T}, \\odot, \\frac{1}{m}, \\sum_{i=1}^{m}).",
        "# W{l} is (units, inputs); g is a layer's activation: "
        + ", ".join(f"g{k} = {a}" for k, a in enumerate(spec.activations, start=1)),
        f"# Check it: {check_command} --layout {layout} FILE   (exit codes: {EXIT_CODES})",
        "",
    ]
    for k in range(depth, 0, -1):
        units, fan_in = spec.layers[k], spec.layers[k - 1]
        lines += [
            f"# layer {k}: dZ{k} is {shape(units)}, dW{k} is ({units}, {fan_in}), "
            f"db{k} is {bias(units)}",
            f"{names.delta(k)} = ",
            f"{names.course_grad(names.weight(k))} = ",
            f"{names.course_grad(names.bias(k))} = ",
            "",
        ]
    return "\n".join(lines)
