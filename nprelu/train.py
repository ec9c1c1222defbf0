"""Mini-batch training with Adam, clean or adversarial.

An adversary is any callable `adversary(model, x, y) -> x_adv` (FGSM and PGD from
nprelu.attacks are such callables). When one is given, each mini-batch is replaced by its
adversarial version before the gradient step (Madry et al.'s min-max training; the paper's
Sec. 8 trains on FGSM or PGD examples with eps 0.1).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from .model import MLP, check_x, check_y
from .optim import Adam

Adversary = Callable[[MLP, np.ndarray, np.ndarray], np.ndarray]


def train(
    model: MLP,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    adversary: Adversary | None = None,
    optimizer: Adam | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict:
    """Train `model` in place; return a history {"loss": [...], "acc": [...]} per epoch.

    Shuffles with numpy.random.default_rng(seed) each epoch; the same seed and data give the same
    weights. A partial last batch is kept. `optimizer` lets a caller continue an earlier run.
    """
    x = check_x(x, model.n_in).astype(model.dtype, copy=False)
    y = check_y(y, len(x), model.n_out)
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    rng = np.random.default_rng(seed)
    opt = optimizer or Adam([model.params], lr=lr)
    history: dict[str, list[float]] = {"loss": [], "acc": []}
    n = len(x)
    steps = (n + batch_size - 1) // batch_size
    for epoch in range(epochs):
        order = rng.permutation(n)
        total_loss, correct = 0.0, 0
        bar = tqdm(range(steps), desc=f"{desc} {epoch + 1}/{epochs}", disable=not progress,
                   leave=False, mininterval=0.5)
        for s in bar:
            idx = order[s * batch_size : (s + 1) * batch_size]
            xb, yb = x[idx], y[idx]
            if adversary is not None:
                xb = adversary(model, xb, yb)
                loss, logits = model.loss_and_param_grads(xb, yb)  # the adversary's output
            else:
                loss, logits = model._loss_and_param_grads(xb, yb)  # checked above, once
            opt.step([model.grads])
            total_loss += loss * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            if s % 200 == 0:
                bar.set_postfix(loss=f"{total_loss / ((s + 1) * batch_size):.4f}")
        history["loss"].append(total_loss / n)
        history["acc"].append(correct / n)
        if progress:
            tqdm.write(f"{desc} epoch {epoch + 1}/{epochs}: loss {total_loss / n:.4f}, "
                       f"train acc {100 * correct / n:.2f} %")
    return history
