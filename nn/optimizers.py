"""Optimizers: how a step direction becomes a weight update, for K stacked networks.

Every entry of :data:`OPTIMIZERS` is an :class:`Optimizer`: its
hyper-parameters (names and defaults: the config keys of a run), the names of
its state arrays ("slots", each shaped like the parameter it belongs to and
zero at the start), and its update rule ``step``. With ``g`` the step
direction of a parameter (dL/dW, averaged over the batch, for ``exact``
backprop), one update is::

    direction, slots = optimizer.step(g, slots, hyper, t)
    W -= lr * direction

``t`` counts the updates, 1 at the first. The rules, as PyTorch writes them
(``torch.optim``) and scikit-learn computes them (``sklearn.neural_network``):

- ``sgd``: ``d = g``.
- ``momentum`` (heavy ball): ``v = mu * v + g``; ``d = v``. With a constant
  ``lr`` this is scikit-learn's ``v = mu * v - lr * g; W += v``.
- ``nesterov``: ``v = mu * v + g``; ``d = g + mu * v`` (PyTorch's
  ``nesterov=True``, Sutskever et al. 2013 in the form of Bengio et al.).
- ``adam`` (Kingma & Ba 2015, Algorithm 1): ``m = b1 m + (1 - b1) g``,
  ``v = b2 v + (1 - b2) g^2``, bias-corrected ``m_hat = m / (1 - b1^t)``,
  ``v_hat = v / (1 - b2^t)``; ``d = m_hat / (sqrt(v_hat) + eps)``, PyTorch's
  form. scikit-learn folds the corrections into the learning rate
  (``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``, ``d = m / (sqrt(v) + eps)``):
  the same step up to where ``eps`` sits.
- ``rmsprop`` (Tieleman & Hinton 2012): ``v = rho v + (1 - rho) g^2``;
  ``d = g / (sqrt(v) + eps)`` (PyTorch's, with its ``alpha`` named ``rho``).

With ``book`` backprop, ``g`` is the book rule's step direction (not a
gradient); every optimizer takes it as it would take a gradient.

Shapes. Parameters are stacked along a leading K axis (``W[l]``: (K, n, m),
``b[l]``: (K, 1, m)); so is the state, and each hyper-parameter is a (K, 1, 1)
array: K networks with different hyper-parameters (and learning rates) share
one stack and one data stream, and slice k of everything depends on network
k alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from .lookup import lookup
from .network import Params, mean_grads, sgd_update

Array = np.ndarray
Slots = dict[str, Array]
# (g, slots, hyper, t) -> (direction, new slots); never writes into its inputs.
StepRule = Callable[[Array, Slots, Mapping[str, Array], int], tuple[Array, Slots]]


@dataclass(frozen=True)
class Optimizer:
    """One optimizer: hyper-parameters, state and update rule (see module doc).

    Attributes
    ----------
    name : str
    hyper : dict of str -> float
        Hyper-parameter names (config keys) and their defaults.
    slots : tuple of str
        State arrays per parameter, each shaped like it, zero at the start.
    step : callable, (g, slots, hyper, t) -> (direction, new slots)
    """

    name: str
    hyper: Mapping[str, float]
    slots: tuple[str, ...]
    step: StepRule


def _sgd(g: Array, s: Slots, h: Mapping[str, Array], t: int) -> tuple[Array, Slots]:
    return g, s


def _momentum(g: Array, s: Slots, h: Mapping[str, Array], t: int) -> tuple[Array, Slots]:
    v = h["momentum"] * s["velocity"] + g
    return v, {"velocity": v}


def _nesterov(g: Array, s: Slots, h: Mapping[str, Array], t: int) -> tuple[Array, Slots]:
    v = h["momentum"] * s["velocity"] + g
    return g + h["momentum"] * v, {"velocity": v}


def _adam(g: Array, s: Slots, h: Mapping[str, Array], t: int) -> tuple[Array, Slots]:
    b1, b2 = h["beta1"], h["beta2"]
    m = b1 * s["m"] + (1 - b1) * g
    v = b2 * s["v"] + (1 - b2) * (g * g)
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return m_hat / (np.sqrt(v_hat) + h["eps"]), {"m": m, "v": v}


def _rmsprop(g: Array, s: Slots, h: Mapping[str, Array], t: int) -> tuple[Array, Slots]:
    v = h["rho"] * s["v"] + (1 - h["rho"]) * (g * g)
    return g / (np.sqrt(v) + h["eps"]), {"v": v}


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer("sgd", {}, (), _sgd),
        Optimizer("momentum", {"momentum": 0.9}, ("velocity",), _momentum),
        Optimizer("nesterov", {"momentum": 0.9}, ("velocity",), _nesterov),
        Optimizer("adam", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, ("m", "v"), _adam),
        Optimizer("rmsprop", {"rho": 0.99, "eps": 1e-8}, ("v",), _rmsprop),
    )
}

# Every hyper-parameter of any optimizer: the config keys they add.
HYPER_PARAMETERS: tuple[str, ...] = tuple(dict.fromkeys(k for o in OPTIMIZERS.values() for k in o.hyper))


def get_optimizer(name: str) -> Optimizer:
    return lookup(OPTIMIZERS, name, "optimizer")


@dataclass
class OptimizerState:
    """An optimizer's state for K stacked networks: built by :func:`init_state`.

    Attributes
    ----------
    optimizer : Optimizer
    hyper : dict of str -> (K, 1, 1) array, in the parameters' dtype
    slots : list of dict, one per parameter array (``W`` layers, then ``b``
        layers), each slot shaped like its parameter
    t : int
        Updates applied so far.
    """

    optimizer: Optimizer
    hyper: dict[str, Array]
    slots: list[Slots] = field(default_factory=list)
    t: int = 0

    def update(self, params: Params, acts: list[Array], dz: list[Array], lr: Array, buffers: list[Array]) -> None:
        """In place, one update of every network: the optimizer's step with
        the mean batch direction ``dW = a.T @ dz / B`` (and ``db``).

        Same arguments as :func:`nn.network.sgd_update`, which plain ``sgd``
        calls as it is (its step needs no state and is the fastest).
        """
        self.t += 1
        if self.plain_sgd:
            sgd_update(params, acts, dz, lr, buffers)
            return
        dW, db = mean_grads(acts, dz, params.b is not None, buffers)
        grads = dW + (db or [])
        lr_k = _per_network(lr, params.W[0].dtype)
        for p, g, slots in zip(_arrays(params), grads, self.slots):
            direction, new = self.optimizer.step(g, slots, self.hyper, self.t)
            slots.update(new)
            p -= lr_k * direction

    @property
    def plain_sgd(self) -> bool:
        """Whether the step is plain SGD's ``d = g`` (no state): :func:`nn.network.sgd_update`
        applies it as it is, to 3-D or 2-D parameters, and its size is ``lr * |g|``."""
        return self.optimizer.step is _sgd

    def peek(self, index: int, g: Array, lr: Array) -> Array:
        """The step ``lr * direction`` the next update would apply to
        parameter array ``index`` (``W`` layers first) for direction ``g``,
        without changing the state. (K, ...) like ``g``."""
        slots = {k: v.astype(g.dtype, copy=False) for k, v in self.slots[index].items()}
        hyper = {k: v.astype(g.dtype, copy=False) for k, v in self.hyper.items()}
        direction, _ = self.optimizer.step(g, slots, hyper, self.t + 1)
        return _per_network(lr, g.dtype) * direction

    def reset(self, k: int) -> None:
        """Zero network k's state (a diverged network restarts from zero weights)."""
        for slots in self.slots:
            for s in slots.values():
                s[k] = 0


