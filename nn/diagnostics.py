"""What happens inside the networks, measured on a fixed probe set.

Definitions (used by every table and plot of the project):

- A unit is **dead** when its derivative passes no gradient for EVERY probe
  input: ``|f'(z)| <= tol * max_z |f'(z)|`` (default tol 1e-8). This covers
  dead ReLUs and fully saturated sigmoid/tanh units alike. Maxout and
  softmax (with cross-entropy) units always pass gradient.
- ``no_grad_frac``: fraction of (unit, probe input) pairs that pass none.
- ``grad_w_norm``: Frobenius norm of the step direction dW the backprop rule
  applies (the exact gradient of the mean probe loss for ``exact``);
  ``true_grad_w_norm``: the exact gradient's norm at the same point, and
  ``step_cosine`` the cosine between the two (1 for ``exact``).
- ``delta_rms``: root mean square of the rule's per-sample dz over probe
  inputs and units (Glorot & Bengio: it can vanish while ``grad_w_norm``
  stays level).
- ``update_ratio``: ``lr * |dW| / |W|``, how much one step changes a layer.
- ``act_mean``, ``act_std``: mean and std of the layer's activations.
"""
from __future__ import annotations

import numpy as np

from .network import Architecture, Params, backward, forward

Array = np.ndarray

DEAD_TOL = 1e-8

LAYER_METRICS = (
    "dead_units",
    "dead_frac",
    "no_grad_frac",
    "grad_w_norm",
    "true_grad_w_norm",
    "step_cosine",
    "delta_rms",
    "update_ratio",
    "act_mean",
    "act_std",
)


def _norm(x: Array) -> Array:
    """Frobenius norm of each network's slice: (K, ...) -> (K,)."""
    return np.sqrt((x.astype(np.float64) ** 2).reshape(x.shape[0], -1).sum(axis=1))


def diagnose(
    arch: Architecture,
    params: Params,
    X: Array,
    T: Array,
    lr: Array,
    rule: str = "exact",
    tol: float = DEAD_TOL,
) -> dict[str, Array]:
    """Per-network, per-layer diagnostics on the probe set ``X`` (P, n_0), ``T`` (P, n_out).

    Returns
    -------
    dict mapping each name of :data:`LAYER_METRICS` to a (K, L) float64
    array, L the number of weight layers (the output layer last).
    """
    lr = np.asarray(lr, dtype=np.float64)
    # A diverging network has inf/NaN values: they are measured as they are,
    # and must not flood the console.
    with np.errstate(all="ignore"):
        return _diagnose(arch, params, X, T, lr, rule, tol)


def _diagnose(arch: Architecture, params: Params, X: Array, T: Array, lr: Array, rule: str, tol: float) -> dict[str, Array]:
    derivatives: list[Array] = []  # f'(z) once, for both rules and the dead-unit count
    zs, acts = forward(arch, params, X, derivatives)
    exact = backward(arch, params, zs, acts, T, "exact", derivatives)
    step = exact if rule == "exact" else backward(arch, params, zs, acts, T, rule, derivatives)
    K = params.K
    out = {name: np.zeros((K, arch.n_layers)) for name in LAYER_METRICS}
    for l, act in enumerate(arch.layer_activations):
        passes = np.abs(act.per_unit(derivatives[l])) > tol * act.peak_derivative  # (K, P, n)
        dead = ~passes.any(axis=1)  # (K, n)
        out["dead_units"][:, l] = dead.sum(axis=1)
        out["dead_frac"][:, l] = dead.mean(axis=1)
        out["no_grad_frac"][:, l] = 1.0 - passes.mean(axis=(1, 2))
        g_norm, t_norm = _norm(step.dW[l]), _norm(exact.dW[l])
        out["grad_w_norm"][:, l] = g_norm
        out["true_grad_w_norm"][:, l] = t_norm
        dot = (step.dW[l].astype(np.float64) * exact.dW[l]).reshape(K, -1).sum(axis=1)
        out["step_cosine"][:, l] = np.where(g_norm * t_norm > 0, dot / (g_norm * t_norm), np.nan)
        out["update_ratio"][:, l] = lr * g_norm / _norm(params.W[l])
        out["delta_rms"][:, l] = np.sqrt((step.dz[l].astype(np.float64) ** 2).reshape(K, -1).mean(axis=1))
        a = acts[l + 1].reshape(K, -1)
        out["act_mean"][:, l] = a.mean(axis=1)
        out["act_std"][:, l] = a.std(axis=1)
    return out
