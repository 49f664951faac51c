"""`snn-tha claims`: the paper's claims decided by numbers, for every data set present.

Trains flt32, BSNN theta=1, BSNN tuned theta, BSNN fixed at theta_inf, annealing (and, where a
config exists, annealing with budget-scaled alphas) with N seeds each at one profile, then
writes `results/claims_<profile>.md`, `results/figures/dead_per_epoch_<prefix>_<profile>.png`
and Table 1/2 of that profile, all from the run folders.
"""
import logging
import statistics
from pathlib import Path

from snn_tha.repro import files, paths, schema
from snn_tha.repro.paper import published as paper, tables
from snn_tha.repro.run import pool as side_by_side, records
from snn_tha.repro.data import DataError
from snn_tha.repro.paper.claim_stats import MIN_PAIRS, RULE, UNDECIDED, describe, paired, seeds_needed
from snn_tha.repro.paper.ablation import CLAIM_VARIANTS, PREFIXES, train_config_file
from snn_tha.repro.run.setup import prepare_data

ACC_EFFECT = 1.0    # pp: Table 1's gaps between the binarized variants are about 1 point
DEAD_EFFECT = 10.0  # pp: Fig. 5 / Sec. 5.2 report 10-30 points fewer dead neurons

log = logging.getLogger("snn_tha")


def variant_configs(prefix):
    """configs/<prefix>_<variant>.yaml for each claim variant that has a config."""
    found = [paths.CONFIGS / f"{prefix}_{v}.yaml" for v in CLAIM_VARIANTS]
    return [p for p in found if p.is_file()]


def run_all(profile, seeds, datasets, overrides=(), jobs=1):
    """Train every variant of every data set whose data is present; returns trained data sets.
    `jobs` > 1: that many runs side by side (`side_by_side.train_runs`), the same runs."""
    done = []
    for dataset in datasets:
        prefix = PREFIXES[dataset]
        try:
            if jobs > 1:
                planned = [(p, schema.load_config(p, profile, [*overrides, f"repeats={seeds}"]))
                           for p in variant_configs(prefix)]
                if planned:   # absent data: one line here, not a failure in every worker
                    prepare_data(planned[0][1])
                side_by_side.train_runs([(path, profile, seed, tuple(overrides)) for path, _, seed
                                         in side_by_side.each_seed(planned)], jobs)
            else:
                for path in variant_configs(prefix):
                    train_config_file(path, profile, seeds, overrides)
            done.append(dataset)
        except DataError as err:
            log.warning("skipping %s: %s", dataset, err)
    return done


def runs_by_variant(profile, dataset, runs_root=None):
    """{variant: [(final, run_dir), ...]} for one data set at one profile."""
    runs_root = runs_root or paths.results_root() / "runs"
    found = {}
    for final in records.collect_runs(runs_root, profile):
        if final.get("dataset") == dataset and final.get("variant") in CLAIM_VARIANTS:
            found.setdefault(final["variant"], []).append(final)
    for variant, finals in found.items():
        records.check_same_settings(finals, f"claims {dataset} {variant}")
    init_order(found, dataset)
    return found


def init_order(found, dataset):
    """The one order in which every variant's runs drew their initial weights: a seed pairs
    the variants only when they drew alike (DataError naming the orders otherwise)."""
    orders = {variant: records.init_orders(finals) for variant, finals in found.items()}
    distinct = sorted({o for per_variant in orders.values() for o in per_variant})
    if len(distinct) > 1:
        listed = "; ".join(f"{variant}: " + "/".join(o) for variant, o in orders.items())
        raise DataError(f"claims {dataset}: the runs drew their initial weights in different "
                        f"orders ({listed}), "
                        f"so a seed does not pair them: retrain one order's runs (--retrain)")
    return distinct[0] if distinct else None


def _acc(runs):
    return {f["seed"]: 100 * f["test_acc"] for f in runs}


def _dead(runs, layer):
    return {f["seed"]: 100 * f["dead_fraction"][layer] for f in runs}


