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


def _check_loss(loss: float, desc: str, epoch: int, epochs: int, step: int, steps: int,
                lr: float) -> None:
    """Stop at the first non-finite loss, naming where (nothing is saved after a raise)."""
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"{desc}: training diverged at epoch {epoch + 1} of {epochs}, step {step + 1} of "
            f"{steps}: the loss is {loss}. Nothing was saved; try a smaller learning rate "
            f"(lr is {lr:g}).")


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
                _check_loss(loss, desc, epoch, epochs, s, steps, opt.lr)
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


def ibp_train(
    model: MLP,
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    epochs: int = 30,
    batch_size: int = 100,
    lr: float = 1e-3,
    warmup: int = 2,
    ramp: int = 10,
    kappa_end: float = 0.5,
    lr_drops: tuple = (),
    seed: int = 0,
    progress: bool = True,
    desc: str = "IBP training",
) -> dict:
    """Certified training with interval bounds (Gowal et al., 2018), in place.

    Each step minimises  kappa * CE(z(x), y) + (1 - kappa) * CE(zhat(x, eps_t), y), where zhat
    are IBP's worst-case logits over the eps_t-ball (nprelu.certify.ibp_worst_logits): the
    network is trained to make its own certificate hold. eps_t is 0 for `warmup` epochs, then
    grows linearly to `eps` over `ramp` epochs while kappa falls from 1 to kappa_end; the
    learning rate is divided by 10 at each epoch listed in `lr_drops`. Fresh Adam; batches
    shuffled with default_rng(seed). Returns per-epoch mean loss, clean and IBP-certified
    training accuracy (on the batches, at that epoch's eps)."""
    from .certify import ibp_backward, ibp_worst_logits
    from .losses import softmax_cross_entropy

    x = check_images(x, model.n_in).astype(model.dtype, copy=False)
    y = check_labels(y, len(x), model.n_out)
    eps = check_number(eps, "eps", nonnegative=True)
    epochs, batch_size = check_count(epochs, "epochs"), check_count(batch_size, "batch_size")
    warmup, ramp = check_count(warmup, "warmup", 0), check_count(ramp, "ramp", 0)
    kappa_end = check_number(kappa_end, "kappa_end", nonnegative=True, at_most=1)
    rng = np.random.default_rng(seed)
    opt = Adam([model.params], lr=lr)
    n = len(x)
    steps = (n + batch_size - 1) // batch_size
    ibp_grads = np.zeros_like(model.grads)
    history: dict[str, list[float]] = {"loss": [], "acc": [], "certified": [], "eps": []}
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(epochs):
            if epoch in lr_drops:
                opt.lr /= 10
            order = rng.permutation(n)
            total, correct, certified = 0.0, 0, 0
            for s in bar(range(steps), desc=f"{desc} {epoch + 1}/{epochs}", enabled=progress):
                t = (epoch * steps + s - warmup * steps) / max(ramp * steps, 1)
                ramped = min(max(t, 0.0), 1.0) if epoch >= warmup else 0.0
                eps_t, kappa = eps * ramped, 1 - (1 - kappa_end) * ramped
                idx = order[s * batch_size : (s + 1) * batch_size]
                xb, yb = x[idx], y[idx]
                loss, logits = model.loss_and_param_grads(xb, yb, check=False)
                if kappa < 1:
                    zhat, cache = ibp_worst_logits(model, xb, yb, eps_t)
                    ibp_loss, dz = softmax_cross_entropy(zhat, yb)
                    dz *= model.dtype.type(1.0 / len(idx))
                    ibp_backward(model, cache, dz, ibp_grads)
                    model.grads *= model.dtype.type(kappa)
                    model.grads += model.dtype.type(1 - kappa) * ibp_grads
                    loss = kappa * loss + (1 - kappa) * float(ibp_loss.mean())
                    others_below = (zhat < 0) | (np.arange(zhat.shape[1]) == yb[:, None])
                    certified += int(others_below.all(axis=1).sum())  # zhat_y is always 0
                _check_loss(loss, desc, epoch, epochs, s, steps, opt.lr)
                opt.step([model.grads])
                total += loss * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
            history["loss"].append(total / n)
            history["acc"].append(correct / n)
            history["certified"].append(certified / n)
            history["eps"].append(eps_t)
            if progress:
                say(f"{desc}: epoch {epoch + 1}/{epochs}, eps {eps_t:.3f}, kappa {kappa:.2f}, "
                    f"loss {total / n:.4f}, train acc {100 * correct / n:.2f} %, IBP-certified "
                    f"{100 * certified / n:.2f} %")
    return history


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
    # IBP training (ch10): ibp_eps > 0 trains with `ibp_train` instead of `train`
    ibp_eps: float = 0.0
    ibp_warmup: int = 0
    ibp_ramp: int = 0
    ibp_kappa: float = 0.5
    lr_drops: tuple = ()

    # fields added after the first cached models: part of the key only when they are set
    ADDED = ("ibp_eps", "ibp_warmup", "ibp_ramp", "ibp_kappa", "lr_drops")

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
        ibp = f" IBP-trained (eps {self.ibp_eps:g})" if self.ibp_eps else ""
        return f"{arch} {caps}{act}{adv}{ibp} seed {self.seed}"


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
        elif spec.ibp_eps:
            model = MLP(spec.hidden, dict(spec.caps), spec.activation, spec.c, seed=spec.seed)
            ibp_train(model, x, y, spec.ibp_eps, epochs=spec.epochs, batch_size=spec.batch_size,
                      lr=spec.lr, warmup=spec.ibp_warmup, ramp=spec.ibp_ramp,
                      kappa_end=spec.ibp_kappa, lr_drops=spec.lr_drops, seed=spec.seed,
                      progress=progress, desc=spec.label())
        else:
            model = MLP(spec.hidden, dict(spec.caps), spec.activation, spec.c, seed=spec.seed)
            train(model, x, y, epochs=spec.epochs,
                  batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed, progress=progress,
                  desc=spec.label())
    return model
