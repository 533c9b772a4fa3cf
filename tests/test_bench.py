"""The benchmark: its reference loop does the same math as nn/, its FLOP count
is worked by hand, and ``--quick`` writes the table with every figure."""
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is run from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks import reference as ref  # noqa: E402
from benchmarks.bench import COLUMNS, train_flops_per_sample  # noqa: E402


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "gelu", "maxout"])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_reference_matches_nn_for_one_network(activation, batch_size):
    """One epoch from the same weights in the same order: the reference loop
    and nn.train_epoch (a stack of K=1) end with the same weights, float64."""
    sizes, n = (12, 6, 5, 4), 50
    arch = nn.Architecture(sizes, activation, "softmax", True, "float64")
    rng = np.random.default_rng(0)
    params = nn.init_params(arch, ["he_normal"], [np.random.default_rng(1)])
    for b in params.b:  # nonzero biases, so their use is checked too
        b[...] = rng.normal(0.0, 0.1, b.shape)
    net = ref.Net([w[0].copy() for w in params.W], [b[0, 0].copy() for b in params.b], activation)
    start = [w.copy() for w in net.W]
    X = rng.random((n, sizes[0]))
    labels = rng.integers(0, sizes[-1], n)
    T = np.eye(sizes[-1])[labels]
    order = rng.permutation(n)

    loss, acc = nn.train_epoch(arch, params, X, T, order, np.array([0.05]), batch_size, "exact", labels)
    ref_loss, ref_acc = ref.train_epoch(net, X, T, order, 0.05, batch_size, labels)

    assert max(np.abs(w - w0).max() for w, w0 in zip(net.W, start)) > 1e-3  # it trained
    assert np.isfinite(ref_loss)
    assert abs(loss[0] - ref_loss) < 1e-12
    assert acc[0] == ref_acc
    for l in range(arch.n_layers):
        assert np.abs(params.W[l][0] - net.W[l]).max() < 1e-12
        assert np.abs(params.b[l][0, 0] - net.b[l]).max() < 1e-12


def test_train_flops_by_hand():
    # 64-32-32-10: multiply-adds 2048, 1024, 320 per sample. Forward and dW
    # 2 * 3392 each; da on all layers but the first, 2 * (1024 + 320).
    assert train_flops_per_sample((64, 32, 32, 10)) == 6784 + 6784 + 2688
    # maxout, 2 pieces per hidden unit: 4 x (3 * 2) then 3 x 2 multiply-adds.
    assert train_flops_per_sample((4, 3, 2), pieces=2) == 2 * (24 + 6) * 2 + 2 * 6


def test_quick_bench_writes_every_figure(tmp_path):
    out = tmp_path / "bench"
    # --jobs 1: no worker processes to start; the scaling row says "skipped".
    cmd = [sys.executable, "-m", "benchmarks.bench", "--quick", "--no-torch", "--jobs", "1", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    with open(out / "bench.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = {r["name"]: r for r in reader}
    names = list(rows)
    for part in ("peak GEMM float64, 1 thread", "peak GEMM float32", "1 net 64-32-32-10 b32 float64: nn/ vs reference",
                 "1 net 784-200-100-10 b64 float64: nn/ GFLOP/s / 1-thread peak", "nn/ vs PyTorch",
                 "speedup vs float64 reference", "fraction of", "scaling efficiency", "peak memory",
                 "BLAS threads", "reference vs runner", "triad bandwidth", "b1 float64 (book rule), one network: time / bound",
                 "outputs stage / training time", "whole command", "PyTorch / ours"):
        assert any(part in name for name in names), part
    for r in rows.values():
        assert r["met"] in (("yes", "no", "skipped") if r["target"] else ("",)), r
    assert all(float(r["value"]) > 0 for n, r in rows.items() if n.startswith("peak GEMM"))
    # --no-torch and --jobs 1: those figures are empty and marked skipped
    torch_row = rows["1 net 64-32-32-10 b32 float64: nn/ vs PyTorch"]
    assert torch_row["value"] == "" and torch_row["met"] == "skipped"
    assert next(r for n, r in rows.items() if n.startswith("scaling"))["met"] == "skipped"
    # The runner and the reference loop trained the same networks.
    assert float(next(r for n, r in rows.items() if n.startswith("reference vs runner"))["value"]) < 1e-9
    # The profile timed each part (training, evaluation, diagnostics), within the stack's wall time.
    shares = [float(r["value"]) for n, r in rows.items() if n.startswith("one stack") and "share in" in n]
    assert len(shares) == 4 and all(s > 0 for s in shares[:3]) and shares[3] >= 0
    assert (out / "README-table.md").read_text().startswith("`python -m benchmarks.bench --quick")


def test_scaling_worker_counts_are_powers_of_two_up_to_the_cores():
    from benchmarks.bench import worker_counts

    assert worker_counts(1) == [1]
    assert worker_counts(2) == [1, 2]
    assert worker_counts(6) == [1, 2, 4, 6]
    assert worker_counts(16) == [1, 2, 4, 8, 16]
