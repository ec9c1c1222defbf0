# %% [markdown]
# # Beyond the paper — robust, or only masked? An audit of the Table 1 models
#
# With a small cap most units of the capped layer saturate, and where they all do the input
# gradient is exactly zero: FGSM and PGD then have nothing to follow. An attack that stalls is
# not the same as a model that resists. Table 1 itself shows a warning sign: at beta = 0.01 the
# paper's PGD accuracy is *higher* than its FGSM accuracy, although PGD could take FGSM's step.
#
# We attack every Table 1 model with attacks that do not need the true gradient, on the same
# test inputs, at the same eps = 0.1:
# - PGD on the CW margin loss with random restarts (more iterations than Table 1's PGD);
# - BPDA: the same PGD, but backpropagating through the caps as if they were plain ReLUs;
# - the Square attack: random search that only looks at the model's outputs;
# - transfer: PGD examples crafted on the uncapped twin model (same training otherwise).
# An input counts as robust only if it survives all of them (worst case). We also record the
# share of inputs with an exactly-zero gradient, the share where PGD fails but FGSM succeeds,
# and accuracy as eps grows to 1 (at eps = 1 any image can be reached, so a trustworthy
# evaluation must drive accuracy to about chance).

# %%
import numpy as np

import nprelu as nr
from nprelu import audit
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
EPS = 0.1
EPS_CURVE = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def settings(ctx: Context) -> dict:
    quick = ctx.settings.quick
    return {"samples": 100 if quick else 1000, "iters": 20 if quick else 100,
            "restarts": 1 if quick else 4, "square_queries": 200 if quick else 5000}


def audit_model(ctx: Context, model: nr.MLP, twin: nr.MLP, cfg: dict, seed: int) -> dict:
    _, (xt, yt) = ctx.data
    x, y = xt[: cfg["samples"]], yt[: cfg["samples"]]
    it, rs = cfg["iters"], cfg["restarts"]
    advs = {
        "fgsm": nr.fgsm(model, x, y, EPS),
        "pgd": nr.pgd(model, x, y, EPS, 0.01, 10),
        "pgd_margin_restarts": audit.pgd_adaptive(model, x, y, EPS, 0.01, it, restarts=rs,
                                                  seed=seed),
        "bpda": audit.pgd_adaptive(model, x, y, EPS, 0.01, it, restarts=rs, bpda=True,
                                   seed=seed),
        "square": audit.square_linf(model, x, y, EPS, queries=cfg["square_queries"],
                                    seed=seed)[0],
        "transfer": audit.pgd_adaptive(twin, x, y, EPS, 0.01, it, restarts=0),
    }
    res = audit.worst_case(model, x, y, advs)
    res["zero_gradient_share"] = 100 * audit.zero_gradient_share(model, x, y)
    res["pgd_fails_fgsm_succeeds"] = 100 * audit.pgd_fails_fgsm_succeeds(model, x, y, EPS)
    res["eps_curve_pgd"] = [100 * nr.accuracy(model, nr.pgd(model, x, y, e, e / 4, 20), y)
                            for e in EPS_CURVE]
    res["eps_curve_bpda"] = [100 * nr.accuracy(
        model, audit.pgd_adaptive(model, x, y, e, e / 4, 20, bpda=True), y) for e in EPS_CURVE]
    return res


def run(ctx: Context) -> dict:
    cfg = settings(ctx)
    results = {}
    for seed in ctx.seeds:
        specs = table1_specs(ctx, seed)
        models = ctx.models(specs.values(), f"audit seed {seed}")
        for (b, adv), spec in specs.items():
            twin = models[specs[(None, adv)]]
            rec = ctx.record(f"audit_{b or 'none'}_{adv or 'clean'}_seed{seed}",
                             lambda m=models[spec], t=twin, s=seed: audit_model(ctx, m, t, cfg, s),
                             {"beta": b, "adv": adv, "spec": spec.key(), **cfg}, seed)
            results.setdefault((b, adv), []).append(rec["numbers"])
    ctx.save_text("audit.md", table(results, cfg) + "\n")
    plot(ctx, results)
    return results


# %%
COLS = ("clean", "fgsm", "pgd", "pgd_margin_restarts", "bpda", "square", "transfer",
        "worst_case", "zero_gradient_share", "pgd_fails_fgsm_succeeds")


def table(results: dict, cfg: dict) -> str:
    lines = ["| max val. | adv. training | paper PGD | " + " | ".join(COLS) + " |",
             "|---|---|---|" + "---|" * len(COLS)]
    for (b, adv), recs in results.items():
        cells = [fmt([r[c] for r in recs], 1) for c in COLS]
        lines.append(f"| {b if b else '–'} | {adv.upper() if adv else '–'} | "
                     f"{PAPER_TABLE1[(b, adv)][2]:.2f} | " + " | ".join(cells) + " |")
    lines += ["", f"Robust accuracy in % at eps = {EPS} on the first {cfg['samples']} test "
              f"inputs. Adaptive PGD: {cfg['iters']} iterations of step 0.01, margin loss, "
              f"{cfg['restarts']} random restarts; Square: {cfg['square_queries']} queries; "
              "transfer: margin PGD on the uncapped twin. worst_case: correct under all of them. "
              "zero_gradient_share and pgd_fails_fgsm_succeeds: % of inputs."]
    return "\n".join(lines)


def plot(ctx: Context, results: dict) -> None:
    plt = setup_plots()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    xs = np.arange(len(BETAS))
    for ax, adv in zip(axes, TRAINING):
        for key, style, label in (("pgd", "o-", "PGD-10 (ours, as in Table 1)"),
                                  ("worst_case", "s-", "worst case over all attacks")):
            ms = [mean_std([r[key] for r in results[(b, adv)]]) for b in BETAS]
            ax.errorbar(xs, [m for m, _ in ms], yerr=[s for _, s in ms], fmt=style, ms=4,
                        capsize=2, label=label)
        ax.plot(xs, [PAPER_TABLE1[(b, adv)][2] for b in BETAS], "k^--", ms=4,
                label="PGD, paper's Table 1")
        ax.set_xticks(xs, [beta_label(b) for b in BETAS])
        ax.set_title(TRAINING_TITLES[adv])
        ax.set_ylim(-3, 103)
    axes[0].set_ylabel(f"robust accuracy at eps {EPS} (%)")
    axes[0].legend(loc="upper left")
    fig.suptitle("Claimed (PGD) vs worst-case robust accuracy")
    ctx.save_figure(fig, "audit_worst_case")

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for ax, adv in zip(axes, TRAINING):
        for b in BETAS:
            recs = results[(b, adv)]
            label = beta_label(b)
            line, = ax.plot(EPS_CURVE, [mean_std(v)[0] for v in zip(*[r["eps_curve_pgd"]
                                                                        for r in recs])],
                            "o-", ms=3, label=f"{label} PGD")
            ax.plot(EPS_CURVE, [mean_std(v)[0] for v in zip(*[r["eps_curve_bpda"]
                                                              for r in recs])],
                    "x--", ms=4, color=line.get_color(), label=f"{label} BPDA")
        ax.axhline(10, color="gray", lw=0.8)
        ax.set_xlabel("eps (L∞)")
        ax.set_title(TRAINING_TITLES[adv])
    axes[0].set_ylabel("accuracy under attack (%)")
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper")
    fig.suptitle("Accuracy as eps grows (20 steps of eps/4); gray: chance")
    ctx.save_figure(fig, "audit_eps_curve")


# %%
if __name__ == "__main__":
    chapter_main(run)
