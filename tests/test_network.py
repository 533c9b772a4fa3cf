"""The stacked network: exact backprop vs finite differences for every hidden
activation and output, the book rule worked by hand, stacked == separate
training, float32, bad input, ``is_finite``."""
import inspect
import re

import numpy as np
import pytest

import nn

ACTS = list(nn.ACTIVATIONS)
OUTS = list(nn.OUTPUTS)

SIZES = (5, 4, 3, 3)
INITS = ("lecun_normal", "glorot_uniform")  # K = 2 networks, different inits
# Every z (and maxout piece gap) at least this far from a kink: a step h of
# one weight (1e-4) moves a z by well under that, so no finite difference
# crosses a kink.
KINK_MARGIN = 1e-2


def _targets(labels: np.ndarray, n_out: int, kind: str) -> np.ndarray:
    onehot = np.eye(n_out)[labels]
    return onehot if kind == "onehot" else 0.01 + 0.98 * onehot  # the book's 0.01/0.99


def _mean_loss(arch, params, X, T) -> np.ndarray:
    """(K,) mean batch loss, from the forward pass and the output's loss only."""
    _, acts = nn.forward(arch, params, X)
    return arch.out.loss(acts[-1], T).mean(axis=-1)


def _far_from_kinks(arch, zs) -> bool:
    # 0 is the only kink of any elementwise activation; maxout also has ties.
    for z, act in zip(zs, arch.layer_activations):
        if np.abs(z).min() < KINK_MARGIN:
            return False
        if act.pieces > 1:
            zz = np.sort(z.reshape(*z.shape[:-1], -1, act.pieces), axis=-1)
            if np.diff(zz, axis=-1).min() < KINK_MARGIN:
                return False
    return True


def _gradcheck_case(activation, output, bias, target_kind, seed=0, B=4):
    arch = nn.Architecture(SIZES, activation=activation, output=output, bias=bias)
    for attempt in range(200):
        rng = np.random.default_rng([seed, attempt])
        params = nn.init_params(arch, INITS, [np.random.default_rng([seed, attempt, k]) for k in range(2)])
        if bias:  # nonzero biases so the bias path matters
            params.b = [rng.normal(scale=0.5, size=b.shape) for b in params.b]
        X = rng.normal(size=(B, SIZES[0]))
        T = _targets(rng.integers(0, SIZES[-1], B), SIZES[-1], target_kind)
        zs, _ = nn.forward(arch, params, X)
        if _far_from_kinks(arch, zs):
            return arch, params, X, T
    raise AssertionError("no sample away from kinks")  # pragma: no cover


def _numerical_grads(arch, params, X, T, h=1e-4):
    """Central differences of the mean batch loss; all K networks at once (they
    are independent, so perturbing entry (i, j) of each moves only its loss)."""
    def fd(arrays):
        out = []
        for arr in arrays:  # (K, n_in, n_out) or (K, 1, n_out)
            g = np.zeros_like(arr)
            for i, j in np.ndindex(*arr.shape[1:]):
                orig = arr[:, i, j].copy()
                arr[:, i, j] = orig + h
                lp = _mean_loss(arch, params, X, T)
                arr[:, i, j] = orig - h
                lm = _mean_loss(arch, params, X, T)
                arr[:, i, j] = orig
                g[:, i, j] = (lp - lm) / (2 * h)
            out.append(g)
        return out

    return fd(params.W), (fd(params.b) if params.b is not None else None)


def _rel_err(a, n):
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    return 0.0 if denom == 0 else np.linalg.norm(a - n) / denom


