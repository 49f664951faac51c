"""Figures built only from recorded run files."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from snn_tha import runio  # noqa: E402


def save_figure(fig, path, dpi=130):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    runio.atomic_write_bytes(path, buffer.getvalue())


def figure4(traces, path, target_step=75):
    """Figure 4 layout: one row per case, one column per snapshot iteration; each panel shows
    the target and the output membrane with the threshold line and output spikes, and below
    it a raster of (a sample of) the hidden layer."""
    cases = list(traces)
    n_cols = max(len(traces[c]["snapshots"]) for c in cases)
    fig = plt.figure(figsize=(4.0 * n_cols, 2.9 * len(cases)))
    outer = fig.add_gridspec(len(cases), n_cols, hspace=0.45, wspace=0.18)
    for row, name in enumerate(cases):
        trace = traces[name]
        for col, snap in enumerate(trace["snapshots"]):
            inner = outer[row, col].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
            ax, raster = fig.add_subplot(inner[0]), fig.add_subplot(inner[1])
            steps = range(len(snap["membrane"]))
            ax.plot(steps, trace["target"], "--", color="grey", lw=1.1, label="target")
            ax.plot(steps, snap["membrane"], color="tab:blue", lw=1.1, label="output u")
            ax.axhline(snap["thresholds"][-1], color="tab:red", lw=0.9, ls=":", label="threshold")
            for t in snap["output_spikes"]:
                ax.axvline(t, color="black", lw=0.7, alpha=0.5)
            ax.set_title(f"iteration {snap['iteration']}", fontsize=8)
            ax.set_xlim(0, len(steps))
            ax.tick_params(labelbottom=False, labelsize=7)
            if snap["hidden_raster"]:
                t_idx, n_idx = zip(*snap["hidden_raster"])
                raster.scatter(t_idx, n_idx, s=1.0, color="black", marker=".", linewidths=0)
            raster.set_ylim(-1, 100)
            raster.set_xlim(0, len(steps))
            raster.set_yticks([])
            raster.tick_params(labelsize=7, labelbottom=row == len(cases) - 1)
            if col == 0:
                ax.set_ylabel(trace["label"].replace(", ", ",\n", 1), fontsize=8)
                raster.set_ylabel("hidden", fontsize=7)
            if row == len(cases) - 1:
                raster.set_xlabel("time step", fontsize=8)
            if row == 0 and col == 0:
                ax.legend(fontsize=6.5, loc="upper left")
    fig.suptitle(f"Temporal coding: output membrane vs target (spike wanted at t={target_step}). "
                 "Grey lines: output spikes; strips: raster of 100 hidden neurons", fontsize=10)
    fig.subplots_adjust(top=0.95)
    save_figure(fig, path, dpi=110)
