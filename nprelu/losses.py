"""Losses on logits Z (N, K): softmax cross-entropy (training, FGSM, PGD) and the CW margin."""

from __future__ import annotations

import numpy as np

from . import kernels as K


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample loss_n = logsumexp(Z_n) - Z_n[y_n] (N,) and its gradient dloss_n/dZ_n (N, K).

    Computed from logits with the log-sum-exp trick, never as log(softmax(Z)).
    """
    loss = np.empty(logits.shape[0], logits.dtype)
    dlogits = np.empty_like(logits)
    K.softmax_xent(logits, y, loss, dlogits)
    return loss, dlogits


def log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))


def logit_margin(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z_y - max_{j != y} Z_j per sample (N,), and the runner-up class j (N,).

    Negative exactly when some other class beats the true one (the input is misclassified)."""
    rows = np.arange(len(logits))
    other = logits.copy()
    other[rows, y] = -np.inf
    j = other.argmax(axis=1)
    return logits[rows, y] - logits[rows, j], j


def cw_margin(logits: np.ndarray, y: np.ndarray, kappa: float = 0.0, raw: bool = False):
    """Carlini-Wagner margin f = max(Z_y - max_{j != y} Z_j, -kappa), per sample, and df/dZ.

    The gradient is +1 at the true class and -1 at the strongest other class while the margin is
    above -kappa, and 0 once it is clamped (the attack has then done its job for this sample).
    raw=True also returns the unclamped margin (negative: misclassified), as a third value.
    """
    rows = np.arange(len(logits))
    margin, j = logit_margin(logits, y)
    f = np.maximum(margin, -kappa)
    active = margin > -kappa
    df = np.zeros_like(logits)
    df[rows[active], y[active]] = 1
    df[rows[active], j[active]] = -1
    if raw:
        return f.astype(logits.dtype), df, margin
    return f.astype(logits.dtype), df
