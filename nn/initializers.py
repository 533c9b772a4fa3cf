"""Weight initializers: ``(fan_in, fan_out, rng) -> W`` of shape ``(fan_in, fan_out)``.

``W`` maps a row of inputs to a row of pre-activations (``z = a @ W``), so
``fan_in`` is the width of the layer below and ``fan_out`` the number of
pre-activations of the layer (units x pieces for maxout). ``rng`` is a
``numpy.random.Generator``: initializers never touch global random state.
Each docstring gives the formula and where it comes from.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .lookup import lookup

Initializer = Callable[[int, int, np.random.Generator], np.ndarray]


def book(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Normal(0, std = fan_out ** -0.5).

    What the 4-layer notebook of "Make Your Own Neural Network" does:
    ``numpy.random.normal(0.0, pow(self.hnodes, -0.5), ...)`` scales by the
    number of nodes of the layer the weights lead *to*.
    """
    return rng.normal(0.0, fan_out**-0.5, size=(fan_in, fan_out))


def lecun_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Normal(0, std = fan_in ** -0.5) (LeCun et al. 1998).

    The book's corrected version: scales by the number of incoming links, so
    the variance of z is about that of the inputs.
    """
    return rng.normal(0.0, fan_in**-0.5, size=(fan_in, fan_out))


def glorot_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).

    Variance 2 / (fan_in + fan_out): a compromise that keeps both forward
    activations and backward gradients level for tanh-like units.
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def glorot_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Normal(0, std = sqrt(2 / (fan_in + fan_out))) (Glorot & Bengio 2010)."""
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Normal(0, std = sqrt(2 / fan_in)) (He et al. 2015).

    The factor 2 makes up for ReLU zeroing half of its inputs, so the
    variance of z stays constant through deep ReLU stacks.
    """
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform(-l, l), l = sqrt(6 / fan_in): same variance as ``he_normal``."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform(-0.5, 0.5), whatever the layer's size.

    The book's first edition (``numpy.random.rand(...) - 0.5``) and
    TensorFlow Playground: too large for wide layers.
    """
    return rng.uniform(-0.5, 0.5, size=(fan_in, fan_out))


def orthogonal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """A (semi-)orthogonal matrix: Q of the QR of a Gaussian matrix (Saxe et al. 2014).

    Rows or columns (whichever are fewer) are orthonormal, so ``a @ W``
    preserves norms. Signs are fixed by diag(R) so Q is uniformly distributed.
    """
    rows, cols = max(fan_in, fan_out), min(fan_in, fan_out)
    q, r = np.linalg.qr(rng.normal(size=(rows, cols)))
    q *= np.sign(np.diag(r))
    return q if fan_in >= fan_out else q.T


INITIALIZERS: dict[str, Initializer] = {
    f.__name__: f
    for f in (book, lecun_normal, glorot_uniform, glorot_normal, he_normal, he_uniform, uniform, orthogonal)
}


def get_initializer(name: str) -> Initializer:
    """Look up an initializer by name; unknown names list the valid ones."""
    return lookup(INITIALIZERS, name, "initializer")
