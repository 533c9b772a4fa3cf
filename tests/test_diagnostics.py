"""``nn.diagnose``: dead units, gradient-flow fractions and norms, against
networks built so the answer is known, and against plain NumPy recomputation."""
import numpy as np
import pytest

import nn
from nn.diagnostics import Z_PERCENTILES

SIZES = (4, 6, 5, 3)
KILL = -1e3  # a bias this negative keeps z < 0 for every probe input


def _probes(P=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(P, SIZES[0]))
    T = 0.01 + 0.98 * np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], P)]
    return X, T


def _params(arch, K=2, init="he_normal"):
    return nn.init_params(arch, [init] * K, [np.random.default_rng(10 + k) for k in range(K)])


def _diagnose(arch, params, X, T, rule="exact", lr=None):
    lr = np.full(params.K, 0.1) if lr is None else lr
    return nn.diagnose(arch, params, X, T, lr, rule=rule)


def test_every_metric_is_k_by_layers():
    arch = nn.Architecture(SIZES, activation="tanh")
    X, T = _probes()
    d = _diagnose(arch, _params(arch, K=3), X, T)
    assert set(d) == set(nn.LAYER_METRICS)
    for name, v in d.items():
        assert v.shape == (3, arch.n_layers), name
        assert v.dtype == np.float64, name


# --- dead units ---------------------------------------------------------------

# Units killed per network and layer (the output layer last).
RELU_KILLED = [
    [[1, 4], [2], [0]],  # network 0
    [[0], [], [1, 2]],  # network 1
]


def _relu_net_with_killed_units(activation="relu"):
    arch = nn.Architecture(SIZES, activation=activation, output="same", bias=True)
    params = _params(arch)
    # Live units are live for sure: bias +5, and above the first layer
    # nonnegative weights on nonnegative inputs (z >= 5). Killed units get a
    # huge negative bias (on every piece).
    for l, (W, b) in enumerate(zip(params.W, params.b)):
        if l > 0:
            np.abs(W, out=W)
        b[:] = 5.0
        pieces = arch.layer_activations[l].pieces
        for k, killed in enumerate(RELU_KILLED):
            for unit in killed[l]:
                b[k, 0, unit * pieces:(unit + 1) * pieces] = KILL
    return arch, params


def test_relu_dead_units_are_exactly_the_killed_ones():
    arch, params = _relu_net_with_killed_units()
    X, T = _probes()
    d = _diagnose(arch, params, X, T)
    expected = np.array([[len(u) for u in killed] for killed in RELU_KILLED], float)
    np.testing.assert_array_equal(d["dead_units"], expected)
    widths = np.array(SIZES[1:], float)
    np.testing.assert_array_equal(d["dead_frac"], expected / widths)


def test_maxout_units_never_count_dead():
    # Same huge negative biases on every piece: maxout still passes gradient.
    arch, params = _relu_net_with_killed_units("maxout")
    X, T = _probes()
    d = _diagnose(arch, params, X, T)
    np.testing.assert_array_equal(d["dead_units"], 0.0)
    np.testing.assert_array_equal(d["no_grad_frac"], 0.0)


def test_saturated_sigmoid_units_count_dead_softmax_outputs_never():
    arch = nn.Architecture(SIZES, activation="sigmoid", output="softmax", bias=True)
    params = _params(arch)
    params.b[0][0, 0, 2] = 1e3  # z ~ +1e3: f'(z) = 0 in float64
    params.b[0][0, 0, 5] = -1e3  # z ~ -1e3
    params.b[1][1, 0, 0] = 1e3
    # Softmax outputs driven to saturation (y = 1 and y = 0): still never dead.
    params.b[2][0, 0, 0] = 1e3
    params.b[2][1, 0, :] = [-1e3, -1e3, 0.0]
    X, T = _probes()
    d = _diagnose(arch, params, X, T)
    np.testing.assert_array_equal(d["dead_units"], [[2, 0, 0], [0, 1, 0]])


