"""Compare a step with the negative gradient: cosine, norm ratio, class.

Per layer and sample, on the entries the reference was computed on:

- cosine between the step dW and -g;
- norm ratio ``|dW| / (lr |g|)``, 1 for a gradient step;
- a class from :data:`CLASSES`.

A layer's verdict is its worst sample's class (the last in table order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gradient import Reference

Array = np.ndarray

COSINE_GRADIENT = 0.999  # cosine above which a step is parallel to the gradient
RATIO_TOLERANCE = 0.01   # |ratio - 1| within which its length is lr |g|


@dataclass(frozen=True)
class StepClass:
    """One class of step. ``gradient_step``: the step is what gradient descent takes."""

    name: str
    gradient_step: bool
    meaning: str


# Best first: a layer's verdict is the class of its worst sample.
CLASSES: dict[str, StepClass] = {
    c.name: c
    for c in (
        StepClass("gradient", True, f"cosine > {COSINE_GRADIENT} and |dW| within 1% of lr |g|"),
        StepClass("no gradient, no step", True,
                  "the loss does not depend on the layer for this input (dead units) and it is left alone"),
        StepClass("descent, not the gradient", False, "0 < cosine: lowers the loss for a small enough step"),
        StepClass("no step", False, "the gradient is not zero but the layer is not updated"),
        StepClass("no gradient", False,
                  "the loss does not depend on the layer for this input (dead units), yet it is moved"),
        StepClass("not a descent direction", False, "cosine <= 0: the step raises the loss"),
    )
}
_RANK = {name: i for i, name in enumerate(CLASSES)}


@dataclass(frozen=True)
class Comparison:
    """One layer on one sample. ``cosine`` and ``ratio`` are None where a norm is zero."""

    cosine: float | None
    ratio: float | None
    cls: str


@dataclass(frozen=True)
class LayerSummary:
    verdict: str
    shares: dict[str, float]
    cosine_median: float | None
    cosine_min: float | None
    norm_ratio: float | None  # median over samples
    comparisons: list[Comparison]

    @property
    def gradient_step(self) -> bool:
        return all(CLASSES[c.cls].gradient_step for c in self.comparisons)


def is_zero_step(step: Array, weights: Array) -> bool:
    """No step: below the rounding of the weights it would be added to."""
    return float(np.linalg.norm(step)) <= np.finfo(weights.dtype).eps * float(np.linalg.norm(weights))


def is_zero_gradient(ref: Reference) -> bool:
    """No gradient: within the rounding error of the finite differences."""
    return float(np.linalg.norm(ref.values)) <= 10.0 * ref.noise


def cosine(a: Array, b: Array) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def matches(actual: Array, predicted: Array, zero_actual: bool, zero_predicted: bool) -> bool:
    """Whether a step is the predicted one: both zero, or parallel with the same length."""
    if zero_actual or zero_predicted:
        return zero_actual and zero_predicted
    ratio = float(np.linalg.norm(actual) / np.linalg.norm(predicted))
    return cosine(actual, predicted) > COSINE_GRADIENT and abs(ratio - 1.0) <= RATIO_TOLERANCE


def classify(step: Array, ref: Reference, zero_step: bool, lr: float | None) -> Comparison:
    """Class of a step ``step`` (on the reference's entries) against ``-ref.values``."""
    zero_grad = is_zero_gradient(ref)
    if zero_grad:
        return Comparison(None, None, "no gradient, no step" if zero_step else "no gradient")
    if zero_step:
        return Comparison(None, None, "no step")
    cos = cosine(step, -ref.values)
    ratio = float(np.linalg.norm(step) / (lr * np.linalg.norm(ref.values))) if lr else None
    if cos > COSINE_GRADIENT and ratio is not None and abs(ratio - 1.0) <= RATIO_TOLERANCE:
        cls = "gradient"
    elif cos > 0:
        cls = "descent, not the gradient"
    else:
        cls = "not a descent direction"
    return Comparison(cos, ratio, cls)


def summarize(comparisons: list[Comparison]) -> LayerSummary:
    classes = [c.cls for c in comparisons]
    shares = {name: classes.count(name) / len(classes) for name in CLASSES if name in classes}
    cosines = [c.cosine for c in comparisons if c.cosine is not None]
    ratios = [c.ratio for c in comparisons if c.ratio is not None]
    return LayerSummary(
        verdict=max(classes, key=_RANK.__getitem__),
        shares=shares,
        cosine_median=float(np.median(cosines)) if cosines else None,
        cosine_min=min(cosines) if cosines else None,
        norm_ratio=float(np.median(ratios)) if ratios else None,
        comparisons=comparisons,
    )


@dataclass(frozen=True)
class LearningRate:
    value: float | None
    source: str


def measure_learning_rate(pairs: list[list[tuple[Array, Reference, bool]]]) -> LearningRate:
    """The learning rate the class uses, from steps parallel to the gradient.

    ``pairs[l][s]``: (step on the reference's entries, reference, step is
    zero) of layer l (input layer first) on sample s. The median |dW| / |g|
    over the samples where the output layer's step is parallel (or
    antiparallel: a flipped sign does not change the length) to the gradient;
    failing that, the highest layer where some step is; failing that, the
    plain |dW| / |g| of the highest layer where both are non-zero.
    """
    def ratios(layer, parallel_only):
        out = []
        for step, ref, zero_step in layer:
            if zero_step or is_zero_gradient(ref):
                continue
            if parallel_only and abs(cosine(step, -ref.values)) <= COSINE_GRADIENT:
                continue
            out.append(float(np.linalg.norm(step) / np.linalg.norm(ref.values)))
        return out

    top = len(pairs)
    for parallel_only in (True, False):
        for l in range(top, 0, -1):
            found = ratios(pairs[l - 1], parallel_only)
            if found:
                where = "the output layer" if l == top else f"layer {l}"
                how = "where its step is parallel to the gradient" if parallel_only else \
                    "NOT measured from a gradient step (no layer's step is parallel to its gradient)"
                return LearningRate(float(np.median(found)), f"|dW| / |g| of {where}, {how}")
    return LearningRate(None, "not measured: no layer has both a step and a gradient")
