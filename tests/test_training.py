"""train_epoch's shortcuts against the straightforward loop: inputs gathered in
chunks, running loss and accuracy computed once per chunk, plain SGD's lr / B
applied inside backward, weights and biases fused into one array, batch-1
outer products through BLAS. The same numbers, to rounding (bit for bit
where the shortcut cannot change them)."""
import numpy as np
import pytest

import nn
from nn import training

ARCH = nn.Architecture((6, 5, 4, 3), activation="tanh", output="softmax", bias=True)
N, B = 50, 4  # 12 full batches and one of 2


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, ARCH.sizes[0]))
    labels = rng.integers(0, ARCH.sizes[-1], N)
    return X, np.eye(ARCH.sizes[-1])[labels], labels


def _straightforward_epoch(arch, params, X, T, order, lr, batch_size, rule, labels):
    """Gather, forward, loss and accuracy, gradient step: one batch at a time, for one network."""
    loss = correct = 0.0
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        zs, acts = nn.forward(arch, params, X[idx])
        loss += arch.out.loss(acts[-1], T[idx]).sum()
        correct += (acts[-1].argmax(axis=-1) == labels[idx]).sum()
        grads = nn.backward(arch, params, zs, acts, T[idx], rule)
        for l in range(arch.n_layers):
            params.W[l] -= lr * grads.dW[l]
            if params.b is not None:
                params.b[l] -= lr * grads.db[l]
    return loss / len(order), correct / len(order)


