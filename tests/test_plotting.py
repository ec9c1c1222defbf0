"""Figures say what they are: a quick-settings figure says so in its title, and every tick of
the beta sweeps (Figs. 4-6, 8-10) is labelled, the first evaluated beta included."""

import numpy as np

from nprelu import plotting
from nprelu.context import make_context


def test_a_figure_made_at_quick_settings_says_so(tmp_path):
    for quick in (True, False):
        ctx = make_context(quick=quick, results=tmp_path / str(quick), cache=tmp_path / "c")
        fig, ax = plotting.figure()
        ax.plot([0, 1])
        fig.suptitle("Fig. 4: something")
        ctx.figure(fig, "f")
        assert (plotting.QUICK_NOTE in fig.get_suptitle()) == quick
        assert (tmp_path / str(quick) / "f.png").exists()


def test_every_beta_tick_of_a_sweep_figure_is_labelled():
    betas = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12, 0.13, 0.14,
             0.15]
    rows = {("HL1", b0): [[{"beta": b, "robust": 50.0} for b in betas]] for b0 in (0.01, 0.1)}
    fig = plotting.sweep_figure(rows, [0.01, 0.1], {"robust": "robust (%)"}, "t")
    ax = fig.axes[1]  # the column of the nets trained with beta = 0.1
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["0.01", "0.05", "0.1", "0.15"]
    assert np.allclose(ax.get_xticks(), [0.01, 0.05, 0.1, 0.15])
    # the beta the net was trained with is marked
    assert any(line.get_linestyle() == "--" and np.allclose(line.get_xdata(), [0.1, 0.1])
               for line in ax.get_lines())
