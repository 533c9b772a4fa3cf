"""The check from start to end: load, probe every sample, compare, explain."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import hypotheses, weights as weights_mod
from .compare import CLASSES, LayerSummary, LearningRate, classify, is_zero_step, measure_learning_rate, summarize
from .forward import Forward, identify
from .gradient import LOSSES, Loss
from .load import CheckError, build, call, load_class, method, parse_args, parse_target
from .probe import Sample, choose_entries, make_samples, output_size, probe
from .weights import Weights

ENTRIES_PER_LAYER = 200  # layers with more entries are compared on this many, drawn at random

MAX_SAMPLES = 10_000
MAX_SEED = 2**32 - 1  # NumPy's global generator takes seeds in [0, 2**32)


@dataclass(frozen=True)
class CheckConfig:
    """What the command line asks for (see ``python -m experiments check --help``)."""

    target: str
    args: str | None = None
    train: str = "train"
    query: str = "query"
    loss: str = "mse"
    weights: str | None = None
    samples: int = 10
    seed: int = 0


@dataclass(frozen=True)
class LayerReport:
    layer: int  # 1-based, input layer first
    name: str
    shape: tuple[int, int]
    entries: int  # entries compared
    summary: LayerSummary
    hypotheses: list[hypotheses.Result] = field(default_factory=list)

    @property
    def fitting(self) -> list[hypotheses.Result]:
        return [h for h in self.hypotheses if h.fits]


@dataclass(frozen=True)
class Report:
    file: str
    cls: str
    loss: Loss
    learning_rate: LearningRate
    samples: list[Sample]
    weights: Weights
    forward: Forward | None
    layers: list[LayerReport]

    @property
    def passed(self) -> bool:
        """Every layer's step is the gradient step on every sample."""
        return all(layer.summary.gradient_step for layer in self.layers)


def _validate(config: CheckConfig) -> None:
    if not 1 <= config.samples <= MAX_SAMPLES:
        raise CheckError(f"--samples: {config.samples} is not valid; give a number from 1 to {MAX_SAMPLES}")
    if not 0 <= config.seed <= MAX_SEED:
        raise CheckError(f"--seed: {config.seed} is not valid; give a number from 0 to {MAX_SEED}")
    if config.loss not in LOSSES:
        raise CheckError(f"--loss: unknown loss {config.loss!r}; valid losses: {', '.join(LOSSES)}")


def check(config: CheckConfig) -> Report:
    """Run the whole check; a usage error (or the user's code raising) is a :class:`CheckError`."""
    _validate(config)
    path, name = parse_target(config.target)
    args, kwargs = parse_args(config.args)  # before the user's file runs: bad --args executes nothing
    loss = LOSSES[config.loss]
    cls = load_class(path, name)
    obj = build(cls, args, kwargs, config.seed)
    train = method(obj, config.train, "--train")
    query = method(obj, config.query, "--query")

    def fits_query(n_in: int, n_out: int) -> bool:
        try:
            return call("query", output_size, query, n_in) == n_out
        except CheckError:
            return False

    if config.weights:
        refs, fixed = weights_mod.named(obj, config.weights), True
    else:
        refs, fixed = weights_mod.candidates(obj), False
    weights = weights_mod.order(obj, refs, fits_query, fixed)

    rng = np.random.default_rng(config.seed)
    Ws = [W.copy() for W in weights.arrays(obj)]
    entries = [choose_entries(rng, W.size, ENTRIES_PER_LAYER) for W in Ws]
    samples = make_samples(rng, config.samples, weights.sizes[0], weights.sizes[-1], loss)
    probes = [probe(obj, train, query, weights, s, entries, loss) for s in samples]

    # pairs[l][s]: the step on the compared entries, the reference, whether the step is zero
    pairs = []
    for l, W in enumerate(Ws):
        W_sub = W.reshape(-1)[entries[l]]
        layer = []
        for p in probes:
            step = p.steps[l].reshape(-1)[entries[l]]
            layer.append((step, p.grads[l], is_zero_step(step, W_sub)))
        pairs.append(layer)
    lr = measure_learning_rate(pairs)

    X = np.stack([s.inputs for s in samples], axis=1)
    Y = np.stack([p.outputs for p in probes], axis=1)
    forwards = identify([weights.canonical(W) for W in Ws], X, Y)
    forward = forwards[0] if len(forwards) == 1 else None
    ctx = hypotheses.Context(weights, Ws, entries, samples, probes, lr.value, forward, len(forwards))

    layers = []
    for l, (ref, W) in enumerate(zip(weights.refs, Ws)):
        summary = summarize([classify(step, g, zero, lr.value) for step, g, zero in pairs[l]])
        off = [s for s, c in enumerate(summary.comparisons) if not CLASSES[c.cls].gradient_step]
        results = hypotheses.test(ctx, l, off) if off else []
        layers.append(LayerReport(l + 1, ref.name, W.shape, len(entries[l]), summary, results))
    return Report(str(path), name, loss, lr, samples, weights, forward, layers)