def test_saturated_sigmoid_output_counts_dead():
    arch = nn.Architecture(SIZES, activation="tanh", output="sigmoid", bias=True)
    params = _params(arch)
    params.b[2][1, 0, 1] = -1e3
    X, T = _probes()
    d = _diagnose(arch, params, X, T)
    np.testing.assert_array_equal(d["dead_units"], [[0, 0, 0], [0, 0, 1]])


def _hand_relu_forward(params, X, k):
    """Pre-activations of network k, plain NumPy."""
    zs, a = [], X
    for W, b in zip(params.W, params.b):
        z = a @ W[k] + b[k, 0]
        zs.append(z)
        a = np.maximum(z, 0.0)
    return zs


def test_no_grad_frac_and_dead_units_match_hand_count():
    # Zero biases: roughly half the (unit, probe) pairs pass no gradient.
    arch = nn.Architecture(SIZES, activation="relu", output="same", bias=True)
    params = _params(arch)
    params.b[1][0, 0, 3] = -2.0  # some partly, maybe fully, dead units too
    params.b[0][1, 0, 1] = -3.0
    X, T = _probes(P=40, seed=3)
    d = _diagnose(arch, params, X, T)
    for k in range(params.K):
        for l, z in enumerate(_hand_relu_forward(params, X, k)):
            blocked = z <= 0  # relu'(z) = 0
            assert d["no_grad_frac"][k, l] == pytest.approx(blocked.sum() / blocked.size, abs=1e-12)
            assert d["dead_units"][k, l] == blocked.all(axis=0).sum()
    assert 0.2 < d["no_grad_frac"].mean() < 0.8  # a non-trivial count


# --- gradient norms and step direction -----------------------------------------

def _sigmoid_case():
    arch = nn.Architecture(SIZES, activation="sigmoid", output="sigmoid", bias=True)
    params = _params(arch, K=2, init="glorot_normal")
    X, T = _probes(P=30, seed=4)
    return arch, params, X, T


def test_exact_rule_step_is_the_true_gradient():
    arch, params, X, T = _sigmoid_case()
    d = _diagnose(arch, params, X, T, rule="exact")
    np.testing.assert_array_equal(d["grad_w_norm"], d["true_grad_w_norm"])
    np.testing.assert_allclose(d["step_cosine"], 1.0, rtol=0, atol=1e-12)
    assert np.all(d["grad_w_norm"] > 0)


def test_book_rule_step_differs_from_true_gradient_below_the_output():
    arch, params, X, T = _sigmoid_case()
    d = _diagnose(arch, params, X, T, rule="book")
    # Output layer: both rules agree.
    np.testing.assert_allclose(d["step_cosine"][:, -1], 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(d["grad_w_norm"][:, -1], d["true_grad_w_norm"][:, -1], rtol=1e-12)
    # Hidden layers: the book leaves out f'(z) <= 1/4 of the layers above.
    hidden = slice(0, arch.n_layers - 1)
    ratio = d["grad_w_norm"][:, hidden] / d["true_grad_w_norm"][:, hidden]
    assert np.all(ratio > 2.0), ratio
    # (exact gives 1 to 1e-12; how far below 1 depends on how much f'(z) varies)
    assert np.all(d["step_cosine"][:, hidden] < 1 - 1e-6), d["step_cosine"]
    assert d["step_cosine"][:, hidden].min() < 0.999, d["step_cosine"]
    assert np.all(d["step_cosine"][:, hidden] > 0.0)  # still a descent direction here


@pytest.mark.parametrize("rule", nn.BACKPROP_RULES)
@pytest.mark.parametrize("activation", ["sigmoid", "relu", "maxout"])
def test_norms_ratios_and_rms_match_direct_computation(activation, rule):
    arch = nn.Architecture(SIZES, activation=activation, output="softmax", bias=True)
    params = _params(arch, K=2, init="glorot_uniform")
    X, T = _probes(P=30, seed=5)
    lr = np.array([0.05, 0.3])
    d = _diagnose(arch, params, X, T, rule=rule, lr=lr)
    zs, acts = nn.forward(arch, params, X)
    step = nn.backward(arch, params, zs, acts, T, rule=rule)
    exact = nn.backward(arch, params, zs, acts, T, rule="exact")
    for k in range(params.K):
        for l in range(arch.n_layers):
            g = np.linalg.norm(step.dW[l][k])
            assert d["grad_w_norm"][k, l] == pytest.approx(g, rel=1e-12)
            assert d["true_grad_w_norm"][k, l] == pytest.approx(np.linalg.norm(exact.dW[l][k]), rel=1e-12)
            assert d["update_ratio"][k, l] == pytest.approx(lr[k] * g / np.linalg.norm(params.W[l][k]), rel=1e-12)
            cos = np.sum(step.dW[l][k] * exact.dW[l][k]) / (g * np.linalg.norm(exact.dW[l][k]))
            assert d["step_cosine"][k, l] == pytest.approx(cos, rel=1e-12)
            assert d["delta_rms"][k, l] == pytest.approx(np.sqrt(np.mean(step.dz[l][k] ** 2)), rel=1e-12)
            assert d["act_mean"][k, l] == pytest.approx(acts[l + 1][k].mean(), rel=1e-12, abs=1e-15)
            assert d["act_std"][k, l] == pytest.approx(acts[l + 1][k].std(), rel=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "maxout"])
