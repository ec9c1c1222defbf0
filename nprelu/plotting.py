"""One figure style, the figures more than one chapter draws, and the markdown tables.

Figures are `matplotlib.figure.Figure` objects made without pyplot, so they need no closing
and no GUI. Drawing happens under one lock, because the style is applied through matplotlib's
global rc settings and chapters may run side by side in threads. The chapter context saves
figures as PNG under results/ and, in a notebook, shows them inline.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure

from .metrics import mean_std

STYLE = {"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
         "axes.spines.right": False, "font.size": 9, "legend.fontsize": 8,
         "legend.frameon": False}
CAP_COLORS = {"HL1": "tab:blue", "HL2": "tab:orange", "HL12": "tab:green"}
DPI = 130
_DRAWING = threading.RLock()


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (6, 4), **kw):
    """(fig, axes) in the project's style; axes is a 2-D array unless nrows = ncols = 1."""
    import matplotlib

    with _DRAWING, matplotlib.rc_context(STYLE):
        fig = Figure(figsize=size, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=nrows * ncols == 1, **kw)
    return fig, axes


def styled(fn):
    """Run fn (which draws) under the project's rc style, so fonts and grids match."""
    import matplotlib

    def wrapper(*args, **kwargs):
        with _DRAWING, matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    return wrapper


QUICK_NOTE = "quick settings, not the paper's"


def mark_quick(fig: Figure) -> None:
    """Say in the figure's title that it was made at quick settings."""
    import matplotlib

    title = fig.get_suptitle()
    if QUICK_NOTE not in title:
        with _DRAWING, matplotlib.rc_context(STYLE):
            fig.suptitle(f"{title} ({QUICK_NOTE})" if title else f"({QUICK_NOTE})")


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with _DRAWING:
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def beta_label(beta: float | None) -> str:
    return "uncapped" if beta is None else f"β={beta:g}"


def fmt(values: Iterable[float | None], digits: int = 2) -> str:
    """'98.12' for one value, '98.12 ± 0.10' for several, '–' when none is known."""
    values = list(values)
    m, s = mean_std(values)
    if np.isnan(m):
        return "–"
    return f"{m:.{digits}f}" if len(values) == 1 else f"{m:.{digits}f} ± {s:.{digits}f}"


def seeds_note(n: int) -> str:
    return "1 seed" if n == 1 else f"mean ± std over {n} seeds"


# ----------------------------------------------------------------------------- beta sweeps
SweepRows = dict  # (cap set, initial beta) -> [rows of seed 0, rows of seed 1, ...]


def _series(rows_by_net: SweepRows, cap: str, b0: float, key: str):
    per_seed = rows_by_net[(cap, b0)]
    betas = [r["beta"] for r in per_seed[0]]
    stats = [mean_std([rows[i][key] for rows in per_seed]) for i in range(len(betas))]
    return np.array(betas), np.array([m for m, _ in stats]), np.array([s for _, s in stats])


@styled
def sweep_figure(rows_by_net: SweepRows, init_betas: Sequence[float], panels: dict[str, str],
                 title: str, percent: Sequence[str] = ()) -> Figure:
    """Figs. 4-6 and 8-10: one column per initial beta, one row per quantity in `panels`
    (key -> y label), one line per capped layer set, x = the beta used at evaluation."""
    caps = list(dict.fromkeys(cap for cap, _ in rows_by_net))
    n_seeds = len(next(iter(rows_by_net.values())))
    fig, axes = figure(len(panels), len(init_betas), (3.3 * len(init_betas), 2.5 * len(panels)),
                       sharex=True)
    for col, b0 in enumerate(init_betas):
        for row, (key, label) in enumerate(panels.items()):
            ax = axes[row, col]
            for cap in caps:
                x, m, s = _series(rows_by_net, cap, b0, key)
                ax.errorbar(x, m, yerr=s if n_seeds > 1 else None, marker="o", ms=3,
                            color=CAP_COLORS.get(cap), label=f"capped {cap}", capsize=2)
            if key in percent:
                ax.set_ylim(-3, 103)
            if col == 0:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title(f"trained with β = {b0:g}")
            if x[0] <= b0 <= x[-1]:  # where the net is evaluated at the β it was trained with
                ax.axvline(b0, color="0.5", ls="--", lw=0.8,
                           label="β it was trained with" if (row, col) == (0, 0) else None)
            ax.set_xticks(_beta_ticks(x), [f"{t:g}" for t in _beta_ticks(x)])
            if row == len(panels) - 1:
                ax.set_xlabel("β at evaluation")
    axes[0, 0].legend(loc="best")
    fig.suptitle(f"{title} ({seeds_note(n_seeds)})")
    return fig


def _beta_ticks(betas: Sequence[float]) -> list[float]:
    """The first β evaluated and the multiples of 0.05 after it: every tick gets a label."""
    lo, hi = min(betas), max(betas)
    fives = [round(0.05 * k, 2) for k in range(1, int(hi / 0.05 + 1e-9) + 1)]
    return [lo] + [t for t in fives if lo + 0.02 < t <= hi + 1e-9]


def sweep_table(rows_by_net: SweepRows, keys: Sequence[str]) -> str:
    """Markdown table of a beta sweep, mean (± std) over seeds."""
    lines = ["| capped | trained β | eval β | " + " | ".join(keys) + " |",
             "|---|---|---|" + "---|" * len(keys)]
    for (cap, b0), per_seed in rows_by_net.items():
        for i, r in enumerate(per_seed[0]):
            cells = [fmt([rows[i][k] for rows in per_seed]) for k in keys]
            lines.append(f"| {cap} | {b0:g} | {r['beta']:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@styled
def relaxation_figure(relaxation, beta: float = 1.0) -> Figure:
    """The linear relaxation of the capped ReLU a = clip(z, 0, beta) on each interval case:
    the function (black), the lower and upper lines (blue, red), the interval (grey)."""
    cases = [("inactive", -1.5, -0.3), ("linear", 0.2, 0.8), ("saturated", 1.2, 2.0),
             ("crosses 0", -1.0, 0.8), ("crosses β", 0.3, 2.2), ("crosses both", -0.8, 1.9)]
    fig, axes = figure(2, 3, (9, 5), sharey=True)
    for ax, (title, l, u) in zip(axes.ravel(), cases):
        z = np.linspace(-2, 2.5, 400)
        ax.plot(z, np.clip(z, 0, beta), "k", lw=1.5, label="a = clip(z, 0, β)")
        aL, bL, aU, bU = (float(v[0]) for v in relaxation(beta, np.array([l]), np.array([u])))
        zz = np.linspace(l, u, 50)
        ax.plot(zz, aL * zz + bL, color="tab:blue", lw=2, label="lower line")
        ax.plot(zz, aU * zz + bU, color="tab:red", lw=2, ls="--", label="upper line")
        ax.axvspan(l, u, color="0.9")
        ax.set_title(f"{title}: [{l:g}, {u:g}]")
        ax.set_xlabel("z")
    axes[0, 0].set_ylabel("a")
    axes[0, 0].legend(loc="upper left")
    fig.suptitle(f"The capped ReLU's linear relaxation (CROWN), β = {beta:g}: the six cases")
    return fig
