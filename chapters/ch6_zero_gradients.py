# %% [markdown]
# # Section 6 — how far is the nearest zero gradient? (Figs. 8, 9 and 10)
#
# A PGD-like signed ascent on the cross-entropy, with no eps bound (only the [0, 1] box), that
# stops for each input as soon as the input gradient is exactly zero: from there, no gradient
# attack can move. The paper reads a short distance to such a point as robustness (Fig. 7) and
# averages the L2 distance over the inputs where one was found within the iteration budget.
# We report that share too: an average over few inputs says little.

# %%
from nprelu.experiments import Context, chapter_main
from nprelu.protocols import plot_zero_gradients, sweep_table, zero_gradient_sweep

NETS = {"general": ((392, 196), "fig8_zero_grad_general"),
        "reversed": ((196, 392), "fig9_zero_grad_reversed"),
        "equal": ((784, 784), "fig10_zero_grad_equal")}


def run(ctx: Context) -> dict:
    out = {}
    for net, (hidden, fig) in NETS.items():
        out[net] = zero_gradient_sweep(ctx, net, hidden)
        plot_zero_gradients(ctx, out[net], f"zero-gradient search, {net} net {hidden}", fig)
        ctx.save_text(f"{fig}.md", sweep_table(out[net], ("found", "mean_l2")) + "\n")
    return out


# %%
if __name__ == "__main__":
    chapter_main(run)
