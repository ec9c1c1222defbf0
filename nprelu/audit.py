"""Beyond the paper: is a capped ReLU robust, or does it only hide its gradient?

Capping at a small beta saturates most units, so the input gradient is often exactly zero and a
gradient attack stalls. That looks like robustness but may be gradient masking (Athalye, Carlini
& Wagner, 2018). This module holds the attacks that do not rely on the true gradient:

    pgd_adaptive  PGD with random restarts, the CW margin loss instead of cross-entropy, and
                  optionally BPDA (straight-through: plain ReLU's derivative through the caps)
    square_linf   the Square attack (Andriushchenko et al., 2020): random search, no gradient
    transfer      PGD examples crafted on the uncapped twin, fed to the capped model

(the APGD attacks of AutoAttack are in nprelu.apgd), and the diagnostics that flag masking:
share of exactly-zero gradients, inputs where PGD fails but FGSM succeeds, accuracy as eps
grows to 1, and `masking_flags`, which turns an evaluation's numbers into plain warnings.
"""

from __future__ import annotations

import numpy as np

from .apgd import apgd, apgd_targeted
from .attacks import fgsm, loss_gradient, pgd, pgd_from
from .checks import check_batch, check_choice, check_count, check_number, check_seed
from .losses import logit_margin
from .metrics import attack_report
from .network import Network
from .progress import bar


def pgd_adaptive(model: Network, x: np.ndarray, y: np.ndarray, eps: float, step: float,
                 iters: int, restarts: int = 0, loss: str = "margin", bpda: bool = False,
                 seed: int = 0) -> np.ndarray:
    """L-inf PGD on `loss`, first from x itself and then from `restarts` uniform random points
    of the eps-ball; per sample, return the first run's point that is misclassified (or the last
    run's point if none is). Output within eps of x and in [0, 1]."""
    x, y = check_batch(model, x, y)
    check_choice(loss, "loss", ("ce", "margin"))
    e = model.dtype.type(check_number(eps, "eps", nonnegative=True))
    s = model.dtype.type(check_number(step, "step", nonnegative=True))
    iters = check_count(iters, "iters", minimum=0)
    restarts = check_count(restarts, "restarts", minimum=0)
    rng = np.random.default_rng(check_seed(seed))
    best = x.copy()
    fooled = np.zeros(len(x), bool)
    for r in range(restarts + 1):
        todo = np.flatnonzero(~fooled)
        if len(todo) == 0:
            break
        y0 = y[todo]
        adv = pgd_from(x[todo], y0, e, s, iters,
                       lambda a, b: loss_gradient(model, a, b, loss, bpda)[1],
                       rng if r > 0 else None)
        wrong = model.predict(adv) != y0
        best[todo] = adv
        fooled[todo[wrong]] = True
    return best


