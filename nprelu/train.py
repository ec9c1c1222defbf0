"""Training: mini-batch Adam, clean or adversarial, and the recipes the paper's models follow.

    train                  mini-batch training with Adam; an optional adversary replaces each
                           batch by its adversarial version (Madry et al.'s min-max training)
    adversarial_finetune   Sec. 8's recipe: a clean-trained net trained further on FGSM or PGD
                           examples only (eps 0.1), with a fresh Adam
    Spec, fit              a model's whole recipe as data (architecture, caps, epochs, seed, ...)
                           and the function that follows it; the model cache is keyed by Spec

Training stops with TrainingDiverged at the first non-finite loss (or, checked after every
epoch, non-finite parameter), naming the epoch and step, so a diverged model is never saved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from .attacks import FGSM, PGD
from .checks import check_choice, check_count, check_images, check_labels, check_number
from .model import MLP
from .optim import Adam
from .progress import bar, say

Adversary = Callable[[MLP, np.ndarray, np.ndarray], np.ndarray]


class TrainingDiverged(RuntimeError):
    """The loss or a parameter became NaN or infinite during training."""


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

    x: (N, n_in) images in [0, 1]; y: (N,) labels. Shuffles with numpy.random.default_rng(seed)
    each epoch; the same seed and data give the same weights. A partial last batch is kept.
    `optimizer` lets a caller continue an earlier run. With `progress`, prints one line per
    epoch (prefixed by `desc`, which names the model) and, on a terminal, a bar over the steps.
    """
    x = check_images(x, model.n_in).astype(model.dtype, copy=False)
    y = check_labels(y, len(x), model.n_out)
    epochs = check_count(epochs, "epochs", minimum=0)
    batch_size = check_count(batch_size, "batch_size")
    rng = np.random.default_rng(seed)
    opt = optimizer or Adam([model.params], lr=lr)
    history: dict[str, list[float]] = {"loss": [], "acc": []}
    n = len(x)
    steps = (n + batch_size - 1) // batch_size
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, once
        for epoch in range(epochs):
            order = rng.permutation(n)
            total_loss, correct = 0.0, 0
            steps_bar = bar(range(steps), desc=f"{desc} {epoch + 1}/{epochs}", enabled=progress)
            for s in steps_bar:
                idx = order[s * batch_size : (s + 1) * batch_size]
                xb, yb = x[idx], y[idx]
                if adversary is not None:
                    xb = adversary(model, xb, yb)
                    loss, logits = model.loss_and_param_grads(xb, yb)  # the adversary's output
                else:
                    loss, logits = model.loss_and_param_grads(xb, yb, check=False)  # checked above
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"{desc}: training diverged at epoch {epoch + 1} of {epochs}, step "
                        f"{s + 1} of {steps}: the loss is {loss}. Nothing was saved; try a "
                        f"smaller learning rate (lr is {opt.lr:g}).")
                opt.step([model.grads])
                total_loss += loss * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
                if s % 200 == 0:
                    steps_bar.set_postfix(loss=f"{total_loss / ((s + 1) * batch_size):.4f}")
            steps_bar.close()
            if not np.all(np.isfinite(model.params)):
                raise TrainingDiverged(
                    f"{desc}: a parameter became NaN or infinite in epoch {epoch + 1} of {epochs} "
                    f"(after step {steps}). Nothing was saved; try a smaller learning rate "
                    f"(lr is {opt.lr:g}).")
            history["loss"].append(total_loss / n)
            history["acc"].append(correct / n)
            if progress:
                say(f"{desc}: epoch {epoch + 1}/{epochs}, loss {total_loss / n:.4f}, "
                    f"train acc {100 * correct / n:.2f} %")
    return history


def adversarial_finetune(
    model: MLP,
    x: np.ndarray,
    y: np.ndarray,
    attack: str,
    eps: float = 0.1,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
    desc: str = "adversarial training",
) -> dict:
    """Sec. 8's adversarial training of a clean-trained model, in place.

    The paper trains each net for 20 clean epochs, then for 10 more epochs on adversarial
    examples with eps 0.1: FGSM (one step of eps), or PGD (step 0.01, 10 iterations, no random
    start, the Table 1 attack). What the paper leaves open, we fix here: every batch is replaced
    by its adversarial version (no clean examples mixed in), Adam starts afresh with lr, and
    batches are shuffled with seed + 1, so they differ from the clean run that used `seed`."""
    check_choice(attack, "attack", ("fgsm", "pgd"))
    eps = check_number(eps, "eps", nonnegative=True)
    adversary = FGSM(eps) if attack == "fgsm" else PGD(eps, step=0.01, iters=10)
    return train(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed + 1,
                 adversary=adversary, progress=progress, desc=desc)


@dataclass(frozen=True)
class Spec:
    """How to build and train one model: everything that decides its weights.

    A clean spec (adv=None) trains MLP(hidden, caps, activation, c, seed) for `epochs` epochs
    on the first n_train training images. An adversarial spec (adv="fgsm" or "pgd") starts from
    the model of the same spec with adv=None and applies `adversarial_finetune` for adv_epochs.
    blas_threads is part of the recipe because OpenBLAS sums matrix products in another order
    with another thread count, and the weights then differ in their last bits."""

    hidden: tuple
    caps: tuple = ()  # ((hl, beta), ...), sorted
    activation: str = "relu"
    c: float = 1.0
    seed: int = 0
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    n_train: int = 60000
    adv: str | None = None  # None, "fgsm" or "pgd"
    adv_epochs: int = 0
    adv_eps: float = 0.1
    blas_threads: int = 1

    @property
    def clean(self) -> Spec:
        """The spec of the clean-trained model an adversarial spec starts from."""
        return replace(self, adv=None, adv_epochs=0)

    def as_dict(self) -> dict:
        return asdict(self)

    def label(self) -> str:
        caps = "+".join(f"HL{h}@{b:g}" for h, b in self.caps) or "uncapped"
        arch = "-".join(map(str, self.hidden))
        adv = f" {self.adv.upper()}-trained" if self.adv else ""
        act = "" if self.activation == "relu" else f" {self.activation}(c={self.c:g})"
        return f"{arch} {caps}{act}{adv} seed {self.seed}"


def fit(spec: Spec, x: np.ndarray, y: np.ndarray, base: MLP | None = None,
        progress: bool = True) -> MLP:
    """Follow `spec`: train a new model on x[:n_train], or (adversarial spec) fine-tune a copy
    of `base`, the trained model of spec.clean. Returns the trained model; `base` is untouched.
    Runs with spec.blas_threads BLAS threads."""
    from threadpoolctl import threadpool_limits

    x, y = x[: spec.n_train], y[: spec.n_train]
    with threadpool_limits(spec.blas_threads):
        if spec.adv:
            if base is None:
                raise ValueError(f"{spec.label()}: adversarial fine-tuning needs the clean model")
            model = base.copy()
            adversarial_finetune(model, x, y, spec.adv, eps=spec.adv_eps, epochs=spec.adv_epochs,
                                 batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed,
                                 progress=progress, desc=spec.label())
        else:
            model = MLP(spec.hidden, dict(spec.caps), spec.activation, spec.c, seed=spec.seed)
            train(model, x, y, epochs=spec.epochs,
                  batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed, progress=progress,
                  desc=spec.label())
    return model
