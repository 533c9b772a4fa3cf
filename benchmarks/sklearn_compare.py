"""Our Adam and momentum against scikit-learn's MLPClassifier, on the same data.

Same split (our digits split: the training part without its validation
tenth, and the test part), same shape (64-32-32-10, ReLU, softmax +
cross-entropy), batch, epochs, learning rate and optimizer hyper-parameters;
scikit-learn with ``alpha=0`` (no weight decay) and without its own early
stopping, so both run every epoch. What still differs: scikit-learn draws
its own initial weights (Glorot uniform, and biases from the same range) and
sample order, and places Adam's eps inside the bias-corrected rate. A gap in
mean test accuracy over 2 points would point to a bug.

    .venv/bin/python -m benchmarks.sklearn_compare [--seeds 5] [--epochs 20]
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

from experiments.config import RunConfig
from experiments.train import load_run_data, train_group

# optimizer -> (learning rate, scikit-learn solver settings)
CASES = {
    "adam": (0.001, {"solver": "adam", "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}),
    "momentum": (0.01, {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False, "learning_rate": "constant"}),
}


def ours(optimizer: str, lr: float, seeds: list[int], epochs: int, batch: int) -> np.ndarray:
    runs = [RunConfig(activation="relu", init="glorot_uniform", optimizer=optimizer, lr=lr, epochs=epochs,
                      batch_size=batch, dtype="float64", seed=s) for s in seeds]
    return np.array([train_group([r])[0]["epochs"][-1]["test_acc"] for r in runs])


def sklearn(settings: dict, lr: float, seeds: list[int], epochs: int, batch: int) -> np.ndarray:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    data = load_run_data(RunConfig())
    accs = []
    for s in seeds:
        clf = MLPClassifier(hidden_layer_sizes=(32, 32), activation="relu", alpha=0.0, batch_size=batch,
                            learning_rate_init=lr, max_iter=epochs, shuffle=True, random_state=s, tol=0.0,
                            n_iter_no_change=epochs + 1, early_stopping=False, **settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # it stops after max_iter epochs, as asked
            clf.fit(data.X_train, data.y_train)
        accs.append(clf.score(data.X_test, data.y_test))
    return np.array(accs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args()
    seeds = list(range(args.seeds))
    print(f"digits, 64-32-32-10 relu, batch {args.batch}, {args.epochs} epochs, {args.seeds} seeds; "
          "final test accuracy, mean (min..max)")
    print("| optimizer | lr | ours | scikit-learn | gap (points) |")
    print("|---|---|---|---|---|")
    for name, (lr, settings) in CASES.items():
        a = ours(name, lr, seeds, args.epochs, args.batch)
        b = sklearn(settings, lr, seeds, args.epochs, args.batch)
        print(f"| {name} | {lr:g} | {a.mean():.3f} ({a.min():.3f}..{a.max():.3f}) | "
              f"{b.mean():.3f} ({b.min():.3f}..{b.max():.3f}) | {100 * (a.mean() - b.mean()):+.1f} |")


if __name__ == "__main__":
    main()
