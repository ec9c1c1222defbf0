# %% [markdown]
# # Section 3.1 — do perturbations grow through ReLU layers? (Figs. 1 and 2)
#
# A three-hidden-layer net (392, 196, 98) is trained uncapped; PGD (eps 20/256, step 2/256,
# 20 iterations) crafts adversarial test images on it. The *same* images are then fed to nets
# trained with HL1, HL2, HL3 or all three layers capped at beta = 0.01 ... 100, and for every
# hidden layer we measure how far its output moves: the mean over images of the L-inf and L2
# distance between its output on the clean and on the adversarial image (Fig. 1). Fig. 2 shows
# each net's clean test accuracy, and its accuracy on these transferred adversarial images.
#
# One control the paper does not have: the attack is white-box only for the uncapped net it was
# crafted on; for every other net it is a *transfer* attack, which is weaker whatever the
# activation. So we also feed the images to a second uncapped net trained from another seed
# (CONTROL_SEED_OFFSET): its accuracy is what "a different net" alone buys, without any cap.

# %%
import numpy as np

import nprelu as nr
from nprelu.experiments import Context, chapter_main, mean_std, setup_plots

HIDDEN = (392, 196, 98)
CAP_SETS = {"HL1": (1,), "HL2": (2,), "HL3": (3,), "HL123": (1, 2, 3)}
PGD_SETTINGS = dict(eps=20 / 256, step=2 / 256, iters=20)
CONTROL_SEED_OFFSET = 100  # the transfer control: uncapped, seed + 100


def run(ctx: Context) -> dict:
    _, (xt, yt) = ctx.data
    per_seed = {}
    for seed in ctx.seeds:
        base_spec = ctx.spec(HIDDEN, seed=seed)
        specs = {("control", None): ctx.spec(HIDDEN, seed=seed + CONTROL_SEED_OFFSET)}
        specs.update({(c, b): ctx.spec(HIDDEN, {hl: b for hl in hls}, seed=seed)
                      for c, hls in CAP_SETS.items() for b in ctx.settings.ch3_betas})
        models = ctx.models([base_spec, *specs.values()], f"sec 3.1 seed {seed}")

        def compute(base_spec=base_spec, specs=specs, models=models):
            base = models[base_spec]
            adv = nr.pgd(base, xt, yt, **PGD_SETTINGS)
            rows = [{"cap": "none", "beta": None, "layers": nr.layer_distances(base, xt, adv),
                     "clean": 100 * nr.accuracy(base, xt, yt),
                     "adv": 100 * nr.accuracy(base, adv, yt)}]
            for (c, b), spec in specs.items():
                m = models[spec]
                rows.append({"cap": c, "beta": b, "layers": nr.layer_distances(m, xt, adv),
                             "clean": 100 * nr.accuracy(m, xt, yt),
                             "adv": 100 * nr.accuracy(m, adv, yt)})
            return {"rows": rows}

        config = {"hidden": list(HIDDEN), "pgd": PGD_SETTINGS,
                  "control_seed": seed + CONTROL_SEED_OFFSET}
        per_seed[seed] = ctx.record(f"sec3_enlarged_seed{seed}", compute, config, seed)["numbers"]
    plot_distances(ctx, per_seed)
    plot_accuracy(ctx, per_seed)
    return per_seed


# %%
def _get(per_seed, cap, beta, fn):
    vals = [fn(next(r for r in rec["rows"] if r["cap"] == cap and r["beta"] == beta))
            for rec in per_seed.values()]
    return mean_std(vals)


def plot_distances(ctx: Context, per_seed: dict) -> None:
    plt = setup_plots()
    betas = ctx.settings.ch3_betas
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(betas)))
    fig, axes = plt.subplots(2, len(CAP_SETS), figsize=(12, 6), sharex=True)
    layers = np.arange(1, len(HIDDEN) + 1)
    for col, cap in enumerate(CAP_SETS):
        for row, norm in enumerate(("linf", "l2")):
            ax = axes[row, col]
            for b, color in zip(betas, colors):
                ms = [_get(per_seed, cap, b, lambda r, i=i, n=norm: r["layers"][i][n])
                      for i in range(len(HIDDEN))]
                ax.errorbar(layers, [m for m, _ in ms], yerr=[s for _, s in ms], marker="o",
                            ms=3, color=color, label=f"β = {b:g}", capsize=2)
            ms = [_get(per_seed, "none", None, lambda r, i=i, n=norm: r["layers"][i][n])
                  for i in range(len(HIDDEN))]
            ax.plot(layers, [m for m, _ in ms], "k--", marker="x", label="uncapped")
            ax.set_yscale("log")
            ax.set_xticks(layers, [f"HL{i}" for i in layers])
            if row == 0:
                ax.set_title(f"capped {cap}")
        axes[0, 0].set_ylabel("mean L∞ distance (clean vs adv.)")
        axes[1, 0].set_ylabel("mean L2 distance (clean vs adv.)")
    handles, labels = axes[0, -1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper")
    fig.suptitle("Fig. 1: how far each hidden layer's output moves under PGD "
                 "(eps 20/256, crafted on the uncapped net)")
    ctx.save_figure(fig, "fig1_layer_distances")


def plot_accuracy(ctx: Context, per_seed: dict) -> None:
    plt = setup_plots()
    betas = ctx.settings.ch3_betas
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
    for ax, key, title in zip(axes, ("clean", "adv"),
                              ("clean test accuracy", "accuracy on the transferred PGD images")):
        for cap in CAP_SETS:
            ms = [_get(per_seed, cap, b, lambda r, k=key: r[k]) for b in betas]
            ax.errorbar(betas, [m for m, _ in ms], yerr=[s for _, s in ms], marker="o", ms=3,
                        label=f"capped {cap}", capsize=2)
        m, _ = _get(per_seed, "none", None, lambda r, k=key: r[k])
        ax.axhline(m, color="k", ls="--", label="uncapped, attacked net (white-box)")
        m, _ = _get(per_seed, "control", None, lambda r, k=key: r[k])
        ax.axhline(m, color="0.5", ls=":", lw=2, label="uncapped, other seed (transfer control)")
        ax.set_xscale("log")
        ax.set_xlabel("β (cap)")
        ax.set_title(title)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].set_ylim(0, 102)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small")
    fig.suptitle("Fig. 2: accuracy of the (392, 196, 98) nets by capped layer and β")
    ctx.save_figure(fig, "fig2_accuracy")


# %%
if __name__ == "__main__":
    chapter_main(run)
