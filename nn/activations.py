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

# |z| beyond which exp(z) would overflow, per dtype (a little inside the limit).
_EXP_BOUND = {np.dtype(t).char: float(np.log(np.finfo(t).max)) - 1.0 for t in (np.float16, np.float32, np.float64)}


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
    f_df : callable or None, z -> (f(z), df(z))
        Both at once, sharing the expensive part (an exp or a tanh); the
        forward pass of training uses it. Must equal ``(f(z), df(z))``.
    """

    name: str
    f: Callable[[Array], Array]
    df: Callable[[Array], Array]
    pieces: int = 1
    f_df: Callable[[Array], tuple[Array, Array]] | None = None

    def value_and_derivative(self, z: Array) -> tuple[Array, Array]:
        """``(f(z), df(z))``, computed together when the entry knows how."""
        if self.f_df is not None:
            return self.f_df(z)
        return self.f(z), self.df(z)

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
    # Clipping keeps exp(-z) finite (no overflow warning); beyond the bound
    # sigmoid is 0 or 1 to the dtype's precision anyway. exp is twice as fast
    # as tanh in float64, hence not the form 0.5 + 0.5 tanh(z / 2).
    bound = _EXP_BOUND[z.dtype.char] if z.dtype.char in _EXP_BOUND else 700.0
    return 1.0 / (1.0 + np.exp(-np.clip(z, -bound, bound)))


def _dsigmoid(z: Array) -> Array:
    s = _sigmoid(z)
    return s * (1.0 - s)


def _sigmoid_f_df(z: Array) -> tuple[Array, Array]:
    s = _sigmoid(z)
    return s, s * (1.0 - s)


def _tanh(z: Array) -> Array:
    return np.tanh(z)


def _dtanh(z: Array) -> Array:
    t = np.tanh(z)
    return 1.0 - t * t


def _tanh_f_df(z: Array) -> tuple[Array, Array]:
    t = np.tanh(z)
    return t, 1.0 - t * t


def _relu(z: Array) -> Array:
    return np.maximum(z, 0)


def _drelu(z: Array) -> Array:
    # Heaviside step with value 0 at z == 0, as the book's ReLU variant uses.
    return (z > 0).astype(z.dtype)


LEAKY_SLOPE = 0.01


def _relu_f_df(z: Array) -> tuple[Array, Array]:
    d = _drelu(z)
    return z * d, d


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
_GELU_C = float(np.sqrt(2.0 / np.pi))  # a Python float keeps float32 arrays float32
_GELU_K = 0.044715


def _gelu(z: Array) -> Array:
    # 0.5 (1 + tanh(u)) == sigmoid(2u): exp-based and stable.
    # z * z * z, not z**3: NumPy's general power is several times slower.
    z2 = z * z  # same expression as _gelu_f_df: the two agree to the last bit
    return z * _sigmoid(2.0 * _GELU_C * z * (1.0 + _GELU_K * z2))


def _dgelu(z: Array) -> Array:
    return _gelu_f_df(z)[1]


def _gelu_f_df(z: Array) -> tuple[Array, Array]:
    z2 = z * z
    s = _sigmoid(2.0 * _GELU_C * z * (1.0 + _GELU_K * z2))
    du = _GELU_C * (1.0 + 3.0 * _GELU_K * z2)  # d/dz of u
    # d/du of sigmoid(2u) is 2 s (1 - s)
    return z * s, s + 2.0 * z * s * (1.0 - s) * du


def _swish(z: Array) -> Array:
    return z * _sigmoid(z)


def _dswish(z: Array) -> Array:
    s = _sigmoid(z)
    return s + z * s * (1.0 - s)


def _swish_f_df(z: Array) -> tuple[Array, Array]:
    s = _sigmoid(z)
    a = z * s
    return a, s + a * (1.0 - s)


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


MAXOUT_PIECES = 2  # the code below assumes 2: pieces at even and odd positions


def _maxout(z: Array) -> Array:
    # Pieces of unit j sit at 2j and 2j + 1; strided views beat a reduce
    # over a length-2 axis by far.
    return np.maximum(z[..., 0::2], z[..., 1::2])


def _dmaxout(z: Array) -> Array:
    return _maxout_f_df(z)[1]


def _maxout_f_df(z: Array) -> tuple[Array, Array]:
    # One-hot of the winning piece: only it receives the gradient. Ties go to
    # the first piece, so exactly one piece per unit is 1.
    first, second = z[..., 0::2], z[..., 1::2]
    first_wins = first >= second
    d = np.empty_like(z)
    d[..., 0::2] = first_wins
    d[..., 1::2] = ~first_wins
    return np.where(first_wins, first, second), d


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, _dsigmoid, f_df=_sigmoid_f_df),
        Activation("tanh", _tanh, _dtanh, f_df=_tanh_f_df),
        Activation("relu", _relu, _drelu, f_df=_relu_f_df),
        Activation("leaky_relu", _leaky_relu, _dleaky_relu),
        Activation("elu", _elu, _delu),
        Activation("selu", _selu, _dselu),
        Activation("gelu", _gelu, _dgelu, f_df=_gelu_f_df),
        Activation("swish", _swish, _dswish, f_df=_swish_f_df),
        Activation("softplus", _softplus, _dsoftplus),
        Activation("softsign", _softsign, _dsoftsign),
        Activation("identity", _identity, _didentity),
        Activation("maxout", _maxout, _dmaxout, pieces=MAXOUT_PIECES, f_df=_maxout_f_df),
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