def _ms(values):
    d = describe(list(values))
    return f"{d['mean']:.2f} ± {d['std']:.2f} (n={d['n']})" if d["n"] > 1 else (
        f"{d['mean']:.2f} (n=1)" if d["n"] else "—")


def _claim(text, a_label, a, b_label, b, effect, note=""):
    """One claim row: A > B decided paired over the seeds both finished; `effect` is the size
    the paper reports (pp), for the seeds a decision at 2 se would need."""
    s = paired(a, b)
    decided = s["n"] >= 2   # a mean, an sd and a test exist
    if s["n"] < MIN_PAIRS and s["verdict"] == UNDECIDED:
        note = f"{s['n']} pairs: the exact test needs ≥ {MIN_PAIRS}. " + note
    return {"claim": text, "a": f"{a_label}: {_ms(a.values())}", "b": f"{b_label}: {_ms(b.values())}",
            "n": s["n"], "difference": f"{s['mean']:+.2f} ± {s['se']:.2f}" if decided else "—",
            "p": f"{s['p']:.3f} / {s['p_opposite']:.3f}" if decided else "—",
            "detectable": f"{s['detectable']:.2f}" if decided else "—",
            "verdict": s["verdict"], "note": note.strip(), "sd": s["sd"], "effect": effect,
            "needed": seeds_needed(s["sd"], effect), "diffs": s["diffs"], "mean": s["mean"],
            "se": s["se"]}


def threshold_gap(runs):
    """Largest relative gap |theta_final - theta_inf| / theta_inf over layers and seeds, %."""
    gaps = []
    for f in runs:
        theta_inf = f.get("theta_inf") or []
        for got, want in zip(f.get("final_thresholds") or [], theta_inf):
            gaps.append(100 * abs(got - want) / want)
    return max(gaps) if gaps else None


def hidden_layers(runs):
    """Indices of the hidden layers (every layer but the output one)."""
    return range(len(runs[0]["dead_fraction"]) - 1)


def paper_gap(dataset, a, b):
    """|mean A - mean B| of the paper's Table 1 (pp), ACC_EFFECT where it has no such pair."""
    table = paper.TABLE1.get(dataset, {})
    if a in table and b in table:
        return round(abs(table[a][1] - table[b][1]), 2)
    return ACC_EFFECT