def _arrays(params: Params) -> list[Array]:
    return params.W + (params.b or [])


def _per_network(x: Array | Sequence[float] | float, dtype: np.dtype) -> Array:
    """(K,) values as a (K, 1, 1) array that broadcasts over a parameter."""
    return np.asarray(x, dtype=np.float64).astype(dtype).reshape(-1, 1, 1)


def init_state(name: str, params: Params, hyper: Mapping[str, Sequence[float]] | None = None) -> OptimizerState:
    """Zero state of optimizer ``name`` for the K networks of ``params``.

    Parameters
    ----------
    name : a key of :data:`OPTIMIZERS`
    params : the stack the optimizer will update
    hyper : hyper-parameter name -> (K,) values, one per network; a missing
        name takes the optimizer's default, names it does not use are an error.
    """
    opt = get_optimizer(name)
    hyper = dict(hyper or {})
    unknown = set(hyper) - set(opt.hyper)
    if unknown:
        raise ValueError(f"optimizer {name!r} takes no {', '.join(sorted(unknown))}; its hyper-parameters: "
                         f"{', '.join(opt.hyper) or 'none'}")
    dtype = params.W[0].dtype
    values = {k: _per_network(np.broadcast_to(hyper.get(k, default), (params.K,)), dtype)
              for k, default in opt.hyper.items()}
    slots = [{s: np.zeros_like(p) for s in opt.slots} for p in _arrays(params)]
    return OptimizerState(opt, values, slots)
