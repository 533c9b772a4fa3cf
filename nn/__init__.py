"""The 4-layer NumPy network and its math: activations, initializers,
outputs/losses, exact and book backprop, K stacked networks, optimizers,
diagnostics.

NumPy only: no file I/O, no parallelism, no plotting.
"""
from .activations import ACTIVATIONS, Activation, get_activation
from .diagnostics import DEAD_TOL, LAYER_METRICS, diagnose
from .initializers import INITIALIZERS, get_initializer
from .network import (
    BACKPROP_RULES,
    DTYPES,
    Architecture,
    Grads,
    Params,
    accuracy,
    backward,
    forward,
    init_params,
    is_finite,
    loss_and_accuracy,
    sgd_update,
)
from .optimizers import HYPER_PARAMETERS, OPTIMIZERS, Optimizer, OptimizerState, get_optimizer, init_state
from .outputs import OUTPUTS, get_output
from .training import train_epoch

__all__ = [
    "ACTIVATIONS", "Activation", "get_activation", "DEAD_TOL", "LAYER_METRICS", "diagnose",
    "INITIALIZERS", "get_initializer", "BACKPROP_RULES", "DTYPES", "Architecture", "Grads",
    "Params", "accuracy", "backward", "forward", "init_params", "is_finite", "loss_and_accuracy",
    "sgd_update", "HYPER_PARAMETERS", "OPTIMIZERS", "Optimizer", "OptimizerState", "get_optimizer",
    "init_state", "OUTPUTS", "get_output", "train_epoch",
]
