# %% [markdown]
# # Section 7 — sensitivity maps (Fig. 11)
#
# For an input x with true class t, eq. (2) scores each pixel by
# max(0, dZ_t/dx * sum_{c != t} dZ_c/dx): positive where nudging the pixel moves the true logit
# and the other logits together in a way an attacker can use. We draw the map of the first "5"
# of the test set for (392, 196) nets with HL2 capped at beta = 1, 0.1 and 0.01, with the sum
# of the map above each, and also report the mean sum over many test inputs (one image is one
# draw). All maps share one colour scale, so they can be compared by eye.

# %%
import numpy as np

import nprelu as nr
from nprelu.experiments import Context, chapter_main, mean_std, setup_plots

BETAS = (1.0, 0.1, 0.01)
HIDDEN = (392, 196)


def run(ctx: Context) -> dict:
    _, (xt, yt) = ctx.data
    five = int(np.flatnonzero(yt == 5)[0])
    n = ctx.settings.smap_samples
    per_seed, maps = {}, {}
    for seed in ctx.seeds:
        specs = {b: ctx.spec(HIDDEN, {2: b}, seed=seed) for b in BETAS}
        models = ctx.models(specs.values(), f"sec 7 seed {seed}")
        for b, spec in specs.items():
            smap, _ = nr.sensitivity_map(models[spec], xt[five : five + 1], yt[five : five + 1])
            maps.setdefault(b, smap[0])

        def compute(specs=specs, models=models):
            out = {}
            for b, spec in specs.items():
                smap, sums = nr.sensitivity_map(models[spec], xt[five : five + 1],
                                                yt[five : five + 1])
                _, all_sums = nr.sensitivity_map(models[spec], xt[:n], yt[:n])
                out[str(b)] = {"five_sum": float(sums[0]), "mean_sum": float(all_sums.mean()),
                               "median_sum": float(np.median(all_sums)),
                               "pixels_positive": int((smap[0] > 0).sum())}
            return out

        per_seed[seed] = ctx.record(f"sec7_smap_seed{seed}", compute,
                                    {"index": five, "samples": n, "betas": BETAS}, seed)["numbers"]
    plot(ctx, per_seed, maps, xt[five])
    return per_seed


def plot(ctx: Context, per_seed: dict, maps: dict, image: np.ndarray) -> None:
    plt = setup_plots()
    fig, axes = plt.subplots(1, len(BETAS) + 1, figsize=(3.4 * (len(BETAS) + 1), 3.8))
    axes[0].imshow(image.reshape(28, 28), cmap="gray")
    axes[0].set_title("input:\nfirst '5' of the test set")
    vmax = max(float(m.max()) for m in maps.values()) or 1.0
    for ax, b in zip(axes[1:], BETAS):
        im = ax.imshow(maps[b].reshape(28, 28), cmap="Reds", vmin=0, vmax=vmax)
        five, _ = mean_std([r[str(b)]["five_sum"] for r in per_seed.values()])
        mean, _ = mean_std([r[str(b)]["mean_sum"] for r in per_seed.values()])
        ax.set_title(f"HL2 β = {b:g}\nsum {five:.3g}\nmean sum over test: {mean:.3g}")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.colorbar(im, ax=axes[1:], shrink=0.8, label="sensitivity (eq. 2)")
    fig.suptitle(f"Fig. 11: sensitivity maps, one colour scale (seed {ctx.seeds[0]})")
    ctx.save_figure(fig, "fig11_sensitivity")


# %%
if __name__ == "__main__":
    chapter_main(run)
