"""Losses on logits Z (N, K): softmax cross-entropy (training, FGSM, PGD), the CW margin, the DLR
losses, and the cross-entropy an attack library computes on a softmax output by mistake."""

from __future__ import annotations

import numpy as np

from . import kernels


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample loss_n = logsumexp(Z_n) - Z_n[y_n] (N,) and its gradient dloss_n/dZ_n (N, K).

    Computed from logits with the log-sum-exp trick, never as log(softmax(Z)).
    """
    loss = np.empty(logits.shape[0], logits.dtype)
    dlogits = np.empty_like(logits)
    kernels.softmax_xent(logits, y, loss, dlogits)
    return loss, dlogits


def softmax_output_cross_entropy(logits: np.ndarray, y: np.ndarray
                                 ) -> tuple[np.ndarray, np.ndarray]:
    """The loss an attack library computes when it expects logits but the model ends in softmax
    (cleverhans' FGSM/PGD on a Keras model with a softmax output layer): cross-entropy with the
    probabilities p = softmax(Z) taken as if they were logits,

        loss_n = logsumexp(p_n) - p_n[y_n],   dloss_n/dZ_n = p_n * (g_n - <p_n, g_n>),
        g_n = softmax(p_n) - onehot(y_n)      (the chain rule through softmax).

    Per-sample loss (N,) and gradient (N, K), in the logits' dtype. Since p lies in [0, 1] the
    loss saturates; where the net is confident the gradient is nearly proportional to the
    logits' cross-entropy gradient (so a sign attack takes the same step), but where several
    classes compete the two weight the classes differently and can point a pixel the other way
    (tests/test_attacks.py has such a case)."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p = p.astype(logits.dtype)
    loss, g = softmax_cross_entropy(p, y)
    dz = p * (g - (p * g).sum(axis=1, keepdims=True))
    return loss, dz.astype(logits.dtype)


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


def dlr_loss(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Difference of Logits Ratio (Croce & Hein, 2020), per sample, to be maximised, and dL/dZ.

        DLR = -(Z_y - max_{i != y} Z_i) / (Z_pi1 - Z_pi3 + 1e-12)

    with Z_pi1 >= Z_pi2 >= ... the sorted logits. The ratio does not change when the logits are
    shifted or scaled by a positive number, so a net cannot hide behind large or flat logits."""
    if logits.shape[1] < 3:
        raise ValueError(f"the DLR loss needs at least 3 classes, got {logits.shape[1]}")
    rows = np.arange(len(logits))
    z = logits.astype(np.float64)
    order = np.argsort(-z, axis=1, kind="stable")
    p1, p3 = order[:, 0], order[:, 2]
    other = z.copy()
    other[rows, y] = -np.inf
    m = other.argmax(axis=1)
    num = z[rows, y] - z[rows, m]
    den = z[rows, p1] - z[rows, p3] + 1e-12
    loss = -num / den
    grad = np.zeros_like(z)
    np.add.at(grad, (rows, y), -1 / den)
    np.add.at(grad, (rows, m), 1 / den)
    np.add.at(grad, (rows, p1), num / den**2)
    np.add.at(grad, (rows, p3), -num / den**2)
    return loss.astype(logits.dtype), grad.astype(logits.dtype)


def dlr_loss_targeted(logits: np.ndarray, y: np.ndarray, target: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Targeted DLR (Croce & Hein, 2020), to be maximised, and dL/dZ:

        -(Z_y - Z_t) / (Z_pi1 - (Z_pi3 + Z_pi4) / 2 + 1e-12)

    Maximising it pushes the target class t above the true class y."""
    if logits.shape[1] < 4:
        raise ValueError(f"the targeted DLR loss needs at least 4 classes, got "
                         f"{logits.shape[1]}")
    rows = np.arange(len(logits))
    z = logits.astype(np.float64)
    order = np.argsort(-z, axis=1, kind="stable")
    p1, p3, p4 = order[:, 0], order[:, 2], order[:, 3]
    num = z[rows, y] - z[rows, target]
    den = z[rows, p1] - (z[rows, p3] + z[rows, p4]) / 2 + 1e-12
    loss = -num / den
    grad = np.zeros_like(z)
    np.add.at(grad, (rows, y), -1 / den)
    np.add.at(grad, (rows, target), 1 / den)
    np.add.at(grad, (rows, p1), num / den**2)
    np.add.at(grad, (rows, p3), -num / den**2 / 2)
    np.add.at(grad, (rows, p4), -num / den**2 / 2)
    return loss.astype(logits.dtype), grad.astype(logits.dtype)
