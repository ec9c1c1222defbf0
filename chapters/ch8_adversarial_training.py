# %% [markdown]
# # Section 8 — capped ReLU with adversarial training (Table 1)
#
# Four two-hidden-layer "general" nets (392, 196): uncapped, and HL2 capped at beta = 1, 0.1 and
# 0.01. Each is trained on clean data (20 epochs, Adam, lr 1e-3, batch 32), and then fine-tuned
# for 10 more epochs on FGSM or PGD examples (eps 0.1). All twelve are evaluated on clean test
# images and under FGSM, PGD (eps 0.1, step 0.01, 10 iterations) and Carlini-Wagner L2.
#
# The CW attack has no eps bound, so with enough optimisation it can flip almost any input; the
# paper's CW column reports how often it did *not*. We count an input as CW-robust when CW finds
# no misclassified point for it (or it was misclassified to begin with, it counts as not robust).

# %%
import numpy as np

import nprelu as nr
from nprelu.experiments import (
    PAPER_TABLE1,
    TABLE1_BETAS,
    TABLE1_TRAINING,
    TRAINING_TITLES,
    Context,
    beta_label,
    chapter_main,
    fmt,
    mean_std,
    setup_plots,
    table1_specs,
)

BETAS, TRAINING = TABLE1_BETAS, TABLE1_TRAINING


# %%
def evaluate(ctx: Context, model: nr.MLP) -> dict:
    """Accuracy (%) on clean, FGSM, PGD and CW inputs; CW on the first cw_samples test inputs."""
    _, (xt, yt) = ctx.data
    s = ctx.settings
    clean = 100 * nr.accuracy(model, xt, yt)
    acc_fgsm = 100 * nr.accuracy(model, nr.fgsm(model, xt, yt, 0.1), yt)
    acc_pgd = 100 * nr.accuracy(model, nr.pgd(model, xt, yt, 0.1, 0.01, 10), yt)
    xc, yc = xt[: s.cw_samples], yt[: s.cw_samples]
    # CW is the slow part (minutes per model at full settings): one bar tick per binary step
    with ctx.bar(desc=f"CW on {len(xc)} inputs", unit="binary step") as bar:
        def tick(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        cw = nr.cw_l2(model, xc, yc, steps=s.cw_steps, lr=0.01, initial_c=1e-3,
                      binary_steps=s.cw_binary_steps, progress=tick)
    correct = model.predict(xc) == yc
    cw_robust = correct & ~cw.success
    return {"clean": clean, "fgsm": acc_fgsm, "pgd": acc_pgd, "cw": 100 * float(cw_robust.mean()),
            "cw_median_l2": float(np.median(cw.l2[cw.success])) if cw.success.any() else None,
            "cw_samples": len(xc)}


def run(ctx: Context) -> dict:
    results = {}
    st = ctx.settings  # the CW settings are part of each record: change one, recompute
    cw_config = {"cw_samples": st.cw_samples, "cw_steps": st.cw_steps,
                 "cw_binary_steps": st.cw_binary_steps}
    for seed in ctx.seeds:
        specs = table1_specs(ctx, seed)
        models = ctx.models(specs.values(), f"table 1 seed {seed}")
        for (b, adv), spec in specs.items():
            name = f"table1_{b or 'none'}_{adv or 'clean'}_seed{seed}"
            config = {"beta": b, "adv": adv, "spec": spec.key(), **cw_config}
            rec = ctx.record(name, lambda m=models[spec]: evaluate(ctx, m), config, seed)
            results.setdefault((b, adv), []).append(rec["numbers"])
    table = side_by_side(results)
    ctx.save_text("table1.md", table + "\n")
    print(table)
    plot(ctx, results)
    return results


# %% [markdown]
# The table puts the paper's number, ours and the difference (ours − paper) side by side.

# %%
def side_by_side(results: dict) -> str:
    cols = ("clean", "fgsm", "pgd", "cw")
    head = "| max val. | adv. training | " + " | ".join(
        f"{c.upper()} paper | {c.upper()} ours | Δ" for c in cols) + " |"
    lines = [head, "|---|---|" + "---|---|---|" * len(cols)]
    n_cw = {r["cw_samples"] for rs in results.values() for r in rs}
    for (b, adv), recs in results.items():
        paper = PAPER_TABLE1[(b, adv)]
        cells = []
        for c, p in zip(cols, paper):
            m, _ = mean_std([r[c] for r in recs])
            cells.append(f"{p:.2f} | {fmt([r[c] for r in recs])} | {m - p:+.2f}")
        lines.append(f"| {b if b else '–'} | {adv.upper() if adv else '–'} | "
                     + " | ".join(cells) + " |")
    seeds = len(next(iter(results.values())))
    lines.append("")
    lines.append(f"Accuracy in %. Ours: {seeds} seed(s); CW on the first {sorted(n_cw)} test "
                 "inputs, clean/FGSM/PGD on the whole test set of the run.")
    return "\n".join(lines)


def plot(ctx: Context, results: dict) -> None:
    plt = setup_plots()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    x = np.arange(len(BETAS))
    for ax, adv in zip(axes, TRAINING):
        for k, (col, color) in enumerate(zip(("clean", "fgsm", "pgd", "cw"),
                                              ("k", "tab:blue", "tab:red", "tab:purple"))):
            ours = [mean_std([r[col] for r in results[(b, adv)]]) for b in BETAS]
            ax.bar(x + (k - 1.5) * 0.2, [m for m, _ in ours], 0.2, yerr=[s for _, s in ours],
                   color=color, alpha=0.75, label=f"{col.upper()} ours")
            paper = [PAPER_TABLE1[(b, adv)][k] for b in BETAS]
            ax.scatter(x + (k - 1.5) * 0.2, paper, marker="_", s=120, color="k", zorder=3,
                       label="paper" if k == 0 else None)
        ax.set_xticks(x, [beta_label(b) for b in BETAS])
        ax.set_title(TRAINING_TITLES[adv])
    axes[0].set_ylabel("test accuracy (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=5)
    fig.suptitle("Table 1: accuracy under attack (bars: ours; black ticks: the paper)")
    ctx.save_figure(fig, "table1")


# %%
if __name__ == "__main__":
    chapter_main(run)
