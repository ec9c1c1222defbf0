"""Experiment protocols that more than one chapter runs (Sec. 4, 5 and 6 share one design).

Sec. 4/5 protocol: train a net with some hidden layers capped at an initial beta, then evaluate
the same weights with the cap moved to each beta of a grid (0.01 ... 0.15): standard accuracy,
robust accuracy under PGD (eps 0.1, step 0.01, 10 iterations) and the attack's success rate.
Sec. 6 runs the zero-gradient search on the same models over the same grid.
"""

from __future__ import annotations

import numpy as np

from .attacks import pgd, zero_gradient_search
from .experiments import Context, mean_std, setup_plots
from .metrics import accuracy, success_rate

CAP_SETS = {"HL1": (1,), "HL2": (2,), "HL12": (1, 2)}
PGD_EVAL = dict(eps=0.1, step=0.01, iters=10)


def sweep_specs(ctx: Context, hidden, seed):
    """The trained models of one Sec. 4/5 network: (cap set, initial beta) -> Spec."""
    return {(name, b0): ctx.spec(hidden, {hl: b0 for hl in hls}, seed=seed)
            for name, hls in CAP_SETS.items() for b0 in ctx.settings.init_betas}


def _sweep(ctx: Context, net: str, hidden, record: str, betas, evaluate, config: dict) -> dict:
    """For every seed: train (or load) the nine models of `net`, move each one's cap over
    `betas`, and store one row per (cap set, initial beta, beta) with `evaluate(model)`'s
    numbers. Returns {seed: record numbers}."""
    out = {}
    for seed in ctx.seeds:
        specs = sweep_specs(ctx, hidden, seed)
        models = ctx.models(specs.values(), f"{net} seed {seed}")

        def compute(specs=specs, models=models):
            rows = []
            for (name, b0), spec in specs.items():
                model = models[spec]
                for beta in betas:
                    model.set_caps({hl: beta for hl in CAP_SETS[name]})
                    rows.append({"cap": name, "init_beta": b0, "beta": beta, **evaluate(model)})
            return {"rows": rows}

        out[seed] = ctx.record(f"{record}_{net}_seed{seed}", compute, config, seed)["numbers"]
    return out


def beta_sweep(ctx: Context, net: str, hidden) -> dict:
    """The Sec. 4/5 protocol: standard accuracy, PGD robust accuracy and success rate (%)."""
    _, (xt, yt) = ctx.data

    def evaluate(model):
        adv = pgd(model, xt, yt, **PGD_EVAL)
        return {"clean": 100 * accuracy(model, xt, yt), "robust": 100 * accuracy(model, adv, yt),
                "success": 100 * success_rate(model, xt, adv, yt)}

    config = {"net": net, "hidden": list(hidden), "pgd": PGD_EVAL}
    return _sweep(ctx, net, hidden, "sweep", ctx.settings.eval_betas, evaluate, config)


def zero_gradient_sweep(ctx: Context, net: str, hidden) -> dict:
    """Sec. 6 on the models of `beta_sweep`: mean L2 distance to a zero-gradient point, and the
    share of inputs (%) where one was found within the iteration budget."""
    _, (xt, yt) = ctx.data
    s = ctx.settings
    x, y = xt[: s.zg_samples], yt[: s.zg_samples]

    def evaluate(model):
        r = zero_gradient_search(model, x, y, step=0.01, max_iters=s.zg_iters)
        return {"found": 100 * float(r.found.mean()),
                "mean_l2": float(r.l2[r.found].mean()) if r.found.any() else None}

    config = {"net": net, "hidden": list(hidden), "step": 0.01, "max_iters": s.zg_iters,
              "samples": s.zg_samples}
    return _sweep(ctx, net, hidden, "zerograd", s.zg_betas, evaluate, config)


def _series(per_seed: dict, cap, b0, key):
    """x (betas) and mean/std over seeds of `key` for one (cap set, initial beta)."""
    rows = [[r for r in rec["rows"] if r["cap"] == cap and r["init_beta"] == b0]
            for rec in per_seed.values()]
    betas = [r["beta"] for r in rows[0]]
    stats = [mean_std([rs[i][key] for rs in rows]) for i in range(len(betas))]
    return np.array(betas), np.array([m for m, _ in stats]), np.array([s for _, s in stats])


