"""How robust is a model? Accuracy, robust accuracy, success rate, layer distances, smap."""

from __future__ import annotations

import numpy as np

from .checks import check_batch, check_images
from .network import Network


def accuracy(model: Network, x: np.ndarray, y: np.ndarray) -> float:
    """Share of inputs classified correctly, in [0, 1]."""
    x, y = check_batch(model, x, y)
    return float((model.predict(x) == y).mean())


def success_rate(model: Network, x: np.ndarray, x_adv: np.ndarray, y: np.ndarray) -> float:
    """Share of the correctly classified clean inputs whose adversarial version is misclassified
    (nan when no input is classified correctly)."""
    x, y = check_batch(model, x, y)
    x_adv = check_images(x_adv, model.n_in, "x_adv")
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv has shape {x_adv.shape}, x has {x.shape}; they must match")
    clean_ok = model.predict(x) == y
    if not clean_ok.any():
        return float("nan")
    return float((model.predict(x_adv[clean_ok]) != y[clean_ok]).mean())


def attack_report(model: Network, x: np.ndarray, y: np.ndarray, x_adv: np.ndarray
                  ) -> dict[str, float]:
    """The three numbers of Figs. 4-6, in %: standard accuracy on x ("clean"), accuracy on the
    adversarial x_adv ("robust", as the paper computes it) and the attack's success rate (as
    `success_rate`; None when no input is classified correctly). One prediction per input."""
    x, y = check_batch(model, x, y)
    x_adv = check_images(x_adv, model.n_in, "x_adv")
    ok, ok_adv = model.predict(x) == y, model.predict(x_adv) == y
    return {"clean": 100 * float(ok.mean()), "robust": 100 * float(ok_adv.mean()),
            "success": 100 * float((~ok_adv[ok]).mean()) if ok.any() else float("nan")}


def layer_distances(model: Network, x: np.ndarray, x_adv: np.ndarray) -> list[dict[str, float]]:
    """Per hidden layer: mean over samples of the L-inf and L2 distance between its output on
    the clean and on the adversarial input (Fig. 1). Returns [{"linf": .., "l2": ..}, ...]."""
    out = []
    for h, ha in zip(model.hidden_outputs(x), model.hidden_outputs(x_adv)):
        d = (ha - h).astype(np.float64)
        out.append({"linf": float(np.abs(d).max(1).mean()),
                    "l2": float(np.sqrt((d**2).sum(1)).mean())})
    return out


def sensitivity_map(model: Network, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eq. (2): smap = max(0, dZ_t/dx * sum_{c != t} dZ_c/dx), elementwise, on the logits Z.

    x: (N, D); t: (N,) target (true) classes. Returns the maps (N, D) and their sums (N,).
    Two backward passes: one with dlogits = onehot(t), one with dlogits = 1 - onehot(t).
    """
    x, t = check_batch(model, x, t)
    logits, cache = model.forward(x, check=False)
    onehot = np.zeros_like(logits)
    onehot[np.arange(len(t)), t] = 1
    g_t = model.backward(cache, onehot, param_grads=False)
    g_rest = model.backward(cache, 1 - onehot, param_grads=False)
    smap = np.maximum(0, g_t * g_rest)
    return smap, smap.sum(axis=1)


def robust_accuracy(model: Network, x: np.ndarray, x_adv: np.ndarray, y: np.ndarray) -> float:
    """Share of inputs classified correctly both clean and after the attack (so it can never
    exceed clean accuracy, even if an attack happens to fix a misclassified input)."""
    x, y = check_batch(model, x, y)
    return float(((model.predict(x) == y) & (model.predict(x_adv) == y)).mean())


def mean_std(values) -> tuple[float, float]:
    """Mean and (population) standard deviation over seeds, ignoring missing values (None or
    NaN); (nan, nan) when nothing is left, std 0 for a single value."""
    v = np.array([np.nan if x is None else x for x in values], float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std()) if len(v) > 1 else 0.0
