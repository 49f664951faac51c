"""The `snn-tha` commands (everything but `infer`, see `snn_tha.repro.cli`). Bad input -> one line on stderr, exit 2."""
import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

from snn_tha.repro import paths
from snn_tha.repro.cli import deploy as deploy_cli, sweep as sweep_cli
from snn_tha.repro.cli.args import (_add_budget, _add_profile, _add_set, _add_set_and_no_train,
                                    _command, check_counts)
from snn_tha.repro.yaml_config import ConfigError
from snn_tha.repro.data import DataError
from snn_tha.repro.run.device import resolve as resolve_device
from snn_tha.repro.run import guard
from snn_tha.repro.run.guard import guarded

log = logging.getLogger("snn_tha")


def cmd_temporal(args):
    from snn_tha.repro import yaml_config as config
    from snn_tha.repro.paper import plots, temporal
    overrides = args.overrides + ([f"device={args.device}"] if args.device else [])
    cfg = config.load_yaml(temporal.TemporalCodingConfig, args.config, overrides)
    resolve_device(cfg.device)  # fail before any case runs
    out_dir = Path(args.out)
    command = " ".join(["snn-tha temporal --config", shlex.quote(paths.shown(args.config)),
                        *(f"--set {shlex.quote(o)}" for o in args.overrides),
                        *(["--resume"] if args.resume else [])])
    summary = temporal.run(cfg, out_dir, resume=args.resume, command=command)
    # The figure is built from the files just written, never from in-memory state.
    plots.figure4(json.loads((out_dir / "traces.json").read_text()), out_dir / "figure4.png",
                  target_step=cfg.target_step)
    for name, claim in summary["claims"].items():
        log.info("%-40s %s", name, "holds" if claim["holds"] else "DOES NOT HOLD")
    log.info("wrote %s (metrics.csv, summary.json, figure4.png)", out_dir)


def cmd_train(args):
    from snn_tha.repro import schema
    from snn_tha.repro.run import train
    cfg = schema.load_config(args.config, args.profile, args.overrides, data_dir=args.data_dir,
                            device=args.device)
    if args.resume and args.retrain:
        raise ConfigError("--resume and --retrain exclude each other: --resume keeps what is "
                          "there, --retrain moves it aside and trains again")
    result = train.train(cfg, args.out, resume=args.resume, retrain=args.retrain)
    if not cfg.track_test:
        log.info("%s [%s profile]: validation accuracy %s", cfg.experiment, cfg.profile,
                 ", ".join(f"{100 * r['val_acc']:.2f}%" for r in result["runs"]))
        return
    for run, folder in zip(result["runs"], result["run_dirs"]):   # what a user looks for first
        log.info("%s", run_summary(run, folder))
    log.info("%s [%s profile, %d run(s)]: test accuracy best %.2f%% / mean %.2f%% / std %.2f",
             cfg.experiment, cfg.profile, len(result["runs"]), 100 * result["test_acc_best"],
             100 * result["test_acc_mean"], 100 * result["test_acc_std"])


def run_summary(final, folder):
    """One finished run in a few lines: accuracy, dead neurons, thresholds, where its files are."""
    pct = " / ".join(f"{100 * d:.1f}%" for d in final["dead_fraction"])
    thetas = ", ".join(f"{t:.3f}" for t in final["eval_thresholds"])
    return (f"{final['experiment']} seed {final['seed']}: test accuracy {100 * final['test_acc']:.2f}% "
            f"(model of epoch {final['best_epoch'] + 1} of {final['epochs_run']}, chosen on "
            f"{final['selected_on']}), {final['train_seconds']:.0f} s of training\n"
            f"  dead neurons per layer (test set): {pct}\n"
            f"  thresholds at evaluation: {thetas}\n"
            f"  files: {folder}/ (final.json, metrics.csv, model.pt, model.1bit.npz)")


