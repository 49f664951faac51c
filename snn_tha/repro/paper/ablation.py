"""`snn-tha ablate` (issue 10): the release-faithful config and one variant per
paper-vs-release difference (one change at a time, from `configs/ablations/<experiment>.yaml`),
N seeds each, compared with the baseline seed by seed (`snn_tha.repro.paper.claim_stats`), into
`results/tables/ablation_<experiment>_<profile>.{md,csv}`. Also what `snn-tha claims`
(`snn_tha.repro.paper.claims`) trains with: the claim variants, the data sets' config prefixes and
`train_config_file`.

Everything is built from run folders (final.json, metrics.csv), never from memory.
"""
import logging
import shlex
import statistics
from pathlib import Path

import yaml

from snn_tha.repro import catalogue, files, paths, schema, yaml_config as config
from snn_tha.repro.run import records
from snn_tha.repro.paper.claim_stats import describe, paired
from snn_tha.repro.run.train import train

log = logging.getLogger("snn_tha")

ROOT = paths.ROOT
CLAIM_VARIANTS = catalogue.CLAIM_ORDER
PREFIXES = catalogue.PREFIXES


# ---- training the variants -----------------------------------------------------------------
def train_config_file(path, profile, seeds, overrides=(), out=None):
    """Train one experiment at `profile` with `seeds` repeats; resume what matches."""
    cfg = schema.load_config(path, profile, list(overrides) + [f"repeats={seeds}"])
    return train(cfg, out, resume="auto")["runs"]


def _set_args(changes):
    return [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
            for key, value in changes.items()]


def behaviour(cfg):
    """The config with the keys that cannot change this run's results removed (e.g. the clamp
    order without a weight clamp), to spot ablation variants identical to their baseline."""
    data = config.to_dict(cfg)
    data.pop("experiment")
    data.pop("device")
    if not cfg.optim.weight_clip:
        data["optim"].pop("clamp")
    if not cfg.annealed:  # a fixed threshold: centre == threshold, evaluation thresholds fixed
        data.pop("test_threshold")
        data["net"].pop("surrogate_centre")
    if cfg.optim.schedule == "none":
        data["optim"].pop("period_iterations")
        data["optim"].pop("period_epochs")
    elif cfg.optim.period_iterations:
        data["optim"].pop("period_epochs")
    return data


def load_ablations(experiment):
    path = paths.CONFIGS / "ablations" / f"{experiment}.yaml"
    if not path.is_file():
        raise config.ConfigError(f"{path}: no ablation list for experiment {experiment!r}; "
                                 f"write one (see configs/ablations/fmnist_annealing.yaml)")
    data = config.read_yaml(path)
    variants = data.get("variants") if isinstance(data, dict) else None
    if not isinstance(variants, dict) or not variants:
        raise config.ConfigError(f"{path}: key 'variants' must map names to {{why, set}}")
    for name, spec in variants.items():
        if not (isinstance(spec, dict) and set(spec) == {"why", "set"} and isinstance(spec["set"], dict)):
            raise config.ConfigError(f"{path}: variant '{name}' needs exactly the keys 'why' and 'set'")
    return variants


def finished_runs(cfg, out):
    """final.json of the seeds of `cfg` that finished in `out` (no training)."""
    finals = [Path(out) / f"{cfg.profile}-seed{cfg.seed + k}" / "final.json" for k in range(cfg.repeats)]
    return [{**records.read_final(p), "run_dir": str(p.parent)} for p in finals if p.is_file()]


def _trained_runs(cfg, out):
    result = train(cfg, out, resume="auto")
    return [{**f, "run_dir": str(d)} for f, d in zip(result["runs"], result["run_dirs"])]


def plan_ablation(config_path, profile, seeds, overrides=()):
    """(baseline cfg, [(name, spec, cfg, same_as_baseline)]): every variant validated before
    anything trains; a variant whose config cannot change the run is marked, not trained."""
    common = [f"repeats={seeds}", *overrides]
    base = schema.load_config(config_path, profile, common)
    planned = []
    for name, spec in load_ablations(base.experiment).items():
        cfg = schema.load_config(config_path, profile, common + _set_args(spec["set"]))
        planned.append((name, spec, cfg, behaviour(cfg) == behaviour(base)))
    return base, planned


def ablation_commands(config_path, profile, seeds, overrides=()):
    """One `snn-tha train` command per ablation run that `ablate` would train (dry runs)."""
    base, planned = plan_ablation(config_path, profile, seeds, overrides)
    out = paths.results_root() / "runs" / f"ablation_{base.experiment}"
    if out.resolve().is_relative_to(ROOT):
        out = out.resolve().relative_to(ROOT)
    lines = []
    for name, spec, cfg, same in planned:
        sets = "".join(f" --set {shlex.quote(a)}" for a in [*overrides, *_set_args(spec["set"])])
        lines += [f"snn-tha train {shlex.quote(str(config_path))} --profile {profile} --set seed={cfg.seed + k} "
                  f"--set repeats=1{sets} --out {shlex.quote(str(out / name))} --resume"
                  for k in range(cfg.repeats) if not same]
    return lines