@pytest.mark.parametrize("target_kind", ["onehot", "book"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("output", OUTS)
@pytest.mark.parametrize("activation", ACTS)
def test_exact_backward_matches_finite_differences(activation, output, bias, target_kind):
    arch, params, X, T = _gradcheck_case(activation, output, bias, target_kind)
    zs, acts = nn.forward(arch, params, X)
    grads = nn.backward(arch, params, zs, acts, T, rule="exact")
    num_W, num_b = _numerical_grads(arch, params, X, T)
    pairs = [("dW", l, a, n) for l, (a, n) in enumerate(zip(grads.dW, num_W))]
    if bias:
        pairs += [("db", l, a, n) for l, (a, n) in enumerate(zip(grads.db, num_b))]
    else:
        assert grads.db is None
    total = 0.0
    for kind, l, a, n in pairs:
        assert a.shape == n.shape, (kind, l)
        for k in range(params.K):
            err = _rel_err(a[k], n[k])
            assert err < 1e-6, f"{kind}[{l}] of network {k}: relative error {err:.2e}"
            np.testing.assert_allclose(a[k], n[k], rtol=1e-5, atol=1e-8, err_msg=f"{kind}[{l}], network {k}")
        total += np.abs(a).sum()
    assert total > 1e-3  # not a vacuous check of zeros


@pytest.mark.parametrize("output", OUTS)
@pytest.mark.parametrize("activation", ACTS)
def test_exact_backward_matches_finite_differences_batch_of_one(activation, output):
    # A batch of one is what the book trains with (and may take its own path).
    arch, params, X, T = _gradcheck_case(activation, output, True, "book", seed=1, B=1)
    zs, acts = nn.forward(arch, params, X)
    grads = nn.backward(arch, params, zs, acts, T, rule="exact")
    num_W, num_b = _numerical_grads(arch, params, X, T)
    for l in range(arch.n_layers):
        assert grads.dW[l].shape == params.W[l].shape and grads.db[l].shape == params.b[l].shape
        for k in range(params.K):
            assert _rel_err(grads.dW[l][k], num_W[l][k]) < 1e-6, f"dW[{l}], network {k}"
            assert _rel_err(grads.db[l][k], num_b[l][k]) < 1e-6, f"db[{l}], network {k}"


@pytest.mark.parametrize("rule", nn.BACKPROP_RULES)
@pytest.mark.parametrize("output", OUTS)
@pytest.mark.parametrize("activation", ACTS)
def test_backward_with_forward_derivatives_equals_backward_alone(activation, output, rule):
    """Training may collect f'(z) during the forward pass and hand it to
    backward; that must give the same step as backward computing it itself."""
    if "derivatives" not in inspect.signature(nn.forward).parameters:
        pytest.skip("this version of nn.forward does not collect derivatives")
    arch, params, X, T = _gradcheck_case(activation, output, True, "book", seed=2, B=3)
    derivatives = []
    zs, acts = nn.forward(arch, params, X, derivatives)
    zs0, acts0 = nn.forward(arch, params, X)
    for a, a0 in zip(acts[1:], acts0[1:]):
        np.testing.assert_allclose(a, a0, rtol=1e-14, atol=0)
    with_d = nn.backward(arch, params, zs, acts, T, rule, derivatives)
    alone = nn.backward(arch, params, zs0, acts0, T, rule)
    for l in range(arch.n_layers):
        np.testing.assert_allclose(with_d.dW[l], alone.dW[l], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(with_d.db[l], alone.db[l], rtol=1e-13, atol=1e-15)


def test_numerical_gradient_helper_on_linear_network():
    # y = x W1 W2 W3, L = 0.5 |y - t|^2: dL/dW3 = (x W1 W2)^T (y - t), by hand.
    arch = nn.Architecture(SIZES, activation="identity", output="same", bias=False)
    params = nn.init_params(arch, INITS, [np.random.default_rng(k) for k in range(2)])
    rng = np.random.default_rng(9)
    X = rng.normal(size=(1, SIZES[0]))
    T = rng.normal(size=(1, SIZES[-1]))
    num_W, _ = _numerical_grads(arch, params, X, T)
    for k in range(2):
        W1, W2, W3 = (w[k] for w in params.W)
        h2 = X @ W1 @ W2
        hand = h2.T @ (h2 @ W3 - T)
        np.testing.assert_allclose(num_W[2][k], hand, rtol=1e-7, atol=1e-10)


# --- the book's rule, worked by hand ------------------------------------------

def _relu(z):
    return np.maximum(z, 0.0)


def _relu_prime(z):
    return (z > 0).astype(float)


def _book_train_one_sample(Wb, x, t, lr):
    """One step of the book's 4-layer code, in its own (out, in) orientation
    and column vectors: errors are passed back through the weights WITHOUT the
    activation's derivative, all computed before any weight changes."""
    W1, W2, W3 = Wb
    x = x.reshape(-1, 1)
    t = t.reshape(-1, 1)
    z1 = W1 @ x
    a1 = _relu(z1)
    z2 = W2 @ a1
    a2 = _relu(z2)
    z3 = W3 @ a2
    y = _relu(z3)
    e3 = t - y
    e2 = W3.T @ e3
    e1 = W2.T @ e2
    return [
        W1 + lr * (e1 * _relu_prime(z1)) @ x.T,
        W2 + lr * (e2 * _relu_prime(z2)) @ a1.T,
        W3 + lr * (e3 * _relu_prime(z3)) @ a2.T,
    ]


# Book orientation (out, in). The second unit of layer 2 has z < 0 for the
# first sample below, so the book (which passes e2 through it anyway) and the
# exact gradient (which stops it) disagree on layer 1.
BOOK_W = [
    np.array([[0.5, -0.3], [0.8, 0.2]]),
    np.array([[0.4, 0.6], [-0.9, 0.1]]),
    np.array([[0.7, 0.5], [0.3, -0.6]]),
]
BOOK_X = np.array([[1.0, 0.5], [0.3, 0.9]])
BOOK_T = np.array([[0.9, 0.1], [0.2, 0.7]])
BOOK_LR = 0.3
BOOK_ARCH = nn.Architecture((2, 2, 2, 2), activation="relu", output="same", bias=False)


def _package_params(Wb):
    # The package stores W as (K, fan_in, fan_out): the transpose of the book's.
    return nn.Params([w.T[None].copy() for w in Wb], None)


def test_book_example_is_as_designed():
    z1 = BOOK_W[0] @ BOOK_X[0]
    z2 = BOOK_W[1] @ _relu(z1)
    z3 = BOOK_W[2] @ _relu(z2)
    assert np.all(z1 > 0) and z2[0] > 0 and z2[1] < 0 and np.all(z3 > 0)


@pytest.mark.parametrize("order", [[0], [1], [0, 1], [1, 0]])
def test_book_rule_matches_hand_computation(order):
    Wb = [w.copy() for w in BOOK_W]
    for i in order:
        Wb = _book_train_one_sample(Wb, BOOK_X[i], BOOK_T[i], BOOK_LR)
    params = _package_params(BOOK_W)
    nn.train_epoch(BOOK_ARCH, params, BOOK_X, BOOK_T, np.array(order), np.array([BOOK_LR]), batch_size=1, rule="book")
    for l in range(3):
        np.testing.assert_allclose(params.W[l][0], Wb[l].T, rtol=0, atol=1e-12, err_msg=f"layer {l}")


def test_book_hand_example_differs_from_exact_step():
    # Guards the example above: if the book rule were the exact gradient, the
    # hand computation would not tell them apart.
    Wb = _book_train_one_sample([w.copy() for w in BOOK_W], BOOK_X[0], BOOK_T[0], BOOK_LR)
    params = _package_params(BOOK_W)
    nn.train_epoch(BOOK_ARCH, params, BOOK_X, BOOK_T, np.array([0]), np.array([BOOK_LR]), batch_size=1, rule="exact")
    np.testing.assert_allclose(params.W[2][0], Wb[2].T, atol=1e-12)  # output layer: same
    np.testing.assert_allclose(params.W[1][0], Wb[1].T, atol=1e-12)  # layer 2: f'(z3) = 1, so e2 is exact
    assert np.abs(params.W[0][0] - Wb[0].T).max() > 1e-3  # layer 1: the dead unit's e2 leaks


def test_book_rule_step_sign_and_batch_mean():
    # Batch of two: the package's book step is the MEAN of the two per-sample
    # directions, evaluated at the same weights.
    params = _package_params(BOOK_W)
    zs, acts = nn.forward(BOOK_ARCH, params, BOOK_X)
    g = nn.backward(BOOK_ARCH, params, zs, acts, BOOK_T, rule="book")
    steps = [_book_train_one_sample([w.copy() for w in BOOK_W], BOOK_X[i], BOOK_T[i], BOOK_LR) for i in range(2)]
    for l in range(3):
        hand = np.mean([(BOOK_W[l] - s[l]).T / BOOK_LR for s in steps], axis=0)  # W -= lr * dW
        np.testing.assert_allclose(g.dW[l][0], hand, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_book_equals_exact_when_every_derivative_is_one(bias):
    arch = nn.Architecture(SIZES, activation="identity", output="same", bias=bias)
    params = nn.init_params(arch, INITS, [np.random.default_rng(k) for k in range(2)])
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, SIZES[0]))
    T = rng.normal(size=(6, SIZES[-1]))
    zs, acts = nn.forward(arch, params, X)
    exact = nn.backward(arch, params, zs, acts, T, rule="exact")
    book = nn.backward(arch, params, zs, acts, T, rule="book")
    for l in range(arch.n_layers):
        np.testing.assert_allclose(book.dW[l], exact.dW[l], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(book.dz[l], exact.dz[l], rtol=1e-12, atol=1e-15)
        if bias:
            np.testing.assert_allclose(book.db[l], exact.db[l], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("output", OUTS)
def test_book_differs_from_exact_with_sigmoid_hidden(output):
    arch = nn.Architecture(SIZES, activation="sigmoid", output=output, bias=True)
    params = nn.init_params(arch, INITS, [np.random.default_rng(k) for k in range(2)])
    rng = np.random.default_rng(4)
    X = rng.normal(size=(6, SIZES[0]))
    T = _targets(rng.integers(0, SIZES[-1], 6), SIZES[-1], "book")
    zs, acts = nn.forward(arch, params, X)
    exact = nn.backward(arch, params, zs, acts, T, rule="exact")
    book = nn.backward(arch, params, zs, acts, T, rule="book")
    if output != "softmax":
        # Output layer: both rules use e * f'(z). (For softmax the book's
        # e = y - t differs from the exact y * sum(t) - t unless sum(t) = 1.)
        np.testing.assert_allclose(book.dW[-1], exact.dW[-1], rtol=1e-12, atol=1e-15)
    # The book leaves out f'(z) of every layer above: of the output below
    # the last hidden layer (softmax has none to leave out), of the sigmoid
    # hidden layers further down (f' <= 1/4, so the steps differ a lot).
    first_differing = arch.n_layers - 2 if output != "softmax" else arch.n_layers - 3
    for l in range(first_differing + 1):
        for k in range(params.K):
            diff = np.linalg.norm(book.dW[l][k] - exact.dW[l][k]) / np.linalg.norm(exact.dW[l][k])
            assert diff > 0.1, f"layer {l}, network {k}: book and exact differ by only {diff:.2e}"


def test_book_output_layer_with_onehot_softmax_equals_exact():
    arch = nn.Architecture(SIZES, activation="sigmoid", output="softmax", bias=False)
    params = nn.init_params(arch, INITS, [np.random.default_rng(k) for k in range(2)])
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, SIZES[0]))
    T = _targets(rng.integers(0, SIZES[-1], 6), SIZES[-1], "onehot")
    zs, acts = nn.forward(arch, params, X)
    exact = nn.backward(arch, params, zs, acts, T, rule="exact")
    book = nn.backward(arch, params, zs, acts, T, rule="book")
    np.testing.assert_allclose(book.dW[-1], exact.dW[-1], rtol=1e-12, atol=1e-15)
    assert np.abs(book.dW[0] - exact.dW[0]).max() > 1e-6


def test_unknown_rule_lists_valid_rules():
    arch = nn.Architecture(SIZES)
    params = nn.init_params(arch, INITS, [np.random.default_rng(k) for k in range(2)])
    X = np.zeros((2, SIZES[0]))
    zs, acts = nn.forward(arch, params, X)
    with pytest.raises(ValueError, match=r"exact.*book"):
        nn.backward(arch, params, zs, acts, np.zeros((2, SIZES[-1])), rule="nope")


# --- K stacked networks == K separate networks -------------------------------

STACK_INITS = ["he_normal", "glorot_uniform", "lecun_normal", "book"]
STACK_SEEDS = [11, 12, 13, 14]
STACK_LRS = np.array([0.05, 0.1, 0.2, 0.5])


def _train(arch, params, X, T, lr, rule, epochs=3, batch_size=8):
    for epoch in range(epochs):
        order = np.random.default_rng([99, epoch]).permutation(len(X))
        nn.train_epoch(arch, params, X, T, order, lr, batch_size=batch_size, rule=rule)


@pytest.mark.parametrize(
    "activation, output, bias",
    [("relu", "softmax", True), ("sigmoid", "softmax", True), ("maxout", "softmax", True),
     ("tanh", "sigmoid", False), ("relu", "same", False), ("maxout", "same", True)],
)
@pytest.mark.parametrize("rule", nn.BACKPROP_RULES)
def test_stacked_training_equals_separate_training(activation, output, bias, rule):
    arch = nn.Architecture((6, 5, 4, 3), activation=activation, output=output, bias=bias)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6))  # 30 = 3 full batches of 8 and one of 6
    T = _targets(rng.integers(0, 3, 30), 3, "book")

    stacked = nn.init_params(arch, STACK_INITS, [np.random.default_rng(s) for s in STACK_SEEDS])
    start = stacked.copy()
    _train(arch, stacked, X, T, STACK_LRS, rule)
    for k, (init, seed) in enumerate(zip(STACK_INITS, STACK_SEEDS)):
        alone = nn.init_params(arch, [init], [np.random.default_rng(seed)])
        for w, w0 in zip(alone.W, start.W):
            np.testing.assert_array_equal(w[0], w0[k])  # same start
        _train(arch, alone, X, T, STACK_LRS[k:k + 1], rule)
        for l in range(arch.n_layers):
            assert np.abs(stacked.W[l][k] - alone.W[l][0]).max() < 1e-12, f"W[{l}] of network {k}"
            if bias:
                assert np.abs(stacked.b[l][k] - alone.b[l][0]).max() < 1e-12, f"b[{l}] of network {k}"
    moved = [np.abs(w - w0).max() for w, w0 in zip(stacked.W, start.W)]
    assert min(moved) > 1e-4, moved  # training actually changed every layer