def decide(v, dataset=None):
    """The paper's claims for one data set, from {variant: finals}: accuracy claims (effect:
    the paper's Table 1 gap) and dead-neuron claims per hidden layer (10-30 pp in Fig. 5 /
    Sec. 5.2, DEAD_EFFECT taken)."""
    rows = []
    acc = {k: _acc(r) for k, r in v.items()}
    if "flt32" in v:
        for other in ("bsnn_theta1", "bsnn", "annealing"):
            if other in v:
                rows.append(_claim(f"Table 1: flt32 is more accurate than {paper.VARIANT_LABELS[other]}",
                                   "flt32", acc["flt32"], other, acc[other],
                                   paper_gap(dataset, "flt32", other)))
    if "annealing" in v:
        for other in ("bsnn", "bsnn_theta1"):
            if other in v:
                rows.append(_claim(f"Table 1: annealing is more accurate than {paper.VARIANT_LABELS[other]}",
                                   "annealing", acc["annealing"], other, acc[other],
                                   paper_gap(dataset, "annealing", other)))
    if "annealing" in v and "bsnn" in v:
        for j in hidden_layers(v["annealing"]):
            rows.append(_claim(f"Fig. 5 / Sec. 5.2: annealing has fewer dead neurons than the tuned "
                               f"fixed threshold in hidden layer {j + 1} (dead %, fixed − annealing)",
                               "fixed θ", _dead(v["bsnn"], j), "annealing", _dead(v["annealing"], j),
                               DEAD_EFFECT, "the two nets end at different thresholds, so this "
                               "does not isolate annealing"))
    gap = threshold_gap(v.get("annealing", []))
    for variant, label in (("annealing", "annealing (release alphas)"),
                           ("annealing_budget", "annealing (alphas scaled to the budget)")):
        if variant in v and "bsnn_theta_inf" in v:
            g = threshold_gap(v[variant])
            note = (f"final thresholds within {g:.2f}% of theta_inf (largest gap): compared at equal "
                    "thresholds" if g is not None and g <= 1.0 else
                    f"final thresholds up to {g:.1f}% below theta_inf: NOT at equal thresholds, "
                    "a lower threshold alone gives fewer dead neurons")
            for j in hidden_layers(v[variant]):
                rows.append(_claim(f"Sec. 3/5.2: a large fixed threshold kills neurons that {label} "
                                   f"keeps alive, hidden layer {j + 1} (dead %, fixed θ∞ − annealing)",
                                   "fixed θ∞", _dead(v["bsnn_theta_inf"], j), variant,
                                   _dead(v[variant], j), DEAD_EFFECT, note))
            rows.append(_claim(f"Mechanism: reaching θ∞ by {label} is more accurate than imposing θ∞ "
                               "from the first step", variant, acc[variant], "fixed θ∞",
                               acc["bsnn_theta_inf"], ACC_EFFECT))
    if gap is not None:
        iterations = max(f.get("iterations", 0) for f in v["annealing"])
        rows.append({"claim": "Sec. 5.2: the final threshold is within 0.1% of theta_inf",
                     "a": f"largest gap over layers and seeds: {gap:.3f}%", "b": "claimed: ≤ 0.1%",
                     "n": len(v["annealing"]), "difference": "—", "p": "—", "detectable": "—",
                     "verdict": "holds" if gap <= 0.1 else "not measurable at this budget",
                     "note": f"after {iterations} iterations; the gap shrinks as (1 - alpha)^g, and the "
                             f"paper's runs were far longer" if gap > 0.1 else "", "needed": None})
    return rows


def dead_per_epoch(v):
    """{variant label: [[[dead % of hidden layer j at epoch e for e] for j] for each seed]} from
    metrics.csv (validation set); the output layer, never dead here, is left out."""
    curves = {}
    for variant, runs in v.items():
        per_run = []
        for f in runs:
            rows = records.read_metrics(f["run_dir"])
            layers = sorted(k for k in rows[0] if k.startswith("dead_"))[:-1] if rows else []
            per_run.append([[100 * float(r[k]) for r in rows] for k in layers])
        if per_run and all(p for p in per_run):
            epochs = min(len(p[0]) for p in per_run)
            curves[paper.VARIANT_LABELS.get(variant, variant)] = [
                [layer[:epochs] for layer in p] for p in per_run]
    return curves


PAIRING = ("Pairing: one seed gives every variant the same batches in the same order and every "
           "binarized variant the same initial latent weights "
           "(`tests/test_claim_stats.py::test_a_seed_pairs_the_variants`), "
           "so each claim is decided on the per-seed differences.")


def claims_table(rows):
    lines = ["| claim | A | B | pairs | A − B (mean ± se) | p: A > B / B > A (sign-flip) | "
             "detectable (2 se) | verdict | note |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['claim']} | {r['a']} | {r['b']} | {r['n']} | {r['difference']} | "
                     f"{r['p']} | {r['detectable']} | **{r['verdict']}** | {r['note']} |")
    return lines


def planning_table(rows):
    """Seeds each claim would need to decide the effect the paper reports, from its paired sd."""
    lines = ["", f"Seeds for the paper's effects: n = (2 sd / effect)² pairs put the effect at 2 se "
                 f"(at least {MIN_PAIRS} for the exact test); effect: the gap of the paper's Table 1 "
                 f"means for accuracy claims ({ACC_EFFECT:g} pp for the mechanism), {DEAD_EFFECT:g} pp "
                 f"for dead neurons (the paper reports 10-30).", "",
             "| claim | paired sd | pairs now | effect (pp) | pairs needed |", "|---|---|---|---|---|"]
    for r in rows:
        if r.get("needed") is not None:
            lines.append(f"| {r['claim']} | {r['sd']:.2f} | {r['n']} | {r['effect']:g} | {r['needed']} |")
    return lines


