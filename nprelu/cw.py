"""The Carlini-Wagner L2 attack (Carlini & Wagner, 2017), untargeted, on the logits.

For an input x of class y, CW looks for the closest x' (in L2) that the model misclassifies, by
minimising over w, with x' = (tanh(w) + 1) / 2 so that x' stays in [0, 1]:

    ||x' - x||^2 + c * f(x'),    f(x') = max(Z_y(x') - max_{j != y} Z_j(x'), -kappa)

The three parts, as in the CW paper, each a function below:
1. `minimise_for_c`: for a fixed trade-off constant c (one per input), Adam on w for `steps`
   iterations, starting at the clean input, stopping early where the loss has stalled;
2. `Best`: the bookkeeping of the closest misclassified point found so far, over all c;
3. `next_c`: the binary search on c, per input: multiply by 10 until the first success, then
   bisect between the largest c that failed and the smallest that succeeded.
`cw_l2` runs them over chunks of inputs.

Counting the result: two accountings
------------------------------------
CW has no eps bound, so "accuracy under CW" is the share of inputs for which it found no
misclassified point. *How* a tool reports an input it failed on decides that number:

- **honest** (ours): a failed input keeps its clean image, so it counts as correct exactly when
  the net classified it correctly to begin with: accuracy = mean(correct & ~success).
- **foolbox 3** (`L2CarliniWagnerAttack`, the tool whose defaults are the paper's CW settings):
  its `run` starts with `best_advs = zeros_like(x)` and replaces a row only when an iterate is
  adversarial, so for a failed input it returns the **all-zero (black) image**. Its `success`
  flag is `is_adversarial(returned image)`, and a user who computes the net's accuracy on the
  returned images counts a failed input as correct only if the net puts the black image in the
  input's class: accuracy = mean(~success & (class of the black image == y)). (An input
  misclassified at the start counts as adversarial in both: CW's first iterate is the input.)

- **the D-ReLU authors' code** (Carlini's own l2_attack.py, called with 10 iterations and 5
  binary steps): Carlini's code also returns the all-zero image for an input it failed on
  (`o_bestattack` starts as zeros); their evaluation then replaces every returned image
  farther than L2 = 12 from its input (on MNIST) by the input itself, and counts the net's
  accuracy on the result. A failed input therefore counts as correct if the black image is
  farther than 12 from it and the net classified it correctly, or if the black image is within
  12 and the net puts the black image in its class (`max_l2_accuracy`).

A net that masks its gradient makes CW fail on most inputs; the honest count then stays high,
while foolbox's falls to about the share of test labels equal to the black image's class (~10 %).
`CWResult.foolbox_images` rebuilds the images foolbox would return, and `cw_accuracies` counts
both from per-input outcomes (what the records store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .checks import check_batch, check_count, check_number
from .losses import cw_margin
from .network import Network
from .optim import adam_step


@dataclass
class CWResult:
    x_adv: np.ndarray  # (N, D) best adversarial point found; the clean input where none was found
    l2: np.ndarray  # (N,) its L2 distance to the clean input; inf where none was found
    success: np.ndarray  # (N,) bool
    c: np.ndarray  # (N,) the smallest c that succeeded (inf where none did)
    iterations: int  # optimisation steps actually run (over all binary steps, summed per chunk)

    def foolbox_images(self) -> np.ndarray:
        """The images foolbox 3's CW returns for this outcome: the found point where the attack
        succeeded, the all-zero image where it failed (its `best_advs` starts at zeros)."""
        return np.where(self.success[:, None], self.x_adv, 0).astype(self.x_adv.dtype)


def black_image_class(model: Network) -> int:
    """The class the net gives the all-zero image: what foolbox's CW returns for a failed input
    is counted as (see "two accountings" above)."""
    return int(model.predict(np.zeros((1, model.n_in), model.dtype))[0])


def cw_accuracies(correct, success, y, black_class: int) -> dict[str, float]:
    """Accuracy under CW (%) in both accountings, from per-input outcomes (n,):
    `correct` (clean image classified correctly), `success` (CW found a misclassified point),
    the labels `y`, and the net's class for the black image.

    honest:  mean(correct & ~success)          a failed input keeps its clean image
    foolbox: mean(~success & (black == y))     a failed input becomes the black image"""
    correct, success = np.asarray(correct, bool), np.asarray(success, bool)
    y = np.asarray(y)
    if not (correct.shape == success.shape == y.shape) or correct.ndim != 1:
        raise ValueError(f"correct, success and y must be 1-D of one length, got shapes "
                         f"{correct.shape}, {success.shape}, {y.shape}")
    if len(y) == 0:
        raise ValueError("cw_accuracies needs at least one input")
    return {"honest": 100 * float((correct & ~success).mean()),
            "foolbox": 100 * float((~success & (y == black_class)).mean())}


def max_l2_accuracy(correct, success, l2, x_norm, y, black_class: int,
                    max_l2: float = 12.0) -> float:
    """Accuracy under CW (%) as the D-ReLU authors' code counts it (see "two accountings"
    above), from per-input outcomes (n,): `correct` (clean image classified correctly),
    `success` and `l2` (CW's result; l2 is ignored where it failed), the inputs' own L2 norms
    `x_norm` (the distance of the black image), the labels `y`, the net's class for the black
    image. The returned image is the found point, or the black image where CW failed; one
    farther than `max_l2` from its input is replaced by the input:

        d = l2 where success, else x_norm
        accuracy = mean(d > max_l2 & correct  |  d <= max_l2 & ~success & (black == y))"""
    correct, success = np.asarray(correct, bool), np.asarray(success, bool)
    l2, x_norm, y = np.asarray(l2, float), np.asarray(x_norm, float), np.asarray(y)
    if not (correct.shape == success.shape == l2.shape == x_norm.shape == y.shape) \
            or correct.ndim != 1 or len(y) == 0:
        raise ValueError(f"correct, success, l2, x_norm and y must be 1-D of one nonzero "
                         f"length, got shapes {correct.shape}, {success.shape}, {l2.shape}, "
                         f"{x_norm.shape}, {y.shape}")
    max_l2 = check_number(max_l2, "max_l2", positive=True)
    d = np.where(success, l2, x_norm)
    kept = (d > max_l2) & correct
    black = (d <= max_l2) & ~success & (y == black_class)
    return 100 * float((kept | black).mean())


def to_w(x: np.ndarray) -> np.ndarray:
    """Inverse of x = (tanh(w) + 1) / 2, with a factor just below 1 so x = 0 or 1 stays finite."""
    return np.arctanh((2 * x.astype(np.float64) - 1) * 0.999999).astype(x.dtype)


@dataclass
class Best:
    """The closest misclassified point found so far per input (over every c tried)."""

    x: np.ndarray  # (N, D), starts as the clean inputs
    l2: np.ndarray  # (N,), inf until a misclassified point is found
    c: np.ndarray  # (N,) smallest c that succeeded

    @classmethod
    def start(cls, x: np.ndarray) -> Best:
        n = len(x)
        return cls(x.copy(), np.full(n, np.inf), np.full(n, np.inf))

    def offer(self, rows: np.ndarray, xa: np.ndarray, l2sq: np.ndarray, hit: np.ndarray) -> None:
        """Keep xa[k] for input rows[k] if it is misclassified (hit) and closer than the best."""
        better = hit & (l2sq < self.l2[rows] ** 2)
        if better.any():
            self.l2[rows[better]] = np.sqrt(l2sq[better])
            self.x[rows[better]] = xa[better]


def minimise_for_c(model: Network, x0: np.ndarray, y0: np.ndarray, c: np.ndarray, best: Best,
                   rows: np.ndarray, steps: int, lr: float, kappa: float, abort_early: bool
                   ) -> tuple[np.ndarray, int]:
    """Adam on w for a fixed c (m,), starting at the clean inputs x0 (m, D) with labels y0.

    Offers every iterate to `best` (rows: the inputs' indices in it). With abort_early, an input
    leaves when its loss has not improved by 0.01 % since the last check (every steps // 10
    iterations). Returns (which inputs were misclassified at some iterate (m,), iterations)."""
    f = model.dtype.type
    m = len(x0)
    succeeded = np.zeros(m, bool)
    active = np.arange(m)
    w = to_w(x0)
    am, av = np.zeros_like(w), np.zeros_like(w)
    prev = np.full(m, np.inf)
    check_every = max(steps // 10, 1)
    it = 0
    for it in range(1, steps + 1):
        xa = (np.tanh(w) + 1) / 2
        diff = xa - x0[active]
        l2sq = (diff.astype(np.float64) ** 2).sum(1)
        cc = c[active]
        logits, cache = model.forward(xa, check=False)
        margin, dmargin, raw_margin = cw_margin(logits, y0[active], kappa, raw=True)
        gx = model.backward(cache, dmargin * cc[:, None].astype(f), param_grads=False)
        loss = l2sq + cc * margin
        # adversarial when the true logit trails the best other class by more than kappa
        hit = raw_margin < -kappa
        best.offer(rows[active], xa, l2sq, hit)
        succeeded[active[hit]] = True
        # gradient w.r.t. w: (2 diff + c dmargin/dx') * dx'/dw, dx'/dw = (1 - tanh^2 w) / 2
        gx += 2 * diff
        gw = gx * (1 - (2 * xa - 1) ** 2) / 2
        adam_step(w.reshape(-1), gw.astype(w.dtype).reshape(-1), am.reshape(-1),
                  av.reshape(-1), it, lr)
        if abort_early and it % check_every == 0:
            stalled = loss > prev[active] * 0.9999
            prev[active] = loss
            if stalled.any():
                keep = ~stalled
                active, w, am, av = active[keep], w[keep], am[keep], av[keep]
                if len(active) == 0:
                    break
    return succeeded, it


def next_c(c: np.ndarray, lower: np.ndarray, upper: np.ndarray, succeeded: np.ndarray
           ) -> np.ndarray:
    """One binary-search step on c, per input (lower and upper are updated in place): a success
    lowers the upper bound, a failure raises the lower one; c becomes the midpoint once an upper
    bound exists, else c * 10."""
    upper[succeeded] = np.minimum(upper[succeeded], c[succeeded])
    lower[~succeeded] = np.maximum(lower[~succeeded], c[~succeeded])
    return np.where(upper < 1e9, (lower + upper) / 2, c * 10)


def cw_l2(
    model: Network,
    x: np.ndarray,
    y: np.ndarray,
    steps: int = 10000,
    lr: float = 0.01,
    initial_c: float = 1e-3,
    binary_steps: int = 9,
    kappa: float = 0.0,
    abort_early: bool = True,
    batch: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> CWResult:
    """Untargeted Carlini-Wagner L2 attack, batched (defaults: the paper's Sec. 8 settings).

    Per chunk of `batch` inputs: `binary_steps` times, `minimise_for_c` with the current c
    (starting at initial_c), then `next_c`. Each binary step restarts at the clean input with a
    fresh Adam. `progress(done, total)` is called after every binary step of every chunk."""
    x, y = check_batch(model, x, y)
    steps = check_count(steps, "steps")
    binary_steps = check_count(binary_steps, "binary_steps")
    batch = model.chunk(check_count(batch, "batch"))
    lr = check_number(lr, "lr", positive=True)
    initial_c = check_number(initial_c, "initial_c", positive=True)
    kappa = check_number(kappa, "kappa", nonnegative=True)
    n = len(x)
    best = Best.start(x)
    total_iters = 0
    n_chunks = (n + batch - 1) // batch
    for ci, i in enumerate(range(0, n, batch)):
        rows = np.arange(i, min(i + batch, n))
        c = np.full(len(rows), initial_c)
        lower, upper = np.zeros(len(rows)), np.full(len(rows), 1e10)
        for bs in range(binary_steps):
            succeeded, iters = minimise_for_c(model, x[rows], y[rows], c, best, rows, steps, lr,
                                              kappa, abort_early)
            total_iters += iters
            best.c[rows[succeeded]] = np.minimum(best.c[rows[succeeded]], c[succeeded])
            c = next_c(c, lower, upper, succeeded)
            if progress is not None:
                progress(ci * binary_steps + bs + 1, n_chunks * binary_steps)
    return CWResult(best.x, best.l2.astype(np.float32), np.isfinite(best.l2), best.c,
                    total_iters)