def test_stacked_networks_do_not_mix_when_one_diverges():
    # Network 1 gets an absurd learning rate and blows up; the others must not notice.
    arch = nn.Architecture((6, 5, 4, 3), activation="identity", output="same", bias=True)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(16, 6))
    T = rng.normal(size=(16, 3))
    lrs = np.array([0.01, 1e6, 0.02])
    inits, seeds = ["he_normal"] * 3, [1, 2, 3]
    stacked = nn.init_params(arch, inits, [np.random.default_rng(s) for s in seeds])
    _train(arch, stacked, X, T, lrs, "exact", epochs=2, batch_size=4)
    assert list(nn.is_finite(stacked)) == [True, False, True]
    for k in (0, 2):
        alone = nn.init_params(arch, [inits[k]], [np.random.default_rng(seeds[k])])
        _train(arch, alone, X, T, lrs[k:k + 1], "exact", epochs=2, batch_size=4)
        for l in range(arch.n_layers):
            assert np.abs(stacked.W[l][k] - alone.W[l][0]).max() < 1e-12


def test_per_network_inputs_match_shared_inputs():
    arch = nn.Architecture(SIZES, activation="tanh")
    params = nn.init_params(arch, INITS, [np.random.default_rng(k) for k in range(2)])
    X = np.random.default_rng(0).normal(size=(3, SIZES[0]))
    _, shared = nn.forward(arch, params, X)
    _, per_net = nn.forward(arch, params, np.stack([X, X]))
    np.testing.assert_allclose(per_net[-1], shared[-1], rtol=0, atol=1e-15)


