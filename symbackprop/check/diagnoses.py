"""Diagnosis codes shared by check-code, check-formulas and the autograder helper.

Each code has one sentence a student can act on; the checkers add the specifics (factor, entry).
"""

from __future__ import annotations

from fractions import Fraction

OK = "ok"
TRANSPOSED = "transposed"
SCALED = "scaled"
SIGN_FLIPPED = "sign_flipped"
MISSING_ACTIVATION_MASK = "missing_activation_mask"
WRONG_SHAPE = "wrong_shape"
PRODUCT_ORDER = "product_order"
BIAS_BROADCAST = "bias_broadcast"
# matrix equations (check-formulas)
USES_ACTIVATION = "uses_activation_not_preactivation"
ELEMENTWISE_PRODUCT = "elementwise_product"
WRONG_AXIS = "wrong_axis"
PENALTY_FACTOR = "penalty_factor"
PROBABILITIES = "probabilities_for_logits"
WRONG = "wrong"

EXPLANATIONS: dict[str, str] = {
    TRANSPOSED: "the gradient has the right numbers in the wrong orientation: it is the transpose "
    "of the correct one",
    SCALED: "every entry is off by the same factor: 2 or 1/2 when the 1/2 of a half squared "
    "error is dropped or doubled, N or 1/N when a batch's gradient averages over the samples "
    "where the loss sums, or the other way round",
    SIGN_FLIPPED: "every entry has the wrong sign: check the order in (y_pred - y_true)",
    MISSING_ACTIVATION_MASK: "the activation's derivative is missing: multiply the backpropagated "
    "error by act'(Z) before using it; for ReLU that is the mask Z > 0",
    WRONG_SHAPE: "the gradient's shape differs from the parameter's shape",
    PRODUCT_ORDER: "the matrix product has its factors in the wrong order or transposed: the "
    "weight gradient is the error's transpose times the layer input (dZ.T @ X), which sums over "
    "samples",
    BIAS_BROADCAST: "the bias is added per sample instead of per unit: a bias of shape (h, 1) "
    "broadcasts down the batch; use shape (h,) or (1, h)",
    USES_ACTIVATION: "the derivative is taken at the activation A where it belongs at the "
    "pre-activation Z: write g'(Z), not g'(A)",
    ELEMENTWISE_PRODUCT: "an entrywise product (*) stands where a matrix product (@) belongs, or "
    "the other way round",
    WRONG_AXIS: "the sum runs over the wrong axis: a bias gradient sums over the samples",
    PENALTY_FACTOR: "the L2 penalty's term in the weight gradient has the wrong factor: the "
    "penalty lambda/2 * sum(W**2) adds lambda * W; CS231n's reg * sum(W * W) adds 2 * reg * W, "
    "and deeplearning.ai's lambd/(2m) * sum adds lambd/m * W",
    PROBABILITIES: "the output is softmax or sigmoid of the logits, where the spec's loss takes "
    "the logits and applies that itself: return the logits, or check the code against an "
    "output layer that applies it (--activations ...,softmax --loss cross_entropy, or "
    "...,sigmoid --loss bce)",
    WRONG: "the values are wrong in a way that is not one of the common mistakes",
}


def scaled_per_sample(factor: Fraction | None, error_slope: Fraction | None) -> str:
    """Why a per-sample formula is off by a constant: no batch size is in it, so the likely cause
    is the constant of the loss's derivative, dL/dyhat = error_slope * (yhat - y)."""
    text = "every entry is off by the same factor, and a per-sample formula has no batch size"
    if error_slope is None or factor is None:
        return text + "; look for a constant dropped or added in the loss's derivative"
    slope = "yhat - y" if error_slope == 1 else f"{error_slope}*(yhat - y)"
    text += f"; for this loss dL/dyhat = {slope}"
    if error_slope == 1 and factor == 2:
        return text + (
            ", since the 1/2 in front of the squared error cancels the 2 that "
            "differentiating the square brings down: your formula keeps that 2"
        )
    if error_slope == 1 and factor == Fraction(1, 2):
        return text + (
            ": your formula applies the 1/2 of the half squared error twice, where it only "
            "cancels the 2 of the square"
        )
    if error_slope == 2 and factor == Fraction(1, 2):
        return (
            text
            + ", and your formula misses the 2 that differentiating the square brings down"
        )
    return text
