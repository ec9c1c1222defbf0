"""Training: one mini-batch Adam loop with pluggable objectives, and the recipes on it.

    train                  the loop: shuffle, then per batch the objective's loss and gradient
                           (nprelu.objectives: clean cross-entropy, adversarial examples, the
                           IBP mix), any penalties (a learned cap's), one Adam step
    adversarial_finetune   Sec. 8's recipe: a clean-trained net trained further on FGSM or PGD
                           examples only (eps 0.1), with a fresh Adam
    ibp_train              certified training with interval bounds (Gowal et al., 2018)
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
from .network import Network
from .objectives import Adversarial, At, CrossEntropy, IBPMix
from .optim import Adam
from .progress import bar, say

Adversary = Callable[[Network, np.ndarray, np.ndarray], np.ndarray]


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
    model: Network,
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
    objective=None,
    penalties=(),
    lr_drops: tuple = (),
) -> dict:
    """Train `model` in place; return its history per epoch: mean loss, training accuracy
    (and, with the IBP objective, the IBP-certified share and eps).

    Each step: the objective fills model.grads for the batch (default: cross-entropy; an
    `adversary` is shorthand for Adversarial(adversary)), every penalty adds its gradient,
    Adam takes a step. x: (N, n_in) images in [0, 1]; y: (N,) labels. Shuffles with
    numpy.random.default_rng(seed) each epoch; the same seed and data give the same weights.
    A partial last batch is kept. The learning rate is divided by 10 at each epoch listed in
    `lr_drops`. `optimizer` lets a caller continue an earlier run. With `progress`, prints one
    line per epoch (prefixed by `desc`) and, on a terminal, a bar over the steps."""
    x = check_images(x, model.n_in).astype(model.dtype, copy=False)
    y = check_labels(y, len(x), model.n_out)
    epochs = check_count(epochs, "epochs", minimum=0)
    batch_size = check_count(batch_size, "batch_size")
    if objective is None:
        objective = CrossEntropy() if adversary is None else Adversarial(adversary)
    rng = np.random.default_rng(seed)
    opt = optimizer or Adam([model.params], lr=lr)
    history: dict[str, list[float]] = {"loss": [], "acc": []}
    n = len(x)
    steps = (n + batch_size - 1) // batch_size
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, once
        for epoch in range(epochs):
            if epoch in lr_drops:
                opt.lr /= 10
            order = rng.permutation(n)
            total_loss, correct, certified = 0.0, 0, None
            steps_bar = bar(range(steps), desc=f"{desc} {epoch + 1}/{epochs}", enabled=progress)
            for s in steps_bar:
                idx = order[s * batch_size : (s + 1) * batch_size]
                xb, yb = x[idx], y[idx]
                at = At(epoch, s, steps)
                step = objective(model, xb, yb, at)
                loss = step.loss + sum(penalty(model) for penalty in penalties)
                _check_loss(loss, desc, epoch, epochs, s, steps, opt.lr)
                opt.step([model.grads])
                total_loss += loss * len(idx)
                correct += int((step.logits.argmax(1) == yb).sum())
                if step.certified is not None:
                    certified = (certified or 0) + step.certified
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
            extra = objective.describe(At(epoch, steps - 1, steps))
            if certified is not None:
                history.setdefault("certified", []).append(certified / n)
                history.setdefault("eps", []).append(objective.schedule(
                    At(epoch, steps - 1, steps))[0])
            if progress:
                cert = (f", IBP-certified {100 * certified / n:.2f} %" if certified is not None
                        else "")
                say(f"{desc}: epoch {epoch + 1}/{epochs}{extra}, loss {total_loss / n:.4f}, "
                    f"train acc {100 * correct / n:.2f} %{cert}")
    return history


def adversarial_finetune(
    model: Network,
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
                 objective=Adversarial(adversary), progress=progress, desc=desc)


def ibp_train(
    model: Network,
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
    """Certified training with interval bounds (Gowal et al., 2018), in place: the IBP mix
    (nprelu.objectives.IBPMix: eps_t is 0 for `warmup` epochs, then grows linearly to `eps` over
    `ramp` epochs while kappa falls from 1 to kappa_end), a fresh Adam, batches shuffled with
    default_rng(seed), the learning rate divided by 10 at each epoch in `lr_drops`. Returns
    per-epoch mean loss, clean and IBP-certified training accuracy (on the batches, at that
    epoch's eps) and eps."""
    epochs = check_count(epochs, "epochs")
    return train(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                 objective=IBPMix(eps, warmup, ramp, kappa_end), lr_drops=lr_drops,
                 progress=progress, desc=desc)


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
    dataset: str = "mnist"  # the data it is trained on (and must be evaluated on)

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
        data = "" if self.dataset == "mnist" else f" on {self.dataset}"
        return f"{arch} {caps}{act}{adv}{ibp}{data} seed {self.seed}"


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
            model = MLP(spec.hidden, dict(spec.caps), spec.activation, spec.c, seed=spec.seed,
                        dataset=spec.dataset)
            ibp_train(model, x, y, spec.ibp_eps, epochs=spec.epochs, batch_size=spec.batch_size,
                      lr=spec.lr, warmup=spec.ibp_warmup, ramp=spec.ibp_ramp,
                      kappa_end=spec.ibp_kappa, lr_drops=spec.lr_drops, seed=spec.seed,
                      progress=progress, desc=spec.label())
        else:
            model = MLP(spec.hidden, dict(spec.caps), spec.activation, spec.c, seed=spec.seed,
                        dataset=spec.dataset)
            train(model, x, y, epochs=spec.epochs,
                  batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed, progress=progress,
                  desc=spec.label())
    return model