# --- float32 --------------------------------------------------------------

@pytest.mark.parametrize("output", OUTS)
@pytest.mark.parametrize("activation", ACTS)
def test_float32_forward_and_training(activation, output):
    arch32 = nn.Architecture((6, 5, 4, 3), activation=activation, output=output, dtype="float32")
    arch64 = nn.Architecture((6, 5, 4, 3), activation=activation, output=output, dtype="float64")
    inits, seeds = ["glorot_uniform", "he_normal"], [5, 6]
    p32 = nn.init_params(arch32, inits, [np.random.default_rng(s) for s in seeds])
    p64 = nn.init_params(arch64, inits, [np.random.default_rng(s) for s in seeds])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6))
    T = _targets(rng.integers(0, 3, 20), 3, "book")
    X32, T32 = X.astype(np.float32), T.astype(np.float32)

    zs, acts = nn.forward(arch32, p32, X32)
    for l, (z, a) in enumerate(zip(zs, acts[1:])):
        assert z.dtype == np.float32, f"{activation}: z of layer {l} is {z.dtype}"
        assert a.dtype == np.float32, f"{activation}: activations of layer {l} come out {a.dtype}"
    grads = nn.backward(arch32, p32, zs, acts, T32)
    for g in grads.dW + grads.db:
        assert g.dtype == np.float32

    lr = np.array([0.1, 0.05])
    for p, XX, TT, arch in ((p32, X32, T32, arch32), (p64, X, T, arch64)):
        nn.train_epoch(arch, p, XX, TT, np.arange(20), lr, batch_size=5)
    for w32, w64 in zip(p32.W, p64.W):
        assert w32.dtype == np.float32
        assert np.isfinite(w32).all()
        np.testing.assert_allclose(w32, w64, rtol=1e-4, atol=1e-5)