def square_linf(model: Network, x: np.ndarray, y: np.ndarray, eps: float, queries: int = 5000,
                p_init: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Square attack, L-inf, untargeted, on the margin loss (Andriushchenko et al., 2020).

    Start from vertical stripes of +-eps; then, for each sample still classified correctly, try
    a random square of side ~sqrt(p * 784) set to one random value +-eps around x, and keep it if
    the margin Z_y - max_{j != y} Z_j drops. p halves on the paper's schedule. Uses only forward
    passes: `queries` counts model evaluations per sample, the initial one included.
    Returns (x_adv, queries used per sample)."""
    x, y = check_batch(model, x, y)
    eps = check_number(eps, "eps", nonnegative=True)
    queries = check_count(queries, "queries")
    p_init = check_number(p_init, "p_init", positive=True, at_most=1)
    rng = np.random.default_rng(check_seed(seed))
    n, d = x.shape
    side = int(round(np.sqrt(d)))
    if side * side != d:
        raise ValueError(f"square_linf needs square images, got {d} pixels")
    img = x.reshape(n, side, side)
    stripes = rng.choice([-eps, eps], size=(n, 1, side)).astype(model.dtype)
    adv = np.clip(img + stripes, 0, 1)
    margin = logit_margin(model.forward(adv.reshape(n, d))[0], y)[0]
    used = np.ones(n, int)
    for it in range(1, queries):
        active = np.flatnonzero(margin > 0)
        if len(active) == 0:
            break
        p = _p_schedule(p_init, it, queries)
        s = max(1, min(side - 1, int(round(np.sqrt(p * d)))))
        cand = adv[active].copy()
        r0 = rng.integers(0, side - s + 1, len(active))
        c0 = rng.integers(0, side - s + 1, len(active))
        vals = rng.choice([-eps, eps], size=len(active)).astype(model.dtype)
        for k in range(len(active)):  # one square per sample: a tiny write, not a hot loop
            a, b = r0[k], c0[k]
            cand[k, a : a + s, b : b + s] = np.clip(img[active[k], a : a + s, b : b + s]
                                                    + vals[k], 0, 1)
        new = logit_margin(model.forward(cand.reshape(len(active), d))[0], y[active])[0]
        better = new < margin[active]
        adv[active[better]] = cand[better]
        margin[active[better]] = new[better]
        used[active] += 1
    return adv.reshape(n, d), used


def _p_schedule(p_init: float, it: int, queries: int) -> float:
    """The piecewise-constant schedule of the Square attack paper, rescaled to 10 000 queries."""
    i = int(it / queries * 10000)
    for limit, div in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32),
                       (4000, 64), (6000, 128), (8000, 256)):
        if i <= limit:
            return p_init / div
    return p_init / 512


def pgd_report(model: Network, x: np.ndarray, y: np.ndarray, eps: float, step: float,
               iters: int) -> dict[str, float]:
    """PGD's numbers with their masking flag, in %: standard accuracy ("clean"), accuracy on the
    attacked inputs ("robust"), success rate (nprelu.metrics.attack_report), and the share of
    inputs whose gradient is exactly zero ("zero_gradient"), where PGD cannot move at all."""
    x_adv = pgd(model, x, y, eps, step, iters)
    return {**attack_report(model, x, y, x_adv),
            "zero_gradient": 100 * zero_gradient_share(model, x, y)}


def zero_gradient_share(model: Network, x: np.ndarray, y: np.ndarray) -> float:
    """Share of inputs whose cross-entropy input gradient is exactly zero in every pixel."""
    _, g = model.input_gradient(x, y)
    return float((~np.any(g != 0, axis=1)).mean())


def pgd_fails_fgsm_succeeds(model: Network, x: np.ndarray, y: np.ndarray, eps: float = 0.1
                            ) -> float:
    """Share of inputs where PGD (eps, eps/10, 10 iterations) leaves the input correct while
    FGSM (eps) flips it: a sign that PGD's small steps stall on a flat (masked) gradient."""
    ok_pgd = model.predict(pgd(model, x, y, eps, eps / 10, 10)) == y
    ok_fgsm = model.predict(fgsm(model, x, y, eps)) == y
    return float((ok_pgd & ~ok_fgsm).mean())


def robust_per_input(model: Network, x: np.ndarray, y: np.ndarray,
                     adversarials: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Which inputs survive (bool (N,) each): "clean" classified correctly; per attack in
    `adversarials` (name -> x_adv (N, 784)) correct clean *and* on its adversarial (a robust
    accuracy, never above the clean one); "worst_case" correct under all of them at once."""
    clean = model.predict(x) == y
    correct = {"clean": clean}
    correct.update({name: clean & (model.predict(adv) == y) for name, adv in adversarials.items()})
    correct["worst_case"] = np.logical_and.reduce(list(correct.values()))
    return correct


def attack_ensemble(model: Network, twin: Network, x: np.ndarray, y: np.ndarray, eps: float,
                    iters: int = 100, restarts: int = 4, square_queries: int = 5000,
                    seed: int = 0) -> dict:
    """The worst case over every attack of the project at radius eps, per input.

    FGSM and PGD-10 (Table 1's), APGD-CE, APGD-DLR and targeted APGD-DLR against all nine
    other classes (AutoAttack's gradient attacks; `iters` iterations, 1 restart), BPDA (margin
    PGD through the caps as plain ReLUs, `iters` steps of 0.01, `restarts` random restarts),
    Square (`square_queries` queries, no gradient) and transfer (margin PGD crafted on `twin`).
    Returns the accuracy in % on clean inputs ("clean"), under each attack, and under all of
    them at once ("worst_case"), the share of inputs with an exactly zero gradient (%), and
    "per_input": the accuracies as 0/1 per input."""
    attacks = {  # run one after the other, in this order, each on the whole batch
        "fgsm": lambda: fgsm(model, x, y, eps),
        "pgd": lambda: pgd(model, x, y, eps, 0.01, 10),
        "apgd_ce": lambda: apgd(model, x, y, eps, iters, "ce", seed=seed).x_adv,
        "apgd_dlr": lambda: apgd(model, x, y, eps, iters, "dlr", seed=seed).x_adv,
        "apgd_t": lambda: apgd_targeted(model, x, y, eps, iters, n_targets=9, seed=seed).x_adv,
        "bpda": lambda: pgd_adaptive(model, x, y, eps, 0.01, iters, restarts=restarts,
                                     bpda=True, seed=seed),
        "square": lambda: square_linf(model, x, y, eps, queries=square_queries, seed=seed)[0],
        "transfer": lambda: pgd_adaptive(twin, x, y, eps, 0.01, iters, restarts=0),
    }
    advs = {}
    with bar(total=len(attacks), desc="attack ensemble", unit="attack") as b:
        for name, attack in attacks.items():
            b.set_postfix_str(name)
            advs[name] = attack()
            b.update()
    correct = robust_per_input(model, x, y, advs)
    return {**{k: 100 * float(v.mean()) for k, v in correct.items()},
            "zero_gradient_share": 100 * zero_gradient_share(model, x, y),
            "per_input": {k: v.astype(np.uint8) for k, v in correct.items()}}


attack_ensemble.version = 2  # 2: with the zero-gradient share


GRADIENT_FREE = ("square", "transfer")  # attacks that never use the model's own gradient


def masking_flags(numbers: dict, zero_share_limit: float = 1.0, eps1_limit: float = 15.0,
                  attacks: str = "FGSM and PGD") -> dict:
    """AutoAttack-style reliability checks (Croce & Hein, 2020) on an evaluation's numbers (%):

    - zero_gradient: more than `zero_share_limit` % of the inputs have an exactly zero input
      gradient, so a gradient attack cannot move them;
    - gradient_free_wins: a gradient-free attack (Square, transfer) leaves fewer inputs correct
      than every attack that follows the model's gradient;
    - not_broken_at_eps_1: at eps = 1 any image is reachable, yet PGD leaves more than
      `eps1_limit` % correct (needs numbers["eps_curve_pgd"], its last entry at eps 1).
    Returns the three flags and `warnings`, one sentence per raised flag; `attacks` names the
    gradient attacks the zero-gradient sentence speaks of."""
    white = [v for k, v in numbers.items() if k in WHITE_BOX and v is not None]
    free = [v for k, v in numbers.items() if k in GRADIENT_FREE and v is not None]
    zero = numbers.get("zero_gradient_share")
    curve = numbers.get("eps_curve_pgd")
    flags = {
        "zero_gradient": zero is not None and zero > zero_share_limit,
        "gradient_free_wins": bool(white and free and min(free) < min(white)),
        "not_broken_at_eps_1": bool(curve) and curve[-1] > eps1_limit,
    }
    warnings = []
    if flags["zero_gradient"]:
        warnings.append(f"{zero:.1f} % of the inputs have an exactly zero input gradient: "
                        f"{attacks} cannot move them, so the accuracy under attack overstates "
                        "robustness (gradient masking)")
    if flags["gradient_free_wins"]:
        warnings.append(f"an attack that does not use the gradient (accuracy {min(free):.1f} %)"
                        f" beats every gradient attack (best {min(white):.1f} %): the gradient "
                        "is misleading")
    if flags["not_broken_at_eps_1"]:
        warnings.append(f"at eps = 1, where any image can be reached, PGD still leaves "
                        f"{curve[-1]:.1f} % correct: the attack is stuck, not the model robust")
    return {**flags, "warnings": warnings}


WHITE_BOX = ("fgsm", "pgd", "apgd_ce", "apgd_dlr", "apgd_t", "bpda")
