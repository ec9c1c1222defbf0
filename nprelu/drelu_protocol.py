"""The D-ReLU authors' evaluation (chapter 11), as their public code runs it.

Sooksatra & Rivas (Mathematics 12(22), 3551, 2024) evaluate a net at eps 0.1 with
(github.com/kornsook/dynamic_max_relu, train_evaluation.py):

    FGSM, PGD   cleverhans on the Keras model that ends in softmax, so the attack's cross-entropy
                takes probabilities as logits (our loss="softmax_output"); PGD 100 steps of
                eps/10 from a random start in the eps-ball
    APGD-CE,    AutoAttack on the logits, 100 iterations, one run (its "rand" version averages
    APGD-DLR    20 gradients per step, all equal on a deterministic net)
    CW-L2       10 iterations, 5 binary steps; Carlini's code returns the black image for an
                input it failed on, and an image farther than L2 = 12 from the input counts as a
                failure (nprelu.cw.max_l2_accuracy)

`their_protocol` returns all of it for one net, beside what a sound reading of the same CW run
gives; `certified` is the certificate column the chapter sets beside it.
"""

from __future__ import annotations

import numpy as np

from . import certify as _certify
from .activations import LearnedCap
from .apgd import apgd
from .attacks import fgsm, pgd
from .cw import black_image_class, cw_accuracies, cw_l2, max_l2_accuracy
from .network import Network
from .paper import DRELU


def their_protocol(model: Network, x: np.ndarray, y: np.ndarray, seed: int,
                   eps: float = 0.1) -> dict:
    """Accuracy (%) on x (N, 784), y (N,) under each attack of the D-ReLU authors' evaluation
    at radius eps: clean, fgsm, pgd, apgd_ce, apgd_dlr, cw (their count); cw_found (inputs CW
    really moved across the boundary), cw_honest (a failed input keeps its clean image),
    black_class (how the net reads the black image), mean_m (the mean learned cap of the last
    activation site, None if it is not a learned cap)."""
    correct = model.predict(x) == y
    out = {"clean": 100 * float(correct.mean())}
    advs = {"fgsm": fgsm(model, x, y, eps, loss="softmax_output"),
            "pgd": pgd(model, x, y, eps, eps / 10, DRELU["pgd_steps"], random_start=True,
                       seed=seed, loss="softmax_output")}
    for name, adv in advs.items():
        out[name] = 100 * float((model.predict(adv) == y).mean())
    for loss in ("ce", "dlr"):
        fooled = apgd(model, x, y, eps, DRELU["pgd_steps"], loss, seed=seed).fooled
        out[f"apgd_{loss}"] = 100 * float((correct & ~fooled).mean())
    cw = cw_l2(model, x, y, steps=DRELU["cw_iters"], binary_steps=DRELU["cw_binary"], lr=0.01,
               initial_c=1e-3)
    black = black_image_class(model)
    out["cw"] = max_l2_accuracy(correct, cw.success, cw.l2, np.linalg.norm(x, axis=1), y, black,
                                max_l2=DRELU["max_l2"])
    out["cw_found"] = 100 * float((cw.success & correct).mean())  # genuine successes
    out["cw_honest"] = cw_accuracies(correct, cw.success, y, black)["honest"]
    out["black_class"] = black
    act = model.sites[-1].act
    out["mean_m"] = float(np.mean(act.m)) if isinstance(act, LearnedCap) else None
    return out


their_protocol.version = 1


def certified(model: Network, x: np.ndarray, y: np.ndarray, eps: float = 0.1) -> dict:
    """% of inputs certified at radius eps by IBP, by CROWN, and by either."""
    c = _certify.certify(model, x, y, eps)
    return {"ibp": 100 * float(c.ibp.mean()), "crown": 100 * float(c.crown.mean()),
            "either": 100 * float(c.certified.mean())}
