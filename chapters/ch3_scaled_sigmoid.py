# %% [markdown]
# # Section 3.3 — can a scaled sigmoid or tanh do the capping? (Fig. 3)
#
# sigma(c z) narrows as c grows (Fig. 3), so a large c looks like a sharp, bounded activation.
# The paper argues that training defeats this: the layer's weights can shrink so that c z stays
# in the same range as before. We check that claim directly: train (392, 196) sigmoid nets with
# c = 1 and c = 10 and compare, epoch by epoch, the spread of the weights and the spread of the
# argument c z that reaches the sigmoid.

# %%
import numpy as np

import nprelu as nr
from nprelu.experiments import Context, chapter_main, setup_plots

CS = (1.0, 10.0)


def plot_shapes(ctx: Context) -> None:
    plt = setup_plots()
    z = np.linspace(-6, 6, 400)[:, None]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=False)
    for c in (0.5, 1, 2, 5, 10):
        axes[0].plot(z, nr.scaled_sigmoid(c).forward(z), label=f"c = {c:g}")
        axes[1].plot(z, nr.scaled_tanh(c).forward(z), label=f"c = {c:g}")
    axes[0].set_title("σ(c·z), sigmoid")
    axes[1].set_title("tanh(c·z)")
    for ax in axes:
        ax.set_xlabel("z")
    axes[0].set_ylabel("activation")
    axes[0].legend()
    fig.suptitle("Fig. 3: a larger c narrows the transition")
    ctx.save_figure(fig, "fig3_scaled_sigmoid")


def weight_shrinkage(ctx: Context, seed: int) -> dict:
    """Train one sigmoid net per c, one epoch at a time, recording weight and c*z spread."""
    (x, y), (xt, yt) = ctx.data
    out = {}
    for c in CS:
        model = nr.MLP((392, 196), activation="sigmoid", c=c, seed=seed)
        opt = nr.Adam([model.params], lr=1e-3)
        hist = []
        for epoch in range(ctx.settings.epochs + 1):
            if epoch:
                nr.train(model, x, y, epochs=1, seed=seed + epoch, optimizer=opt, progress=False)
            zs = [z for (_, z, _) in model.forward(xt[:1000])[1]]
            hist.append({"epoch": epoch,
                         "w_std": [float(d.W.std()) for d in model.dense[:2]],
                         "cz_std": [float((c * z).std()) for z in zs],
                         "acc": 100 * nr.accuracy(model, xt, yt)})
        out[str(c)] = hist
    return out


def run(ctx: Context) -> dict:
    plot_shapes(ctx)
    per_seed = {s: ctx.record(f"sec3_sigmoid_seed{s}", lambda s=s: weight_shrinkage(ctx, s),
                              {"cs": CS, "hidden": [392, 196]}, s)["numbers"]
                for s in ctx.seeds}
    plt = setup_plots()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    rec = per_seed[ctx.seeds[0]]
    for c in CS:
        h = rec[str(c)]
        ep = [r["epoch"] for r in h]
        for layer in (0, 1):
            ls = "-" if layer == 0 else ":"
            axes[0].plot(ep, [r["w_std"][layer] for r in h], ls, marker="o", ms=3,
                         label=f"c = {c:g}, HL{layer + 1}")
            axes[1].plot(ep, [r["cz_std"][layer] for r in h], ls, marker="o", ms=3,
                         label=f"c = {c:g}, HL{layer + 1}")
        axes[2].plot(ep[1:], [r["acc"] for r in h][1:], marker="o", ms=3, label=f"c = {c:g}")
    axes[0].set_ylabel("std of the weights W")
    axes[1].set_ylabel("std of c·z (sigmoid argument)")
    axes[2].set_ylabel("test accuracy (%)")
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[0].legend()
    axes[2].legend()
    fig.suptitle(f"Sec. 3.3: does training shrink the weights of a scaled sigmoid? "
                 f"(seed {ctx.seeds[0]})")
    ctx.save_figure(fig, "fig3b_sigmoid_weights")
    return per_seed


# %%
if __name__ == "__main__":
    chapter_main(run)