# --- bad input -------------------------------------------------------------

def _lists_all(msg, names):
    return all(re.search(rf"\b{re.escape(n)}\b", msg) for n in names)


def test_unknown_activation_in_architecture():
    with pytest.raises(ValueError) as info:
        nn.Architecture(SIZES, activation="nope")
    assert "nope" in str(info.value) and _lists_all(str(info.value), nn.ACTIVATIONS)


def test_unknown_output_in_architecture():
    with pytest.raises(ValueError) as info:
        nn.Architecture(SIZES, output="nope")
    assert "nope" in str(info.value) and _lists_all(str(info.value), nn.OUTPUTS)


def test_unknown_dtype_in_architecture():
    with pytest.raises(ValueError) as info:
        nn.Architecture(SIZES, dtype="float16")
    assert _lists_all(str(info.value), nn.DTYPES)


def test_forward_with_wrong_input_width_names_both_widths():
    arch = nn.Architecture(SIZES)
    params = nn.init_params(arch, INITS, [np.random.default_rng(k) for k in range(2)])
    with pytest.raises(ValueError) as info:
        nn.forward(arch, params, np.zeros((3, 7)))
    msg = str(info.value)
    assert re.search(r"\b7\b", msg) and re.search(rf"\b{SIZES[0]}\b", msg), msg


