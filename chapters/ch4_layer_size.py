# %% [markdown]
# # Section 4 — does the width of the capped layer matter? (Figs. 4 and 5)
#
# The "general" net has hidden layers (392, 196); the "reversed" one (196, 392). In each we cap
# HL1, HL2 or both at an initial beta of 0.01, 0.1 or 1 and train. Then we keep the weights and
# move the cap over beta = 0.01 ... 0.15, measuring standard accuracy, accuracy under PGD
# (eps 0.1, step 0.01, 10 iterations) and PGD's success rate (the share of correctly classified
# inputs it flips). The paper's reading: capping the narrower (bottleneck) layer helps most.

# %%
from nprelu.experiments import Context, chapter_main
from nprelu.protocols import beta_sweep, plot_sweep, sweep_table

NETS = {"general": (392, 196), "reversed": (196, 392)}
FIGS = {"general": "fig4_general", "reversed": "fig5_reversed"}


def run(ctx: Context) -> dict:
    out = {}
    for net, hidden in NETS.items():
        out[net] = beta_sweep(ctx, net, hidden)
        plot_sweep(ctx, out[net], f"{net} net {hidden}: PGD eps 0.1", FIGS[net])
        ctx.save_text(f"{FIGS[net]}.md", sweep_table(out[net]) + "\n")
    return out


# %%
if __name__ == "__main__":
    chapter_main(run)
