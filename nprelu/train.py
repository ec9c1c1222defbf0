"""Training: one mini-batch Adam loop with pluggable objectives, and the recipes on it.

    train                  the loop: shuffle, then per batch the objective's loss and gradient
                           (nprelu.objectives: clean cross-entropy, adversarial examples, the
                           IBP mix), any penalties (a learned cap's), one Adam step
    adversarial_finetune   Sec. 8's recipe: a clean-trained net trained further on FGSM or PGD
                           examples only (eps 0.1), with a fresh Adam
    ibp_train              certified training with interval bounds (Gowal et al., 2018)
    train_early_stopping   the D-ReLU authors' recipe: epochs until the validation loss stalls,
                           the learning rate halved on plateaus, the best epoch's weights kept
    Spec, fit              a model's whole recipe as data (architecture, caps, epochs, seed, ...)
                           and the function that follows it; the model cache is keyed by Spec

Training stops with TrainingDiverged at the first non-finite loss (or, checked after every
epoch, non-finite parameter), naming the epoch and step, so a diverged model is never saved.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from . import checkpoint as checkpoints
from .activations import LearnedCap
from .attacks import FGSM, PGD
from .checks import check_choice, check_count, check_images, check_labels, check_number
from .data import shuffle_split
from .losses import softmax_cross_entropy
from .model import MLP
from .network import Network, conv_entry
from .objectives import Adversarial, At, CapPenalty, CrossEntropy, IBPMix
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


def _say_resuming(desc: str, first: int, of: str, checkpoint) -> None:
    """The one line both training loops print when they pick a run up from its checkpoint."""
    say(f"{desc}: resuming after epoch {first} {of} from the checkpoint {checkpoint}")


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
    checkpoint: str | os.PathLike | None = None,
) -> dict:
    """Train `model` in place; return its history per epoch: mean loss, training accuracy
    (and, with the IBP objective, the IBP-certified share and eps).

    Each step: the objective fills model.grads for the batch (default: cross-entropy; an
    `adversary` is shorthand for Adversarial(adversary)), every penalty adds its gradient,
    Adam takes a step. x: (N, n_in) images in [0, 1]; y: (N,) labels. Shuffles with
    numpy.random.default_rng(seed) each epoch; the same seed and data give the same weights.
    A partial last batch is kept. The learning rate is divided by 10 at each epoch listed in
    `lr_drops`. `optimizer` lets a caller continue an earlier run. With `progress`, prints one
    line per epoch (prefixed by `desc`) and, on a terminal, a bar over the steps.

    With `checkpoint` (a file), the whole state is saved there after every epoch
    (nprelu.checkpoint), and a run that finds the file resumes after its last finished epoch:
    same arguments, same final weights as a run never interrupted. The caller deletes the file
    once the trained model is safe (Store.save_model does)."""
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
    first, started = 0, time.perf_counter()
    if checkpoint is not None:
        run = checkpoints.run_identity(
            model, x, y, desc=desc, epochs=epochs, batch_size=batch_size, lr=opt.lr, seed=seed,
            lr_drops=list(lr_drops), objective=type(objective).__name__,
            penalties=[type(p).__name__ for p in penalties])
        first, saved, before, _, _ = checkpoints.resume(checkpoint, run, model, opt, rng)
        if first:
            history = saved
            if progress:
                _say_resuming(desc, first, f"of {epochs}", checkpoint)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, once
        for epoch in range(first, epochs):
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
                bound = getattr(objective, "bound_name", "IBP")
                cert = (f", {bound}-certified {100 * certified / n:.2f} %"
                        if certified is not None else "")
                say(f"{desc}: epoch {epoch + 1}/{epochs}{extra}, loss {total_loss / n:.4f}, "
                    f"train acc {100 * correct / n:.2f} %{cert}")
            if checkpoint is not None:
                checkpoints.save(checkpoint, run, model, opt, rng, epoch + 1, history,
                                 before + time.perf_counter() - started)
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
    checkpoint: str | os.PathLike | None = None,
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
                 objective=Adversarial(adversary), progress=progress, desc=desc,
                 checkpoint=checkpoint)


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
    bound: str = "ibp",
    progress: bool = True,
    desc: str = "IBP training",
    checkpoint: str | os.PathLike | None = None,
) -> dict:
    """Certified training with interval bounds (Gowal et al., 2018), in place: the IBP mix
    (nprelu.objectives.IBPMix: eps_t is 0 for `warmup` epochs, then grows linearly to `eps` over
    `ramp` epochs while kappa falls from 1 to kappa_end), a fresh Adam, batches shuffled with
    default_rng(seed), the learning rate divided by 10 at each epoch in `lr_drops`. Returns
    per-epoch mean loss, clean and IBP-certified training accuracy (on the batches, at that
    epoch's eps) and eps. bound="crown-ibp" trains against CROWN-IBP's bound instead
    (nprelu.crown_ibp.CrownIBPMix: the same schedule, CROWN-IBP's share falling from 1 to 0 as
    eps_t ramps up; dense nets only), bound="crown-ibp-only" against CROWN-IBP's bound alone
    (its share stays 1)."""
    from .crown_ibp import CrownIBPMix

    epochs = check_count(epochs, "epochs")
    check_choice(bound, "bound", ("ibp", "crown-ibp", "crown-ibp-only"))
    objective = (IBPMix(eps, warmup, ramp, kappa_end) if bound == "ibp" else
                 CrownIBPMix(eps, warmup, ramp, kappa_end,
                             beta_end=1.0 if bound == "crown-ibp-only" else 0.0))
    return train(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                 objective=objective, lr_drops=lr_drops, progress=progress, desc=desc,
                 checkpoint=checkpoint)


def ibp_init(model: Network, seed: int = 0) -> Network:
    """Shi et al. (2021)'s initialisation for IBP training, in place: every dense layer but the
    last gets W ~ N(0, sigma^2) with sigma = sqrt(2 pi) / n_in, and b = 0 (the last keeps its
    weights). Why: a box of radius r around the layer's input becomes, after x W, a box of
    radius r * sum_i |W_ij| per unit, whose mean is n_in * E|w| * r = n_in * sigma *
    sqrt(2 / pi) * r = 2 r; the ReLU passes about half of the units, so the bounds keep their
    width through the layers. Glorot's weights widen them about 14-fold per layer of this
    paper's net (n_in * E|w| = 28 at 784 -> 392), and the early IBP loss is then dominated by
    bounds far looser than the net. Draws from default_rng(seed). Dense nets only."""
    dense = [layer for layer in model.layers if getattr(layer, "kind", "") == "dense"]
    if len(dense) != len([layer for layer in model.layers if layer.params]):
        raise ValueError("ibp_init handles nets of dense layers only (MLPs); this net has "
                         "other layers with weights")
    rng = np.random.default_rng(seed)
    for layer in dense[:-1]:
        sigma = math.sqrt(2 * math.pi) / layer.n_in
        layer.W[...] = rng.normal(0.0, sigma, size=layer.W.shape).astype(layer.W.dtype)
        layer.b[...] = 0
    return model


def train_early_stopping(
    model: Network,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    max_epochs: int = 2000,
    batch_size: int = 128,
    lr: float = 1e-3,
    patience: int = 10,
    lr_patience: int = 5,
    lr_factor: float = 0.5,
    min_lr: float = 1e-4,
    penalties=(),
    cap_lr: float | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
    checkpoint: str | os.PathLike | None = None,
) -> dict:
    """Train until the validation loss stops improving: the D-ReLU authors' Keras recipe
    (model.fit with ReduceLROnPlateau and EarlyStopping(restore_best_weights=True)), in place.

    After each epoch of `train` (one Adam throughout; each epoch's shuffle seeded from
    default_rng(seed)), the validation loss is the mean cross-entropy on (x_val, y_val) plus the
    penalties' values (Keras' compiled loss includes them). Then, as Keras does:
      - ReduceLROnPlateau: no improvement by more than 1e-4 for `lr_patience` epochs multiplies
        the learning rate by `lr_factor`, never below `min_lr`;
      - EarlyStopping: no improvement for `patience` epochs stops; the weights of the best
        epoch are restored.
    Returns the history per epoch: loss, acc (training), val_loss, val_acc, lr, and, for each
    learned-cap site, its mean cap max(m, 0) ("caps": a list per epoch); "stopped" is the
    number of epochs run and "best_epoch" the 1-based epoch whose weights were kept.

    `cap_lr` gives the learned caps a learning rate of their own (Adam's lr_scale; the plateau
    rule scales both alike). Adam moves a cap by about its learning rate per step, so from 100
    the caps need about 100 / lr steps to come down: cap_lr shortens that wait.

    `checkpoint`: as in `train`; here the file also keeps the rules' state (the best weights
    and loss, the plateau's, both waits), so a resumed run stops where one never stopped does."""
    max_epochs = check_count(max_epochs, "max_epochs")
    patience = check_count(patience, "patience")
    lr_patience = check_count(lr_patience, "lr_patience")
    lr_factor = check_number(lr_factor, "lr_factor", positive=True, at_most=1)
    min_lr = check_number(min_lr, "min_lr", positive=True)
    x_val = check_images(x_val, model.n_in).astype(model.dtype, copy=False)
    y_val = check_labels(y_val, len(x_val), model.n_out)
    learned = [a for a in model.acts if isinstance(a, LearnedCap)]
    scale = None
    if cap_lr is not None:
        cap_lr = check_number(cap_lr, "cap_lr", positive=True)
        scale = np.ones_like(model.params)
        for a in learned:
            scale[model.slice_of(a.m)] = cap_lr / lr
    opt = Adam([model.params], lr=lr, lr_scale=None if scale is None else [scale])
    epoch_seeds = np.random.default_rng(seed).integers(2**31, size=max_epochs)
    history: dict = {"loss": [], "acc": [], "val_loss": [], "val_acc": [], "lr": [], "caps": []}
    best_loss, best_params, best_epoch = math.inf, model.params.copy(), 0
    plateau_best, wait, lr_wait = math.inf, 0, 0
    first, started, before = 0, time.perf_counter(), 0.0
    if checkpoint is not None:
        run = checkpoints.run_identity(
            model, x, y, val=checkpoints.digest(x_val, y_val), desc=desc, max_epochs=max_epochs,
            batch_size=batch_size, lr=lr, patience=patience, lr_patience=lr_patience,
            lr_factor=lr_factor, min_lr=min_lr, cap_lr=cap_lr, seed=seed,
            penalties=[f"{type(p).__name__}{sorted(vars(p).items())}" for p in penalties],
            loop="early stopping")
        first, saved, before, loop, arrays = checkpoints.resume(checkpoint, run, model, opt, None)
        if first:
            history = saved
            best_params[...] = arrays["best_params"]
            best_loss, best_epoch = loop["best_loss"], loop["best_epoch"]
            plateau_best, wait, lr_wait = loop["plateau_best"], loop["wait"], loop["lr_wait"]
            if progress:
                _say_resuming(desc, first, f"of at most {max_epochs}", checkpoint)
    epoch = first - 1  # the last epoch done
    if checkpoint is not None and loop.get("stopped"):
        first = max_epochs  # the run had stopped: only the best weights are left to restore
    for epoch in range(first, max_epochs):
        h = train(model, x, y, epochs=1, batch_size=batch_size, seed=int(epoch_seeds[epoch]),
                  optimizer=opt, penalties=penalties, progress=False, desc=desc)
        logits = model.logits(x_val)
        val_loss = float(softmax_cross_entropy(logits, y_val)[0].mean())
        val_loss += sum(p.value(model) for p in penalties)
        for key, v in (("loss", h["loss"][0]), ("acc", h["acc"][0]), ("val_loss", val_loss),
                       ("val_acc", float((logits.argmax(1) == y_val).mean())), ("lr", opt.lr)):
            history[key].append(v)
        history["caps"].append([float(np.mean(a.beta)) for a in learned])
        if progress:
            caps = "".join(f", mean cap {c:.4g}" for c in history["caps"][-1])
            say(f"{desc}: epoch {epoch + 1}, loss {h['loss'][0]:.4f}, val loss {val_loss:.4f}, "
                f"val acc {100 * history['val_acc'][-1]:.2f} %, lr {opt.lr:g}{caps}")
        if val_loss < plateau_best - 1e-4:  # ReduceLROnPlateau (Keras' min_delta)
            plateau_best, lr_wait = val_loss, 0
        else:
            lr_wait += 1
            if lr_wait >= lr_patience and opt.lr > min_lr:
                opt.lr, lr_wait = max(opt.lr * lr_factor, min_lr), 0
        if val_loss < best_loss:  # EarlyStopping (min_delta 0)
            best_loss, best_params[...], best_epoch, wait = val_loss, model.params, epoch + 1, 0
        else:
            wait += 1
        stop = wait >= patience
        if checkpoint is not None:
            checkpoints.save(
                checkpoint, run, model, opt, None, epoch + 1, history,
                before + time.perf_counter() - started,
                loop={"best_loss": best_loss, "best_epoch": best_epoch, "wait": wait,
                      "plateau_best": plateau_best, "lr_wait": lr_wait, "stopped": stop},
                arrays={"best_params": best_params})
        if stop:
            break
    model.params[...] = best_params
    history["stopped"], history["best_epoch"] = epoch + 1, best_epoch
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
    ibp_bound: str = "ibp"  # the bound trained against: "ibp", "crown-ibp" (Zhang et al.: its
    # share falls to 0, ending on IBP's bound) or "crown-ibp-only" (CROWN-IBP's bound throughout)
    ibp_init: bool = False  # start from Shi et al.'s initialisation (`ibp_init`), not Glorot's
    dataset: str = "mnist"  # the data it is trained on (and must be evaluated on)
    # D-ReLU (ch11): learned caps on every hidden layer (starting at 100), lambda * sum m^2 on
    # the last hidden layer's; patience > 0 trains by `train_early_stopping` on the authors'
    # 80/20 split of the training images (epochs is then the maximum)
    learned_caps: bool = False
    cap_lam: float = 0.0
    patience: int = 0
    cap_lr: float = 0.0  # > 0: the caps' own learning rate (0: lr)
    # A convolutional net: ((channels, kernel, pool), ...) 'same' convolutions with plain
    # ReLUs (each followed by a pool x pool max-pool if pool > 1) before the hidden dense
    # layers, or (channels, kernel, pool, stride, pad) for another stride and padding;
    # conv_init "glorot" or "he" (Keras' he_uniform, D-ReLU's shallow CNN)
    convs: tuple = ()
    conv_init: str = "glorot"
    # A capped layer added to the trained model of the same spec without it (ch12; the
    # paper's future work): Network.with_capped_layer(added, added_beta), "input" or "output",
    # then added_epochs clean epochs
    added: str = ""
    added_beta: float = 0.0
    added_epochs: int = 0

    @property
    def clean(self) -> Spec:
        """The spec of the clean-trained model an adversarial spec starts from."""
        return replace(self, adv=None, adv_epochs=0)

    @property
    def base(self) -> Spec | None:
        """The spec of the trained model this one starts from: the net without the added
        layer, else (adversarial spec) the clean-trained net; None for a net trained afresh."""
        if self.added:
            return replace(self, added="", added_beta=0.0, added_epochs=0)
        return self.clean if self.adv else None

    @property
    def own_epochs(self) -> int:
        """The epochs of this recipe's own step, after the model it starts from (spec.base):
        the added layer's, the adversarial fine-tuning's, or the whole training's."""
        return self.added_epochs if self.added else self.adv_epochs if self.adv else self.epochs

    def as_dict(self) -> dict:
        return asdict(self)

    def arch(self) -> str:
        """The layers in short: '392-196' for an MLP, 'c16k5p2-c32k5p2-128' for a CNN (16
        5x5 kernels, 2x2 max-pool, ..., then the dense hidden layers)."""
        def conv(ch, k, pool, stride, pad):
            return (f"c{ch}k{k}" + (f"s{stride}" if stride > 1 else "")
                    + (f"pad{pad}" if pad != k // 2 else "") + (f"p{pool}" if pool > 1 else ""))
        return "-".join([*(conv(*conv_entry(e)) for e in self.convs), *map(str, self.hidden)])

    def label(self) -> str:
        caps = "+".join(f"HL{h}@{b:g}" for h, b in self.caps) or "uncapped"
        arch = self.arch()
        adv = f" {self.adv.upper()}-trained" if self.adv else ""
        if self.added:
            adv += (f" + capped layer at the {self.added} (beta {self.added_beta:g}, "
                    f"{self.added_epochs} epochs)")
        act = "" if self.activation == "relu" else f" {self.activation}(c={self.c:g})"
        ibp = (f" {self.ibp_bound.upper()}-trained (eps {self.ibp_eps:g}"
               + (", Shi et al.'s init)" if self.ibp_init else ")") if self.ibp_eps else "")
        data = "" if self.dataset == "mnist" else f" on {self.dataset}"
        if self.learned_caps:
            fast = f" cap lr {self.cap_lr:g}" if self.cap_lr else ""
            caps = f"D-ReLU lambda {self.cap_lam:g}{fast}"
        return f"{arch} {caps}{act}{adv}{ibp}{data} seed {self.seed}"


def fit(spec: Spec, x: np.ndarray, y: np.ndarray, base: MLP | None = None,
        progress: bool = True, checkpoint: str | os.PathLike | None = None) -> Network:
    """Follow `spec`: train a new model on x[:n_train], or fine-tune a copy of `base`, the
    trained model of spec.base (an added capped layer, or adversarial training). Returns the
    trained model; `base` is untouched. An early-stopped recipe (spec.patience > 0) leaves its
    history on model.history. Runs with spec.blas_threads BLAS threads. `checkpoint`: see
    `train` and `train_early_stopping` (every recipe resumes from it)."""
    from threadpoolctl import threadpool_limits

    x, y = x[: spec.n_train], y[: spec.n_train]
    if spec.ibp_init and not spec.ibp_eps:
        raise ValueError(f"{spec.label()}: ibp_init is an initialisation for IBP training; set "
                         "ibp_eps > 0 or leave ibp_init False")
    if spec.base is not None and base is None:
        raise ValueError(f"{spec.label()}: this recipe starts from the trained model of "
                         f"{spec.base.label()}; pass it as base")
    with threadpool_limits(spec.blas_threads):
        if spec.added:
            model = base.with_capped_layer(spec.added, spec.added_beta)
            train(model, x, y, epochs=spec.added_epochs, batch_size=spec.batch_size,
                  lr=spec.lr, seed=spec.seed + 2, progress=progress, desc=spec.label(),
                  checkpoint=checkpoint)
        elif spec.adv:
            model = base.copy()
            adversarial_finetune(model, x, y, spec.adv, eps=spec.adv_eps, epochs=spec.adv_epochs,
                                 batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed,
                                 progress=progress, desc=spec.label(), checkpoint=checkpoint)
        elif spec.patience:
            model = _fresh_model(spec)
            train_idx, val_idx = shuffle_split(len(x), 0.2, 42)  # the D-ReLU authors' split
            last_site = len(spec.convs) + len(spec.hidden)  # the D-ReLU next to the output
            penalties = ([CapPenalty(spec.cap_lam, last_site)]
                         if spec.learned_caps and spec.cap_lam else [])
            model.history = train_early_stopping(
                model, x[train_idx], y[train_idx], x[val_idx], y[val_idx],
                max_epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr,
                patience=spec.patience, lr_patience=max(spec.patience // 2, 1),
                penalties=penalties, cap_lr=spec.cap_lr or None, seed=spec.seed,
                progress=progress, desc=spec.label(), checkpoint=checkpoint)
        elif spec.ibp_eps:
            model = _fresh_model(spec)
            if spec.ibp_init:
                ibp_init(model, spec.seed)
            ibp_train(model, x, y, spec.ibp_eps, epochs=spec.epochs, batch_size=spec.batch_size,
                      lr=spec.lr, warmup=spec.ibp_warmup, ramp=spec.ibp_ramp,
                      kappa_end=spec.ibp_kappa, lr_drops=spec.lr_drops, seed=spec.seed,
                      bound=spec.ibp_bound, progress=progress, desc=spec.label(),
                      checkpoint=checkpoint)
        else:
            model = _fresh_model(spec)
            train(model, x, y, epochs=spec.epochs,
                  batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed, progress=progress,
                  desc=spec.label(), checkpoint=checkpoint)
    return model


def _fresh_model(spec: Spec) -> Network:
    """The untrained net of `spec`: the MLP of the paper; with spec.convs, a CNN of those
    convolutions and spec.hidden with spec.caps by activation site (the same net as
    Network.cnn); or with learned caps on every hidden dense layer (D-ReLU's dense net:
    Glorot-uniform weights as in Keras, caps starting at 100), after the convolutions of
    spec.convs if any (D-ReLU's shallow CNN)."""
    if spec.convs and not spec.learned_caps:  # caps by activation site, convolutions first
        if spec.activation != "relu":
            raise ValueError(f"{spec.label()}: a convolutional net here has (capped) ReLUs; "
                             "leave activation at relu")
        return Network.conv_dense(spec.convs, spec.hidden, init=spec.conv_init, seed=spec.seed,
                                  dataset=spec.dataset).set_caps(dict(spec.caps))
    if not spec.learned_caps:
        return MLP(spec.hidden, dict(spec.caps), spec.activation, spec.c, seed=spec.seed,
                   dataset=spec.dataset)
    if spec.caps or spec.activation != "relu":
        raise ValueError(f"{spec.label()}: learned caps replace fixed caps and other "
                         "activations; leave caps and activation at their defaults")
    if not spec.patience or spec.ibp_eps:
        raise ValueError(f"{spec.label()}: learned caps are trained by their authors' recipe "
                         "(train_early_stopping, with the penalty and the caps' learning rate); "
                         "set patience > 0 and leave ibp_eps at 0")
    if spec.convs:
        return Network.conv_dense(spec.convs, spec.hidden, LearnedCap, init=spec.conv_init,
                                  seed=spec.seed, dataset=spec.dataset)
    return Network.dense(spec.hidden, LearnedCap, seed=spec.seed, dataset=spec.dataset)