def cmd_table(args):
    """Train every experiment of a table whose data is available, then the table and figures."""
    from snn_tha.repro import schema
    from snn_tha.repro.paper import tables
    from snn_tha.repro.run import train
    if args.train:
        missing = set()   # data sets found missing: one line each, not one per variant
        for path in tables.table_configs(args.command):
            cfg = schema.load_config(path, args.profile, args.overrides, device=args.device)
            if cfg.data.name in missing:
                continue
            try:  # missing data raise before anything is trained or written
                train.train(cfg, resume="auto")  # a run of other settings starts afresh
            except DataError as err:
                missing.add(cfg.data.name)
                log.warning("skipping %s: %s", cfg.data.name, err)
    written = tables.build(args.command, args.profile)
    print(written[0].read_text())   # the table, with its budget and settings lines
    for path in written:
        log.info("wrote %s", path)


def cmd_claims(args):
    from snn_tha.repro.paper import claims
    overrides = args.overrides + ([f"device={args.device}"] if args.device else [])
    path = claims.claims(args.profile, args.seeds, tuple(args.datasets), overrides,
                         train=args.train, jobs=args.jobs)
    log.info("wrote %s", path)
    from snn_tha.repro.paper import budget
    written = budget.write(list(args.datasets))   # every profile with paired runs
    if written:
        log.info("wrote %s", written)


def cmd_parity(args):
    from snn_tha.repro.paper import parity
    parity.run(args)
    log.info("wrote %s", Path(args.out) / "parity.md")


def cmd_ablate(args):
    from snn_tha.repro.paper import ablation
    rows = ablation.ablate(args.config, args.profile, args.seeds,
                           overrides=[f"device={args.device}"] if args.device else [],
                           train_missing=args.train)
    log.info("ablation: %d rows", len(rows))


def cmd_report(args):
    from snn_tha.repro.paper import report
    path = report.write_report(Path(args.results))
    log.info("wrote %s", path)


def cmd_runs(args):
    """One self-contained `snn-tha train` command per (experiment, seed): fan out anywhere."""
    from snn_tha.repro.cli import experiment
    from snn_tha.repro.paper import tables
    from snn_tha.repro.run import pool as side_by_side
    configs = ([paths.CONFIGS / f"{e}.yaml" for e in args.experiments] if args.experiments
               else tables.table_configs("table1") + tables.table_configs("table2"))
    print("\n".join(side_by_side.commands(experiment.plan(configs, args))))


def cmd_data(args):
    from snn_tha.repro.data import prepare
    return prepare.main()


