"""Every initializer of ``nn.INITIALIZERS``: shape, seeding, the std its
docstring states, orthogonality, and what He init is for (deep ReLU stacks)."""
import re

import numpy as np
import pytest

import nn

NAMES = list(nn.INITIALIZERS)

# The standard deviation each docstring states, as a function of (fan_in, fan_out).
# A new initializer must add its formula here (the test below fails until it does).
DOC_STD = {
    "book": lambda fi, fo: fo**-0.5,
    "lecun_normal": lambda fi, fo: fi**-0.5,
    "glorot_uniform": lambda fi, fo: np.sqrt(2.0 / (fi + fo)),
    "glorot_normal": lambda fi, fo: np.sqrt(2.0 / (fi + fo)),
    "he_normal": lambda fi, fo: np.sqrt(2.0 / fi),
    "he_uniform": lambda fi, fo: np.sqrt(2.0 / fi),
    "uniform": lambda fi, fo: 1.0 / np.sqrt(12.0),
    # Semi-orthogonal: min(fi, fo) orthonormal vectors of length max(fi, fo),
    # so the mean square entry is exactly 1 / max(fi, fo).
    "orthogonal": lambda fi, fo: max(fi, fo) ** -0.5,
}

# Bounds of the uniform initializers.
UNIFORM_LIMIT = {
    "glorot_uniform": lambda fi, fo: np.sqrt(6.0 / (fi + fo)),
    "he_uniform": lambda fi, fo: np.sqrt(6.0 / fi),
    "uniform": lambda fi, fo: 0.5,
}

# fan_in != fan_out, so a formula using the wrong fan is off by sqrt(4/3).
SHAPES = [(400, 300), (300, 400)]


@pytest.mark.parametrize("fan_in, fan_out", [(40, 30), (30, 40), (7, 3), (1, 5)])
@pytest.mark.parametrize("name", NAMES)
def test_shape(name, fan_in, fan_out):
    W = nn.INITIALIZERS[name](fan_in, fan_out, np.random.default_rng(0))
    assert W.shape == (fan_in, fan_out)
    assert W.dtype == np.float64
    assert np.isfinite(W).all()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights_other_seed_other_weights(name):
    init = nn.INITIALIZERS[name]
    a = init(40, 30, np.random.default_rng(123))
    b = init(40, 30, np.random.default_rng(123))
    c = init(40, 30, np.random.default_rng(124))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("name", NAMES)
