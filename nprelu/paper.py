"""The paper in numbers: its published results, its experimental settings, and its grids.

Everything a chapter needs to know about *what the paper did* lives here, once: the attack
settings of each section, the nets and caps it sweeps, Table 1 as published, and the two sets of
run settings (the paper's, and a quick smoke-test version of them). Where the paper is silent
we choose, and say so next to the value (where a choice moves a number, results/NOTES.md
says so).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .checks import check_count

# ----------------------------------------------------------------------------- attacks
# Sec. 3.1: PGD crafted on the uncapped 392-196-98 net (eps 20/256, step 2/256, 20 iterations)
SEC3_PGD = dict(eps=20 / 256, step=2 / 256, iters=20)
# Secs. 4, 5 and 8 (Table 1): PGD with eps 0.1, step 0.01, 10 iterations; FGSM with eps 0.1
PGD_EVAL = dict(eps=0.1, step=0.01, iters=10)
FGSM_EPS = 0.1
# Sec. 8: CW-L2 with 10000 iterations, learning rate 0.01, initial c 0.001, 9 binary steps
CW_PAPER = dict(steps=10000, lr=0.01, initial_c=1e-3, binary_steps=9)
# Sec. 6: the zero-gradient search (step: our choice, as PGD's; the paper gives none)
ZERO_GRAD_STEP = 0.01

# ----------------------------------------------------------------------------- nets
SEC3_HIDDEN = (392, 196, 98)  # Sec. 3.1: three hidden layers
NETS = {"general": (392, 196), "reversed": (196, 392), "equal": (784, 784)}  # Secs. 4 and 5
CAP_SETS = {"HL1": (1,), "HL2": (2,), "HL12": (1, 2)}  # which hidden layers a sweep net caps
SEC3_CAP_SETS = {"HL1": (1,), "HL2": (2,), "HL3": (3,), "HL123": (1, 2, 3)}

# ----------------------------------------------------------------------------- Table 1
TABLE1_HIDDEN = (392, 196)
TABLE1_BETAS = (None, 1.0, 0.1, 0.01)  # the cap of HL2; None = uncapped
TABLE1_TRAINING = (None, "fgsm", "pgd")  # adversarial fine-tuning after clean training
TRAINING_TITLES = {None: "clean training", "fgsm": "+ FGSM training", "pgd": "+ PGD training"}

# Published Table 1 (percent): (max value, adversarial training) -> clean, FGSM, PGD, CW
PAPER_TABLE1 = {
    (None, None): (98.49, 41.77, 9.47, 0.00),
    (1.0, None): (98.46, 41.24, 7.45, 0.00),
    (0.1, None): (98.06, 68.04, 39.79, 5.56),
    (0.01, None): (97.88, 92.37, 89.61, 8.07),
    (None, "fgsm"): (98.26, 91.44, 85.12, 0.19),
    (1.0, "fgsm"): (98.35, 92.46, 81.88, 0.18),
    (0.1, "fgsm"): (98.18, 93.00, 90.37, 3.50),
    (0.01, "fgsm"): (97.10, 94.07, 96.36, 8.21),
    (None, "pgd"): (98.67, 91.85, 86.74, 0.10),
    (1.0, "pgd"): (98.49, 93.32, 87.09, 0.11),
    (0.1, "pgd"): (98.09, 92.64, 92.85, 3.62),
    (0.01, "pgd"): (96.55, 89.21, 95.43, 8.00),
}
TABLE1_COLUMNS = ("clean", "fgsm", "pgd", "cw")


# D-ReLU (Sooksatra & Rivas, Mathematics 12(22), 3551, 2024; chapter 11): the authors' recipe
# as their public code sets it (github.com/kornsook/dynamic_max_relu), and what their figure of
# the dense MNIST net shows (figures/end_dense_mnist_accuracy_plot.png, read off the plot).
DRELU = dict(init=100, lr=0.001, batch=128, val_share=20, patience=10, lr_patience=5,
             min_lr=1e-4, test_share=10, pgd_steps=100, eot=20, cw_iters=10, cw_binary=5,
             max_l2=12)
DRELU_READ_OFF = {"clean": 98, "attacks_from_0.1": (90, 97), "cw": 12, "mean_cap_0.1": 0.02}
# Their shallow CNN ("end" variant, models.py): two 'same' 3x3 convolutions of 32 channels with
# ReLU (he_uniform), a 2x2 max-pool after the second, Dense(256) with D-ReLU, the logits.
DRELU_CNN_CONVS = ((32, 3, 1), (32, 3, 2))
DRELU_CNN_HIDDEN = (256,)
# ... and what their figures of it on MNIST show (figures/end_shallow_cnn_mnist_accuracy_plot.png
# and end_shallow_cnn_mnist_mean_max_plot.png, read off the plots)
DRELU_CNN_READ_OFF = {"clean": 99, "pgd_lam0": 17, "pgd_lam1e-3": 95, "attacks_from_0.1": 98,
                      "cw": 16, "mean_cap": {1e-3: 0.09, 0.1: 0.02, 1: 0.008}}

# Chapter 12 (the paper's conclusion, Sec. 9): the small CNN, Network.cnn's default: two 5x5
# 'same' convolutions of 16 and 32 channels, each followed by a 2x2 max-pool, Dense(128), the
# logits. Activation sites: 1 and 2 the convolutions, 3 the dense layer.
CNN_CONVS = ((16, 5, 2), (32, 5, 2))
CNN_HIDDEN = (128,)
CNN_CAP_SETS = {"conv1": (1,), "conv2": (2,), "dense": (3,), "all": (1, 2, 3)}
# Published points for a 784-1024-10 MLP on Fashion-MNIST at eps 0.1 (Croce et al., 2019, as
# issue #25 quotes them): (clean %, robust % under attack, or certified % for the last)
FASHION_PUBLISHED = {"standard training": (90.5, 0.0), "PGD training": (88.3, 70.5),
                     "LP-certified training (certified)": (78.7, 67.2)}


def ibp_recipe(epochs: int, **changes) -> dict:
    """Our IBP training recipe (the paper has none) as Spec fields, for `epochs` epochs:
    train at eps 0.15 for a test eps of 0.1 (Gowal et al. 2018 also train above the test eps),
    batch 100, one clean epoch, then eps grows linearly over a third of the epochs while the
    clean loss's weight kappa falls from 1 to 0.5; the learning rate drops tenfold at 70 % and
    85 % of the epochs. `changes` replaces fields (e.g. ibp_eps=0.2, ibp_bound="crown-ibp").
    Chapters 10 and 12 and benchmarks/certified_recipes.py train with it."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"ibp_recipe: epochs must be a whole number >= 1, got {epochs!r}")
    return {"ibp_eps": 0.15, "batch_size": 100, "ibp_warmup": 1, "ibp_ramp": max(1, epochs // 3),
            "ibp_kappa": 0.5, "lr_drops": (int(0.7 * epochs), int(0.85 * epochs)),
            "epochs": epochs, **changes}


def crown_ibp_recipe(epochs: int, **changes) -> dict:
    """The best certified-training recipe measured (crown-ibp-only-120-eps0.125 of
    benchmarks/certified_recipes.py, at 120 epochs) as Spec fields: `ibp_recipe`'s schedule,
    but against CROWN-IBP's bound alone (Zhang et al., 2020; nprelu/crown_ibp.py) and at
    training eps 0.125 instead of 0.15. Dense (capped) ReLU nets only. Chapter 10 trains with
    it beside `ibp_recipe`."""
    return ibp_recipe(epochs, **{"ibp_bound": "crown-ibp-only", "ibp_eps": 0.125, **changes})


@dataclass(frozen=True)
class Settings:
    """Everything that differs between the paper's settings and a quick smoke run."""

    quick: bool = False
    epochs: int = 20  # clean training epochs (Sec. 8: twenty)
    adv_epochs: int = 10  # adversarial fine-tuning epochs (Sec. 8: ten)
    n_train: int = 60000
    n_test: int = 10000
    init_betas: tuple = (0.01, 0.1, 1.0)  # Secs. 4-6: the beta the nets are trained with
    eval_betas: tuple = tuple(np.round(np.arange(0.01, 0.1501, 0.01), 2).tolist())  # 0.01..0.15
    ch3_betas: tuple = (0.01, 0.1, 1.0, 10.0, 100.0)
    zg_betas: tuple = (0.01, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13, 0.15)
    zg_samples: int = 1000  # the first 1000 test inputs, as for the audit and Fig. 11
    zg_iters: int = 1000
    cw_samples: int = 500  # CW on the first 500 test inputs (the paper does not say how many)
    cw_samples_other_seeds: int = 100  # seeds after the first: CW on fewer (at most cw_samples)
    cw_steps: int = 10000
    cw_binary_steps: int = 9
    smap_samples: int = 1000
    audit_samples: int = 1000
    audit_iters: int = 100
    audit_restarts: int = 4
    audit_square_queries: int = 5000
    # ch10 (beyond the paper): certification and IBP training
    cert_samples: int = 1000  # IBP / CROWN / attack ensemble on the first 1000 test inputs
    cert_eps: tuple = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2)
    curve_samples: int = 200  # APGD over the eps range on the first 200
    milp_samples: int = 100  # the exact MILP on the first 100 (those still undecided)
    milp_seconds: float = 20.0  # time limit per input
    milp_binaries: int = 200  # inputs whose program needs more binaries are "unknown"
    alpha_iters: int = 20  # alpha-CROWN's steps of slope ascent per batch of inputs
    bab_domains: int = 320  # branch and bound: sub-problems per input (a budget in work)
    bab_seconds: float = 600.0  # and a time limit far above it, so that the budget binds
    ibp_epochs: int = 120  # ibp-120 of benchmarks/certified_recipes.py, the best recipe measured
    # ch11 (beyond the paper): D-ReLU's learned caps (Sooksatra & Rivas, 2024)
    drelu_lams: tuple = (0, 1e-7, 1e-5, 1e-3, 0.1, 1, 100)  # their "balancer" grid
    drelu_seeds: tuple = (0, 1, 2)
    drelu_max_epochs: int = 2000  # their ceiling; early stopping ends training long before
    drelu_patience: int = 10  # early stopping (the learning rate halves after half of it)
    drelu_cap_lr: float = 0.01  # the caps' own learning rate: 10x Adam's, so they fall 10x faster
    drelu_fast_epochs: int = 60  # and at most 60 epochs (their recipe: until early stopping)
    drelu_faithful_lams: tuple = (0, 1e-7, 1)  # seed 0 also with their exact recipe
    drelu_samples: int = 1000  # their 10 % of the test set (their protocol)
    drelu_sound_samples: int = 100  # the sound protocol on the first 100 test inputs
    drelu_cw_samples: int = 20  # CW at the paper's settings (seed 0, honest accounting)
    # their shallow CNN (ch11c): an epoch costs ~40x the dense net's, so a short fixed budget
    # with fast caps, their protocol on part of their split, a lighter ensemble
    drelu_cnn_lams: tuple = (0, 1e-3, 0.1, 1)
    drelu_cnn_datasets: tuple = ("mnist", "fashion-mnist")
    drelu_cnn_n_train: int = 60000
    drelu_cnn_epochs: int = 3
    drelu_cnn_cap_lr: float = 0.3  # 300x Adam's: the caps fall from 100 within one epoch
    drelu_cnn_samples: int = 100  # of their 1000 test images
    drelu_cnn_sound_samples: int = 40
    drelu_cnn_restarts: int = 1
    drelu_cnn_square_queries: int = 1000
    # ch12 (the paper's conclusion): a CNN epoch costs ~10x the MLP's, so a short budget for
    # every net (CNN and, for a fair comparison, the MLP beside it) and evaluation on fewer
    # inputs; CW with fewer steps
    ch12_datasets: tuple = ("mnist", "fashion-mnist")  # the trainability study
    ch12_table_datasets: tuple = ("mnist",)  # the CNN's Table 1 (Fashion-MNIST: ~75 core-min more)
    ch12_n_train: int = 60000
    ch12_epochs: int = 2  # clean training, every net of the trainability study
    ch12_adv_epochs: int = 1  # FGSM / PGD fine-tuning of the CNNs (Sec. 8: ten)
    ch12_n_test: int = 10000  # clean, FGSM, PGD and the trainability study on the test set
    ch12_samples: int = 50  # attack ensemble and certificates on the first 50 test inputs
    ch12_cw_samples: int = 50
    ch12_cw_steps: int = 1000
    ch12_cw_binary_steps: int = 5
    ch12_ibp_epochs: int = 6
    ch12_added_betas: tuple = (1.0, 0.1, 0.01)
    ch12_added_epochs: int = 1

    @classmethod
    def make(cls, quick: bool, **overrides) -> Settings:
        """The paper's settings, or the quick ones; `overrides` (None = keep) replace fields."""
        if quick:
            base = cls(quick=True, epochs=2, adv_epochs=1, n_train=10000, n_test=500,
                       eval_betas=(0.01, 0.05, 0.1, 0.15), ch3_betas=(0.01, 1.0, 100.0),
                       zg_betas=(0.01, 0.1), zg_samples=20, zg_iters=200, cw_samples=20,
                       cw_samples_other_seeds=10,
                       cw_steps=200, cw_binary_steps=4, smap_samples=100, audit_samples=100,
                       audit_iters=20, audit_restarts=1, audit_square_queries=200,
                       cert_samples=100, cert_eps=(0.02, 0.1), curve_samples=50, milp_samples=10,
                       milp_seconds=5.0, milp_binaries=60, alpha_iters=5, bab_domains=32,
                       bab_seconds=60.0, ibp_epochs=4,
                       drelu_lams=(0, 0.1), drelu_seeds=(0,), drelu_max_epochs=3,
                       drelu_fast_epochs=3,
                       drelu_patience=2, drelu_faithful_lams=(0.1,), drelu_samples=100,
                       drelu_sound_samples=50, drelu_cw_samples=5,
                       drelu_cnn_lams=(0, 0.1), drelu_cnn_datasets=("mnist",),
                       drelu_cnn_n_train=1000, drelu_cnn_epochs=1, drelu_cnn_samples=6,
                       drelu_cnn_sound_samples=3, drelu_cnn_square_queries=100,
                       ch12_datasets=("mnist",), ch12_n_train=200, ch12_n_test=100, ch12_epochs=1,
                       ch12_samples=2, ch12_cw_samples=2, ch12_cw_steps=20,
                       ch12_cw_binary_steps=2, ch12_ibp_epochs=1, ch12_added_betas=(0.1,))
        else:
            base = cls()
        chosen = {k: v for k, v in overrides.items() if v is not None}
        for k in ("cw_samples", "n_test", "n_train"):
            if k in chosen:
                check_count(chosen[k], k)
        return replace(base, **chosen)

    def cw_inputs(self, first_seed: bool) -> int:
        """How many test inputs CW attacks for a seed: `cw_samples` for the first seed of a
        run, `cw_samples_other_seeds` (never more than that) for the others."""
        return self.cw_samples if first_seed else min(self.cw_samples_other_seeds,
                                                      self.cw_samples)

    def cw(self) -> dict:
        """Keyword arguments of cw_l2 at these settings (the paper's learning rate and c)."""
        return dict(steps=self.cw_steps, lr=CW_PAPER["lr"], initial_c=CW_PAPER["initial_c"],
                    binary_steps=self.cw_binary_steps)
