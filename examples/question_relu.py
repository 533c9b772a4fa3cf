"""The question's network: the book's class grown to 4 layers, with ReLU on
both hidden layers AND the output layer, and the book's update rule kept.

As the question (and issue 2 of this project) gives it: no biases, the book's
initializer, targets 0.01/0.99, squared error, one sample per update. The
ReLU derivative is the step ``z > 0``; the error is still passed down as
``W.T @ errors``, without the derivative of the layer above.

    python -m experiments check examples/question_relu.py:neuralNetwork --args '(784, 200, 100, 10, 0.1)'
"""
import numpy


class neuralNetwork:
    def __init__(self, inputnodes, hiddennodes1, hiddennodes2, outputnodes, learningrate):
        self.inodes = inputnodes
        self.h1nodes = hiddennodes1
        self.h2nodes = hiddennodes2
        self.onodes = outputnodes
        self.wih = numpy.random.normal(0.0, pow(self.h1nodes, -0.5), (self.h1nodes, self.inodes))
        self.whh = numpy.random.normal(0.0, pow(self.h2nodes, -0.5), (self.h2nodes, self.h1nodes))
        self.who = numpy.random.normal(0.0, pow(self.onodes, -0.5), (self.onodes, self.h2nodes))
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

        output_errors = targets - final_out
        hidden2_errors = numpy.dot(self.who.T, output_errors)
        hidden1_errors = numpy.dot(self.whh.T, hidden2_errors)
        self.who += self.lr * numpy.dot(output_errors * self.activation_derivative(final_in), h2_out.T)
        self.whh += self.lr * numpy.dot(hidden2_errors * self.activation_derivative(h2_in), h1_out.T)
        self.wih += self.lr * numpy.dot(hidden1_errors * self.activation_derivative(h1_in), inputs.T)

    def query(self, inputs_list):
        return self._forward(numpy.array(inputs_list, ndmin=2).T)[-1]
