"""Train a group of runs and return plain data: the one task a sweep dispatches.

Runs that differ only in initializer, learning rate, seed, optimizer
hyper-parameters, early-stopping patience (and variant name) are trained
together as one stack of K networks (:mod:`nn.network`; the optimizer's state
is stacked the same way, :mod:`nn.optimizers`), each network in its own
seed's sample order; a run's numbers are those of training it alone,
whichever runs share its stack.

Validation. ``val_fraction`` of the training part is held out (stratified,
fixed seed): every epoch records ``val_acc`` beside ``test_acc``. The best
epoch is the first with the highest validation accuracy (test accuracy when
``val_fraction`` is 0). With ``early_stopping: P`` a network stops after P
epochs without a better validation accuracy; its run keeps the best epoch's
numbers (``stopped_epoch`` says when it stopped).

Random streams. Each run's randomness derives from its ``seed`` and the name
of the stream, never from global state:

- ``init``: weights, from (seed, initializer name). Runs with the same seed
  and initializer start from the same weights whatever their activation or
  learning rate, so comparisons across those axes are paired.
- ``order``: the order of training samples in each epoch, from the seed alone.
"""
from __future__ import annotations

import functools
import hashlib
import json
import time
from typing import Any, Sequence

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import nn
from experiments.config import RunConfig
from experiments.data import Dataset, load_dataset, one_hot_targets

# Everything but these fields must agree for runs to share one stack.
PER_NETWORK_FIELDS = ("variant", "init", "lr", "seed", "early_stopping", *nn.HYPER_PARAMETERS)


def group_key(run: RunConfig) -> tuple:
    """Runs with equal keys can be trained as one stack."""
    d = run.flat()
    return tuple(v for k, v in d.items() if k not in PER_NETWORK_FIELDS)


def stream(seed: int, name: str, *identity: Any) -> np.random.Generator:
    """An independent generator for one named stream of one run."""
    digest = hashlib.sha256(json.dumps([name, *identity]).encode()).digest()
    return np.random.default_rng(np.random.SeedSequence([seed, int.from_bytes(digest[:8], "little")]))


@functools.lru_cache(maxsize=8)
def dataset_for(
    data: str, input_scale: str, test_fraction: float, train_size: int | None, test_size: int | None,
    val_fraction: float = 0.0, fingerprint: str = "",
) -> Dataset:
    """Load (once per process) the data set a run asks for; ``fingerprint`` (of
    the files) is in the cache key, so a file replaced under its path is read again."""
    return load_dataset(
        data, input_scale=input_scale, test_fraction=test_fraction, train_size=train_size, test_size=test_size,
        val_fraction=val_fraction,
    )


def data_args(run: RunConfig) -> tuple:
    """The arguments of :func:`dataset_for` for a run: runs with equal ones share a data set."""
    return (run.data, run.input_scale, run.test_fraction, run.train_size, run.test_size, run.val_fraction,
            run.data_fingerprint)


def load_run_data(run: RunConfig) -> Dataset:
    return dataset_for(*data_args(run))


def probe_indices(n_train: int, size: int) -> np.ndarray:
    """The fixed probe set: the same training samples for every run and epoch."""
    size = min(size, n_train)
    return np.sort(np.random.default_rng(0).choice(n_train, size=size, replace=False))


def _architecture(run: RunConfig, data: Dataset) -> nn.Architecture:
    return nn.Architecture(
        sizes=(data.n_features, *run.hidden, data.n_classes),
        activation=run.activation,
        output=run.output,
        bias=run.bias,
        dtype=run.dtype,
    )


