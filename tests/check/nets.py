"""Networks the check tests load by path (``tests/check/nets.py:CLASS``).

``Net`` is one configurable hand-written network: any depth, either storage,
exact or book backprop, optional biases, and a few planted bugs. Like the
book's class it draws its weights from NumPy's global generator, which the
checker seeds.
"""
import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


# name -> (f, f' as a function of z)
ACT = {
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "softmax": (_softmax, None),  # with cross-entropy: dL/dz = y - t
}


class Net:
    """Columns in and out; ``storage`` "n_out x n_in" keeps W as the book does, "n_in x n_out" as z = x @ W.

    Planted bugs: ``flip_layer`` (1-based) adds its gradient instead of
    subtracting it; ``transpose_layer`` applies its step transposed.
    """

    def __init__(self, sizes, lr=0.1, rule="exact", hidden="sigmoid", output="sigmoid",
                 storage="n_out x n_in", bias=False, flip_layer=None, transpose_layer=None, dtype="float64"):
        self.sizes, self.lr, self.rule = list(sizes), lr, rule
        self.hidden, self.output, self.storage = hidden, output, storage
        self.flip_layer, self.transpose_layer = flip_layer, transpose_layer
        self.W = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            W = np.random.normal(0.0, n_in ** -0.5, (n_out, n_in)).astype(dtype)
            self.W.append(W if storage == "n_out x n_in" else W.T.copy())
        self.b = [np.random.normal(0.0, 0.5, (n, 1)) for n in sizes[1:]] if bias else None

    def _canonical(self, l):
        return self.W[l] if self.storage == "n_out x n_in" else self.W[l].T

    def _forward(self, x):
        zs, acts = [], [np.array(x, ndmin=2, dtype=self.W[0].dtype).T]  # computes in the weights' dtype
        for l in range(len(self.W)):
            z = self._canonical(l) @ acts[-1] + (self.b[l] if self.b else 0.0)
            f = ACT[self.output if l == len(self.W) - 1 else self.hidden][0]
            zs.append(z)
            acts.append(f(z))
        return zs, acts

    def query(self, inputs_list):
        return self._forward(inputs_list)[1][-1]

    def train(self, inputs_list, targets_list):
        zs, acts = self._forward(inputs_list)
        t = np.array(targets_list, ndmin=2, dtype=self.W[0].dtype).T
        L = len(self.W)
        df_out = ACT[self.output][1]
        e = acts[-1] - t
        dz = e if df_out is None else e * df_out(zs[-1])
        deltas = [dz]
        for l in range(L - 1, 0, -1):
            if self.rule == "book":  # the error goes down without the derivative of the layer above
                e = self._canonical(l).T @ e
                deltas.insert(0, e * ACT[self.hidden][1](zs[l - 1]))
            else:
                deltas.insert(0, (self._canonical(l).T @ deltas[0]) * ACT[self.hidden][1](zs[l - 1]))
        for l, (d, a) in enumerate(zip(deltas, acts[:-1])):
            step = (-self.lr * (d @ a.T)).astype(self.W[l].dtype)  # canonical n_out x n_in
            if self.flip_layer == l + 1:
                step = -step
            if self.storage == "n_in x n_out":
                step = step.T
            if self.transpose_layer == l + 1:
                step = step.T
            self.W[l] = self.W[l] + step  # rebinds the list item: the checker must see it
            if self.b:
                self.b[l] -= self.lr * d


class DeadOutputNet(Net):
    """ReLU everywhere, output weights all negative: every output unit is dead for non-negative inputs."""

    def __init__(self, sizes, lr=0.1, rule="book"):
        super().__init__(sizes, lr, rule, hidden="relu", output="relu")
        self.W[-1] = -np.abs(self.W[-1])


class RaisesInTrain(Net):
    def train(self, inputs_list, targets_list):
        raise ValueError("shapes (10,1) and (12,1) not aligned")


class NoWeights:
    def __init__(self):
        self.lr = 0.1

    def train(self, inputs_list, targets_list):
        pass

    def query(self, inputs_list):
        return inputs_list


class NoTrain:
    def __init__(self):
        self.W = np.zeros((3, 4))

    def query(self, inputs_list):
        return self.W @ inputs_list


class Noisy(Net):
    """Prints on every call, as debugging code does: stdout must stay clean."""

    def query(self, inputs_list):
        print("query called")
        return super().query(inputs_list)

    def train(self, inputs_list, targets_list):
        print("train called")
        super().train(inputs_list, targets_list)


class ReversedAttributes:
    """The book's 3-layer sigmoid net with its output weights defined first, and column biases beside them."""

    def __init__(self, n_in, n_hidden, n_out, lr):
        self.who = np.random.normal(0.0, n_hidden ** -0.5, (n_out, n_hidden))
        self.b_out = np.zeros((n_out, 1))
        self.wih = np.random.normal(0.0, n_in ** -0.5, (n_hidden, n_in))
        self.lr = lr

    def query(self, inputs_list):
        x = np.array(inputs_list, ndmin=2).T
        return _sigmoid(self.who @ _sigmoid(self.wih @ x) + self.b_out)

    def train(self, inputs_list, targets_list):
        x = np.array(inputs_list, ndmin=2).T
        t = np.array(targets_list, ndmin=2).T
        h = _sigmoid(self.wih @ x)
        y = _sigmoid(self.who @ h + self.b_out)
        dz = (y - t) * y * (1 - y)
        dh = (self.who.T @ dz) * h * (1 - h)
        self.who -= self.lr * dz @ h.T
        self.b_out -= self.lr * dz
        self.wih -= self.lr * dh @ x.T
