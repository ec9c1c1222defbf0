"""How robust is a model? Accuracy, robust accuracy, success rate, layer distances, smap."""

from __future__ import annotations

import numpy as np

from .model import MLP, check_y


def accuracy(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    """Share of inputs classified correctly, in [0, 1]."""
    y = check_y(y, len(x), model.n_out)
    return float((model.predict(x) == y).mean()) if len(y) else float("nan")
