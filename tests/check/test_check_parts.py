"""Pieces of the checker: restoring the instance, finding the weights, reading --args."""
import numpy as np
import pytest

from experiments.check.load import CheckError, parse_args
from experiments.check.state import Snapshot
from experiments.check.weights import WeightRef, candidates, order


class _Obj:
    pass


def test_snapshot_restores_in_place_updates_rebinding_list_items_and_new_attributes():
    obj = _Obj()
    obj.a, obj.W, obj.n = np.ones((2, 3)), [np.zeros((3, 2)), np.full((2, 2), 5.0)], 1
    a, W0, W1, W = obj.a, obj.W[0], obj.W[1], obj.W
    snap = Snapshot(obj)
    obj.a += 1.0                        # in place
    obj.W[0] = obj.W[0] + 1.0           # rebinds a list item
    obj.W[1][0, 0] = -1.0
    obj.n, obj.extra = 2, "cache"       # rebinds and adds attributes
    snap.restore(obj)
    assert obj.a is a and obj.W is W and obj.W[0] is W0 and obj.W[1] is W1
    assert np.array_equal(obj.a, np.ones((2, 3))) and np.array_equal(W1, np.full((2, 2), 5.0))
    assert obj.n == 1 and not hasattr(obj, "extra")


def test_weights_chain_by_shape_and_skip_biases():
    obj = _Obj()
    obj.b1, obj.w1, obj.w2, obj.flags = np.zeros((4, 1)), np.ones((4, 6)), np.ones((3, 4)), np.ones(3)
    w = order(obj, candidates(obj), lambda n_in, n_out: True, fixed_order=False)
    assert [r.name for r in w.refs] == ["w1", "w2"] and w.sizes == (6, 4, 3) and w.storage == "n_out x n_in"


def test_weights_orientation_decided_by_what_query_accepts():
    obj = _Obj()
    obj.w2, obj.w1 = np.ones((4, 3)), np.ones((6, 4))  # n_in x n_out, defined output first
    w = order(obj, candidates(obj), lambda n_in, n_out: (n_in, n_out) == (6, 3), fixed_order=False)
    assert [r.name for r in w.refs] == ["w1", "w2"] and w.storage == "n_in x n_out" and w.sizes == (6, 4, 3)
    with pytest.raises(CheckError, match="query does not take the input width"):
        order(obj, candidates(obj), lambda n_in, n_out: False, fixed_order=False)


def test_list_items_are_weights():
    obj = _Obj()
    obj.layers = [np.ones((5, 7)), np.ones((2, 5)), "not an array"]
    assert candidates(obj) == [WeightRef("layers", 0), WeightRef("layers", 1)]


@pytest.mark.parametrize("text, expected", [
    (None, ((), {})),
    ("(784, 200, 10, 0.1)", ((784, 200, 10, 0.1), {})),
    ("[64, 32, 10]", (([64, 32, 10],), {})),
    ("{'sizes': [4, 3], 'lr': 0.5}", ((), {"sizes": [4, 3], "lr": 0.5})),
    ("5", ((5,), {})),
])
def test_args_literals(text, expected):
    assert parse_args(text) == expected


@pytest.mark.parametrize("text", ["(1,", "open('x')", "lambda: 1", "{1: 2}"])
def test_args_that_are_not_literals_or_keywords(text):
    with pytest.raises(CheckError, match="--args"):
        parse_args(text)
