"""`snn-tha parity` (`make parity`): does the engine that decides the claims compute the reference
loop's distribution? Paired over seeds, at the claims budget.

The same seed gives both engines the same initial weights and the same batches in the same order
(`net.engine` changes how a step is computed, nothing that is drawn), so each seed is a pair. The
trajectories cannot stay bit-identical: float sums in another order differ by ~1e-7, and one
spike flipped by that is amplified by a network of thresholds. What must agree is what the claims
measure, so for test accuracy and each hidden layer's dead fraction, over the seeds both engines
finished: d_s = exact - reference, mean +- se, the exact sign-flip test both ways
(`snn_tha.repro.paper.claim_stats.paired`) and the smallest effect these pairs would detect (2 se).
"Indistinguishable at +-X pp" means neither direction is decided and 2 se = X.

Runs: <results>/runs/<experiment>/<profile>-seed<k> (the exact engine: the claims' own runs) and
<results>/runs/<experiment>_reference/<profile>-seed<k> (`--set net.engine=reference`).
"""
import logging
from pathlib import Path

from snn_tha.repro import files, paths, schema
from snn_tha.repro.paper import claim_stats
from snn_tha.repro.run import pool as side_by_side, records
from snn_tha.repro.data import DataError

log = logging.getLogger("snn_tha")
CONFIG = "configs/fmnist_annealing.yaml"
REFERENCE = ("net.engine=reference",)


def reference_overrides(experiment):
    return [*REFERENCE, f"experiment={experiment}_reference"]


def train_missing(config, profile, seeds, jobs):
    """Both engines' runs of `seeds`, trained where missing (finished runs are left as they are)."""
    experiment = schema.load_config(config, profile).experiment
    runs = [(config, profile, seed, overrides) for seed in range(seeds)
            for overrides in ((), tuple(reference_overrides(experiment)))]
    side_by_side.train_runs(runs, jobs)


def finals_by_seed(runs_root, experiment, profile):
    """{seed: final.json} of an experiment's finished runs of `profile` (`records.collect_runs`:
    each checked, a copy counted once), all of one setting."""
    finals = records.collect_runs(runs_root, profile, experiment)
    records.check_same_settings(finals, f"parity {experiment}")
    return {final["seed"]: final for final in finals}


def measures(final):
    """What the claims read of a run: test accuracy and each hidden layer's dead fraction (%)."""
    hidden = final["dead_fraction"][:-1]
    return {"test accuracy": 100 * final["test_acc"],
            **{f"dead % hidden layer {i + 1}": 100 * d for i, d in enumerate(hidden)}}


def compare(runs_root, experiment, profile):
    """The paired comparison of the exact engine's runs with the reference loop's."""
    exact = finals_by_seed(runs_root, experiment, profile)
    reference = finals_by_seed(runs_root, f"{experiment}_reference", profile)
    if not set(exact) & set(reference):
        raise DataError(f"parity: no seed has both an exact run ({runs_root}/{experiment}/) and a "
                        f"reference run ({runs_root}/{experiment}_reference/) of profile "
                        f"{profile!r}: train them (snn-tha parity --seeds N)")
    rows = []
    for name in measures(next(iter(exact.values()))):
        a = {s: measures(f)[name] for s, f in exact.items()}
        b = {s: measures(f)[name] for s, f in reference.items()}
        rows.append({"measure": name, "exact": claim_stats.describe([a[s] for s in sorted(set(a) & set(b))]),
                     "reference": claim_stats.describe([b[s] for s in sorted(set(a) & set(b))]),
                     **claim_stats.paired(a, b)})
    paired = sorted(set(exact) & set(reference))   # the runs compared, not every exact seed
    seconds = {e: [runs[s]["train_seconds"] for s in paired] for e, runs in
               (("exact", exact), ("reference", reference))}
    return {"experiment": experiment, "profile": profile, "rows": rows, "train_seconds": seconds,
            "commits": sorted({f["provenance"]["git_commit"][:7] for f in [*exact.values(), *reference.values()]})}


def verdict(row):
    if row["verdict"] == claim_stats.UNDECIDED:
        return f"indistinguishable at ±{row['detectable']:.2f}"
    return "exact higher" if row["verdict"] == claim_stats.HOLDS else "reference higher"


