"""nprelu: "Is ReLU Adversarially Robust?" (Sooksatra, Hamerly, Rivas) in NumPy + numba."""

from .activations import (
    CappedReLU,
    LearnedCap,
    ScaledSigmoid,
    ScaledTanh,
    capped_relu,
    relu,
    scaled_sigmoid,
    scaled_tanh,
)
from .attacks import FGSM, PGD, ZeroGradResult, fgsm, pgd, zero_gradient_search
from .cw import CWResult, black_image_class, cw_accuracies, cw_l2, max_l2_accuracy
from .data import MNISTError, load_dataset, load_mnist, load_mnist_split, load_split_of
from .layers import Activation, Conv2D, Dense, Flatten, MaxPool2D
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
from .model import MLP, load_model
from .network import Network
from .optim import Adam
from .train import Spec, TrainingDiverged, adversarial_finetune, fit, train
from .version import VERSION as __version__  # noqa: N811

__all__ = [
    # model and training
    "MLP", "Network", "Dense", "Conv2D", "MaxPool2D", "Flatten", "Activation", "load_model",
    "Adam", "Spec", "TrainingDiverged", "adversarial_finetune", "fit", "train",
    "CappedReLU", "LearnedCap", "ScaledSigmoid", "ScaledTanh", "capped_relu", "relu",
    "scaled_sigmoid", "scaled_tanh", "cw_margin", "softmax_cross_entropy",
    # attacks
    "FGSM", "PGD", "CWResult", "ZeroGradResult", "black_image_class", "cw_accuracies",
    "max_l2_accuracy", "cw_l2", "fgsm", "pgd", "zero_gradient_search",
    # metrics
    "accuracy", "attack_report", "layer_distances", "mean_std", "robust_accuracy",
    "sensitivity_map", "success_rate",
    # data
    "MNISTError", "load_dataset", "load_mnist", "load_mnist_split", "load_split_of", "__version__",
]