COLORS = {"HL1": "tab:blue", "HL2": "tab:orange", "HL12": "tab:green"}


def plot_sweep(ctx: Context, per_seed: dict, title: str, name: str) -> None:
    """Figs. 4-6: rows = standard acc, robust acc, success rate; columns = initial beta."""
    plt = setup_plots()
    b0s = ctx.settings.init_betas
    fig, axes = plt.subplots(3, len(b0s), figsize=(3.3 * len(b0s), 7.5), sharex=True,
                             squeeze=False)
    labels = {"clean": "standard accuracy (%)", "robust": "robust accuracy, PGD (%)",
              "success": "PGD success rate (%)"}
    for col, b0 in enumerate(b0s):
        for row, key in enumerate(labels):
            ax = axes[row, col]
            for cap in CAP_SETS:
                x, m, s = _series(per_seed, cap, b0, key)
                ax.errorbar(x, m, yerr=s if len(per_seed) > 1 else None, marker="o", ms=3,
                            color=COLORS[cap], label=f"capped {cap}", capsize=2)
            ax.set_ylim(-3, 103)
            if col == 0:
                ax.set_ylabel(labels[key])
            if row == 0:
                ax.set_title(f"trained with β = {b0:g}")
            if row == 2:
                ax.set_xlabel("β at evaluation")
    axes[0, 0].legend(loc="lower right")
    fig.suptitle(f"{title} ({_seeds_note(per_seed)})")
    ctx.save_figure(fig, name)


def plot_zero_gradients(ctx: Context, per_seed: dict, title: str, name: str) -> None:
    """Figs. 8-10: mean L2 distance to the first zero-gradient point, and the share found."""
    plt = setup_plots()
    b0s = ctx.settings.init_betas
    fig, axes = plt.subplots(2, len(b0s), figsize=(3.3 * len(b0s), 5.2), sharex=True,
                             squeeze=False)
    for col, b0 in enumerate(b0s):
        for cap in CAP_SETS:
            for row, key in enumerate(("mean_l2", "found")):
                x, m, s = _series(per_seed, cap, b0, key)
                axes[row, col].errorbar(x, m, yerr=s if len(per_seed) > 1 else None, marker="o",
                                        ms=3, color=COLORS[cap], label=f"capped {cap}",
                                        capsize=2)
        axes[0, col].set_title(f"trained with β = {b0:g}")
        axes[1, col].set_xlabel("β at evaluation")
        axes[1, col].set_ylim(-3, 103)
    axes[0, 0].set_ylabel("mean L2 distance to zero gradient")
    axes[1, 0].set_ylabel("inputs where it was found (%)")
    axes[0, 0].legend()
    fig.suptitle(f"{title} ({_seeds_note(per_seed)}; missing points: no zero gradient found)")
    ctx.save_figure(fig, name)


def _seeds_note(per_seed: dict) -> str:
    n = len(per_seed)
    return "1 seed" if n == 1 else f"mean ± std over {n} seeds"


def sweep_table(per_seed: dict, keys=("clean", "robust", "success")) -> str:
    """Markdown table of a sweep, mean over seeds."""
    first = next(iter(per_seed.values()))["rows"]
    lines = ["| capped | trained β | eval β | " + " | ".join(keys) + " |",
             "|---|---|---|" + "---|" * len(keys)]
    for i, r in enumerate(first):
        vals = []
        for k in keys:
            m, s = mean_std([rec["rows"][i][k] for rec in per_seed.values()])
            vals.append("–" if np.isnan(m) else (f"{m:.2f}" if len(per_seed) == 1
                                                 else f"{m:.2f} ± {s:.2f}"))
        lines.append(f"| {r['cap']} | {r['init_beta']:g} | {r['beta']:g} | "
                     + " | ".join(vals) + " |")
    return "\n".join(lines)