@pytest.mark.parametrize("rule", ["exact", "book"])
def test_chunked_probe_equals_one_piece(activation, rule):
    """The probe is evaluated in cache-sized chunks; the metrics must not depend on it."""
    rng = np.random.default_rng(5)
    arch = nn.Architecture((6, 5, 4, 3), activation, "same", True)
    params = nn.init_params(arch, ["he_normal", "uniform", "book"], [np.random.default_rng(i) for i in range(3)])
    X = rng.normal(size=(50, 6))
    T = np.eye(3)[rng.integers(0, 3, 50)]
    lr = np.array([0.1, 0.2, 0.3])
    whole = nn.diagnose(arch, params, X, T, lr, rule, chunk=50)
    for chunk in (1, 7, 16):
        parts = nn.diagnose(arch, params, X, T, lr, rule, chunk=chunk)
        for name in nn.LAYER_METRICS:
            np.testing.assert_allclose(parts[name], whole[name], rtol=1e-10, atol=1e-12, err_msg=name)


# --- pre-activation percentiles ------------------------------------------------


@pytest.mark.parametrize("chunk", [None, 2])
def test_z_percentiles_on_a_hand_checkable_layer(chunk):
    # One input x in 0..4, four hidden units z_j = 4 x + j: the 20 values 0..19,
    # whose q-th percentile (linear interpolation) is 19 q / 100.
    arch = nn.Architecture((1, 4, 2), activation="relu", bias=True)
    params = _params(arch, K=1)
    params.W[0][0] = 4.0
    params.b[0][0, 0] = np.arange(4.0)
    X = np.arange(5.0)[:, None]
    T = np.eye(2)[[0, 1, 0, 1, 0]]
    d = nn.diagnose(arch, params, X, T, np.full(1, 0.1), chunk=chunk)
    assert list(Z_PERCENTILES) == ["z_min", "z_p07", "z_p16", "z_p31", "z_p50", "z_p69", "z_p84", "z_p93", "z_max"]
    for name, q in Z_PERCENTILES.items():
        assert d[name][0, 0] == pytest.approx(19 * q / 100), name
    assert (d["z_min"][0, 0], d["z_p50"][0, 0], d["z_max"][0, 0]) == (0.0, 9.5, 19.0)
    assert d["nonpos_z_frac"][0, 0] == 1 / 20  # the one z that is 0
    # The output layer: the same percentiles of its own z, recomputed with NumPy.
    zs, _ = nn.forward(arch, params, X)
    assert d["z_p84"][0, 1] == pytest.approx(np.percentile(zs[1][0], 84.13))
    assert d["nonpos_z_frac"][0, 1] == pytest.approx((zs[1][0] <= 0).mean())
