"""The optimizers: each rule worked by hand on one weight, against
scikit-learn's optimizers, stacked == separate, update_ratio is the applied
step, book backprop feeds its step direction, state and bad input."""
import numpy as np
import pytest

import nn
from nn.optimizers import OPTIMIZERS, get_optimizer, init_state

LR = 0.1
G = (0.5, -0.2)  # the step directions of two updates of one weight, starting at 1


def _hand(name: str) -> list[float]:
    """The weight after each update, written out scalar by scalar."""
    w, out = 1.0, []
    if name == "sgd":
        for g in G:
            w -= LR * g
            out.append(w)
    elif name in ("momentum", "nesterov"):
        mu, v = 0.9, 0.0
        for g in G:
            v = mu * v + g
            w -= LR * (v if name == "momentum" else g + mu * v)
            out.append(w)
    elif name == "adam":
        b1, b2, eps, m, v = 0.9, 0.999, 1e-8, 0.0, 0.0
        for t, g in enumerate(G, start=1):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w -= LR * (m / (1 - b1**t)) / ((v / (1 - b2**t)) ** 0.5 + eps)
            out.append(w)
    elif name == "rmsprop":
        rho, eps, v = 0.99, 1e-8, 0.0
        for g in G:
            v = rho * v + (1 - rho) * g * g
            w -= LR * g / (v**0.5 + eps)
            out.append(w)
    return out


# The same numbers as literals, from a calculator, so the hand formulas are checked too.
HAND = {
    "sgd": [0.95, 0.97],
    "momentum": [0.95, 0.925],
    "nesterov": [0.905, 0.9025],
    "adam": [0.9, 0.865439],
    "rmsprop": [0.0, 0.373002],
}


def test_table_covers_the_hand_cases():
    assert set(OPTIMIZERS) == set(HAND)
    for name, o in OPTIMIZERS.items():
        assert o.name == name and set(nn.HYPER_PARAMETERS) >= set(o.hyper)


def _one_weight():
    """A 1x1 layer with input 1: dW equals dz, so dz is the step direction."""
    params = nn.Params([np.ones((1, 1, 1))])
    acts = [np.ones((1, 1)), None]
    return params, acts


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_step_equals_the_hand_computed_step(name):
    np.testing.assert_allclose(_hand(name), HAND[name], atol=1e-6)
    params, acts = _one_weight()
    state = init_state(name, params)
    got = []
    for g in G:
        state.update(params, acts, [np.full((1, 1, 1), g)], np.array([LR]), [np.empty((1, 1, 1))])
        got.append(params.W[0][0, 0, 0])
    np.testing.assert_allclose(got, _hand(name), rtol=1e-12, atol=1e-12)
    assert state.t == 2


def _sklearn(name: str, shape, grads):
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

    w = [np.ones(shape)]
    if name == "adam":
        opt = AdamOptimizer(w, learning_rate_init=LR)
    else:
        opt = SGDOptimizer(w, learning_rate_init=LR, momentum=0.9, nesterov=name == "nesterov")
    for g in grads:
        opt.update_params(w, [g])
    return w[0]


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam"])
def test_matches_scikit_learn(name):
    # scikit-learn writes momentum as v = mu v - lr g (equal for constant lr)
    # and Adam with eps inside the corrected rate: equal up to eps.
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 2)) for _ in range(5)]
    params = nn.Params([np.ones((1, 3, 2))])
    state = init_state(name, params)
    for g in grads:
        direction, new = state.optimizer.step(g[None], state.slots[0], state.hyper, state.t + 1)
        state.slots[0].update(new)
        state.t += 1
        params.W[0] -= LR * direction
    np.testing.assert_allclose(params.W[0][0], _sklearn(name, (3, 2), grads), rtol=1e-6, atol=1e-9)


ARCH = nn.Architecture((4, 5, 3, 3), activation="tanh", output="softmax")
HYPER = {  # three networks, different hyper-parameters
    "sgd": {},
    "momentum": {"momentum": [0.5, 0.9, 0.0]},
    "nesterov": {"momentum": [0.5, 0.9, 0.99]},
    "adam": {"beta1": [0.8, 0.9, 0.0], "beta2": [0.99, 0.999, 0.9], "eps": [1e-8, 1e-3, 1e-8]},
    "rmsprop": {"rho": [0.9, 0.99, 0.5], "eps": [1e-8, 1e-3, 1e-8]},
}


