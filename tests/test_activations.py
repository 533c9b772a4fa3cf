"""Every activation of ``nn.ACTIVATIONS``: derivative vs finite differences,
numerical stability, dtype, peak derivative, name lookup.

The tests loop over the table's keys, so a new entry is checked automatically.
"""
import re
import warnings

import numpy as np
import pytest

import nn

NAMES = list(nn.ACTIVATIONS)

# Away from 0, the only kink of any elementwise entry (the grid has no 0: an
# even number of points symmetric around it); large |z| included on purpose.
GRID = np.concatenate([
    np.linspace(-30.0, 30.0, 600),
    [-1e3, -200.0, -50.0, -0.5, -1e-3, 1e-3, 0.5, 50.0, 200.0, 1e3],
])
LARGE = np.concatenate([np.linspace(-1e3, 1e3, 2001), [-200.0, 200.0, -1e3, 1e3]])

# Central differences in float64 with h relative to |z| are good to ~1e-11 here.
RTOL, ATOL = 1e-7, 1e-9


def _tie_free(base: np.ndarray, pieces: int, rng: np.random.Generator) -> np.ndarray:
    """(M,) -> (M, pieces): piece 0 is ``base``, the others differ from it by at
    least 10% of max(1, |base|), so no maxout tie is within a step h."""
    cols = [base]
    for _ in range(pieces - 1):
        sign = rng.choice([-1.0, 1.0], base.size)
        cols.append(base + sign * rng.uniform(0.1, 1.0, base.size) * np.maximum(1.0, np.abs(base)))
    return np.stack(cols, axis=1)


def _errstate():
    # Underflow is excluded on purpose: exp(-1000) -> 0 is the correctly
    # rounded value, and NumPy itself ignores underflow by default. Overflow,
    # division by zero and invalid operations (NaN) must not happen.
    return np.errstate(over="raise", divide="raise", invalid="raise", under="ignore")


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_finite_differences_on_wide_grid(name):
    act = nn.ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    z = _tie_free(GRID, act.pieces, rng)  # (M, pieces): one unit per row
    h = 1e-5 * np.maximum(1.0, np.abs(z).max(axis=1))  # (M,)
    df = act.df(z)
    assert df.shape == z.shape
    assert act.f(z).shape == (z.shape[0], 1)
    for j in range(act.pieces):
        step = np.zeros_like(z)
        step[:, j] = h
        fd = (act.f(z + step) - act.f(z - step))[:, 0] / (2.0 * h)
        np.testing.assert_allclose(df[:, j], fd, rtol=RTOL, atol=ATOL, err_msg=f"{name}, piece {j}")


