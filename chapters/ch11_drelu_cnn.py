# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Beyond the paper — D-ReLU in a convolutional net, on MNIST and Fashion-MNIST
#
# **The question.** Chapter 11 found that D-ReLU's dense net looks robust under its authors'
# evaluation and keeps almost nothing under a sound one: the learned caps hide the input
# gradient. Their code also trains a shallow CNN with a D-ReLU layer "at the end", before the
# output. Does the verdict carry over to a convolutional net, and to a second dataset?
#
# **Their shallow CNN** (models.py of github.com/kornsook/dynamic_max_relu, the "end"
# variant): two 3×3 convolutions of 32 channels with 'same' padding and plain ReLUs (weights
# He-uniform), a 2×2 max-pool, a dense layer of 256 units with D-ReLU (one learned cap per unit,
# starting at 100, the penalty λ Σ m² on these caps), and the logits. Trained like their dense
# net: Adam, batch 128, 20 % of the training images held out for early stopping and the
# learning-rate schedule.
#
# **What we do, and where we depart.** λ = 0, 0.001, 0.1 and 1, on MNIST and on Fashion-MNIST,
# one seed. An epoch of this net costs minutes on one CPU core, so their recipe, hundreds of
# epochs until early stopping, does not fit. We train every net for a fixed 3 epochs, with the
# caps' own learning rate at 300 times Adam's, so that a cap can fall by up to 0.3 per step
# (chapter 11 showed on the dense net that faster caps and a shorter budget leave the verdict
# unchanged; here the table says where the caps end). We evaluate every net with their
# protocol (`their_protocol`, nprelu/drelu_protocol.py) on the first 100 of their 1000 test
# images, and with the sound protocol of chapter 11 on the first 40 test images: chapter 9's
# attack ensemble (one BPDA restart and 1000 Square queries instead of 4 and 5000), the
# zero-gradient share, IBP and CROWN certificates. CW at the paper's settings is left out: it
# costs more than everything else together.

# %% [markdown]
# ## Settings

# %%
QUICK = True

import numpy as np

import nprelu as nr
from nprelu import audit, drelu_protocol, paper, plotting
from nprelu.context import chapter
from nprelu.data import shuffle_split

ctx = chapter("ch11c", quick=QUICK)
s = ctx.settings
EPS = 0.1
CONVS, HIDDEN = paper.DRELU_CNN_CONVS, paper.DRELU_CNN_HIDDEN
LAMS, DATASETS = s.drelu_cnn_lams, s.drelu_cnn_datasets
SEED = 0
print(f"λ {LAMS} on {', '.join(DATASETS)}; {s.drelu_cnn_epochs} epochs, caps' learning rate "
      f"{s.drelu_cnn_cap_lr:g}; their protocol on {s.drelu_cnn_samples} images, the sound one "
      f"on {s.drelu_cnn_sound_samples}")

# %% [markdown]
# ## The net
#
# `nr.Network.conv_dense` builds it from the same description their Keras code spells out;
# the D-ReLU layer is activation site 3 (the two convolutions are sites 1 and 2), the one the
# penalty acts on.

# %%
net = nr.Network.conv_dense(CONVS, HIDDEN, nr.LearnedCap, init="he", seed=SEED)
print(net)
print(f"{net.params.size} parameters; caps of site 3 start at "
      f"{float(net.sites[2].act.m.mean()):g}")

# %% [markdown]
# ## Training: four λ values, two datasets
#
# `ctx.spec(..., convs=CONVS, learned_caps=True, ...)` is the recipe `fit` follows
# (nprelu/train.py): `nr.train_early_stopping` on their split of the training images, the
# penalty on the last activation site, the caps with their own learning rate.


# %%
def cnn_spec(dataset, lam):
    return ctx.spec(HIDDEN, seed=SEED, learned_caps=True, cap_lam=lam,
                    patience=s.drelu_patience, epochs=s.drelu_cnn_epochs, batch_size=128,
                    cap_lr=s.drelu_cnn_cap_lr, convs=CONVS, conv_init="he", dataset=dataset,
                    n_train=s.drelu_cnn_n_train)


