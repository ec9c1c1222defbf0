"""Auto-PGD (Croce & Hein, 2020), the gradient attacks of AutoAttack, L-inf.

PGD needs a step size; a fixed one is too large at the end and too small at the start. APGD
starts at 2 eps and halves the step on its own, at checkpoints, when progress stalls:

    x_{k+1} = P(x_k + a (z_{k+1} - x_k) + (1 - a)(x_k - x_{k-1})),  z = P(x_k + step sign(grad))

with momentum a = 0.75 (1 at the first step) and P the projection on the eps-ball and [0, 1].
Checkpoints come after 0.22 N iterations, then ever closer (the gap shrinks by 0.03 N per
checkpoint, to no less than 0.06 N). At a checkpoint the step is halved, and the iterate moved
back to the best point so far, for every input where
- the loss rose on at most 75 % of the steps since the last checkpoint, or
- the step was not halved at the last checkpoint and the best loss has not improved since.
The best point (highest loss) is kept apart from the current iterate, and so is any
misclassified point found on the way. Losses: cross-entropy, DLR (nprelu.losses.dlr_loss),
and the targeted DLR against each of the other classes in turn (`apgd_targeted`). This follows
the reference implementation (fra31/auto-attack, autoattack/autopgd_base.py) step by step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .attacks import loss_and_gradient
from .checks import check_batch, check_choice, check_count, check_number, check_seed
from .network import Network

LOSSES = ("ce", "dlr", "dlr-targeted")


@dataclass
class APGDResult:
    x_adv: np.ndarray  # (N, D): a misclassified point where one was found, else the best point
    fooled: np.ndarray  # (N,) bool: a misclassified point was found (or x was misclassified)
    loss: np.ndarray  # (N,) the highest loss reached (the clean loss where nothing ran)


def objective(model: Network, x: np.ndarray, y: np.ndarray, loss: str, target=None,
              bpda: bool = False):
    """(loss per input (N,), its input gradient (N, D), logits (N, K)) for the APGD losses:
    "ce", "dlr", or the targeted DLR against `target`."""
    return loss_and_gradient(model, x, y, "dlr_targeted" if target is not None else loss,
                             bpda, target)


def _oscillating(loss_steps: np.ndarray, j: int, k: int, rho: float = 0.75) -> np.ndarray:
    """Inputs whose loss rose on at most rho * k of the last k steps (ending at step j). As in
    the reference, loss_steps[j - k] for j = k - 1 is row -1, the last (unfilled) row."""
    rises = np.zeros(loss_steps.shape[1])
    for c in range(k):
        rises += loss_steps[j - c] > loss_steps[j - c - 1]
    return rises <= k * rho


def _project(x_new: np.ndarray, x: np.ndarray, eps) -> np.ndarray:
    return np.clip(np.minimum(np.maximum(x_new, x - eps), x + eps), 0, 1)


def apgd_run(model: Network, x: np.ndarray, y: np.ndarray, eps: float, iters: int, loss: str,
             rng: np.random.Generator, target=None, bpda: bool = False):
    """One APGD run from a random point of the eps-ball. Returns (best point, still correct,
    best loss, last misclassified point found) per input, like the reference's single run."""
    dt = x.dtype
    n = len(x)
    k, k_min, k_decr = max(int(0.22 * iters), 1), max(int(0.06 * iters), 1), max(
        int(0.03 * iters), 1)
    t = (2 * rng.random(x.shape) - 1).astype(dt)
    t /= np.abs(t).max(axis=1, keepdims=True) + dt.type(1e-12)
    x_adv = np.clip(x + dt.type(eps) * t, 0, 1)
    x_best, x_best_adv = x_adv.copy(), x_adv.copy()
    value, grad, logits = objective(model, x_adv, y, loss, target, bpda)
    correct = logits.argmax(axis=1) == y
    loss_best, grad_best = value.copy(), grad.copy()
    loss_steps = np.zeros((iters, n), value.dtype)
    step = np.full((n, 1), 2 * eps, dt)
    x_old = x_adv.copy()
    since_check, loss_best_at_check = 0, loss_best.copy()
    halved_at_check = np.ones(n, bool)
    for i in range(iters):
        momentum = dt.type(0.75 if i > 0 else 1.0)
        x_prev_step, x_old = x_adv - x_old, x_adv.copy()
        z = _project(x_adv + step * np.sign(grad), x, dt.type(eps))
        x_adv = _project(x_adv + (z - x_adv) * momentum + x_prev_step * (1 - momentum), x,
                         dt.type(eps))
        value, grad, logits = objective(model, x_adv, y, loss, target, bpda)
        now_wrong = logits.argmax(axis=1) != y
        correct &= ~now_wrong
        x_best_adv[now_wrong] = x_adv[now_wrong]
        loss_steps[i] = value
        better = value > loss_best
        x_best[better], grad_best[better], loss_best[better] = (
            x_adv[better], grad[better], value[better])
        since_check += 1
        if since_check == k:
            halve = _oscillating(loss_steps, i, k) | (~halved_at_check & (
                loss_best_at_check >= loss_best))
            halved_at_check, loss_best_at_check = halve, loss_best.copy()
            step[halve] /= 2
            x_adv[halve], grad[halve] = x_best[halve], grad_best[halve]
            k, since_check = max(k - k_decr, k_min), 0
    return x_best, correct, loss_best, x_best_adv


