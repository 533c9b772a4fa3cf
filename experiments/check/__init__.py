"""``python -m experiments check FILE.py:CLASS``: does a hand-written network's
training step follow the negative gradient of its loss, layer by layer?

Terms used throughout:

- *weights*: the user's weight matrices, ordered from input to output;
  layer l (1-based) is the l-th of them.
- *step* ``dW``: how much one call of the user's ``train`` changes a weight
  matrix (new minus old), measured on the user's own arrays.
- *gradient* ``g``: dL/dW of the loss of the user's ``query`` output, by
  central finite differences (:mod:`.gradient`), on a random subset of the
  entries of large layers.
- *learning rate* ``lr``: measured, as |dW| / |g| of the output layer where
  its step is parallel to the gradient.

Files, one job each: :mod:`.load` (import the file, build the class, call it
safely), :mod:`.weights` (find and order the weight matrices), :mod:`.state`
(snapshot and restore the instance), :mod:`.gradient` (losses and the
finite-difference reference), :mod:`.probe` (one train step per sample),
:mod:`.compare` (classes and per-layer verdicts), :mod:`.forward` (the
network's forward pass, reproduced to test hypotheses), :mod:`.hypotheses`,
:mod:`.render` (table, paragraph, JSON) and :mod:`.command` (the subcommand).
"""
from .command import add_parser, run

__all__ = ["add_parser", "run"]