nets = {(ds, lam): cnn_spec(ds, lam) for ds in DATASETS for lam in LAMS}


def training_history(model):
    """Epochs run, the epoch kept, and per epoch the mean cap of site 3, validation accuracy
    and learning rate (nr.train_early_stopping's history)."""
    h = model.history
    return {"stopped": h["stopped"], "best_epoch": h["best_epoch"], "caps": h["caps"],
            "val_acc": h["val_acc"], "lr": h["lr"]}


def final_caps(model):
    """The learned caps max(m, 0) of the D-ReLU layer, one per unit."""
    return np.maximum(model.sites[-1].act.m, 0).astype(float)


history = ctx.records({f"drelu_cnn_history_{ds}_lam{lam:g}": (training_history, spec)
                       for (ds, lam), spec in nets.items()})
caps = ctx.records({f"drelu_cnn_caps_{ds}_lam{lam:g}": (final_caps, spec)
                    for (ds, lam), spec in nets.items()})
print("net                       kept  mean cap after each epoch   val acc (%) each epoch")
for ds, lam in nets:
    h = history[f"drelu_cnn_history_{ds}_lam{lam:g}"]
    caps_by_epoch = "  ".join(f"{c[-1]:7.4g}" for c in h["caps"])
    accs = "  ".join(f"{100 * a:5.2f}" for a in h["val_acc"])
    print(f"{ds:<14} λ {lam:<6g} {h['best_epoch']:4d}  {caps_by_epoch}   {accs}")

# %% [markdown]
# ## Both protocols
#
# Their protocol on the first images of their split (`shuffle_split(10000, 0.1, 42)`, what
# their `train_test_split` selects, on either dataset's test set); the sound one on the first
# test images. The ensemble's transfer attack crafts its examples on the λ = 0 net of the same
# dataset.

# %%
tasks = {}
for ds in DATASETS:
    x_all, y_all = nr.load_split_of(ds, "test")
    _, theirs_idx = shuffle_split(len(x_all), 0.1, 42)
    theirs_idx = theirs_idx[: s.drelu_cnn_samples]
    x_theirs, y_theirs = x_all[theirs_idx], y_all[theirs_idx]
    n = s.drelu_cnn_sound_samples
    x_first, y_first = x_all[:n], y_all[:n]
    for lam in LAMS:
        spec, tag = nets[ds, lam], f"{ds}_lam{lam:g}"
        tasks[f"drelu_cnn_theirs_{tag}"] = (drelu_protocol.their_protocol, spec, x_theirs,
                                            y_theirs, SEED)
        tasks[f"drelu_cnn_ensemble_{tag}"] = (
            audit.attack_ensemble, spec, nets[ds, 0], x_first, y_first, EPS, s.audit_iters,
            s.drelu_cnn_restarts, s.drelu_cnn_square_queries, SEED)
        tasks[f"drelu_cnn_cert_{tag}"] = (drelu_protocol.certified, spec, x_first, y_first)
records = ctx.records(tasks)


def row(ds, lam):
    tag = f"{ds}_lam{lam:g}"
    th, ens = records[f"drelu_cnn_theirs_{tag}"], records[f"drelu_cnn_ensemble_{tag}"]
    return {"clean": th["clean"], "fgsm": th["fgsm"], "pgd": th["pgd"],
            "apgd_ce": th["apgd_ce"], "apgd_dlr": th["apgd_dlr"], "cw": th["cw"],
            "mean_cap": float(np.mean(caps[f"drelu_cnn_caps_{tag}"])),
            "worst": ens["worst_case"], "bpda": ens["bpda"],
            "certified": records[f"drelu_cnn_cert_{tag}"]["either"],
            "zero_grad": ens["zero_gradient_share"]}


rows = {(ds, lam): row(ds, lam) for ds, lam in nets}
COLS = ("clean", "fgsm", "pgd", "apgd_ce", "apgd_dlr", "cw", "mean_cap", "worst", "bpda",
        "certified", "zero_grad")
