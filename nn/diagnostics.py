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
- ``update_ratio``: ``|step| / |W|``, how much one update changes a layer:
  the step the optimizer would apply next for the probe direction dW, from
  its current state (``lr * dW`` for plain SGD).
- ``act_mean``, ``act_std``: mean and std of the layer's activations.
- ``nonpos_z_frac``: fraction of (probe input, unit) pre-activations at or
  below 0 (for ReLU: where a unit outputs 0 and passes no gradient).
- ``z_min``, ``z_p07``, ..., ``z_max``: percentiles of the layer's
  pre-activations z over all probe inputs and units (every piece of a maxout
  unit) at :data:`Z_PERCENTILES`: 0, 6.68, 15.87, 30.85, 50, 69.15, 84.13,
  93.32, 100, the normal distribution's -inf, -1.5, -1, -0.5, 0, 0.5, 1, 1.5
  and +inf sigma (the bands of TensorBoard's distribution view). An output
  layer of ReLUs pushed below zero shows as ``z_max < 0``.
"""
from __future__ import annotations

import numpy as np

from .network import EVAL_ROWS, Architecture, Params, backward, forward
from .optimizers import OptimizerState
from .percentiles import row_percentiles

Array = np.ndarray

DEAD_TOL = 1e-8

# Column name -> percentile of the pre-activations (see the module docstring).
Z_PERCENTILES = {
    "z_min": 0.0, "z_p07": 6.68, "z_p16": 15.87, "z_p31": 30.85, "z_p50": 50.0,
    "z_p69": 69.15, "z_p84": 84.13, "z_p93": 93.32, "z_max": 100.0,
}

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
    "nonpos_z_frac",
    *Z_PERCENTILES,
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
    chunk: int | None = None,
    optimizer: OptimizerState | None = None,
) -> dict[str, Array]:
    """Per-network, per-layer diagnostics on the probe set ``X`` (P, n_0), ``T`` (P, n_out).

    The probe is processed ``chunk`` rows at a time (default :data:`EVAL_ROWS`, the same for every K);
    the result does not depend on it beyond rounding. ``optimizer``: the
    training optimizer's state, for ``update_ratio`` (None: plain SGD).

    Returns
    -------
    dict mapping each name of :data:`LAYER_METRICS` to a (K, L) float64
    array, L the number of weight layers (the output layer last).
    """
    lr = np.asarray(lr, dtype=np.float64)
    # A diverging network has inf/NaN values: they are measured as they are,
    # and must not flood the console.
    with np.errstate(all="ignore"):
        return _diagnose(arch, params, X, T, lr, rule, tol, chunk or EVAL_ROWS, optimizer)


def _diagnose(
    arch: Architecture, params: Params, X: Array, T: Array, lr: Array, rule: str, tol: float, chunk: int,
    optimizer: OptimizerState | None = None,
) -> dict[str, Array]:
    K, L, P = params.K, arch.n_layers, len(X)
    layer_acts = arch.layer_activations
    # Sums over the probe, chunk by chunk (float64): gradients of the mean
    # probe loss, and the moments behind the per-layer statistics.
    dW_exact = [np.zeros(w.shape) for w in params.W]
    dW_step = dW_exact if rule == "exact" else [np.zeros(w.shape) for w in params.W]
    passes_any = [np.zeros((K, arch.sizes[l + 1]), bool) for l in range(L)]
    no_grad, dz_sq, a_sum, a_sq, z_nonpos = (np.zeros((K, L)) for _ in range(5))
    z_parts: list[list[Array]] = [[] for _ in range(L)]  # (K, rows * n) per chunk, for the percentiles
    for s in range(0, P, chunk):
        x, t = X[s : s + chunk], T[s : s + chunk]
        weight = len(x) / P  # dW of a chunk is the mean over its rows
        derivatives: list[Array] = []  # f'(z) once, for both rules and the dead-unit count
        zs, acts = forward(arch, params, x, derivatives)
        exact = backward(arch, params, zs, acts, t, "exact", derivatives)
        step = exact if rule == "exact" else backward(arch, params, zs, acts, t, rule, derivatives)
        for l, act in enumerate(layer_acts):
            dW_exact[l] += weight * exact.dW[l]
            if rule != "exact":
                dW_step[l] += weight * step.dW[l]
            passes = np.abs(act.per_unit(derivatives[l])) > tol * act.peak_derivative  # (K, rows, n)
            passes_any[l] |= passes.any(axis=1)
            no_grad[:, l] += passes[0].size - np.count_nonzero(passes.reshape(K, -1), axis=1)
            dz = step.dz[l].reshape(K, -1).astype(np.float64, copy=False)
            dz_sq[:, l] += (dz * dz).sum(axis=1)
            z_parts[l].append(zs[l].reshape(K, -1))
            z_nonpos[:, l] += np.count_nonzero(z_parts[l][-1] <= 0, axis=1)
            a = acts[l + 1].reshape(K, -1).astype(np.float64, copy=False)
            a_sum[:, l] += a.sum(axis=1)
            a_sq[:, l] += (a * a).sum(axis=1)

    out = {name: np.zeros((K, L)) for name in LAYER_METRICS}
    for l in range(L):
        n = arch.sizes[l + 1]
        dead = ~passes_any[l]  # (K, n): no probe input passes gradient
        out["dead_units"][:, l] = dead.sum(axis=1)
        out["dead_frac"][:, l] = dead.mean(axis=1)
        out["no_grad_frac"][:, l] = no_grad[:, l] / (P * n)
        g_norm, t_norm = _norm(dW_step[l]), _norm(dW_exact[l])
        out["grad_w_norm"][:, l] = g_norm
        out["true_grad_w_norm"][:, l] = t_norm
        dot = (dW_step[l] * dW_exact[l]).reshape(K, -1).sum(axis=1)
        out["step_cosine"][:, l] = np.where(g_norm * t_norm > 0, dot / (g_norm * t_norm), np.nan)
        # Plain SGD (no state) steps lr * dW: its norm is known without the array.
        stateless = optimizer is None or optimizer.plain_sgd
        step_norm = lr * g_norm if stateless else _norm(optimizer.peek(l, dW_step[l], lr))
        out["update_ratio"][:, l] = step_norm / _norm(params.W[l])
        out["delta_rms"][:, l] = np.sqrt(dz_sq[:, l] / (P * dW_exact[l].shape[-1]))
        mean = a_sum[:, l] / (P * n)
        out["act_mean"][:, l] = mean
        # E[a^2] - E[a]^2 in float64; clipped at 0 against rounding for constant layers.
        out["act_std"][:, l] = np.sqrt(np.maximum(a_sq[:, l] / (P * n) - mean * mean, 0.0))
        z = np.concatenate(z_parts[l], axis=1)  # (K, P * n * pieces), the network's dtype
        out["nonpos_z_frac"][:, l] = z_nonpos[:, l] / z.shape[1]
        for name, band in zip(Z_PERCENTILES, row_percentiles(z, list(Z_PERCENTILES.values()))):
            out[name][:, l] = band
    return out
