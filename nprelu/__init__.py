"""nprelu: "Is ReLU Adversarially Robust?" (Sooksatra, Hamerly, Rivas) in NumPy + numba."""

__version__ = "0.1.0"

from .activations import Activation, capped_relu, relu, scaled_sigmoid, scaled_tanh
from .attacks import FGSM, PGD, CWResult, ZeroGradResult, cw_l2, fgsm, pgd, zero_gradient_search
from .data import MNISTError, load_mnist
from .layers import Dense
from .losses import cw_margin, softmax_cross_entropy
from .metrics import accuracy, layer_distances, robust_accuracy, sensitivity_map, success_rate
from .model import MLP
from .optim import Adam
from .train import train

__all__ = [
    "FGSM", "PGD", "CWResult", "ZeroGradResult", "cw_l2", "fgsm", "pgd", "zero_gradient_search",
    "layer_distances", "robust_accuracy", "sensitivity_map", "success_rate",
    "Activation", "Adam", "Dense", "accuracy", "MLP", "MNISTError", "capped_relu", "cw_margin",
    "load_mnist", "relu", "scaled_sigmoid", "scaled_tanh", "softmax_cross_entropy", "train",
]