lines = ["| data | λ | " + " | ".join(COLS) + " |", "|---|---|" + "---|" * len(COLS)]
for (ds, lam), r in rows.items():
    lines.append(f"| {ds} | {lam:g} | " + " | ".join(
        plotting.fmt([r[c]], 4 if c == "mean_cap" else 1) for c in COLS) + " |")
lines += ["", f"Their shallow CNN, seed {SEED}, eps {EPS}, {s.drelu_cnn_epochs} epochs with the "
          f"caps' learning rate at {s.drelu_cnn_cap_lr:g}. Their protocol (clean … cw) on the "
          f"first {s.drelu_cnn_samples} images of their split: FGSM and PGD-100 on the softmax "
          "output, APGD on the logits, CW with 10 iterations and 5 binary steps counted by "
          "their L2 ≤ 12 rule. mean_cap: the mean of max(m, 0) over the 256 learned caps. "
          f"Sound protocol on the first {s.drelu_cnn_sound_samples} test images: worst = "
          "correct under every attack of chapter 9's ensemble, bpda = under the "
          "straight-through attack alone; certified = IBP or CROWN; zero_grad = share of "
          "inputs whose input gradient is exactly zero."]
ctx.text("ch11c_cnn.md", "\n".join(lines) + "\n", show=True)


# %%
@plotting.styled
def cnn_figure(rows, caps):
    fig, axes = plotting.figure(1, len(DATASETS) + 1, (5 * len(DATASETS) + 5, 3.8))
    axes = np.atleast_1d(axes).ravel()
    xs = np.arange(len(LAMS))
    for ax, ds in zip(axes, DATASETS):
        for c, style, label in (("clean", "k-", "clean"), ("pgd", "s--", "their PGD-100"),
                                ("apgd_ce", "^--", "their APGD-CE"),
                                ("cw", "x--", "their CW-L2 (L2 ≤ 12 rule)"),
                                ("worst", "o-", "worst case (ensemble)"),
                                ("certified", "D-", "certified (IBP/CROWN)")):
            ax.plot(xs, [rows[ds, lam][c] for lam in LAMS], style, ms=4, label=label)
        ax.set_xticks(xs, [f"{lam:g}" for lam in LAMS])
        ax.set_xlabel("λ (penalty on the D-ReLU caps)")
        ax.set_ylim(-2, 102)
        ax.set_title(ds)
    axes[0].set_ylabel(f"accuracy at eps {EPS} (%)")
    axes[0].legend(fontsize="small")
    bins = np.concatenate([[0], np.logspace(-4, 2.1, 40)])
    for ds in DATASETS:
        for lam in LAMS:
            axes[-1].hist(caps[f"drelu_cnn_caps_{ds}_lam{lam:g}"], bins=bins, histtype="step",
                          color=f"C{LAMS.index(lam)}", ls="-" if ds == "mnist" else ":",
                          label=f"{ds}, λ = {lam:g}")
    axes[-1].set_xscale("symlog", linthresh=1e-4)
    axes[-1].set_xlabel("learned cap max(m, 0)")
    axes[-1].set_ylabel("units")
    axes[-1].legend(fontsize="x-small")
    fig.suptitle("D-ReLU's shallow CNN: their protocol (dashed, their first "
                 f"{s.drelu_cnn_samples} images) against a sound one (solid, the first "
                 f"{s.drelu_cnn_sound_samples} test images)")
    return fig


ctx.figure(cnn_figure(rows, caps), "ch11c_cnn")

# %% [markdown]
# ## The lighter ensemble, checked
#
# The sound protocol above runs chapter 9's ensemble with one BPDA restart and fewer Square
# queries. On the MNIST nets where it matters most (λ = 0 and the strongest penalty, λ = 1),
# the full ensemble of chapter 9 on the same inputs: does the worst case move?