def train_group(runs: Sequence[RunConfig]) -> list[dict[str, Any]]:
    """Train runs that share a group key as one stack; one result dict per run.

    A result holds ``run_id``, ``config`` (the flat config), ``status``
    (``ok`` or ``diverged``), ``diverged_epoch``, ``epochs_done``,
    ``best_epoch`` (selected on validation accuracy, else test accuracy),
    ``stopped_epoch`` (None unless early stopping ended it), ``data_info``
    (detected feature form, class list, split sizes), ``sizes``,
    ``class_counts`` (``train`` and ``test``: samples per class),
    ``seconds`` (the group's wall time divided by its size), ``epochs`` (one
    dict per evaluated epoch, 0 = at initialization) and ``layers`` (one dict
    per epoch and weight layer, metrics of :data:`nn.LAYER_METRICS`).
    """
    start = time.perf_counter()
    first = runs[0]
    if any(group_key(r) != group_key(first) for r in runs):
        raise ValueError(f"train_group needs runs that differ only in {', '.join(PER_NETWORK_FIELDS)}")
    data = load_run_data(first)
    arch = _architecture(first, data)
    dtype = np.dtype(first.dtype)
    X = data.X_train.astype(dtype)
    T = one_hot_targets(data.y_train, data.n_classes, first.targets).astype(dtype)
    X_test = data.X_test.astype(dtype)  # test and validation sets give accuracies only
    X_val = data.X_val.astype(dtype)
    has_val = len(X_val) > 0
    probe = probe_indices(len(X), first.probe_size)
    X_probe, T_probe = X[probe], T[probe]

    K = len(runs)
    params = nn.init_params(arch, [r.init for r in runs], [stream(r.seed, "init", r.init) for r in runs])
    seeds = sorted({r.seed for r in runs})
    order_rngs = [stream(seed, "order") for seed in seeds]
    row_of_seed = np.array([seeds.index(r.seed) for r in runs])
    lr = np.array([r.lr for r in runs], dtype=np.float64)
    hyper = {k: [getattr(r, k) for r in runs] for k in nn.get_optimizer(first.optimizer).hyper}
    optimizer = nn.init_state(first.optimizer, params, hyper)
    alive = np.ones(K, bool)
    diverged_epoch: list[int | None] = [None] * K
    stopped_epoch: list[int | None] = [None] * K
    best_epoch = [0] * K
    best_acc = np.full(K, -np.inf)  # of the selection accuracy: validation, else test
    epochs_done = [0] * K
    epoch_rows: list[list[dict]] = [[] for _ in runs]
    layer_rows: list[list[dict]] = [[] for _ in runs]

    def record(epoch: int, train_loss: np.ndarray, train_acc: np.ndarray) -> None:
        with np.errstate(all="ignore"):
            test_acc = nn.accuracy(arch, params, X_test, data.y_test)
            val_acc = nn.accuracy(arch, params, X_val, data.y_val) if has_val else None
        diag = nn.diagnose(arch, params, X_probe, T_probe, lr, first.backprop, optimizer=optimizer)
        finite = nn.is_finite(params) & np.isfinite(train_loss)
        select = val_acc if has_val else test_acc
        for k in np.flatnonzero(alive):
            epoch_rows[k].append(
                {"epoch": epoch, "train_loss": float(train_loss[k]), "train_acc": float(train_acc[k]),
                 "val_acc": float(val_acc[k]) if has_val else None, "test_acc": float(test_acc[k])}
            )
            for l in range(arch.n_layers):
                row = {"epoch": epoch, "layer": l + 1}
                row.update({m: float(diag[m][k, l]) for m in nn.LAYER_METRICS})
                layer_rows[k].append(row)
            epochs_done[k] = epoch
            if finite[k] and select[k] > best_acc[k]:
                best_acc[k], best_epoch[k] = select[k], epoch
            if not finite[k]:
                # Stop this network: zero weights, state and learning rate
                # keep NaN out of the shared arrays while the others go on.
                diverged_epoch[k] = epoch
                alive[k] = False
                lr[k] = 0.0
                for w in params.W + (params.b or []):
                    w[k] = 0
                optimizer.reset(k)
            elif (runs[k].early_stopping and epoch < first.epochs
                  and epoch - best_epoch[k] >= runs[k].early_stopping):  # the last epoch ends it anyway
                # A learning rate of 0 freezes it (whatever the optimizer's
                # state) while the rest of the stack trains on.
                stopped_epoch[k] = epoch
                alive[k] = False
                lr[k] = 0.0

    with np.errstate(all="ignore"):
        record(0, *nn.loss_and_accuracy(arch, params, X, data.y_train, T))
    for epoch in range(1, first.epochs + 1):
        if not alive.any():
            break
        # One permutation per seed, row k for network k: (K, N); a stack of
        # one seed shares one (N,) order, and with it one batch per step.
        perms = np.stack([rng.permutation(len(X)) for rng in order_rngs])
        order = perms[0] if len(seeds) == 1 else perms[row_of_seed]
        # Training figures are the running means of the epoch, measured as
        # it trains: a second pass over the training set would cost a third
        # of the epoch again.
        record(epoch, *nn.train_epoch(arch, params, X, T, order, lr, first.batch_size, first.backprop, data.y_train,
                                      optimizer))

    seconds = (time.perf_counter() - start) / K
    # What chance and a constant prediction achieve (analysis/outcomes.py).
    class_counts = {"train": np.bincount(data.y_train, minlength=data.n_classes).tolist(),
                    "test": np.bincount(data.y_test, minlength=data.n_classes).tolist()}
    return [
        {
            "run_id": run.run_id,
            "config": run.flat(),
            "status": "ok" if diverged_epoch[k] is None else "diverged",
            "error": None,
            "diverged_epoch": diverged_epoch[k],
            "epochs_done": epochs_done[k],
            "best_epoch": best_epoch[k],
            "stopped_epoch": stopped_epoch[k],
            "data_info": data.info(),
            "sizes": list(arch.sizes),
            "class_counts": class_counts,
            "seconds": seconds,
            "epochs": epoch_rows[k],
            "layers": layer_rows[k],
        }
        for k, run in enumerate(runs)
    ]


def failed_result(run: RunConfig, exc: BaseException) -> dict[str, Any]:
    """The record of a run that raised: status ``failed`` and the message."""
    return {
        "run_id": run.run_id,
        "config": run.flat(),
        "status": "failed",
        "error": f"{type(exc).__name__}: {exc}",
        "diverged_epoch": None,
        "epochs_done": 0,
        "best_epoch": None,
        "stopped_epoch": None,
        "sizes": None,
        "seconds": 0.0,
        "epochs": [],
        "layers": [],
    }


def blas_threads() -> int:
    """Largest thread count of any BLAS/OpenMP pool loaded in this process."""
    return max((p["num_threads"] for p in threadpool_info()), default=1)


def run_task(runs: Sequence[RunConfig]) -> list[dict[str, Any]]:
    """The task a sweep worker runs: train a group, never raise.

    BLAS is pinned to one thread: the parallelism is across tasks, and two
    workers each with 2 BLAS threads on 2 cores ran 28x slower. If the group
    raises, each run is retried alone so one bad run cannot fail its group.
    """
    with threadpool_limits(limits=1):
        threads = blas_threads()
        try:
            results = train_group(runs)
        except Exception as exc:  # one bad run must never kill the sweep
            if len(runs) == 1:
                results = [failed_result(runs[0], exc)]
            else:
                results = [r for run in runs for r in run_task([run])]
    for r in results:
        r["blas_threads"] = threads
    return results