@pytest.mark.parametrize("name", NAMES)
def test_dz_is_gradient_of_sum_da_times_f(name):
    """dz = repeat(da, pieces) * df(z) is d/dz of sum(da * f(z)), element by element
    (for maxout this routes da to the winning piece, checked away from ties)."""
    act = nn.ACTIVATIONS[name]
    rng = np.random.default_rng(1)
    n = 4
    base = rng.normal(scale=3.0, size=3 * n)
    base = np.where(np.abs(base) < 1e-2, 1.0, base)  # away from the kink at 0
    z = _tie_free(base, act.pieces, rng).reshape(3, n * act.pieces)
    da = rng.normal(size=(3, n))
    dz = np.repeat(da, act.pieces, axis=-1) * act.df(z)

    def loss(zz):
        return float(np.sum(da * act.f(zz)))

    fd = np.zeros_like(z)
    h = 1e-6
    for idx in np.ndindex(*z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        fd[idx] = (loss(zp) - loss(zm)) / (2 * h)
    np.testing.assert_allclose(dz, fd, rtol=1e-6, atol=1e-8)


def test_maxout_routes_gradient_to_winning_piece_only():
    act = nn.ACTIVATIONS["maxout"]
    assert act.pieces == 2
    z = np.array([[1.0, 3.0, -2.0, -5.0, 7.0, 7.5]])
    np.testing.assert_array_equal(act.f(z), [[3.0, -2.0, 7.5]])
    np.testing.assert_array_equal(act.df(z), [[0.0, 1.0, 1.0, 0.0, 0.0, 1.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_stable_for_large_inputs(name, dtype):
    act = nn.ACTIVATIONS[name]
    z = np.repeat(LARGE, act.pieces).astype(dtype)
    if act.pieces > 1:
        z[1::act.pieces] *= -0.5  # pieces differ
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _errstate():
            a = act.f(z)
            d = act.df(z)
    assert np.isfinite(a).all(), f"{name} f not finite in {np.dtype(dtype)}"
    assert np.isfinite(d).all(), f"{name} df not finite in {np.dtype(dtype)}"


@pytest.mark.parametrize("name", NAMES)
def test_float32_in_float32_out(name):
    act = nn.ACTIVATIONS[name]
    z = np.linspace(-5.0, 5.0, 8 * act.pieces, dtype=np.float32).reshape(2, -1)
    assert act.f(z).dtype == np.float32, f"{name}: f returns {act.f(z).dtype}"
    assert act.df(z).dtype == np.float32, f"{name}: df returns {act.df(z).dtype}"
    assert act.unit_derivative(z).dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_float32_agrees_with_float64(name):
    act = nn.ACTIVATIONS[name]
    z64 = np.linspace(-8.0, 8.0, 64 * act.pieces) + 1e-3
    z32 = z64.astype(np.float32)
    np.testing.assert_allclose(act.f(z32), act.f(z32.astype(np.float64)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(act.df(z32), act.df(z32.astype(np.float64)), rtol=1e-5, atol=1e-6)


PEAKS = {
    "sigmoid": 0.25,
    "tanh": 1.0,
    "relu": 1.0,
    "leaky_relu": 1.0,
    "elu": 1.0,
    "selu": 1.0507009873554805 * 1.6732632423543772,  # scale * alpha, at z -> 0-
    "identity": 1.0,
    "softsign": 1.0,
    "softplus": 1.0,  # sup of sigmoid, approached as z -> inf
    "maxout": 1.0,
}


@pytest.mark.parametrize("name", sorted(PEAKS))
def test_peak_derivative_closed_forms(name):
    assert nn.ACTIVATIONS[name].peak_derivative == pytest.approx(PEAKS[name], rel=1e-4)


def test_selu_peak_value():
    assert nn.ACTIVATIONS["selu"].peak_derivative == pytest.approx(1.7581, abs=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_peak_derivative_is_the_max_over_a_wide_grid(name):
    """No closed form for gelu/swish: check it is the max of |unit derivative|."""
    act = nn.ACTIVATIONS[name]
    z = np.linspace(-50.0, 50.0, 400_001)[:, None].repeat(act.pieces, axis=1)
    grid_max = float(np.abs(act.unit_derivative(z)).max())
    assert act.peak_derivative == pytest.approx(grid_max, rel=1e-4)


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError) as info:
        nn.get_activation("nope")
    msg = str(info.value)
    assert "nope" in msg
    for name in NAMES:
        assert re.search(rf"\b{re.escape(name)}\b", msg), name


@pytest.mark.parametrize("name", NAMES)
def test_lookup_returns_table_entry(name):
    assert nn.get_activation(name) is nn.ACTIVATIONS[name]
    assert nn.ACTIVATIONS[name].name == name


@pytest.mark.parametrize("name", NAMES)
def test_value_and_derivative_equals_f_and_df(name):
    """The fused ``f_df`` path the training forward pass uses must agree with
    the ``f`` and ``df`` the other tests check."""
    act = nn.ACTIVATIONS[name]
    if not hasattr(act, "value_and_derivative"):
        pytest.skip("this version of nn has no fused value_and_derivative")
    rng = np.random.default_rng(2)
    for dtype in (np.float64, np.float32):
        z = _tie_free(GRID, act.pieces, rng).reshape(-1, 10 * act.pieces).astype(dtype)
        with _errstate():
            a, d = act.value_and_derivative(z)
        assert a.dtype == dtype and d.dtype == dtype, name
        np.testing.assert_allclose(a, act.f(z), rtol=1e-6 if dtype == np.float32 else 1e-14, atol=0)
        np.testing.assert_allclose(d, act.df(z), rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-300)


# The closed forms as np.where writes them: the fast forms of nn.activations
# must give these values bit for bit (signed zeros, infinities and NaN too).
WHERE_FORMS = {
    "elu": (lambda z: np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1.0),
            lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))),
    "selu": (lambda z: np.where(z > 0, nn.activations.SELU_SCALE * z,
                                (nn.activations.SELU_SCALE * nn.activations.SELU_ALPHA) * np.exp(np.minimum(z, 0))
                                - nn.activations.SELU_SCALE * nn.activations.SELU_ALPHA),
             lambda z: np.where(z > 0, nn.activations.SELU_SCALE,
                                (nn.activations.SELU_SCALE * nn.activations.SELU_ALPHA) * np.exp(np.minimum(z, 0)))),
    "leaky_relu": (lambda z: z * np.where(z > 0, 1.0, nn.activations.LEAKY_SLOPE).astype(z.dtype),
                   lambda z: np.where(z > 0, 1.0, nn.activations.LEAKY_SLOPE)),
}


@pytest.mark.parametrize("name", sorted(WHERE_FORMS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_forms_equal_where_forms_bit_for_bit(name, dtype):
    rng = np.random.default_rng(5)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-300, -1e-300, 88.0, -88.0, 710.0, -710.0]
    z = np.concatenate([rng.standard_normal(20_000) * s for s in (1e-3, 1.0, 30.0, 1e4)] + [special]).astype(dtype)
    act = nn.ACTIVATIONS[name]
    f_ref, df_ref = WHERE_FORMS[name]
    with _errstate():
        expected = [f_ref(z).astype(dtype), df_ref(z).astype(dtype)]
        got = [act.f(z), act.df(z), *act.f_df(z)]
    for value, ref in zip(got, expected + expected):
        assert value.dtype == dtype
        np.testing.assert_array_equal(value, ref)  # NaN where NaN
        np.testing.assert_array_equal(np.signbit(value), np.signbit(ref))
