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

from .lookup import lookup

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
        return self.per_unit(self.df(z))

    def per_unit(self, d: Array) -> Array:
        """``df(z)`` (..., n * pieces) summed over each unit's pieces: (..., n)."""
        if self.pieces == 1:
            return d
        # Strided adds, not a sum over a length-`pieces` axis: NumPy reduces
        # short inner axes slowly (about 6x slower on a (20, 64, 64) stack).
        return functools.reduce(np.add, (d[..., i :: self.pieces] for i in range(self.pieces)))

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
    # max(z, slope z) is z * f'(z) for 0 < slope < 1, without building f'.
    return np.maximum(z, LEAKY_SLOPE * z)


def _dleaky_relu(z: Array) -> Array:
    return _leaky_relu_f_df(z)[1]


def _leaky_relu_f_df(z: Array) -> tuple[Array, Array]:
    # max(step, slope): 1 where z > 0, else the slope (NaN included), the
    # values np.where(z > 0, 1, slope) gives, in half its time.
    d = np.maximum((z > 0).astype(z.dtype), z.dtype.type(LEAKY_SLOPE))
    return z * d, d


# ELU and SELU share one form: scale * (z if z > 0 else alpha * (exp(z) - 1)).
# exp(z) - 1 rather than expm1: NumPy's exp is vectorised, its expm1 is
# several times slower; the difference is below 1e-16 in absolute terms.
ELU_ALPHA = 1.0
# Klambauer et al. 2017, self-normalizing constants.
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _exp_linear(alpha: float, scale: float):
    sa = scale * alpha

    def negative_side(z: Array) -> Array:
        # The negative side's derivative, sa * exp(min(z, 0)): sa where z > 0.
        return sa * np.exp(np.minimum(z, 0))

    def value(z: Array, e: Array) -> Array:
        # No np.where (slow on small arrays): scale * max(z, 0) plus the
        # negative side, e - sa, which is exactly 0 where z > 0. The values are
        # those of np.where(z > 0, scale * z, e - sa) bit for bit.
        a = np.maximum(z, 0)
        if scale != 1.0:
            a *= scale
        a += e - sa
        return a

    def f(z: Array) -> Array:
        return value(z, negative_side(z))

    def f_df(z: Array) -> tuple[Array, Array]:
        e = negative_side(z)
        a = value(z, e)
        if scale == sa:  # ELU: e is already the derivative on both sides
            return a, e
        # scale where z > 0: e is sa there, and sa + (scale - sa) is scale
        # exactly in the array's dtype (the difference of two floats within a
        # factor of 2 of each other is exact).
        d = (z > 0).astype(z.dtype)
        d *= z.dtype.type(scale) - z.dtype.type(sa)
        d += e
        return a, d

    return f, (lambda z: f_df(z)[1]), f_df


_elu, _delu, _elu_f_df = _exp_linear(ELU_ALPHA, 1.0)
_selu, _dselu, _selu_f_df = _exp_linear(SELU_ALPHA, SELU_SCALE)


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
    # The value of _softplus_f_df, without its derivative.
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _dsoftplus(z: Array) -> Array:
    return _softplus_f_df(z)[1]


def _softplus_f_df(z: Array) -> tuple[Array, Array]:
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|), and its derivative sigmoid(z)
    # from the same e^-|z|: one exp for both, never overflowing.
    e = np.exp(-np.abs(z))
    inv = 1.0 / (1.0 + e)
    return np.maximum(z, 0) + np.log1p(e), np.where(z >= 0, inv, e * inv)


def _softsign(z: Array) -> Array:
    return z / (1.0 + np.abs(z))


def _dsoftsign(z: Array) -> Array:
    return _softsign_f_df(z)[1]


def _softsign_f_df(z: Array) -> tuple[Array, Array]:
    inv = 1.0 / (1.0 + np.abs(z))
    return z * inv, inv * inv


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
    # Interleaving the booleans and casting once is 3-4x faster on a
    # (30, 32, 64) stack than casting into strided slices of d.
    d = np.stack((first_wins, ~first_wins), axis=-1).reshape(z.shape).astype(z.dtype)
    return np.where(first_wins, first, second), d


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, _dsigmoid, f_df=_sigmoid_f_df),
        Activation("tanh", _tanh, _dtanh, f_df=_tanh_f_df),
        Activation("relu", _relu, _drelu, f_df=_relu_f_df),
        Activation("leaky_relu", _leaky_relu, _dleaky_relu, f_df=_leaky_relu_f_df),
        Activation("elu", _elu, _delu, f_df=_elu_f_df),
        Activation("selu", _selu, _dselu, f_df=_selu_f_df),
        Activation("gelu", _gelu, _dgelu, f_df=_gelu_f_df),
        Activation("swish", _swish, _dswish, f_df=_swish_f_df),
        Activation("softplus", _softplus, _dsoftplus, f_df=_softplus_f_df),
        Activation("softsign", _softsign, _dsoftsign, f_df=_softsign_f_df),
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
    return lookup(ACTIVATIONS, name, "activation")