def test_does_not_touch_global_random_state(name):
    before = np.random.get_state()[1].copy()
    nn.INITIALIZERS[name](20, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("fan_in, fan_out", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_std_matches_docstring(name, fan_in, fan_out):
    assert name in DOC_STD, f"add the docstring's std formula of {name!r} to DOC_STD"
    W = nn.INITIALIZERS[name](fan_in, fan_out, np.random.default_rng(7))
    expected = DOC_STD[name](fan_in, fan_out)
    # 120 000 samples: the relative sampling error of a std is ~0.2% (normal),
    # so 2% is ~10 sigma, while a wrong fan gives 15%.
    assert W.std() == pytest.approx(expected, rel=0.02)
    assert abs(W.mean()) < 5 * expected / np.sqrt(W.size)


@pytest.mark.parametrize("name", sorted(UNIFORM_LIMIT))
def test_uniform_bounds(name):
    fi, fo = 400, 300
    W = nn.INITIALIZERS[name](fi, fo, np.random.default_rng(3))
    limit = UNIFORM_LIMIT[name](fi, fo)
    assert np.abs(W).max() <= limit
    assert np.abs(W).max() > 0.99 * limit  # fills the interval


@pytest.mark.parametrize("fan_in, fan_out", [(400, 300), (300, 400), (50, 50), (64, 8), (8, 64)])
def test_orthogonal_is_semi_orthogonal(fan_in, fan_out):
    W = nn.INITIALIZERS["orthogonal"](fan_in, fan_out, np.random.default_rng(5))
    if fan_in >= fan_out:
        gram = W.T @ W  # orthonormal columns
    else:
        gram = W @ W.T  # orthonormal rows
    np.testing.assert_allclose(gram, np.eye(min(fan_in, fan_out)), atol=1e-10, rtol=0)


def test_orthogonal_preserves_norms_of_tall_maps():
    # a @ W with W (fan_in, fan_out), fan_in <= fan_out: rows of W orthonormal,
    # so |a @ W| = |a| for every a.
    W = nn.INITIALIZERS["orthogonal"](30, 80, np.random.default_rng(2))
    a = np.random.default_rng(3).normal(size=(10, 30))
    np.testing.assert_allclose(np.linalg.norm(a @ W, axis=1), np.linalg.norm(a, axis=1), rtol=1e-12)


def _relu_second_moments(init_name: str, widths: list[int], seed: int, draws: int = 1) -> np.ndarray:
    """E[z^2] of the pre-activations of each layer of a bias-free ReLU stack
    fed N(0, 1) inputs of width widths[0], averaged over ``draws`` weight draws
    (finite widths make one draw's layer factors fluctuate by ~10%)."""
    rng = np.random.default_rng(seed)
    init = nn.INITIALIZERS[init_name]
    relu = nn.ACTIVATIONS["relu"].f
    moments = np.zeros(len(widths) - 1)
    for _ in range(draws):
        a = rng.normal(size=(1000, widths[0]))
        for l, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            z = a @ init(fan_in, fan_out, rng)
            moments[l] += np.mean(z * z) / draws
            a = relu(z)
    return moments


# Input 784 (MNIST), then 10 ReLU layers of width 256.
DEEP = [784] + [256] * 10


def test_he_normal_keeps_relu_variance_level():
    m = _relu_second_moments("he_normal", DEEP, seed=0, draws=4)
    ratios = m[1:] / m[:-1]
    # Theory: E[z^2] is multiplied by fan_in * (2 / fan_in) / 2 = 1 per layer.
    assert np.all((ratios > 0.5) & (ratios < 2.0)), ratios
    assert m.max() / m.min() < 2.0, m
    # First layer: N(0,1) inputs (no ReLU), fan_in * 2 / fan_in = 2.
    assert m[0] == pytest.approx(2.0, rel=0.1)


def test_book_init_lets_relu_variance_shrink():
    m = _relu_second_moments("book", DEEP, seed=0)
    # Theory for std = fan_out**-0.5: E[z^2] is multiplied by
    # fan_in / fan_out on the first layer (no ReLU below: 784/256 ~ 3.06) and
    # by fan_in / (2 * fan_out) = 1/2 on each later ReLU layer.
    assert m[0] == pytest.approx(784 / 256, rel=0.1)
    ratios = m[1:] / m[:-1]
    assert np.all((ratios > 0.3) & (ratios < 0.75)), ratios
    assert (m[-1] / m[0]) ** (1 / 9) == pytest.approx(0.5, rel=0.15)
    # So across the depth the second moment falls by ~2**9 = 512: far from level.
    assert m[0] / m[-1] > 100.0, m


def test_book_init_lets_relu_variance_grow_when_layers_narrow():
    # fan_in / (2 fan_out) > 1 when each layer is under half as wide as the one
    # below: 784 -> 256 -> 100 -> 40 -> 16 multiplies E[z^2] by 784/256, then
    # 256/200, 100/80 and 40/32 (product 2): it grows, while he_normal stays level.
    widths = [784, 256, 100, 40, 16]
    book = _relu_second_moments("book", widths, seed=1, draws=8)
    he = _relu_second_moments("he_normal", widths, seed=1, draws=8)
    expected = (256 / 200) * (100 / 80) * (40 / 32)
    assert book[-1] / book[0] == pytest.approx(expected, rel=0.3), book
    assert book[-1] / book[0] > 1.5, book
    assert he.max() / he.min() < 1.5, he


def test_unknown_initializer_lists_valid_names():
    with pytest.raises(ValueError) as info:
        nn.get_initializer("nope")
    msg = str(info.value)
    assert "nope" in msg
    for name in NAMES:
        assert re.search(rf"\b{re.escape(name)}\b", msg), name


def test_init_params_rejects_unknown_initializer():
    arch = nn.Architecture((3, 2, 2, 2))
    with pytest.raises(ValueError, match="valid initializers"):
        nn.init_params(arch, ["he_normal", "nope"], [np.random.default_rng(0), np.random.default_rng(1)])


@pytest.mark.parametrize("name", NAMES)
def test_lookup_returns_table_entry(name):
    assert nn.get_initializer(name) is nn.INITIALIZERS[name]