def markdown(summary, budget):
    pm = lambda d: f"{d['mean']:.2f} ± {d['std']:.2f}"   # noqa: E731
    lines = ["# Training parity: the exact engine against the reference loop, paired by seed", "",
             f"Built by `snn-tha parity` from the run folders only. Budget: {budget}. "
             f"Runs: `results/runs/{summary['experiment']}/` (exact engine, the claims' runs) and "
             f"`results/runs/{summary['experiment']}_reference/` (`net.engine: reference`, the "
             f"per-step loop); commit(s) {', '.join(summary['commits'])}. A seed gives both engines the "
             "same initial weights and batches, so each seed is a pair; d = exact − reference.", "",
             "| measure | exact (mean ± sd) | reference (mean ± sd) | pairs | d (mean ± se) | "
             "p: exact > ref / ref > exact | detectable (2 se) | result |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        lines.append(f"| {r['measure']} | {pm(r['exact'])} | {pm(r['reference'])} | {r['n']} | "
                     f"{r['mean']:+.2f} ± {r['se']:.2f} | {r['p']:.3f} / {r['p_opposite']:.3f} | "
                     f"{r['detectable']:.2f} | {verdict(r)} |")
    lines += ["", *meaning(summary["rows"])]
    t = summary["train_seconds"]
    lines += ["", f"Training time per run (mean): exact {sum(t['exact']) / len(t['exact']):.0f} s, "
              f"reference {sum(t['reference']) / len(t['reference']):.0f} s (one thread each, two "
              "runs side by side).", "", "Per seed, d = exact − reference in test accuracy (pp):", "",
              "| seed | " + " | ".join(str(s) for s in summary["rows"][0]["seeds"]) + " |",
              "|---|" + "---|" * len(summary["rows"][0]["seeds"])]
    acc = summary["rows"][0]
    lines.append("| d (pp) | " + " | ".join(f"{d:+.2f}" for d in acc["diffs"]) + " |")
    return "\n".join(lines) + "\n"


def meaning(rows):
    """What the comparison means for the claims, in words computed from the rows."""
    differ = [r for r in rows if r["verdict"] != claim_stats.UNDECIDED]
    if not differ:
        return [f"What it means: on every measure the claims read the engines are indistinguishable "
                f"at these pairs (largest detectable effect ±{max(r['detectable'] for r in rows):.2f}); "
                f"the exact engine stands in for the reference loop at this budget."]
    level = claim_stats.LEVEL / len(rows)
    return [f"What it means: {r['measure']} differs ({verdict(r)}, d = {r['mean']:+.2f} ± {r['se']:.2f}, "
            f"p = {min(r['p'], r['p_opposite']):.3f}; {len(rows)} measures were tested, so a "
            f"Bonferroni-corrected test needs p ≤ {level:.3f}"
            + (", which it meets" if min(r['p'], r['p_opposite']) <= level else ", which it does not meet")
            + "). A claim about it decided with the exact engine compares two variants trained by "
              "the same engine, so such a shift cancels only where it is the same for both; that is "
              "not shown here." for r in differ]


def budget_line(runs_root, experiment, profile):
    final = next(iter(finals_by_seed(runs_root, experiment, profile).values()))
    return (f"profile `{profile}`, {final['epochs_run']} epochs over {final['train_images']} "
            f"training images, {final['test_images']} test images, T={final['num_steps']}")


def write(out_dir, profile="claims", config=CONFIG, results=None):
    """results/bench/parity.{md,json} from the run folders; returns the summary."""
    runs_root = Path(results or paths.results_root()) / "runs"
    experiment = schema.load_config(config, profile).experiment
    summary = compare(runs_root, experiment, profile)
    files.atomic_write_json(Path(out_dir) / "parity.json", summary)
    files.atomic_write_text(Path(out_dir) / "parity.md",
                            markdown(summary, budget_line(runs_root, experiment, profile)))
    return summary


def run(args):
    """`snn-tha parity`: train the missing pairs (unless --no-train), then the comparison."""
    if args.train:
        train_missing(CONFIG, args.profile, args.seeds, args.jobs)
    summary = write(args.out, args.profile)
    for row in summary["rows"]:
        log.info("%-24s %d pairs: d = %+.2f ± %.2f -> %s", row["measure"], row["n"], row["mean"],
                 row["se"], verdict(row))
    return summary
