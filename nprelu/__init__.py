"""nprelu: "Is ReLU Adversarially Robust?" (Sooksatra, Hamerly, Rivas) in NumPy + numba."""

from .activations import (
    CappedReLU,
    ScaledSigmoid,
    ScaledTanh,
    capped_relu,
    relu,
    scaled_sigmoid,
    scaled_tanh,
)
from .attacks import FGSM, PGD, ZeroGradResult, fgsm, pgd, zero_gradient_search
from .cw import CWResult, black_image_class, cw_accuracies, cw_l2
from .data import MNISTError, load_mnist, load_mnist_split
from .layers import Dense
from .losses import cw_margin, softmax_cross_entropy
from .metrics import (
    accuracy,
    attack_report,
    layer_distances,
    mean_std,
    robust_accuracy,
    sensitivity_map,
    success_rate,
)
from .model import MLP
from .optim import Adam
from .train import Spec, TrainingDiverged, adversarial_finetune, fit, train
from .version import VERSION as __version__  # noqa: N811

__all__ = [
    # model and training
    "MLP", "Dense", "Adam", "Spec", "TrainingDiverged", "adversarial_finetune", "fit", "train",
    "CappedReLU", "ScaledSigmoid", "ScaledTanh", "capped_relu", "relu", "scaled_sigmoid",
    "scaled_tanh", "cw_margin", "softmax_cross_entropy",
    # attacks
    "FGSM", "PGD", "CWResult", "ZeroGradResult", "black_image_class", "cw_accuracies",
    "cw_l2", "fgsm", "pgd", "zero_gradient_search",
    # metrics
    "accuracy", "attack_report", "layer_distances", "mean_std", "robust_accuracy",
    "sensitivity_map", "success_rate",
    # data
    "MNISTError", "load_mnist", "load_mnist_split", "__version__",
]
