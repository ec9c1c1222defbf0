# %% [markdown]
# # Section 5 — early or deep: which layer to cap? (Fig. 6)
#
# Two hidden layers of equal width (784, 784), so only the position differs. Same protocol as
# Section 4: cap HL1, HL2 or both at an initial beta, then sweep beta at evaluation.

# %%
from nprelu.experiments import Context, chapter_main
from nprelu.protocols import beta_sweep, plot_sweep, sweep_table

HIDDEN = (784, 784)


def run(ctx: Context) -> dict:
    per_seed = beta_sweep(ctx, "equal", HIDDEN)
    plot_sweep(ctx, per_seed, f"equal net {HIDDEN}: PGD eps 0.1", "fig6_equal")
    ctx.save_text("fig6_equal.md", sweep_table(per_seed) + "\n")
    return per_seed


# %%
if __name__ == "__main__":
    chapter_main(run)
