"""A stack of K identical-shape 4-layer networks trained side by side.

A sweep trains many networks that share a shape and an activation and differ
only in initializer, learning rate and seed. Their weights are stacked along a
leading axis of length K, so one NumPy call updates all of them (most of the
time of a small network is per-call overhead, see ``../shared/PERF_NOTES.md``).
One network is simply K = 1, and the K networks never mix: slice k of every
array depends on network k alone.

Shapes (L = 3 weight layers for a 4-layer net, B = batch size):

- ``W[l]``: (K, n_{l}, n_{l+1} * pieces), so that ``z = a @ W + b``
- ``b[l]``: (K, 1, n_{l+1} * pieces), or None when biases are off
- ``zs[l]``: (K, B, n_{l+1} * pieces) pre-activations of layer l+1
- ``acts[0]``: the inputs, (B, n_0) shared by all K or (K, B, n_0);
  ``acts[l+1]``: (K, B, n_{l+1})
- ``dz[l]``: dL/dz of layer l+1, shape of ``zs[l]`` ("delta")
- ``dW[l]``, ``db[l]``: gradient of the mean batch loss, shapes of W, b
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from .activations import Activation, get_activation
from .initializers import get_initializer
from .outputs import Output, get_output
from .reductions import product_for, shared_ones, sum_rows

Array = np.ndarray

BACKPROP_RULES = ("exact", "book")
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Architecture:
    """Everything the math needs to know about a network, shared by all K.

    Attributes
    ----------
    sizes : tuple of int
        Widths of the input, hidden and output layers, e.g. ``(64, 32, 32, 10)``.
    activation : str
        Hidden activation, a key of ``nn.ACTIVATIONS``.
    output : str
        Output layer and loss, a key of ``nn.OUTPUTS``.
    bias : bool
        Biases on every layer (the book's code has none).
    dtype : str
        ``"float64"`` or ``"float32"``.
    """

    sizes: tuple[int, ...]
    activation: str = "sigmoid"
    output: str = "softmax"
    bias: bool = True
    dtype: str = "float64"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(n) for n in self.sizes))
        if len(self.sizes) < 2 or any(n < 1 for n in self.sizes):
            raise ValueError(f"sizes must be at least two positive widths, got {self.sizes}")
        get_activation(self.activation)
        get_output(self.output)
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; valid dtypes: {', '.join(DTYPES)}")

    @functools.cached_property  # looked up on every step
    def hidden(self) -> Activation:
        return get_activation(self.activation)

    @functools.cached_property
    def out(self) -> Output:
        return get_output(self.output)

    @functools.cached_property  # looked up on every step
    def layer_activations(self) -> tuple[Activation, ...]:
        """The activation of each weight layer, the output layer last."""
        n_hidden = len(self.sizes) - 2
        return (self.hidden,) * n_hidden + (self.out.activation(self.hidden),)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1


@dataclass
class Params:
    """Weights and biases of K stacked networks (see module docstring).

    ``fused``, set on a :meth:`fused_copy`, holds per layer one array
    (K, n_l + 1, n_{l+1} * pieces) whose first n_l rows are ``W[l]`` and
    whose last row is ``b[l]`` (both views of it). :func:`forward` then adds
    the bias inside the product, through a column of ones on the layer's
    input, and :func:`sgd_step` applies a layer's weight and bias steps with
    one product and one subtraction: plain SGD trains on such a copy.
    """

    W: list[Array]
    b: list[Array] | None = None
    fused: list[Array] | None = None

    @property
    def K(self) -> int:
        return self.W[0].shape[0]

    def copy(self) -> "Params":
        return Params([w.copy() for w in self.W], None if self.b is None else [x.copy() for x in self.b])

    def select(self, k: Sequence[int] | slice) -> "Params":
        """The networks ``k`` as a new (copied) stack."""
        return Params([w[k].copy() for w in self.W], None if self.b is None else [x[k].copy() for x in self.b])

    def single(self) -> "Params":
        """Network 0 as 2-D arrays, VIEWS of this stack: W[l] (n_l, n_{l+1} * pieces), b[l] (1, ...).

        Every function of this module also takes 2-D params with 2-D inputs
        (B, n_0), and updates land in the stack. Training one network runs
        on these; it measured within noise of the stack of one (NumPy costs a
        2-D call about what it costs a 3-D one).
        """
        def first(arrays: list[Array] | None) -> list[Array] | None:
            return None if arrays is None else [x[0] for x in arrays]

        return Params(first(self.W), first(self.b), first(self.fused))

    def fused_copy(self) -> "Params":
        """A copy with biases (required) in the ``fused`` layout; :meth:`assign` copies it back."""
        fused = [np.concatenate((w, b), axis=-2) for w, b in zip(self.W, self.b)]
        return Params([f[..., :-1, :] for f in fused], [f[..., -1:, :] for f in fused], fused)

    def assign(self, other: "Params") -> None:
        """Copy the values of ``other`` (same shapes) into these arrays, in place."""
        for dst, src in zip(self.W + (self.b or []), other.W + (other.b or [])):
            dst[...] = src


@dataclass
class Grads:
    """Per-layer gradients (or, for the book rule, the steps it applies)."""

    dW: list[Array]
    db: list[Array] | None
    dz: list[Array] = field(default_factory=list)


def init_params(arch: Architecture, inits: Sequence[str], rngs: Sequence[np.random.Generator]) -> Params:
    """Initialize K networks, network k with initializer ``inits[k]`` and ``rngs[k]``.

    Biases start at zero. Weights are drawn in float64 and then cast, so the
    float32 network starts from the rounded float64 one.
    """
    if len(inits) != len(rngs):
        raise ValueError(f"got {len(inits)} initializers for {len(rngs)} random generators")
    fns = [get_initializer(name) for name in inits]
    dtype = np.dtype(arch.dtype)
    W = []
    for l, act in enumerate(arch.layer_activations):
        fan_in, fan_out = arch.sizes[l], arch.sizes[l + 1] * act.pieces
        W.append(np.stack([fn(fan_in, fan_out, rng) for fn, rng in zip(fns, rngs)]).astype(dtype))
    b = [np.zeros((w.shape[0], 1, w.shape[2]), dtype) for w in W] if arch.bias else None
    return Params(W, b)


def _check_inputs(arch: Architecture, X: Array, ones: bool = False) -> None:
    if X.shape[-1] != arch.sizes[0] + ones:
        note = " plus its column of ones (fused params)" if ones else ""
        raise ValueError(
            f"input width {X.shape[-1]} does not match the network's input width {arch.sizes[0]}{note}"
        )


def with_ones(a: Array) -> Array:
    """``a`` (..., n) with a column of ones appended: (..., n + 1), the input
    :func:`forward` takes with fused params (see :class:`Params`)."""
    return np.concatenate((a, shared_ones(a.shape[:-1] + (1,), a.dtype)), axis=-1)


def forward(
    arch: Architecture, params: Params, X: Array, derivatives: list | None = None
) -> tuple[list[Array], list[Array]]:
    """The one forward pass, used by training, evaluation and diagnostics.

    Parameters
    ----------
    X : (B, n_0) shared by all K networks, or (K, B, n_0); with
        ``params.fused``, ``with_ones(X)`` (n_0 + 1 columns)
    derivatives : list, optional
        If given, ``f'(z)`` of each weight layer is appended to it, computed
        together with ``f(z)`` (cheaper than afterwards; training passes it
        on to :func:`backward`).

    Returns
    -------
    zs : list of (K, B, n_l * pieces), pre-activations per weight layer
    acts : list, ``acts[0] = X`` then (K, B, n_l) per weight layer;
        ``acts[-1]`` is the network's output. With ``params.fused`` every
        ``acts[l]`` but the output carries a last column of ones (n_l + 1),
        the input of the fused product.
    """
    fused = params.fused
    _check_inputs(arch, X, ones=fused is not None)
    a = X
    zs, acts = [], [X]
    product = product_for(X, params.W[0])
    last = arch.n_layers - 1
    for l, act in enumerate(arch.layer_activations):
        if fused is not None:
            z = product(a, fused[l])  # the ones column times the bias row adds the bias
        else:
            z = product(a, params.W[l])
            if params.b is not None:
                z += params.b[l]
        if derivatives is None:
            a = act.f(z)
        else:
            a, d = act.value_and_derivative(z)
            derivatives.append(d)
        if fused is not None and l < last:
            a = with_ones(a)
        zs.append(z)
        acts.append(a)
    return zs, acts


def _expand(da: Array, act: Activation) -> Array:
    # dL/da of a unit goes to each of its pieces before multiplying by df.
    return da if act.pieces == 1 else np.repeat(da, act.pieces, axis=-1)


# Entries of one network's outer product from which a BLAS call per network
# beats one einsum over the stack (see _batch_product).
_BLAS_OUTER_MIN = 4096


def _blas_outer(a: Array, d: Array) -> bool:
    """Whether the batch-1 product of ``a`` (.., 1, n) and ``d`` (.., 1, m) goes
    through BLAS, network by network (see :func:`_batch_product`)."""
    return d.shape[-2] == 1 and a.shape[-1] * d.shape[-1] >= _BLAS_OUTER_MIN


def _outer(a: Array, d: Array, out: Array | None = None) -> Array:
    """One network's outer product, (1, n) and (1, m) -> (n, m): BLAS's rank-1
    product (np.dot of (n,1) and (1,m)), 1.4-1.8x faster than einsum at
    784x200 (43 against 59-76 us, float64)."""
    return np.dot(a.T, d, out=out)


def _network(x: Array, k: int) -> Array:
    """Network k's slice of (K, ...) ``x``, or 2-D ``x`` shared by all K."""
    return x[k] if x.ndim == 3 else x


def _batch_product(a: Array, d: Array, out: Array | None = None) -> Array:
    """Sum over the batch of outer products ``a.T @ d``: (.., B, n), (K, B, m) -> (K, n, m)
    (2-D for one network: (B, n), (B, m) -> (n, m))."""
    if d.shape[-2] != 1:
        return product_for(a, d)(a.swapaxes(-1, -2), d, out=out)
    # One sample per update (the book): an outer product, each entry one
    # multiplication, so every way of writing it gives the same numbers.
    if not _blas_outer(a, d):
        # matmul of (n,1)@(1,m) is slow; einsum writes it 1.5-2x faster than
        # a broadcast multiply, which calls its inner loop once per row, and
        # covers the whole stack in one call.
        return np.einsum("...i,...j->...ij", a[..., 0, :], d[..., 0, :], out=out)
    if d.ndim == 2:
        return _outer(a, d, out)
    if out is None:
        out = np.empty(d.shape[:-2] + (a.shape[-1], d.shape[-1]), d.dtype)
    for k in range(d.shape[0]):
        _outer(_network(a, k), d[k], out[k])
    return out


def mean_grads(
    acts: list[Array], dz: list[Array], bias: bool, buffers: list[Array] | None = None
) -> tuple[list[Array], list[Array] | None]:
    """dW and db (None without ``bias``) averaged over the batch, from ``acts``
    and ``dz`` as :func:`forward` and :func:`backward` give them; ``buffers``
    (shaped like ``W``), when given, take the batch sums before the division."""
    B = dz[0].shape[-2]
    out = buffers or [None] * len(dz)
    dW = [_batch_product(a, d, out=buf) / B for a, d, buf in zip(acts[:-1], dz, out)]
    db = [sum_rows(d) / B for d in dz] if bias else None
    return dW, db


def backward(
    arch: Architecture,
    params: Params,
    zs: list[Array],
    acts: list[Array],
    T: Array,
    rule: str = "exact",
    derivatives: list[Array] | None = None,
    weight_grads: bool = True,
    scale: Array | None = None,
) -> Grads:
    """Gradients of the mean batch loss, or the book's update direction.

    Parameters
    ----------
    zs, acts : from :func:`forward` on the same batch
    T : (B, n_out) or (K, B, n_out) targets
    rule : ``"exact"`` or ``"book"``
    derivatives : ``f'(z)`` per layer as :func:`forward` collects them;
        computed from ``zs`` when not given.
    weight_grads : False skips dW and db (``Grads.dW`` and ``.db`` are None):
        training applies the step from ``dz`` directly (:func:`sgd_step`).
    scale : (K, 1, 1), or (1, 1) for 2-D params, optional
        Multiplies the output's dz (and the book's error) before it is passed
        down. Backprop is linear in it, so every returned ``dz`` comes out
        scaled: plain SGD passes ``lr / B`` (:func:`sgd_scale`) and gets its
        steps with one small product instead of one per layer. Only with
        ``weight_grads=False``.

    ``exact``: dz_L = dL/dz of the output (from the output/loss pair), then
    ``da_{l-1} = dz_l @ W_l.T``, ``dz_{l-1} = da_{l-1} * f'(z_{l-1})``.

    ``book``: the update rule of "Make Your Own Neural Network"'s code. With
    ``e_L = y - t`` (the book's error with the sign flipped, so that both rules
    step ``W -= lr * dW``), ``e_{l-1} = e_l @ W_l.T`` is passed down WITHOUT
    the derivative of layer l, and ``dz_l = e_l * f'(z_l)``. For the output
    layer both rules agree. The returned ``dz`` are the rule's per-sample
    deltas; ``dW`` averages over the batch, like the exact rule.
    """
    if rule not in BACKPROP_RULES:
        raise ValueError(f"unknown backprop rule {rule!r}; valid rules: {', '.join(BACKPROP_RULES)}")
    if scale is not None and weight_grads:
        raise ValueError("scale gives scaled steps, not gradients: pass weight_grads=False with it")
    if params.fused is not None and weight_grads:
        raise ValueError("fused params are for sgd_step: pass weight_grads=False with them")
    layer_acts = arch.layer_activations
    if derivatives is None:
        derivatives = [act.df(z) for act, z in zip(layer_acts, zs)]
    y = acts[-1]
    d = arch.out.delta(y, T, derivatives[-1], layer_acts[-1])
    e = y - T if rule == "book" else None
    if scale is not None:
        np.multiply(d, scale, out=d)  # delta returns a new array
        if e is not None:
            np.multiply(e, scale, out=e)
    dz = [d]  # output layer first, reversed at the end
    product = product_for(d, params.W[-1])
    for l in range(arch.n_layers - 1, 0, -1):
        W_T = params.W[l].swapaxes(-1, -2)
        if e is None:
            da = product(d, W_T)
        else:
            e = product(_expand(e, layer_acts[l]), W_T)
            da = e
        d = _expand(da, layer_acts[l - 1]) * derivatives[l - 1]
        dz.append(d)
    dz.reverse()
    if not weight_grads:
        return Grads(None, None, dz)
    dW, db = mean_grads(acts, dz, arch.bias)
    return Grads(dW, db, dz)


def sgd_scale(lr: Array, B: int, params: Params) -> Array:
    """``lr_k / B`` in the parameters' dtype, shaped to broadcast over network k's
    arrays: (K, 1, 1), or (1, 1) for 2-D params. ``lr``: (K,)."""
    W = params.W[0]
    scale = (np.asarray(lr, dtype=np.float64) / B).astype(W.dtype)
    return scale.reshape((-1,) + (1,) * (W.ndim - 1))


def sgd_step(params: Params, acts: list[Array], steps: list[Array], buffers: list[Array]) -> None:
    """In place, ``W -= a.T @ step`` (and ``b -= sum of step over the batch``)
    per layer: plain SGD with ``steps = lr / B * dz``, as :func:`backward`
    gives them with ``scale=sgd_scale(...)``.

    The product goes to a preallocated buffer (``buffers[l]`` shaped like
    ``W[l]``, or like ``fused[l]`` for fused params), so no full-size
    temporary is made: a batch-1 step on a 784-200-100-10 network is
    memory-bound on W, and this halves the passes over it. With
    ``params.fused`` (and ``acts`` from :func:`forward` on them, with their
    column of ones) the product's last row is the bias step, and one
    subtraction applies both.
    """
    for l, (a, d) in enumerate(zip(acts[:-1], steps)):
        W = params.W[l] if params.fused is None else params.fused[l]
        if W.ndim == 3 and _blas_outer(a, d):
            # A stack at batch 1, large: network by network through one
            # network's share of the buffer, which stays in cache (98 against
            # 113 us per network at 784x200, K=5, float64). Same numbers.
            for k in range(W.shape[0]):
                W[k] -= _outer(_network(a, k), d[k], buffers[l][0])
        else:
            W -= _batch_product(a, d, out=buffers[l])
        if params.fused is None and params.b is not None:
            params.b[l] -= sum_rows(d)


def sgd_update(params: Params, acts: list[Array], dz: list[Array], lr: Array, buffers: list[Array]) -> None:
    """In place, one SGD step ``W -= lr_k * dW`` (and ``b -= lr_k * db``) for
    each network k, dW and db as :func:`backward` computes them, from the
    unscaled ``dz`` (:func:`nn.training.train_epoch` scales inside backward
    instead, which rounds differently in the last bit).

    ``acts``, ``dz``: as from :func:`forward` and :func:`backward` on the batch;
    ``lr``: (K,).
    """
    scale = sgd_scale(lr, dz[0].shape[-2], params)
    sgd_step(params, acts, [d * scale for d in dz], buffers)


# Rows per chunk when evaluating many inputs (test set, probe set). Small
# enough that a chunk's (K, rows, n) arrays stay in cache at the K of a sweep
# (evaluating 256 or 360 rows at K=20 in one piece ran 2.5x slower than in
# chunks of 64), and the same for every K: the chunking sets the order of the
# sums, so a chunk size that followed K would make a run's numbers depend on
# the other runs of its stack.
EVAL_ROWS = 64


def _outputs_by_chunk(arch: Architecture, params: Params, X: Array, chunk: int | None) -> Iterator[tuple[slice, Array]]:
    """The rows of ``X`` (N, n_0) ``chunk`` at a time (default :data:`EVAL_ROWS`) and
    the networks' outputs on them: (rows, y), y (K, rows, n_out)."""
    chunk = chunk or EVAL_ROWS
    for s in range(0, X.shape[0], chunk):
        rows = slice(s, s + chunk)
        yield rows, forward(arch, params, X[rows])[1][-1]


def correct_counts(y: Array, labels: Array) -> Array:
    """(K,) number of rows whose largest output is the label: y (K, rows, n_out),
    labels (rows,) shared or (K, rows) per network."""
    return np.count_nonzero(y.argmax(axis=-1) == labels, axis=-1)


def loss_and_accuracy(
    arch: Architecture, params: Params, X: Array, labels: Array, T: Array, chunk: int | None = None
) -> tuple[Array, Array]:
    """Mean loss and accuracy of each network on a whole data set.

    Parameters
    ----------
    X : (N, n_0), labels : (N,) int, T : (N, n_out) targets

    Returns
    -------
    loss, accuracy : (K,) float64
    """
    K, N = params.K, X.shape[0]
    loss_sum = np.zeros(K)
    correct = np.zeros(K)
    for rows, y in _outputs_by_chunk(arch, params, X, chunk):
        loss_sum += arch.out.loss(y, T[rows]).sum(axis=1, dtype=np.float64)
        correct += correct_counts(y, labels[rows])
    return loss_sum / N, correct / N


def accuracy(arch: Architecture, params: Params, X: Array, labels: Array, chunk: int | None = None) -> Array:
    """(K,) float64 accuracy of each network on ``X`` (N, n_0), ``labels`` (N,):
    :func:`loss_and_accuracy`'s second half, without the loss (what the
    per-epoch test and validation figures need)."""
    correct = np.zeros(params.K)
    for rows, y in _outputs_by_chunk(arch, params, X, chunk):
        correct += correct_counts(y, labels[rows])
    return correct / X.shape[0]


def is_finite(params: Params) -> Array:
    """(K,) bool: network k has only finite weights and biases."""
    ok = np.ones(params.K, bool)
    for w in params.W + (params.b or []):
        ok &= np.isfinite(w).reshape(params.K, -1).all(axis=1)
    return ok