def ablate(config_path, profile, seeds, out_tables=None, runs_root=None, overrides=(),
           train_missing=True):
    """Baseline + one run set per ablation variant; returns the table rows. With
    `train_missing=False` the table is built from the runs that finished (no training)."""
    runs = _trained_runs if train_missing else finished_runs
    out_tables = Path(out_tables) if out_tables else paths.results_root() / "tables"
    runs_root = Path(runs_root) if runs_root else paths.results_root() / "runs"
    base, planned = plan_ablation(config_path, profile, seeds, overrides)
    rows = [_ablation_row("baseline (release)", "the release's settings", base,
                          runs(base, runs_root / base.experiment), None)]
    for name, spec, cfg, same in planned:
        if same:
            rows.append(_ablation_row(name, spec["why"], cfg, [], rows[0], same=True))
            continue
        finals = runs(cfg, runs_root / f"ablation_{base.experiment}" / name)
        rows.append(_ablation_row(name, spec["why"], cfg, finals, rows[0]))
    stem = f"ablation_{base.experiment}_{profile}"
    files.atomic_write_csv(Path(out_tables) / f"{stem}.csv",
                           [{k: v for k, v in r.items() if k not in ("acc_values", "dead_values", "init_orders")}
                            for r in rows])
    files.atomic_write_text(Path(out_tables) / f"{stem}.md", ablation_markdown(rows, base, profile))
    log.info("wrote %s (.md and .csv)", Path(out_tables) / f"{stem}.md")
    return rows


def _ablation_row(name, why, cfg, finals, baseline, same=False):
    accs = {f["seed"]: 100 * f["test_acc"] for f in finals}
    # dead % over the hidden layers (the output layer is never dead in these runs)
    dead = {f["seed"]: 100 * statistics.mean(f["dead_fraction"][:-1]) for f in finals}
    layers = len(finals[0]["dead_fraction"]) if finals else 0
    acc, dd = describe(accs.values()), describe(dead.values())
    row = {"variant": name, "change": why, "seeds": acc["n"],
           "acc_mean": round(acc["mean"], 2) if finals else None,
           "acc_std": round(acc["std"], 2) if acc["n"] > 1 else None,
           "acc_per_seed": " / ".join(f"{a:.2f}" for a in accs.values()),
           "dead_pct_per_layer": "/".join(
               f"{100 * statistics.mean(f['dead_fraction'][i] for f in finals):.1f}" for i in range(layers)),
           "dead_mean_pct": round(dd["mean"], 2) if finals else None,
           "acc_values": accs, "dead_values": dead,
           "acc_vs_baseline": "", "dead_vs_baseline": ""}
    row["init_orders"] = records.init_orders(finals)
    if same:
        row["acc_vs_baseline"] = row["dead_vs_baseline"] = "identical config in effect: not trained"
    elif baseline is not None and finals and row["init_orders"] != baseline["init_orders"]:
        row["acc_vs_baseline"] = row["dead_vs_baseline"] = (
            f"not paired: initial weights drawn in the {'/'.join(row['init_orders'])} order, the "
            f"baseline's in the {'/'.join(baseline['init_orders'])} order (retrain the variant)")
    elif baseline is not None and finals:
        for key, values in (("acc", accs), ("dead", dead)):
            s = paired(values, baseline[f"{key}_values"])
            if s["n"] < 2:
                row[f"{key}_vs_baseline"] = f"{s['n']} paired seed(s): no spread"
                continue
            moved = "moves" if abs(s["mean"]) > 2 * s["se"] > 0 else "within spread"
            row[f"{key}_vs_baseline"] = f"{s['mean']:+.2f} (2se {2 * s['se']:.2f}, {s['n']} pairs): {moved}"
    return row


def ablation_markdown(rows, base, profile):
    budget = (f"profile `{profile}`: {base.epochs} epochs, {base.data.train_subset or 'all'} training "
              f"images, validation {base.data.validation_size}, test subset "
              f"{base.data.test_subset or 'all'}, T={base.num_steps}, seeds {base.seed}..{base.seed + base.repeats - 1} "
              f"asked (the seeds column counts those that finished)")
    lines = [f"# Fidelity ablation: {base.experiment} ({profile} profile)", "",
             f"Budget: {budget}. Baseline = the release's settings (configs/{base.experiment}.yaml); "
             "each other row changes one thing (configs/ablations/). Test accuracy %, dead % = "
             "neurons that never fired on the test set (chosen model). 'moves' = the mean of the per-seed "
             "differences to the baseline (same seed: same batches, same initial weights) exceeds "
             "twice its standard error.", "",
             "| variant | change | seeds | test acc mean | std | per seed | Δ acc vs baseline | "
             "dead % per layer | Δ dead % (mean over hidden layers) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['change']} | {r['seeds']} | {_fmt(r['acc_mean'])} | "
                     f"{_fmt(r['acc_std'])} | {r['acc_per_seed'] or '—'} | {r['acc_vs_baseline'] or '—'} | "
                     f"{r['dead_pct_per_layer'] or '—'} | {r['dead_vs_baseline'] or '—'} |")
    return "\n".join(lines) + "\n"


def _fmt(value):
    return "—" if value is None else f"{value:.2f}"