def _checked(model, x, y, eps, iters, restarts, seed):
    x, y = check_batch(model, x, y)
    return (x, y, check_number(eps, "eps", nonnegative=True), check_count(iters, "iters"),
            check_count(restarts, "restarts"), check_seed(seed))


def apgd(model: Network, x: np.ndarray, y: np.ndarray, eps: float, iters: int = 100,
         loss: str = "ce", restarts: int = 1, seed: int = 0, bpda: bool = False) -> APGDResult:
    """Untargeted APGD on `loss` ("ce" or "dlr"), `restarts` runs from random points, each on
    the inputs still classified correctly. bpda: straight-through gradients through the caps."""
    x, y, eps, iters, restarts, seed = _checked(model, x, y, eps, iters, restarts, seed)
    check_choice(loss, "loss", ("ce", "dlr"))
    rng = np.random.default_rng(seed)
    out = x.copy()
    best_loss = np.full(len(x), -np.inf, np.float32)
    fooled = model.predict(x) != y
    for _ in range(restarts):
        todo = np.flatnonzero(~fooled)
        if len(todo) == 0:
            break
        x_best, correct, loss_best, x_best_adv = apgd_run(model, x[todo], y[todo], eps, iters,
                                                          loss, rng, bpda=bpda)
        improved = loss_best > best_loss[todo]
        out[todo[improved]], best_loss[todo[improved]] = x_best[improved], loss_best[improved]
        out[todo[~correct]] = x_best_adv[~correct]
        fooled[todo[~correct]] = True
    return APGDResult(out, fooled, best_loss)


def apgd_targeted(model: Network, x: np.ndarray, y: np.ndarray, eps: float, iters: int = 100,
                  n_targets: int = 9, restarts: int = 1, seed: int = 0, bpda: bool = False
                  ) -> APGDResult:
    """APGD on the targeted DLR loss, against the 2nd, 3rd, ... (n_targets + 1)-th most likely
    class of each clean input in turn (all nine other classes of MNIST by default)."""
    x, y, eps, iters, restarts, seed = _checked(model, x, y, eps, iters, restarts, seed)
    n_targets = check_count(n_targets, "n_targets")
    rng = np.random.default_rng(seed)
    out = x.copy()
    best_loss = np.full(len(x), -np.inf, np.float32)
    fooled = model.predict(x) != y
    for rank in range(2, min(n_targets + 2, model.n_out + 1)):
        for _ in range(restarts):
            todo = np.flatnonzero(~fooled)
            if len(todo) == 0:
                return APGDResult(out, fooled, best_loss)
            target = np.argsort(-model.logits(x[todo]), axis=1, kind="stable")[:, rank - 1]
            x_best, correct, loss_best, x_best_adv = apgd_run(
                model, x[todo], y[todo], eps, iters, "dlr-targeted", rng, target, bpda)
            improved = loss_best > best_loss[todo]
            out[todo[improved]] = x_best[improved]
            best_loss[todo[improved]] = loss_best[improved]
            out[todo[~correct]] = x_best_adv[~correct]
            fooled[todo[~correct]] = True
    return APGDResult(out, fooled, best_loss)