def variant_table(v):
    lines = ["", "Per variant (test accuracy %, dead % per hidden layer on the test set, chosen model):",
             "", "| variant | test acc | dead % per hidden layer | final thresholds (seed mean) |",
             "|---|---|---|---|"]
    for variant, runs in v.items():
        dead = " / ".join(_ms(_dead(runs, j).values()) for j in hidden_layers(runs))
        thetas = runs[0].get("final_thresholds") or []
        mean_theta = [statistics.mean(f["final_thresholds"][j] for f in runs) for j in range(len(thetas))]
        lines.append(f"| {paper.VARIANT_LABELS.get(variant, variant)} | {_ms(_acc(runs).values())} | "
                     f"{dead} | {', '.join(f'{t:.3f}' for t in mean_theta) or '—'} |")
    return lines


def write(profile, datasets, out=None, runs_root=None):
    """results/claims_<profile>.md and the figures, from the run folders; returns its path."""
    out = Path(out) if out is not None else paths.results_root()
    from snn_tha.repro.paper import plots
    lines = [f"# The paper's claims at the `{profile}` profile", "",
             "Built by `snn-tha claims` from the run folders under `results/runs/` only. " + RULE, ""]
    for dataset in datasets:
        v = runs_by_variant(profile, dataset, runs_root)
        if not v:
            continue
        any_run = next(iter(v.values()))[0]
        label = paper.DATASET_LABELS.get(dataset, dataset)
        lines += [f"## {label}", "",
                  f"Budget: profile `{profile}`, {any_run['epochs_run']} epochs over "
                  f"{any_run['train_images']} training images, {any_run['test_images']} test images, "
                  f"T={any_run['num_steps']}, seeds per variant: "
                  + ", ".join(f"{k} {len(r)}" for k, r in v.items())
                  + f"; initial weights drawn in the `{init_order(v, dataset)}` order "
                    "(`net.init_order`).", "",
                  PAIRING, ""]
        rows = decide(v, dataset)
        lines += claims_table(rows)
        missing = [k for k in CLAIM_VARIANTS if k not in v
                   and any(p.stem.endswith(k) for p in variant_configs(PREFIXES[dataset]))]
        if missing:
            lines += ["", f"Missing runs (no run folder at this profile, so no claim uses them): "
                          f"{', '.join(missing)}."]
        lines += planning_table(rows) + variant_table(v)
        prefix = PREFIXES[dataset]
        figure = out / "figures" / f"dead_per_epoch_{prefix}_{profile}.png"
        plots.dead_per_epoch(dead_per_epoch(v), figure,
                             f"{label}: dead neurons per hidden layer after each epoch (validation "
                             f"set, {profile} profile): seed mean, bars = ± 1 sd over seeds")
        lines += ["", f"![dead fraction per epoch](figures/{figure.name})", ""]
        paired_figure = out / "figures" / f"claims_paired_{prefix}_{profile}.png"
        if plots.paired_claims([r for r in rows if r.get("diffs")], paired_figure,
                               f"{label}, {profile} profile: each claim's per-seed differences A − B "
                               f"(dots), their mean ± 2 se (bar), the paper's effect (◆), zero"):
            lines += [f"![paired differences per claim](figures/{paired_figure.name})", ""]
    path = out / f"claims_{profile}.md"
    files.atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def claims(profile, seeds, datasets=tuple(PREFIXES), overrides=(), train=True, jobs=1):
    trained = run_all(profile, seeds, datasets, overrides, jobs) if train else list(datasets)
    for name in tables.TABLES:
        try:
            tables.build(name, profile)
        except DataError as err:  # e.g. no event data here
            log.info("%s", err)
    return write(profile, [d for d in datasets if d in trained or not train])
