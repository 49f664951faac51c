"""How many trials of each search space train a silent network (`make sweep-silence`).

For every space: a study of N trials at a small profile (default `smoke`), one worker, dead
pruning on (the output layer watched over the first K batches, chance accuracy after the first
epoch), warm start off (only sampled configurations count). Writes
results/sweeps/silent_fraction_<profile>.{csv,md}. `--before REF` adds, for each space whose
file differs at git REF, the same measurement on that revision of the space (its old ranges).
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna

from snn_tha.repro import files, paths, yaml_config as config
from snn_tha.repro.sweep import report as sweep_report, study as sweep
from snn_tha.repro.data.fixtures import write_dvs_gesture, write_shd

REAL_DATA = {"mnist": ["data.name=mnist5k"], "fmnist": []}   # overrides per space prefix


def data_overrides(space_name, fixtures):
    """MNIST: the real 5,000-image sample; FashionMNIST: the real set; DVS and SHD: generated
    files in tonic's formats (their silence reflects the generator, not the data set)."""
    prefix = space_name.split("_", 1)[0]
    if prefix in REAL_DATA:
        return REAL_DATA[prefix], "real"
    root = fixtures / prefix
    if not root.exists():  # enough examples for the smoke profile's validation split
        if prefix == "dvs":
            write_dvs_gesture(root)
        else:
            write_shd(root, samples_per_split=(120, 40))
    return [f"data.data_dir={root}"], "generated"


def measure(space_path, profile, trials, workdir, overrides, dead_batches, seed=0):
    storage = str(workdir / f"{Path(space_path).stem}-{abs(hash(str(space_path))) % 10**6}.journal")
    name = Path(space_path).stem
    sweep.init(space_path, storage, name, trials, profile, seed=seed, overrides=overrides,
               warm_start="none", dead_batches=dead_batches)
    sweep.work(storage, name, worker_id=0, out_root=workdir / "trials", allow_mismatch=True)
    study = optuna.load_study(study_name=name, storage=sweep.open_storage(storage))
    counts = sweep_report.trial_counts(study)
    reasons = [str(t.user_attrs.get("pruned_reason", "")) for t in study.trials]
    counts["silent"] = sum("emitted no spike" in r for r in reasons)
    counts["at_chance"] = sum("at chance" in r for r in reasons)
    complete = [t.value for t in study.trials if t.state.name == "COMPLETE"]
    return counts, max(complete) if complete else None


def _old_space(space_path, ref, workdir):
    """The space file and its base as they were at git revision `ref` (None if unchanged)."""
    space_path = Path(space_path).resolve()
    base_name = config.read_yaml(space_path).get("base")
    sources = [space_path] + ([space_path.parent / base_name] if base_name else [])
    old_dir = workdir / f"old-{ref}" / space_path.parent.relative_to(paths.ROOT)
    changed = False
    for f in sources:
        rel = f.resolve().relative_to(paths.ROOT)
        old = subprocess.run(["git", "show", f"{ref}:{rel}"], capture_output=True, text=True,
                             cwd=paths.ROOT)
        if old.returncode != 0:
            return None
        target = old_dir / f.resolve().relative_to(space_path.parent.resolve())
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(old.stdout)
        changed |= old.stdout != f.read_text()
    return old_dir / space_path.name if changed else None


def run(spaces, profile, trials, out_dir, before=None, dead_batches=2):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for path in spaces:
            overrides, data = data_overrides(Path(path).stem, workdir / "fixtures")
            versions = [("current", path)]
            old = _old_space(path, before, workdir) if before else None
            if old is not None:
                versions.append((f"at {before}", old))
            for label, version in versions:
                counts, best = measure(version, profile, trials, workdir, overrides, dead_batches)
                total = sum(counts[k] for k in ("complete", "pruned_dead", "pruned_fidelity",
                                                 "failed"))
                rows.append({"space": Path(path).stem, "ranges": label, "data": data,
                             "trials": total, "silent": counts["silent"],
                             "silent_fraction": round(counts["silent"] / max(1, total), 3),
                             "at_chance": counts["at_chance"], "failed": counts["failed"],
                             "best_val_acc": None if best is None else round(best, 4)})
                print(rows[-1], flush=True)
    write(out_dir, rows, profile, trials, dead_batches, before)
    return rows


def write(out_dir, rows, profile, trials, dead_batches, before):
    out_dir = Path(out_dir)
    files.atomic_write_csv(out_dir / f"silent_fraction_{profile}.csv", rows)
    lines = [f"# Silent trials per search space (`{profile}` profile)", "",
             f"`python -m snn_tha.repro.sweep.silence --profile {profile} --trials {trials}"
             + (f" --before {before}" if before else "") + "`: "
             f"{trials} TPE trials per space (paper sampler preset, seed 0, no warm start), one worker; "
             f"silent = the output layer emitted no spike over the first {dead_batches} batches "
             f"(pruned). At chance = spiking, but validation accuracy at chance after the "
             f"first epoch (pruned too; at a profile this small it mostly says the budget is "
             f"tiny). MNIST runs on "
             f"the real 5,000-image sample, FashionMNIST on the real set; DVS and SHD on "
             f"generated files in tonic's formats, so their silence reflects the generator. "
             f"`ranges: at <ref>` = the space file as it was at that commit (fixed threshold "
             f"intervals).", "",
             "| space | ranges | data | trials | silent | silent fraction | at chance | "
             "best val acc (completed) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        best = "-" if r["best_val_acc"] in (None, "") else f"{100 * float(r['best_val_acc']):.1f}%"
        lines.append(f"| {r['space']} | {r['ranges']} | {r['data']} | {r['trials']} | {r['silent']} "
                     f"| {100 * float(r['silent_fraction']):.0f}% | {r['at_chance']} | {best} |")
    files.atomic_write_text(out_dir / f"silent_fraction_{profile}.md", "\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spaces", nargs="*", default=None)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--dead-batches", type=int, default=2)
    parser.add_argument("--before", default=None, help="git revision of the old space files")
    parser.add_argument("--out", default=str(paths.results_root() / "sweeps"))
    args = parser.parse_args(argv)
    spaces = args.spaces or sorted(str(p) for p in (paths.CONFIGS / "sweeps").glob("*.yaml"))
    run(spaces, args.profile, args.trials, args.out, args.before, args.dead_batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
