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
# # Section 7 — Sensitivity maps (Fig. 11)
#
# **The question.** Which pixels would an attacker push, and does a cap make fewer of them
# useful?
#
# **What the paper does.** For an input x of true class t and logits Z, eq. (2) scores each
# pixel by
#
#     smap(x) = max(0, ∂Z_t/∂x ⊙ Σ_{c≠t} ∂Z_c/∂x)
#
# positive where a nudge of the pixel moves the true logit and the sum of the others in the
# same direction. The paper draws the map of one digit five for (392, 196) nets with HL2
# capped at β = 1, 0.1 and 0.01, with the sum of the map above each.
#
# **What the paper claims.** Fewer sensitive pixels and a smaller sum as β falls: capping
# makes the net less sensitive. We draw the maps on one colour scale, so they can be compared
# by eye, and we also report the mean and median sum over many test inputs, since one image is
# one draw.

# %% [markdown]
# ## Settings

# %%
QUICK = True

import numpy as np

import nprelu as nr
from nprelu import plotting
from nprelu.context import chapter

ctx = chapter("ch7", quick=QUICK)
x_test, y_test = ctx.test_set()
five = int(np.flatnonzero(y_test == 5)[0])  # the first "5" of the test set
BETAS = (1.0, 0.1, 0.01)
specs = {(beta, seed): ctx.spec((392, 196), caps={2: beta}, seed=seed)
         for seed in ctx.seeds for beta in BETAS}

# %% [markdown]
# ## One map, step by step
#
# `nr.sensitivity_map` runs two backward passes from the logits: one with the one-hot vector
# of t (giving ∂Z_t/∂x) and one with its complement (giving Σ_{c≠t} ∂Z_c/∂x), multiplies them
# pixel by pixel and keeps the positive part.

# %%
model = ctx.model(specs[1.0, ctx.seeds[0]])
smap, total = nr.sensitivity_map(model, x_test[five : five + 1], y_test[five : five + 1])
print(f"{model}: sum of the map {total[0]:.3g}, {(smap > 0).sum()} pixels with a positive "
      "score")

# %% [markdown]
# ## All three nets
#
# Per net: the map of the five, its sum, and the mean and median sum over the first
# `smap_samples` test inputs.


# %%
def smap_summary(model, x, y, index):
    """Eq. (2) on input `index` (its map and sum) and the sums over all of x."""
    smap, sums = nr.sensitivity_map(model, x[index : index + 1], y[index : index + 1])
    _, all_sums = nr.sensitivity_map(model, x, y)
    return {"five_sum": float(sums[0]), "mean_sum": float(all_sums.mean()),
            "median_sum": float(np.median(all_sums)),
            "pixels_positive": int((smap[0] > 0).sum()), "five_map": smap[0]}


n = ctx.settings.smap_samples
records = ctx.records({f"sec7_b{beta:g}_seed{seed}": (smap_summary, spec, x_test[:n],
                                                      y_test[:n], five)
                       for (beta, seed), spec in specs.items()})

# %% [markdown]
# ## Fig. 11


# %%
@plotting.styled
def sensitivity_figure(records, image, seeds):
    fig, axes = plotting.figure(1, len(BETAS) + 1, (3.0 * (len(BETAS) + 1), 3.4))
    axes = axes.ravel()
    axes[0].imshow(image.reshape(28, 28), cmap="gray")
    axes[0].set_title("input:\nthe first '5' of the test set")
    maps = {b: np.array(records[f"sec7_b{b:g}_seed{seeds[0]}"]["five_map"]) for b in BETAS}
    vmax = max(float(m.max()) for m in maps.values()) or 1.0
    for ax, b in zip(axes[1:], BETAS):
        im = ax.imshow(maps[b].reshape(28, 28), cmap="Reds", vmin=0, vmax=vmax)
        five_sum = plotting.fmt([records[f"sec7_b{b:g}_seed{s}"]["five_sum"] for s in seeds], 3)
        mean_sum = plotting.fmt([records[f"sec7_b{b:g}_seed{s}"]["mean_sum"] for s in seeds], 3)
        ax.set_title(f"HL2 β = {b:g}\nsum {five_sum}\nmean sum over test: {mean_sum}")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.colorbar(im, ax=list(axes[1:]), shrink=0.8, label="sensitivity (eq. 2)")
    fig.suptitle(f"Fig. 11: sensitivity maps on one colour scale (seed {seeds[0]})")
    return fig


ctx.figure(sensitivity_figure(records, x_test[five], ctx.seeds), "fig11_sensitivity")

# %% [markdown]
# ## What we measured, and what it means
#
# At the paper's settings (seed 0): for the first five of the test set the sum of the map is
# 2.8 at β = 1, 15.2 at β = 0.1 and 0 at β = 0.01, where the gradient vanishes entirely.
# Over the first 1000 test inputs the *median* sum falls from 30.8 (β = 1) to 0 (β = 0.1 and
# 0.01), as the paper says; but the *mean* rises, from 48.2 to 61.4 and 134.6. Where the
# capped nets' gradient is not zero it is large. A map of zeros is the vanishing gradient
# again, the same masking chapters 6 and 9 measure, not a sign that the net resists.