# --- is_finite ---------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_is_finite_flags_only_the_broken_network(bias):
    arch = nn.Architecture(SIZES, bias=bias)
    params = nn.init_params(arch, ["he_normal"] * 3, [np.random.default_rng(k) for k in range(3)])
    assert list(nn.is_finite(params)) == [True, True, True]
    params.W[1][1, 2, 0] = np.inf
    assert list(nn.is_finite(params)) == [True, False, True]
    params.W[1][1, 2, 0] = 0.0
    params.W[2][2, 0, 1] = np.nan
    assert list(nn.is_finite(params)) == [True, True, False]
    if bias:
        params.W[2][2, 0, 1] = 0.0
        params.b[0][0, 0, 3] = -np.inf
        assert list(nn.is_finite(params)) == [False, True, True]


@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_per_network_orders_equal_training_each_alone_in_its_order(batch_size, dtype):
    # Row k of a (K, N) order is network k's own; alone, a network runs on 2-D views.
    arch = nn.Architecture((6, 5, 4, 3), activation="maxout", output="softmax", bias=True, dtype=dtype)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 6)).astype(dtype)
    labels = rng.integers(0, 3, 30)
    T = _targets(labels, 3, "onehot").astype(dtype)
    orders = np.stack([rng.permutation(30) for _ in range(3)])
    stacked = nn.init_params(arch, STACK_INITS[:3], [np.random.default_rng(s) for s in STACK_SEEDS[:3]])
    start = stacked.copy()
    loss, acc = nn.train_epoch(arch, stacked, X, T, orders, STACK_LRS[:3], batch_size, "exact", labels)
    for k in range(3):
        alone = start.select([k])
        loss_k, acc_k = nn.train_epoch(arch, alone, X, T, orders[k], STACK_LRS[k:k + 1], batch_size, "exact", labels)
        assert loss_k[0] == loss[k] and acc_k[0] == acc[k]
        for l in range(arch.n_layers):
            np.testing.assert_array_equal(alone.W[l][0], stacked.W[l][k])
            np.testing.assert_array_equal(alone.b[l][0], stacked.b[l][k])
    assert min(np.abs(w - w0).max() for w, w0 in zip(stacked.W, start.W)) > 1e-4


