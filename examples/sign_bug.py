"""The exact-backprop network of question_exact.py with a sign bug, as it
happens when two conventions for the error meet: the output layer uses
``targets - outputs`` and adds its step, but the error sent down to the
hidden layers is computed the other way round, ``outputs - targets``, while
those layers still add theirs. Both hidden layers then climb the loss.

    python -m experiments check examples/sign_bug.py:neuralNetwork --args '(784, 200, 100, 10, 0.1)'
"""
import numpy


class neuralNetwork:
    def __init__(self, inputnodes, hiddennodes1, hiddennodes2, outputnodes, learningrate):
        self.wih = numpy.random.normal(0.0, pow(hiddennodes1, -0.5), (hiddennodes1, inputnodes))
        self.whh = numpy.random.normal(0.0, pow(hiddennodes2, -0.5), (hiddennodes2, hiddennodes1))
        self.who = numpy.random.normal(0.0, pow(outputnodes, -0.5), (outputnodes, hiddennodes2))
        self.lr = learningrate
        self.activation_function = lambda x: numpy.maximum(x, 0.0)
        self.activation_derivative = lambda x: (x > 0).astype(float)

    def _forward(self, inputs):
        h1_in = numpy.dot(self.wih, inputs)
        h1_out = self.activation_function(h1_in)
        h2_in = numpy.dot(self.whh, h1_out)
        h2_out = self.activation_function(h2_in)
        final_in = numpy.dot(self.who, h2_out)
        return h1_in, h1_out, h2_in, h2_out, final_in, self.activation_function(final_in)

    def train(self, inputs_list, targets_list):
        inputs = numpy.array(inputs_list, ndmin=2).T
        targets = numpy.array(targets_list, ndmin=2).T
        h1_in, h1_out, h2_in, h2_out, final_in, final_out = self._forward(inputs)

        output_delta = (targets - final_out) * self.activation_derivative(final_in)
        # the bug: the loss gradient's sign, sent down while the steps below still add
        sent_down = (final_out - targets) * self.activation_derivative(final_in)
        hidden2_delta = numpy.dot(self.who.T, sent_down) * self.activation_derivative(h2_in)
        hidden1_delta = numpy.dot(self.whh.T, hidden2_delta) * self.activation_derivative(h1_in)
        self.who += self.lr * numpy.dot(output_delta, h2_out.T)
        self.whh += self.lr * numpy.dot(hidden2_delta, h1_out.T)
        self.wih += self.lr * numpy.dot(hidden1_delta, inputs.T)

    def query(self, inputs_list):
        return self._forward(numpy.array(inputs_list, ndmin=2).T)[-1]