def build_parser():
    parser = argparse.ArgumentParser(prog="snn-tha", description=(
        "Threshold annealing for binarized spiking neural networks: run the paper's "
        "experiments and build its tables and figures from recorded runs."))
    sub = parser.add_subparsers(dest="command", required=True)

    p = _command(sub, cmd_temporal, "temporal", help="temporal-coding task (Sec. 4.1, Figure 4)")
    p.add_argument("--config", default=str(paths.CONFIGS / "temporal_coding.yaml"),
                   help="YAML config file (default configs/temporal_coding.yaml)")
    _add_set(p, "iterations=200")
    p.add_argument("--out", default=str(paths.results_root() / "temporal_coding"),
                   help="run directory (default results/temporal_coding)")
    p.add_argument("--resume", action="store_true",
                   help="keep cases already finished in --out (after a kill) and run the rest")

    p = _command(sub, cmd_train, "train", help="train a classification experiment (Tables 1-2)")
    p.add_argument("config", help="experiment YAML, e.g. configs/fmnist_annealing.yaml")
    _add_profile(p, None)
    _add_set(p)
    p.add_argument("--out", help="output folder (default results/runs/<experiment>)")
    p.add_argument("--data-dir", help="data root (default $SNN_THA_DATA or data/)")
    p.add_argument("--resume", action="store_true",
                   help="continue each run from its last epoch checkpoint; a finished run is "
                        "left as it is (its missing files written)")
    p.add_argument("--retrain", action="store_true",
                   help="move runs already in the output folder to <experiment>/.replaced/ "
                        "and train them again")

    p = _command(sub, cmd_runs, "runs",
                 help="print one `snn-tha train` command per (experiment, seed), "
                      "to run on many GPUs (GNU parallel, SLURM)")
    _add_budget(p, "paper", 5, "seeds per experiment (the paper's 5 trials)")
    p.add_argument("--experiments", nargs="+", help="experiment names (default: all of Tables 1-2)")

    from snn_tha.repro.paper.tables import TABLES
    for name, (_, _, title, _) in TABLES.items():
        p = _command(sub, cmd_table, name, f"train the experiments of {title} (data permitting), "
                                           "then build the table and its figures")
        _add_profile(p)
        _add_set_and_no_train(p, "the table and figures")

    p = _command(sub, cmd_claims, "claims",
                 help="train the claim variants with N seeds and decide the "
                      "paper's claims (results/claims_<profile>.md)")
    _add_budget(p, "claims", 3, "seeds per variant")
    from snn_tha.repro.catalogue import PAPER_DATASETS
    datasets = list(PAPER_DATASETS)
    p.add_argument("--datasets", nargs="+", default=datasets, choices=datasets,
                   help="data sets to try (those without data are skipped with a line)")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs trained side by side, each with cpu_count // JOBS threads "
                        "(default 1; make claims uses 2: faster on 2 cores, see README)")
    _add_set_and_no_train(p, "the claims file, tables and figures")

    p = _command(sub, cmd_parity, "parity",
                 help="the exact engine against the reference loop, paired by seed at the claims "
                      "budget (trains the missing pairs; results/bench/parity.md)", device=False)
    _add_budget(p, "claims", 10, "seeds, each trained with both engines")
    p.add_argument("--jobs", type=int, default=1, help="runs trained side by side (make parity: 2)")
    p.add_argument("--out", default=str(paths.results_root() / "bench"),
                   help="folder of parity.md and parity.json (default $SNN_THA_RESULTS/bench)")
    p.add_argument("--no-train", dest="train", action="store_false",
                   help="only rebuild parity.md from the runs that finished")

    p = _command(sub, cmd_ablate, "ablate",
                 help="release-faithful baseline + one run set per paper-vs-release "
                      "difference (results/tables/ablation_<exp>_<profile>.md)")
    p.add_argument("config", help="an annealing experiment, e.g. configs/fmnist_annealing.yaml")
    _add_budget(p, "claims", 3, "seeds per setting")
    p.add_argument("--no-train", dest="train", action="store_false",
                   help="only rebuild the table from the runs that finished")

    sweep_cli.add_parser(sub)

    p = _command(sub, cmd_report, "report", "rebuild results/REPORT.md from recorded runs",
                 device=False)
    p.add_argument("--results", default=str(paths.results_root()), help="results folder")

    deploy_cli.add_parsers(sub)

    p = _command(sub, None, "infer",   # snn_tha.repro.cli runs it, torch never imported
                 "run a 1-bit export with the numpy engine (PyTorch never imported) "
                 "on the test set", device=False)
    from snn_tha.deploy.infer import add_arguments   # numpy only: the same arguments as the engine's
    add_arguments(p)

    _command(sub, None, "bench", "time a training step per network and engine (make bench); "
             "options: --out, --repeats, --device, --markdown-only", device=False)

    _command(sub, cmd_data, "data", "prepare the offline data sets (make data)", device=False)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its own options (--out, --repeats, ...) pass through untouched
        from snn_tha.repro.bench import steps as bench
        return bench.main(argv[1:])
    args = build_parser().parse_args(argv)
    return guarded(lambda a: args.func(check_counts(a)), args, _resume_hint(args))


def _resume_hint(args):
    """What the interrupted command's user does next (each command's own way to continue)."""
    if args.command in ("table1", "table2", "claims", "ablate", "parity"):
        return ("finished epochs are checkpointed: run the same command again to continue "
                "(it resumes matching runs by itself)")
    if args.command == "sweep":
        return ("the running trial was failed (a warm-start trial is queued again): run the same "
                "`sweep work` command again to continue the study")
    return guard.RESUME


if __name__ == "__main__":
    sys.exit(main())