def test_order_of_the_wrong_shape_names_the_shapes():
    arch = nn.Architecture(SIZES)
    params = nn.init_params(arch, INITS, [np.random.default_rng(k) for k in range(2)])
    X = np.zeros((4, SIZES[0]))
    with pytest.raises(ValueError, match=r"\(2, N\).*\(3, 4\)"):
        nn.train_epoch(arch, params, X, np.zeros((4, SIZES[-1])), np.zeros((3, 4), int), np.ones(2))


def test_accuracy_is_loss_and_accuracys_second_half():
    """nn.accuracy (the per-epoch test and validation figure) equals the accuracy
    of nn.loss_and_accuracy, over chunks that do not divide the rows."""
    arch = nn.Architecture((5, 4, 3, 3), "relu", "same", False, "float64")  # ReLU outputs: ties at 0
    params = nn.init_params(arch, ["he_normal"] * 3, [np.random.default_rng(s) for s in range(3)])
    rng = np.random.default_rng(7)
    X = rng.normal(size=(50, 5))
    labels = rng.integers(0, 3, 50)
    T = np.eye(3)[labels]
    for chunk in (None, 7):
        _, want = nn.loss_and_accuracy(arch, params, X, labels, T, chunk)
        got = nn.accuracy(arch, params, X, labels, chunk)
        np.testing.assert_array_equal(got, want)
        assert got.shape == (3,) and 0 < got.max() < 1
    direct = (nn.forward(arch, params, X)[1][-1].argmax(axis=-1) == labels).mean(axis=1)
    np.testing.assert_array_equal(nn.accuracy(arch, params, X, labels), direct)