# Bytes of one sample of one network in a chunk: 6 inputs and 3 outputs, float64.
ROW_BYTES = (ARCH.sizes[0] + ARCH.sizes[-1]) * 8


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 3 batches of B = 4 samples for one network: several chunks per epoch."""
    monkeypatch.setattr(training, "CHUNK_BYTES", 3 * B * ROW_BYTES)
    X, T, _ = _data()
    assert training.chunk_rows(B, 1, X, T, True) == 3 * B


@pytest.mark.parametrize("rule", nn.BACKPROP_RULES)
def test_running_figures_and_weights_equal_the_straightforward_loop(small_chunks, rule):
    X, T, labels = _data()
    order = np.random.default_rng(1).permutation(N)
    start = nn.init_params(ARCH, ["glorot_uniform"], [np.random.default_rng(2)])
    params, expected = start.copy(), start.select([0])
    loss, acc = nn.train_epoch(ARCH, params, X, T, order, np.array([0.3]), B, rule, labels)
    exp_loss, exp_acc = _straightforward_epoch(ARCH, expected, X, T, order, 0.3, B, rule, labels)
    assert loss[0] == pytest.approx(exp_loss, rel=1e-12)
    assert acc[0] == exp_acc  # counts: exact
    for w, w_exp, w0 in zip(params.W + params.b, expected.W + expected.b, start.W + start.b):
        assert np.abs(w - w0).max() > 1e-3  # it trained
        np.testing.assert_allclose(w, w_exp, rtol=1e-12, atol=1e-14)


def test_per_network_orders_in_chunks_equal_the_straightforward_loop(small_chunks):
    X, T, labels = _data(3)
    orders = np.stack([np.random.default_rng(10 + k).permutation(N) for k in range(3)])
    lr = np.array([0.1, 0.3, 0.5])
    start = nn.init_params(ARCH, ["glorot_uniform", "he_normal", "lecun_normal"],
                           [np.random.default_rng(k) for k in range(3)])
    params = start.copy()
    loss, acc = nn.train_epoch(ARCH, params, X, T, orders, lr, B, "exact", labels)
    for k in range(3):
        expected = start.select([k])
        exp_loss, exp_acc = _straightforward_epoch(ARCH, expected, X, T, orders[k], lr[k], B, "exact", labels)
        assert loss[k] == pytest.approx(exp_loss, rel=1e-12) and acc[k] == exp_acc
        for w, w_exp in zip(params.W + params.b, expected.W + expected.b):
            np.testing.assert_allclose(w[k], w_exp[0], rtol=1e-12, atol=1e-14)


def test_chunking_does_not_change_the_numbers(monkeypatch):
    # The chunk size depends on K; the numbers must not: bit for bit the same
    # epoch (the losses are summed at its end, not per chunk).
    X, T, labels = _data(4)
    order = np.random.default_rng(5).permutation(N)
    start = nn.init_params(ARCH, ["he_normal"], [np.random.default_rng(6)])
    got = {}
    for batches in (1, 2, 13):
        monkeypatch.setattr(training, "CHUNK_BYTES", batches * B * ROW_BYTES)
        params = start.copy()
        got[batches] = nn.train_epoch(ARCH, params, X, T, order, np.array([0.2]), B, "exact", labels), params
    (loss1, acc1), p1 = got[1]
    for (loss, acc), p in (got[2], got[13]):
        assert loss[0] == loss1[0] and acc[0] == acc1[0]
        for w, w1 in zip(p.W + p.b, p1.W + p1.b):
            np.testing.assert_array_equal(w, w1)


@pytest.mark.parametrize("batch_size, K, n_in, dtype, shared", [
    (1, 1, 784, "float64", True), (32, 20, 64, "float32", True), (32, 20, 64, "float32", False),
    (64, 1, 784, "float64", True), (7, 3, 3, "float32", False), (10_000, 1, 64, "float64", True)])
def test_chunks_are_whole_batches_of_about_the_chunk_bytes(batch_size, K, n_in, dtype, shared):
    X, T = np.zeros((5, n_in), dtype), np.zeros((5, 10), dtype)
    rows = training.chunk_rows(batch_size, K, X, T, shared)
    assert rows % batch_size == 0 and rows >= batch_size
    row_bytes = (n_in * (1 if shared else K) + 10 * K) * X.itemsize
    assert rows == batch_size or rows * row_bytes <= training.CHUNK_BYTES
    assert (rows + batch_size) * row_bytes > training.CHUNK_BYTES  # as many batches as fit


def test_plain_sgd_with_an_optimizer_state_counts_its_updates():
    X, T, labels = _data()
    params = nn.init_params(ARCH, ["he_normal"], [np.random.default_rng(0)])
    state = nn.init_state("sgd", params)
    alone = params.copy()
    nn.train_epoch(ARCH, params, X, T, np.arange(N), np.array([0.1]), B, "exact", labels, state)
    nn.train_epoch(ARCH, alone, X, T, np.arange(N), np.array([0.1]), B, "exact", labels)
    assert state.t == 13  # 12 full batches and one of 2
    for w, w_alone in zip(params.W, alone.W):
        np.testing.assert_array_equal(w, w_alone)


def test_scaled_backward_gives_lr_over_B_times_dz():
    X, T, _ = _data()
    params = nn.init_params(ARCH, ["he_normal", "book"], [np.random.default_rng(k) for k in range(2)])
    zs, acts = nn.forward(ARCH, params, X[:B])
    lr = np.array([0.1, 0.7])
    for rule in nn.BACKPROP_RULES:
        plain = nn.backward(ARCH, params, zs, acts, T[:B], rule, weight_grads=False)
        scaled = nn.backward(ARCH, params, zs, acts, T[:B], rule, weight_grads=False,
                             scale=nn.network.sgd_scale(lr, B, params))
        for d, d_scaled in zip(plain.dz, scaled.dz):
            np.testing.assert_allclose(d_scaled, (lr / B)[:, None, None] * d, rtol=1e-13, atol=1e-16)
    with pytest.raises(ValueError, match="weight_grads=False"):
        nn.backward(ARCH, params, zs, acts, T[:B], scale=nn.network.sgd_scale(lr, B, params))


@pytest.mark.parametrize("shared_order", [True, False], ids=["shared order", "own orders"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batch1_outer_products_give_the_same_numbers_through_blas_and_einsum(monkeypatch, dtype, shared_order):
    # Large batch-1 products go through BLAS network by network, small ones
    # through one einsum: a threshold of 1 sends every layer through BLAS.
    arch = nn.Architecture((6, 5, 4, 3), activation="relu", output="same", bias=False, dtype=dtype)
    X, T, labels = _data(7)
    X, T = np.abs(X).astype(dtype), (0.01 + 0.98 * T).astype(dtype)
    orders = np.stack([np.random.default_rng(20 + k).permutation(N) for k in range(3)])
    if shared_order:  # one (N,) order: the first layer's input is shared by the stack
        orders = np.broadcast_to(orders[0], orders.shape)
    lr = np.array([0.05, 0.1, 0.2])
    start = nn.init_params(arch, ["book"] * 3, [np.random.default_rng(k) for k in range(3)])
    got = {}
    for threshold in (1, 10**9):
        monkeypatch.setattr(nn.network, "_BLAS_OUTER_MIN", threshold)
        stack = start.copy()
        figures = nn.train_epoch(arch, stack, X, T, orders[0] if shared_order else orders, lr, 1, "book", labels)
        alone = []
        for k in range(3):
            p = start.select([k])
            alone.append((nn.train_epoch(arch, p, X, T, orders[k], lr[k : k + 1], 1, "book", labels), p))
        got[threshold] = figures, stack, alone
    for threshold, (figures, stack, alone) in got.items():
        for k, ((loss_k, acc_k), p) in enumerate(alone):
            assert loss_k[0] == figures[0][k] and acc_k[0] == figures[1][k]
            for w, w_alone in zip(stack.W, p.W):
                np.testing.assert_array_equal(w[k], w_alone[0])
        for w, w_einsum, w0 in zip(stack.W, got[10**9][1].W, start.W):
            np.testing.assert_array_equal(w, w_einsum)
            assert np.abs(w - w0).max() > 1e-4


def test_mean_grads_at_batch1_are_the_same_through_blas_and_einsum(monkeypatch):
    # The optimizers' path: dW of a stack at batch 1, both ways.
    params = nn.init_params(ARCH, ["he_normal"] * 2, [np.random.default_rng(k) for k in range(2)])
    X, T, _ = _data(8)
    zs, acts = nn.forward(ARCH, params, np.stack([X[:1], X[1:2]]))
    dz = nn.backward(ARCH, params, zs, acts, np.stack([T[:1], T[1:2]]), weight_grads=False).dz
    monkeypatch.setattr(nn.network, "_BLAS_OUTER_MIN", 1)
    blas, _ = nn.network.mean_grads(acts, dz, False)
    monkeypatch.setattr(nn.network, "_BLAS_OUTER_MIN", 10**9)
    einsum, _ = nn.network.mean_grads(acts, dz, False)
    for g, g_einsum in zip(blas, einsum):
        np.testing.assert_array_equal(g, g_einsum)


@pytest.mark.parametrize("single", [False, True], ids=["stack", "2-D"])
def test_fused_params_compute_what_the_plain_ones_do(single):
    # W and b as views of one array per layer, the bias added inside the product.
    params = nn.init_params(ARCH, ["he_normal", "book"], [np.random.default_rng(k) for k in range(2)])
    params.b = [np.random.default_rng(9).normal(size=b.shape) for b in params.b]
    if single:
        params = params.single()
    X, T, _ = _data(9)
    x, t = X[:B], T[:B]
    fused = params.fused_copy()
    for w, w_f, b, b_f, f in zip(params.W, fused.W, params.b, fused.b, fused.fused):
        assert np.shares_memory(w_f, f) and np.shares_memory(b_f, f)
        np.testing.assert_array_equal(w_f, w)
        np.testing.assert_array_equal(b_f, b)
    der, der_f = [], []
    zs, acts = nn.forward(ARCH, params, x, der)
    zs_f, acts_f = nn.forward(ARCH, fused, nn.network.with_ones(x), der_f)
    with pytest.raises(ValueError, match="column of ones"):
        nn.forward(ARCH, fused, x)
    for a, a_f in zip(acts[:-1], acts_f[:-1]):  # inputs of the products: a column of ones more
        np.testing.assert_array_equal(a_f[..., :-1], a)
        assert (a_f[..., -1] == 1).all()
    for z, z_f in zip(zs, zs_f):
        np.testing.assert_allclose(z_f, z, rtol=1e-12, atol=1e-14)
    scale = nn.network.sgd_scale(np.array([0.5, 0.2]) if not single else np.array([0.5]), B, params)
    steps = nn.backward(ARCH, params, zs, acts, t, "exact", der, False, scale).dz
    steps_f = nn.backward(ARCH, fused, zs_f, acts_f, t, "exact", der_f, False, scale).dz
    nn.network.sgd_step(params, acts, steps, [np.empty_like(w) for w in params.W])
    nn.network.sgd_step(fused, acts_f, steps_f, [np.empty_like(f) for f in fused.fused])
    for p, p_f in zip(params.W + params.b, fused.W + fused.b):
        np.testing.assert_allclose(p_f, p, rtol=1e-12, atol=1e-14)
    back = params.copy()
    back.assign(fused)
    for p, p_f in zip(back.W + back.b, fused.W + fused.b):
        np.testing.assert_array_equal(p, p_f)
    with pytest.raises(ValueError, match="sgd_step"):
        nn.backward(ARCH, fused, zs_f, acts_f, t)
