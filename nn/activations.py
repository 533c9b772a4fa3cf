"""Hidden-layer activations, each stored beside its derivative.

Every entry of :data:`ACTIVATIONS` is an :class:`Activation` holding the forward
function ``f`` and its derivative ``df``, both functions of the pre-activation
``z`` (never of the output: that shortcut only works for sigmoid, tanh and relu).

Shapes. A layer of ``n`` units has ``n * pieces`` pre-activations: ``z`` has
shape ``(..., n * pieces)`` and ``f(z)`` has shape ``(..., n)``. Every
activation except maxout has ``pieces == 1``. ``df(z)`` has the shape of ``z``
and is defined so that, for a gradient ``da = dL/da`` of shape ``(..., n)``,

    dz = np.repeat(da, pieces, axis=-1) * df(z)        # dL/dz

which is the ordinary ``da * f'(z)`` when ``pieces == 1`` and routes the
gradient to the winning piece for maxout.

Every function is numerically stable for ``|z|`` up to 1e3 in float32 and
float64: no overflow warnings, no NaN.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """One activation: forward function and derivative, both of ``z``.

    Attributes
    ----------
    name : str
    f : callable, z (..., n * pieces) -> a (..., n)
    df : callable, z (..., n * pieces) -> (..., n * pieces), see module doc.
    pieces : int
        Linear pieces per unit (2 for maxout, else 1).
    """

    name: str
    f: Callable[[Array], Array]
    df: Callable[[Array], Array]
    pieces: int = 1

    def unit_derivative(self, z: Array) -> Array:
        """How much gradient each unit passes down, shape ``(..., n)``.

        For elementwise activations this is ``f'(z)``; for maxout it is the
        sum over the unit's pieces (always 1: maxout never blocks a gradient).
        """
        d = self.df(z)
        if self.pieces == 1:
            return d
        return d.reshape(*d.shape[:-1], -1, self.pieces).sum(axis=-1)

    @property
    def peak_derivative(self) -> float:
        """Largest ``|f'(z)|`` over z, the scale of the dead-unit tolerance."""
        return _peak_derivative(self)


def _sigmoid(z: Array) -> Array:
    # exp of a non-positive number only: never overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _dsigmoid(z: Array) -> Array:
    s = _sigmoid(z)
    return s * (1.0 - s)


def _tanh(z: Array) -> Array:
    return np.tanh(z)


def _dtanh(z: Array) -> Array:
    t = np.tanh(z)
    return 1.0 - t * t


def _relu(z: Array) -> Array:
    return np.maximum(z, 0)


def _drelu(z: Array) -> Array:
    # Heaviside step with value 0 at z == 0, as the book's ReLU variant uses.
    return (z > 0).astype(z.dtype)


LEAKY_SLOPE = 0.01


def _leaky_relu(z: Array) -> Array:
    return np.where(z > 0, z, LEAKY_SLOPE * z)


def _dleaky_relu(z: Array) -> Array:
    return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)


ELU_ALPHA = 1.0


def _elu(z: Array) -> Array:
    # expm1 of min(z, 0): no overflow for large positive z.
    return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0)))


def _delu(z: Array) -> Array:
    return np.where(z > 0, 1.0, ELU_ALPHA * np.exp(np.minimum(z, 0))).astype(z.dtype)


# Klambauer et al. 2017, self-normalizing constants.
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _selu(z: Array) -> Array:
    return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0)))


def _dselu(z: Array) -> Array:
    return (SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0)))).astype(z.dtype)


# GELU in its tanh form (Hendrycks & Gimpel 2016), the one most frameworks
# ship as "approximate"; NumPy has no vectorised erf.
_GELU_C = np.sqrt(2.0 / np.pi)
_GELU_K = 0.044715


def _gelu(z: Array) -> Array:
    u = _GELU_C * (z + _GELU_K * z**3)
    return 0.5 * z * (1.0 + np.tanh(u))


def _dgelu(z: Array) -> Array:
    u = _GELU_C * (z + _GELU_K * z**3)
    t = np.tanh(u)
    du = _GELU_C * (1.0 + 3.0 * _GELU_K * z * z)
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du


def _swish(z: Array) -> Array:
    return z * _sigmoid(z)


def _dswish(z: Array) -> Array:
    s = _sigmoid(z)
    return s + z * s * (1.0 - s)


def _softplus(z: Array) -> Array:
    return np.logaddexp(0, z).astype(z.dtype, copy=False)


def _dsoftplus(z: Array) -> Array:
    return _sigmoid(z)


def _softsign(z: Array) -> Array:
    return z / (1.0 + np.abs(z))


def _dsoftsign(z: Array) -> Array:
    d = 1.0 + np.abs(z)
    return 1.0 / (d * d)


def _identity(z: Array) -> Array:
    return z


def _didentity(z: Array) -> Array:
    return np.ones_like(z)


MAXOUT_PIECES = 2


def _maxout(z: Array) -> Array:
    return z.reshape(*z.shape[:-1], -1, MAXOUT_PIECES).max(axis=-1)


def _dmaxout(z: Array) -> Array:
    # One-hot of the winning piece: only it receives the gradient. Ties go to
    # the first piece (argmax), so exactly one piece per unit is 1.
    zz = z.reshape(*z.shape[:-1], -1, MAXOUT_PIECES)
    win = zz.argmax(axis=-1)[..., None]
    onehot = (np.arange(MAXOUT_PIECES) == win).astype(z.dtype)
    return onehot.reshape(z.shape)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, _dsigmoid),
        Activation("tanh", _tanh, _dtanh),
        Activation("relu", _relu, _drelu),
        Activation("leaky_relu", _leaky_relu, _dleaky_relu),
        Activation("elu", _elu, _delu),
        Activation("selu", _selu, _dselu),
        Activation("gelu", _gelu, _dgelu),
        Activation("swish", _swish, _dswish),
        Activation("softplus", _softplus, _dsoftplus),
        Activation("softsign", _softsign, _dsoftsign),
        Activation("identity", _identity, _didentity),
        Activation("maxout", _maxout, _dmaxout, pieces=MAXOUT_PIECES),
    )
}


@functools.cache
def _peak_derivative(act: Activation) -> float:
    # Dense grid over the region where every derivative here peaks; the test
    # suite checks the result against the closed forms where they exist.
    z = np.linspace(-10.0, 10.0, 200_001)[:, None].repeat(act.pieces, axis=1)
    return float(np.abs(act.unit_derivative(z)).max())


def get_activation(name: str) -> Activation:
    """Look up an activation by name; unknown names list the valid ones."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; valid activations: {', '.join(ACTIVATIONS)}"
        ) from None
