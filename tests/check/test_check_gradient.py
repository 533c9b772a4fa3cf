"""The finite-difference reference, on a network whose gradient is known in closed form."""
import numpy as np

from experiments.check.gradient import LOSSES, finite_difference
from experiments.check.compare import classify, is_zero_gradient


def test_reference_equals_closed_form_gradient_of_a_linear_network():
    # y = W2 W1 x, L = 0.5 |t - y|^2:  dL/dW2 = (y - t) (W1 x)^T,  dL/dW1 = W2^T (y - t) x^T
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(5, 7)), rng.normal(size=(3, 5))
    x, t = rng.uniform(size=7), rng.uniform(size=3)
    W1_before, W2_before = W1.copy(), W2.copy()

    def loss():
        return LOSSES["mse"].fn(W2 @ (W1 @ x), t)

    y = W2 @ W1 @ x
    exact = [np.outer(W2.T @ (y - t), x), np.outer(y - t, W1 @ x)]
    for W, g in zip((W1, W2), exact):
        entries = np.arange(W.size)
        ref = finite_difference(loss, W, entries)
        np.testing.assert_allclose(ref.values, g.reshape(-1), rtol=1e-7, atol=1e-9)
        assert ref.noise < 1e-6 * np.linalg.norm(g)
        some = np.array([W.size - 1, 3, 0])  # any subset, any order: flat row-major indices
        np.testing.assert_allclose(finite_difference(loss, W, some).values, g.reshape(-1)[some], rtol=1e-7)
    # every entry given back its value exactly, not w + h - h
    assert np.array_equal(W1, W1_before) and np.array_equal(W2, W2_before)


def test_reference_of_cross_entropy_through_softmax_is_y_minus_t_times_input():
    rng = np.random.default_rng(1)
    W, x = rng.normal(size=(4, 6)), rng.uniform(size=6)
    t = np.eye(4)[2]

    def softmax(z):
        e = np.exp(z - z.max())
        return e / e.sum()

    ref = finite_difference(lambda: LOSSES["ce"].fn(softmax(W @ x), t), W, np.arange(W.size))
    np.testing.assert_allclose(ref.values, np.outer(softmax(W @ x) - t, x).reshape(-1), rtol=1e-6, atol=1e-10)


def test_a_loss_that_does_not_depend_on_the_weights_has_no_gradient():
    W = np.ones((3, 3))
    ref = finite_difference(lambda: 1.2345, W, np.arange(9))
    assert is_zero_gradient(ref)
    assert classify(np.zeros(9), ref, True, 0.1).cls == "no gradient, no step"
    assert classify(np.ones(9), ref, False, 0.1).cls == "no gradient"


def test_classes_of_steps():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(4, 5))
    x = rng.uniform(size=5)
    t = np.zeros(4)
    ref = finite_difference(lambda: LOSSES["mse"].fn(W @ x, t), W, np.arange(W.size))
    g = ref.values
    assert classify(-0.1 * g, ref, False, 0.1).cls == "gradient"
    assert classify(-0.12 * g, ref, False, 0.1).cls == "descent, not the gradient"  # length off by 20%
    assert classify(0.1 * g, ref, False, 0.1).cls == "not a descent direction"
    assert classify(np.zeros_like(g), ref, True, 0.1).cls == "no step"
