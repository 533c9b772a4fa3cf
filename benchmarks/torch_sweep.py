"""The PyTorch peer of a sweep: the same runs, trained the way a PyTorch user would.

    python -m benchmarks.torch_sweep --out DIR [--jobs N] [--set key=value ...]   # the default config

One ``torch.nn.Sequential`` per run (``Linear`` layers and the hidden
activation; softmax folded into ``CrossEntropyLoss``), ``torch.optim.SGD`` at
the run's learning rate, minibatches in each epoch's order, and the test
accuracy after every epoch; the runs spread over joblib workers with one torch
thread each. Each run starts from the same weights and uses the same sample
order as the project's runner gives it (so the two do the same arithmetic),
without the per-layer diagnostics. Writes ``DIR/torch_epochs.csv``. Only the
settings the comparison needs: softmax output, one-hot targets, exact
backprop, and hidden activations that PyTorch has as a module.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from joblib import Parallel, delayed, parallel_config

import nn
from experiments import config as cfg
from experiments.train import load_run_data, stream

# Our activation name -> the torch.nn module with the same function.
TORCH_ACTIVATIONS = {
    "relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "gelu": "GELU", "elu": "ELU", "selu": "SELU",
    "softplus": "Softplus", "softsign": "Softsign", "swish": "SiLU", "identity": "Identity",
}


def check_runs(runs: list[cfg.RunConfig]) -> str | None:
    """Why these runs cannot be done here, or None."""
    for run in runs:
        if run.activation not in TORCH_ACTIVATIONS:
            return (f"activation {run.activation!r} has no PyTorch module here; "
                    f"valid activations: {', '.join(TORCH_ACTIVATIONS)}")
        if (run.output, run.targets, run.backprop, run.bias) != ("softmax", "onehot", "exact", True):
            return "the PyTorch peer covers softmax output, one-hot targets, exact backprop and biases only"
    return None


def train_run(run: cfg.RunConfig) -> list[dict]:
    """One run, start to end, in the task's own process: one row per epoch."""
    import torch

    torch.set_num_threads(1)
    data = load_run_data(run)
    tdtype = {"float32": torch.float32, "float64": torch.float64}[run.dtype]
    X = torch.tensor(data.X_train, dtype=tdtype)  # a copy: the cached data set is read-only
    y = torch.tensor(data.y_train).long()
    X_test, y_test = torch.tensor(data.X_test, dtype=tdtype), torch.tensor(data.y_test).long()
    sizes = (data.n_features, *run.hidden, data.n_classes)
    arch = nn.Architecture(sizes, run.activation, "softmax", True, run.dtype)
    W0 = nn.init_params(arch, [run.init], [stream(run.seed, "init", run.init)]).W
    layers: list = []
    for l, w in enumerate(W0):
        linear = torch.nn.Linear(*w.shape[1:], dtype=tdtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w[0].T))
            linear.bias.zero_()
        layers.append(linear)
        if l < len(W0) - 1:
            layers.append(getattr(torch.nn, TORCH_ACTIVATIONS[run.activation])())
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=run.lr)
    order_rng = stream(run.seed, "order")
    rows = []
    for epoch in range(1, run.epochs + 1):
        order = torch.from_numpy(order_rng.permutation(len(X)))
        loss_sum = 0.0
        model.train()
        for s in range(0, len(order), run.batch_size):
            idx = order[s : s + run.batch_size]
            loss = loss_fn(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            test_acc = (model(X_test).argmax(dim=1) == y_test).double().mean().item()
        rows.append({"run_id": run.run_id, "epoch": epoch, "train_loss": loss_sum / len(order), "test_acc": test_acc})
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.torch_sweep", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--jobs", type=int, default=2, help="joblib workers (default 2)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("error: PyTorch is not installed (pip install torch); it is not a project dependency", file=sys.stderr)
        return 2
    try:
        sweep = cfg.parse_set(cfg.load(cfg.CONFIG_DIR / "default.yaml"), args.set)
    except cfg.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runs = sweep.runs()
    why = check_runs(runs)
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 2
    with parallel_config(backend="loky", n_jobs=args.jobs, inner_max_num_threads=1):
        per_run = Parallel()(delayed(train_run)(r) for r in runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "torch_epochs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["run_id", "epoch", "train_loss", "test_acc"])
        w.writeheader()
        for rows in per_run:
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