# %%
x_all, y_all = nr.load_split_of("mnist", "test")
n = s.drelu_cnn_sound_samples
full = ctx.records({f"drelu_cnn_ensemble_full_mnist_lam{lam:g}": (
    audit.attack_ensemble, nets["mnist", lam], nets["mnist", 0], x_all[:n], y_all[:n], EPS,
    s.audit_iters, s.audit_restarts, s.audit_square_queries, SEED)
    for lam in (LAMS[0], LAMS[-1]) if "mnist" in DATASETS})
for name, r in full.items():
    light = records[name.replace("_full", "")]
    print(f"{name}: worst case {r['worst_case']:.1f} % (lighter ensemble {light['worst_case']:.1f} "
          f"%), BPDA {r['bpda']:.1f} %, Square {r['square']:.1f} %")

# %% [markdown]
# ## What we measured, and what it means
#
# **The caps fall at the same pace whatever λ, and had not settled.** After the first epoch the
# mean cap is 20.47 for every λ > 0 on both datasets: Adam moves each cap by about its learning
# rate per step, and λ only decides where the caps stop, as in chapter 11. After the third
# epoch the caps of λ = 0.1 stand at 0.109 on MNIST (the dense net's ended at 0.029–0.030) and
# those of λ = 1 at 0.047, down from 1.36 an epoch earlier: a longer run would have moved them
# further. Validation accuracy drops in the epoch where the caps start to bind (λ = 1: from
# 98.66 to 97.47 % on MNIST, from 90.49 to 87.62 % on Fashion-MNIST).
#
# **Their protocol sees robustness grow with λ.** On MNIST their PGD-100 keeps 23 % of the
# images at λ = 0 and 87 % at λ = 1, APGD-CE 17 % and 73 %; on Fashion-MNIST PGD-100 rises from
# 1 % to 52 %. Their CW count is 17 % at every λ on MNIST (every net reads the black image as a
# 1) and 40–52 % on Fashion-MNIST, where CW with 10 iterations moves at most 27 % of the inputs
# across the boundary.
#
# **The sound protocol takes most of it back.** On Fashion-MNIST the worst case of chapter 9's
# ensemble is 0–5 % at every λ, however high their PGD climbs; the input gradient is exactly
# zero for up to 45 % of the inputs, and the straight-through attack (BPDA) alone leaves 5 % at
# λ = 1. On MNIST the uncapped CNN keeps 25 % in the worst case and the net at λ = 1 keeps 50 %
# with the lighter ensemble, 45 % with the full one (four BPDA restarts, 5000 Square queries):
# BPDA is again the attack that does it, while their PGD still reports 87 %. IBP and CROWN
# certify 0.0 % of the inputs of every net, so on MNIST at λ = 1 the true robust accuracy lies
# anywhere between 0 and 45 % of these 40 inputs.
#
# **Against their figure.** Their repository's figures of this net on MNIST
# (figures/end_shallow_cnn_mnist_accuracy_plot.png and its mean-cap plot, read off, so
# approximate): clean about 99 %; PGD about 17 % at λ = 0 and about 95 % at λ = 0.001; from
# λ = 0.1 up every attack about 98 %; CW-L2 about 16 % at every λ; mean caps about 0.09, 0.02
# and 0.008 at λ = 0.001, 0.1 and 1. Ours agree at λ = 0 (PGD 23 %, CW 17 %) and fall short where
# the caps matter: after 3 epochs our caps are about five times larger (0.444, 0.109, 0.047)
# and our PGD keeps 27, 65 and 87 %. Their longer training leaves smaller caps and, as on the
# dense net, more of the gradient hidden; how their nets fare in the worst case we cannot say
# without training them as long.#
# **Verdict.** In the convolutional net as in the dense one, most of the robustness their
# protocol reports is gradient masking: at λ = 1 their PGD is 42 points above the worst case on
# MNIST and 47 on Fashion-MNIST (their first 100 images against the first 40 test images).
# What remains on MNIST (45 % against 25 % for the uncapped CNN, on 40 inputs) is neither
# broken by our attacks nor certified; a complete verifier for CNNs, or a stronger attack,
# would have to decide it.
