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
    step histogram per variant over all its seeds (counts per seed), log axis from 0.5 so a
    bin of one neuron shows; each panel's title gives the variants' dead fractions (never fired
    on the test set), mean ± sd over seeds, in legend order.
    `activities`: {label: [activity.json of each seed]}."""
    import numpy as np
    from matplotlib.ticker import NullFormatter
    first = {label: runs[0] for label, runs in activities.items()}
    n_layers = max(len(a["layers"]) for a in first.values())
    fig, axes = plt.subplots(1, n_layers, figsize=(4.4 * n_layers, 3.6), squeeze=False)
    for i, ax in enumerate(axes[0]):
        top = max(max(r["layers"][i]["spikes_per_neuron_per_image"]) for runs in activities.values()
                  for r in runs)
        bins = np.linspace(0, max(top, 1e-3), 40)
        dead = []
        for k, (label, runs) in enumerate(activities.items()):
            values = np.concatenate([r["layers"][i]["spikes_per_neuron_per_image"] for r in runs])
            mean, sd, n = over_seeds[label][i] if over_seeds and over_seeds.get(label) else (
                100 * first[label]["layers"][i]["dead_fraction"], 0.0, 1)
            ax.hist(values, bins=bins, weights=np.full(len(values), 1 / len(runs)), histtype="step",
                    lw=1.4, ls=["-", "--", ":", "-."][k % 4], label=f"{label} ({n} seeds)")
            dead.append(f"{mean:.1f} ± {sd:.1f}%")
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"layer {i + 1} ({first[label]['layers'][i]['neurons']} neurons)\ndead: "
                     + " / ".join(dead), fontsize=8)
        ax.set_xlabel("spikes per neuron per test image", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("neurons per seed", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 0.95))
    save_figure(fig, path)


def training_curves(curves, path, title, window=25):
    """Figure 6 style: training loss (moving average, seed mean ± 1 sd band) and each layer's
    threshold per iteration in a panel of its own (fixed thresholds are flat lines there, never
    hidden under another variant's). `curves`: {label: [iterations.csv rows of each seed]}."""
    import numpy as np
    first = next(iter(curves.values()))[0]
    thetas = sorted(key for key in first[0] if key.startswith("theta_"))
    fig, axes = plt.subplots(1, 1 + len(thetas), figsize=(3.6 * (1 + len(thetas)), 3.6))
    for k, (label, runs) in enumerate(curves.items()):
        steps = min(len(rows) for rows in runs)
        it = np.array([float(r["iteration"]) for r in runs[0][:steps]])
        loss = np.array([[float(r["loss"]) for r in rows[:steps]] for rows in runs])
        w = min(window, steps)
        smooth = np.array([np.convolve(l, np.ones(w) / w, mode="valid") for l in loss])
        style = dict(ls=["-", "--", ":", "-."][k % 4], lw=1.3)
        line, = axes[0].plot(it[w - 1:], smooth.mean(0), label=f"{label} ({len(runs)} seeds)", **style)
        if len(runs) > 1:
            axes[0].fill_between(it[w - 1:], smooth.mean(0) - smooth.std(0, ddof=1),
                                 smooth.mean(0) + smooth.std(0, ddof=1), color=line.get_color(),
                                 alpha=0.2, lw=0)
        for j, key in enumerate(thetas):
            axes[1 + j].plot(it, [float(r[key]) for r in runs[0][:steps]], color=line.get_color(), **style)
    axes[0].set_ylabel(f"training loss ({window}-step mean)", fontsize=8)
    for j, ax in enumerate(axes):
        ax.set_xlabel("iteration (optimizer step)", fontsize=8)
        ax.tick_params(labelsize=7)
        if j:
            ax.set_title(f"threshold θ, layer {j}", fontsize=9)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=len(curves),
               fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 0.94))
    save_figure(fig, path)


def dead_per_epoch(curves, path, title):
    """One panel per hidden layer: dead % after each epoch, per variant the mean over seeds with
    ± 1 sd error bars, variants offset a little along the epoch axis so no bar hides another
    (from {label: [per seed: [per layer: [per epoch]]]})."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator
    if not curves:
        return None
    layers = max(len(runs[0]) for runs in curves.values())
    fig, axes = plt.subplots(1, layers, figsize=(4.4 * layers, 3.8), squeeze=False)
    shift = np.linspace(-0.15, 0.15, len(curves)) if len(curves) > 1 else [0.0]
    for k, (label, runs) in enumerate(curves.items()):
        values = np.array(runs, dtype=float)           # seeds x layers x epochs
        mean, sd = values.mean(0), values.std(0, ddof=1) if len(runs) > 1 else 0 * values[0]
        epochs = np.arange(1, values.shape[2] + 1) + shift[k]
        for j in range(values.shape[1]):
            axes[0][j].errorbar(epochs, mean[j], yerr=sd[j], marker="osD^v"[k % 5], ms=4,
                                capsize=2, lw=1.2, label=f"{label} (n={len(runs)})" if j == 0 else None)
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


def paired_claims(rows, path, title):
    """Each paired claim in a row: its per-seed differences A − B (dots), their mean with a
    2 se bar, the paper's effect (diamond, where it states one) and zero; the verdict beside it.
    Returns the path, or None when no claim has pairs."""
    import numpy as np
    if not rows:
        return None
    import textwrap
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.4))
    for y, row in enumerate(reversed(rows)):
        d = np.asarray(row["diffs"], dtype=float)
        ax.scatter(d, np.full(len(d), y) + np.linspace(-0.18, 0.18, len(d)), s=9, color="0.55", zorder=2)
        ax.errorbar([row["mean"]], [y], xerr=[2 * row["se"]], fmt="o", color="k", ms=4, capsize=3, zorder=3)
        if row.get("effect"):
            ax.scatter([row["effect"]], [y], marker="D", s=22, color="tab:red", zorder=4)
        ax.text(1.01, y, row["verdict"], transform=ax.get_yaxis_transform(), fontsize=7, va="center")
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([textwrap.fill(r["claim"], 62) for r in reversed(rows)], fontsize=6)
    ax.set_xlabel("A − B per seed (pp)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def effect_by_budget(found, labels, path, title):
    """One panel per central claim: the paired effect with its 2 se bar at each budget (x: the
    profiles in budget order), the paper's effect (diamond) and zero. `found`: [(profile, budget,
    budget label, {label: claim row})]."""
    fig, axes = plt.subplots(1, len(labels), figsize=(3.3 * len(labels), 3.4), squeeze=False)
    for ax, label in zip(axes[0], labels):
        for x, (profile, _, shown, rows) in enumerate(found):
            row = rows.get(label)
            if row is None:
                continue
            ax.errorbar([x], [row["mean"]], yerr=[2 * row["se"]], fmt="o", color="k", capsize=3)
            if row.get("effect"):
                ax.scatter([x + 0.15], [row["effect"]], marker="D", s=20, color="tab:red")
            ax.annotate(f"n={row['n']}", (x, row["mean"]), xytext=(6, 0), textcoords="offset points",
                        fontsize=6, va="center")
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_xticks(range(len(found)))
        ax.set_xticklabels([f"{p}\n{shown}" for p, _, shown, _ in found], fontsize=6)
        ax.set_xlim(-0.5, len(found) - 0.5)
        ax.set_title(label, fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return path