def _data(n=24, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    labels = rng.integers(0, 3, n)
    return X, np.eye(3)[labels], labels


def _params(inits):
    return nn.init_params(ARCH, inits, [np.random.default_rng(k) for k in range(len(inits))])


@pytest.mark.parametrize("rule", ["exact", "book"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_stacked_equals_separate(name, rule):
    X, T, labels = _data()
    inits = ["lecun_normal", "glorot_uniform", "he_normal"]
    lr = np.array([0.05, 0.01, 0.002])
    order = np.random.default_rng(2).permutation(len(X))
    stack = _params(inits)
    state = init_state(name, stack, HYPER[name])
    for _ in range(2):
        nn.train_epoch(ARCH, stack, X, T, order, lr, 5, rule, labels, state)
    for k in range(3):
        alone = _params(inits)
        alone = alone.select([k])
        one = init_state(name, alone, {h: v[k : k + 1] for h, v in HYPER[name].items()})
        for _ in range(2):
            nn.train_epoch(ARCH, alone, X, T, order, lr[k : k + 1], 5, rule, labels, one)
        for w_stack, w_alone in zip(stack.W + stack.b, alone.W + alone.b):
            np.testing.assert_allclose(w_stack[k], w_alone[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule", ["exact", "book"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_update_ratio_is_the_applied_step(name, rule):
    """One update on a batch that is the whole probe set moves W by exactly
    update_ratio * |W|, after a few updates have filled the state."""
    X, T, labels = _data()
    lr = np.array([0.05, 0.01, 0.002])
    params = _params(["lecun_normal", "glorot_uniform", "he_normal"])
    state = init_state(name, params, HYPER[name])
    nn.train_epoch(ARCH, params, X, T, np.arange(len(X)), lr, 6, rule, labels, state)
    P = 8
    ratio = nn.diagnose(ARCH, params, X[:P], T[:P], lr, rule, optimizer=state, chunk=P)["update_ratio"]
    before = [w.copy() for w in params.W]
    nn.train_epoch(ARCH, params, X[:P], T[:P], np.arange(P), lr, P, rule, labels[:P], state)
    for l, (w0, w1) in enumerate(zip(before, params.W)):
        applied = np.linalg.norm((w1 - w0).reshape(3, -1), axis=1) / np.linalg.norm(w0.reshape(3, -1), axis=1)
        np.testing.assert_allclose(ratio[:, l], applied, rtol=1e-8)


def test_book_rule_feeds_its_step_direction():
    """With book backprop the optimizer receives backward(..., "book").dW."""
    X, T, labels = _data(n=6)
    params = _params(["lecun_normal"])
    expected = params.copy()
    state = init_state("adam", params)
    nn.train_epoch(ARCH, params, X, T, np.arange(6), np.array([0.01]), 6, "book", labels, state)
    zs, acts = nn.forward(ARCH, expected, X)
    book = nn.backward(ARCH, expected, zs, acts, T, "book")
    exact = nn.backward(ARCH, expected, zs, acts, T, "exact")
    for l, (w, g) in enumerate(zip(expected.W, book.dW)):
        want = w - 0.01 * (g / (np.abs(g) + 1e-8))  # Adam's first step: lr * sign-like g / |g|
        np.testing.assert_allclose(params.W[l], want, rtol=1e-7, atol=1e-12)
    assert not np.allclose(book.dW[0], exact.dW[0])  # the two rules differ here, so the test can tell


def test_state_is_stacked_and_resettable():
    params = _params(["lecun_normal", "glorot_uniform"])
    state = init_state("adam", params, {"beta1": [0.5, 0.9]})
    assert state.hyper["beta1"].shape == (2, 1, 1) and state.hyper["beta2"][:, 0, 0].tolist() == [0.999, 0.999]
    assert [s["m"].shape for s in state.slots] == [w.shape for w in params.W + params.b]
    for s in state.slots:
        s["m"][:] = np.nan
    state.reset(1)
    assert all(np.isnan(s["m"][0]).all() and (s["m"][1] == 0).all() for s in state.slots)


def test_float32_state_stays_float32():
    arch = nn.Architecture((4, 5, 3, 3), dtype="float32")
    params = nn.init_params(arch, ["lecun_normal"], [np.random.default_rng(0)])
    state = init_state("adam", params)
    X, T, labels = _data()
    nn.train_epoch(arch, params, X.astype(np.float32), T.astype(np.float32), np.arange(24),
                   np.array([0.01]), 8, "exact", labels, state)
    assert all(w.dtype == np.float32 for w in params.W) and all(s["v"].dtype == np.float32 for s in state.slots)


def test_bad_names():
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'; valid optimizers: sgd, momentum"):
        get_optimizer("adamw")
    with pytest.raises(ValueError, match="takes no beta1"):
        init_state("momentum", _params(["lecun_normal"]), {"beta1": [0.9]})
