"""Figures built only from recorded run files."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from snn_tha.repro import files  # noqa: E402


def save_figure(fig, path, dpi=130):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    files.atomic_write_bytes(path, buffer.getvalue())


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


def activity_figure(activities, path, title, over_seeds=None):
    """Figure 7 style: per layer, the distribution over neurons of spikes per test image, one
    histogram per variant, with each variant's dead-neuron fraction (never fired on the test set)."""
    import numpy as np
    n_layers = max(len(a["layers"]) for a in activities.values())
    fig, axes = plt.subplots(1, n_layers, figsize=(4.2 * n_layers, 3.3), squeeze=False)
    for i, ax in enumerate(axes[0]):
        top = max(max(a["layers"][i]["spikes_per_neuron_per_image"]) for a in activities.values())
        bins = np.linspace(0, max(top, 1e-3), 40)
        for label, act in activities.items():
            layer = act["layers"][i]
            seeds = ""
            if over_seeds and over_seeds.get(label):
                mean, sd, n = over_seeds[label][i]
                seeds = f"; {n} seeds: {mean:.1f} ± {sd:.1f}%"
            ax.hist(layer["spikes_per_neuron_per_image"], bins=bins, alpha=0.55, log=True,
                    label=f"{label}: {100 * layer['dead_fraction']:.1f}% dead{seeds}")
        ax.set_title(f"layer {i + 1} ({activities[label]['layers'][i]['neurons']} neurons)",
                     fontsize=9)
        ax.set_xlabel("spikes per neuron per test image", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("neurons", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def training_curves(curves, path, title, window=25):
    """Figure 6 style: training loss (moving average) and per-layer thresholds per iteration."""
    import numpy as np
    fig, (ax_loss, ax_theta) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True)
    for label, rows in curves.items():
        it = np.array([float(r["iteration"]) for r in rows])
        loss = np.array([float(r["loss"]) for r in rows])
        k = min(window, len(loss))
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        line, = ax_loss.plot(it[k - 1:], smooth, lw=1.2, label=label)
        thetas = sorted(key for key in rows[0] if key.startswith("theta_"))
        for j, key in enumerate(thetas):
            ax_theta.plot(it, [float(r[key]) for r in rows], color=line.get_color(),
                          ls=["-", "--", ":", "-."][j % 4], lw=1.1, label=f"{label}, layer {j + 1}")
    ax_loss.set_ylabel(f"training loss ({window}-step mean)", fontsize=8)
    ax_theta.set_ylabel("threshold θ", fontsize=8)
    ax_theta.set_xlabel("iteration (optimizer step)", fontsize=8)
    for ax in (ax_loss, ax_theta):
        ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def dead_per_epoch(curves, path, title):
    """One panel per hidden layer: dead % after each epoch, per variant the mean over seeds
    with a ± 1 sd band (from {label: [per seed: [per layer: [per epoch]]]})."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator
    if not curves:
        return None
    layers = max(len(runs[0]) for runs in curves.values())
    fig, axes = plt.subplots(1, layers, figsize=(4.2 * layers, 3.6), squeeze=False)
    for label, runs in curves.items():
        values = np.array(runs, dtype=float)           # seeds x layers x epochs
        mean, sd = values.mean(0), values.std(0, ddof=1) if len(runs) > 1 else 0 * values[0]
        epochs = np.arange(1, values.shape[2] + 1)
        for j in range(values.shape[1]):
            line, = axes[0][j].plot(epochs, mean[j], marker="o", ms=3,
                                    label=f"{label} (n={len(runs)})" if j == 0 else None)
            axes[0][j].fill_between(epochs, mean[j] - sd[j], mean[j] + sd[j],
                                    color=line.get_color(), alpha=0.15, lw=0)
    for j, ax in enumerate(axes[0]):
        ax.set_title(f"hidden layer {j + 1}", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("dead neurons %", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    fig.legend(loc="lower center", ncol=3, fontsize=7, frameon=False)   # below the panels
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.14, 1, 0.95))
    save_figure(fig, path)
    return path
