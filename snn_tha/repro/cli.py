"""Command line: `snn-tha temporal | report`. Bad input -> one line on stderr, exit 2."""
import argparse
import errno
import json
import logging
import shlex
import sys
from pathlib import Path

from snn_tha.kernels import fused, host_memory
from snn_tha.repro import runio, signals
from snn_tha.repro.config import ConfigError
from snn_tha.repro.device import resolve as resolve_device
from snn_tha.repro.data import DataError
from snn_tha.deploy.infer import ExportError
from snn_tha.repro.train import NonFiniteError

log = logging.getLogger("snn_tha")


def _add_set(parser, example="optim.lr=1e-3"):
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a config key, e.g. --set {example} (repeatable; list "
                             f"items by index: --set net.dropout.0=0.5)")


def _add_set_and_no_train(parser, what):
    _add_set(parser)
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help=f"only rebuild {what} from existing runs")


def _add_device(parser):
    parser.add_argument("--device", help="auto (default: CUDA when present), cpu, cuda or cuda:N")


def _add_budget(parser, profile, seeds, what):
    """--profile and --seeds: the budget of one run and how many seeds of it."""
    _add_profile(parser, profile)
    parser.add_argument("--seeds", type=int, default=seeds, help=f"{what} (default {seeds})")


def _add_profile(parser, default, what="budget profile from configs/profiles/"):
    parser.add_argument("--profile", default=default, help=f"{what} (default: {default})")


def cmd_temporal(args):
    from snn_tha.repro import config, plots, temporal
    overrides = args.overrides + ([f"device={args.device}"] if args.device else [])
    cfg = config.load(temporal.TemporalCodingConfig, args.config, overrides)
    resolve_device(cfg.device)  # fail before any case runs
    out_dir = Path(args.out)
    command = "snn-tha " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = temporal.run(cfg, out_dir, resume=args.resume, command=command)
    # The figure is built from the files just written, never from in-memory state.
    plots.figure4(json.loads((out_dir / "traces.json").read_text()), out_dir / "figure4.png",
                  target_step=cfg.target_step)
    for name, claim in summary["claims"].items():
        log.info("%-40s %s", name, "holds" if claim["holds"] else "DOES NOT HOLD")
    log.info("wrote %s (metrics.csv, summary.json, figure4.png)", out_dir)


def cmd_train(args):
    from snn_tha.repro import schema, train
    cfg = schema.load(args.config, args.profile, args.overrides, data_dir=args.data_dir,
                            device=args.device)
    if args.resume and args.retrain:
        raise ConfigError("--resume and --retrain exclude each other: --resume keeps what is "
                          "there, --retrain moves it aside and trains again")
    result = train.train(cfg, args.out, resume=args.resume, retrain=args.retrain)
    if not cfg.track_test:
        log.info("%s [%s profile]: validation accuracy %s", cfg.experiment, cfg.profile,
                 ", ".join(f"{100 * r['val_acc']:.2f}%" for r in result["runs"]))
        return
    log.info("%s [%s profile, %d run(s)]: test accuracy best %.2f%% / mean %.2f%% / std %.2f",
             cfg.experiment, cfg.profile, len(result["runs"]), 100 * result["test_acc_best"],
             100 * result["test_acc_mean"], 100 * result["test_acc_std"])


def cmd_table(args):
    """Train every experiment of a table whose data is available, then the table and figures."""
    from snn_tha.repro import schema, tables, train
    if args.train:
        for path in tables.table_configs(args.command):
            cfg = schema.load(path, args.profile, args.overrides, device=args.device)
            try:  # missing data raise before anything is trained or written
                train.train(cfg, resume="auto")  # a run of other settings starts afresh
            except DataError as err:
                log.warning("skipping %s: %s", cfg.experiment, err)
    written = tables.build(args.command, args.profile)
    for path in written:
        log.info("wrote %s", path)


def cmd_claims(args):
    from snn_tha.repro import claims
    overrides = args.overrides + ([f"device={args.device}"] if args.device else [])
    path = claims.claims(args.profile, args.seeds, tuple(args.datasets), overrides,
                         train=args.train)
    log.info("wrote %s", path)


def cmd_ablate(args):
    from snn_tha.repro import fidelity
    rows = fidelity.ablate(args.config, args.profile, args.seeds,
                           overrides=[f"device={args.device}"] if args.device else [],
                           train_missing=args.train)
    log.info("ablation: %d rows -> results/tables/ablation_*_%s.md", len(rows), args.profile)


def cmd_sweep(args):
    from snn_tha.repro import sweep, sweep_report
    from snn_tha.repro.sweep_storage import safe_url, storage_url
    storage = storage_url(args.storage, args.study)
    if args.action == "init":
        if not args.space:
            raise ConfigError("sweep init needs --space configs/sweeps/<experiment>.yaml")
        sweep.init(args.space, storage, args.study, args.budget, args.profile, args.sampler,
                   args.seed, args.prune, args.overrides, args.warm_start, args.dead_batches,
                   args.dead_layers)
        log.info("created study %r in %s (budget %d trials)", args.study, safe_url(storage),
                 args.budget)
    elif args.action == "work":
        ran = sweep.work(storage, args.study, args.worker_id, out_root=args.trials_dir,
                         heartbeat=args.heartbeat, grace=args.grace, device=args.device,
                         allow_mismatch=args.allow_mismatch)
        log.info("worker done: %d trial(s) run here", ran)
    elif args.action == "status":
        print(json.dumps(sweep_report.status(storage, args.study), indent=2, default=str))
    else:
        command = "snn-tha " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        for path in sweep_report.export(storage, args.study, configs_dir=args.tuned_dir,
                                        command=command):
            log.info("wrote %s", path)


def cmd_report(args):
    from snn_tha.repro import report
    path = report.write_report(Path(args.results))
    log.info("wrote %s", path)


def cmd_runs(args):
    """One self-contained `snn-tha train` command per (experiment, seed): fan out anywhere."""
    from snn_tha.repro import experiment, tables
    configs = ([tables.ROOT / "configs" / f"{e}.yaml" for e in args.experiments] if args.experiments
               else tables.table_configs("table1") + tables.table_configs("table2"))
    print("\n".join(experiment.commands(experiment.plan(configs, args))))


def cmd_export(args):
    from snn_tha.deploy import export
    if args.table:
        log.info("wrote %s", export.deployment_table(Path(args.table)))
    for run_dir in args.run_dirs:
        log.info("wrote %s", export.export(run_dir, args.out))
        if args.nir:
            log.info("wrote %s", export.to_nir(run_dir, Path(args.out or run_dir) / "model.nir"))
        if args.check:
            log.info("%s", json.dumps(export.check(run_dir, args.data_dir or "data")))


def cmd_infer(args):
    from snn_tha.deploy import infer
    return infer.main([args.file, "--data", args.data] + (["--limit", str(args.limit)] if args.limit else []))


def cmd_data(args):
    from snn_tha.repro.data import prepare
    return prepare.main()


def _command(sub, func, name, help, device=True):
    """A subcommand that runs `func(args)`, with --device unless `device=False`."""
    p = sub.add_parser(name, help=help)
    p.set_defaults(func=func)
    if device:
        _add_device(p)
    return p


def build_parser():
    parser = argparse.ArgumentParser(prog="snn-tha", description=(
        "Threshold annealing for binarized spiking neural networks: run the paper's "
        "experiments and build its tables and figures from recorded runs."))
    sub = parser.add_subparsers(dest="command", required=True)

    p = _command(sub, cmd_temporal, "temporal", help="temporal-coding task (Sec. 4.1, Figure 4)")
    p.add_argument("--config", default=str(runio.ROOT / "configs" / "temporal_coding.yaml"),
                   help="YAML config file (default configs/temporal_coding.yaml)")
    _add_set(p, "iterations=200")
    p.add_argument("--out", default=str(runio.results_root() / "temporal_coding"),
                   help="run directory (default results/temporal_coding)")
    p.add_argument("--resume", action="store_true",
                   help="keep cases already finished in --out (after a kill) and run the rest")

    p = _command(sub, cmd_train, "train", help="train a classification experiment (Tables 1-2)")
    p.add_argument("config", help="experiment YAML, e.g. configs/fmnist_annealing.yaml")
    p.add_argument("--profile", help="budget profile (configs/profiles/): smoke, claims, quick, paper")
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

    from snn_tha.repro.tables import TABLES
    for name, (_, _, title, _) in TABLES.items():
        p = _command(sub, cmd_table, name, f"train the experiments of {title} (data permitting), "
                                           "then build the table and its figures")
        _add_profile(p, "quick")
        _add_set_and_no_train(p, "the table and figures")

    p = _command(sub, cmd_claims, "claims",
                 help="train the claim variants with N seeds and decide the "
                      "paper's claims (results/claims_<profile>.md)")
    _add_budget(p, "claims", 3, "seeds per variant")
    datasets = ["fashion_mnist", "mnist", "dvs_gesture", "shd"]
    p.add_argument("--datasets", nargs="+", default=datasets, choices=datasets,
                   help="data sets to try (those without data are skipped with a line)")
    _add_set_and_no_train(p, "the claims file, tables and figures")

    p = _command(sub, cmd_ablate, "ablate",
                 help="release-faithful baseline + one run set per paper-vs-release "
                      "difference (results/tables/ablation_<exp>_<profile>.md)")
    p.add_argument("config", help="an annealing experiment, e.g. configs/fmnist_annealing.yaml")
    _add_budget(p, "claims", 3, "seeds per setting")
    p.add_argument("--no-train", dest="train", action="store_false",
                   help="only rebuild the table from the runs that finished")

    p = _command(sub, cmd_sweep, "sweep", help="Optuna TPE sweeps: init | work | status | export")
    p.add_argument("action", choices=["init", "work", "status", "export"])
    p.add_argument("--study", required=True, help="study name, e.g. fmnist_annealing-quick")
    p.add_argument("--storage", help="journal file or database URL (postgresql+psycopg2://user:pw@"
                                     "host/db); default $SNN_THA_STORAGE, else "
                                     "results/sweeps/<study>.journal")
    p.add_argument("--space", help="init: search space YAML (configs/sweeps/<experiment>.yaml)")
    p.add_argument("--budget", type=int, default=500, help="init: total trials over all workers")
    _add_profile(p, "quick", "init: budget profile of each trial")
    p.add_argument("--sampler", choices=["paper", "default"], default="paper",
                   help="init: 'paper' = TPE multivariate=False, constant_liar=False, 10 startup")
    p.add_argument("--seed", type=int, default=0, help="init: study seed (workers derive theirs)")
    p.add_argument("--prune", choices=["none", "median", "asha", "hyperband"], default="none",
                   help="init: multi-fidelity pruning on per-epoch validation accuracy")
    p.add_argument("--warm-start", choices=["release", "paper", "none"], default="release",
                   help="init: enqueue the published configuration as the first trial")
    p.add_argument("--dead-batches", type=int, default=3, help="init: prune a trial whose watched "
                   "layer is silent over its first K batches (0: off; chance accuracy after "
                   "epoch 1 is pruned too)")
    p.add_argument("--dead-layers", choices=["output", "any"], default="output",
                   help="init: the layer(s) watched for silence")
    p.add_argument("--tuned-dir", help="export: where the tuned config goes (default configs/tuned)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="work: join although this checkout's space or commit differ from the study's")
    _add_set(p, "data.name=mnist5k")
    p.add_argument("--worker-id", type=int, help="work: distinct per worker (default: the pid)")
    p.add_argument("--trials-dir", help="work: where each trial's run directory goes "
                   "(default results/sweeps/trials)")
    p.add_argument("--heartbeat", type=int, default=60, help="work, database storage: seconds")
    p.add_argument("--grace", type=int, default=120,
                   help="work, database storage: seconds without a heartbeat before a trial "
                        "is failed and re-queued")

    p = _command(sub, cmd_report, "report", "rebuild results/REPORT.md from recorded runs",
                 device=False)
    p.add_argument("--results", default=str(runio.results_root()), help="results folder")

    p = _command(sub, cmd_export, "export", "the 1-bit deployment file of trained run folders "
                 "(model.1bit.npz + .json), optionally NIR, a check against PyTorch, the memory table",
                 device=False)
    p.add_argument("run_dirs", nargs="*", help="results/runs/<experiment>/<profile>-seed<k>/ folders")
    p.add_argument("--out", help="output folder (default: each run folder)")
    p.add_argument("--nir", action="store_true", help="also write model.nir (NIR graph)")
    p.add_argument("--check", action="store_true",
                   help="compare the export's predictions with the PyTorch model on the test set")
    p.add_argument("--data-dir", help="data root for --check (default data/)")
    p.add_argument("--table", metavar="PATH", help="write the deployment memory table there "
                   "(e.g. results/tables/deployment.md)")

    p = _command(sub, cmd_infer, "infer", "run a 1-bit export with the numpy engine (no PyTorch) "
                 "on the test set", device=False)
    p.add_argument("file", help="model.1bit.npz")
    p.add_argument("--data", default="data", help="data root (default data/)")
    p.add_argument("--limit", type=int, help="first N test images only")

    _command(sub, None, "bench", "time a training step per network and engine (make bench); "
             "options: --out, --repeats, --device, --parity, --markdown-only", device=False)

    _command(sub, cmd_data, "data", "prepare the offline data sets (make data)", device=False)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its own options (--out, --repeats, ...) pass through untouched
        from snn_tha.repro import bench
        return bench.main(argv[1:])
    args = build_parser().parse_args(argv)
    return guarded(lambda a: args.func(check_counts(a)), args, _resume_hint(args))


# numeric options and the least value that makes sense
COUNTS = {"seeds": (1, "seeds to train"), "budget": (1, "trials in the study"),
          "limit": (1, "test images"), "seed": (0, "the study's seed")}


def check_counts(args):
    """--seeds, --budget, --limit >= 1 and --seed >= 0 (ConfigError naming the option)."""
    for key, (least, what) in COUNTS.items():
        value = getattr(args, key, None)
        if value is not None and value < least:
            raise ConfigError(f"--{key} {value}: the number of {what} must be >= {least}"
                              if least else f"--{key} {value}: {what} must be >= 0")
    return args


def guarded(func, args, resume_hint=""):
    """Run a command: a user's error is one line and exit 2, Ctrl-C one line and 130, SIGTERM
    the same line and 143 (locks released, finished epochs checkpointed)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runio.git_commit()  # provenance names the code this process started with
    host_memory.keep_freed_memory()
    try:
        fused.choice()  # a bad SNN_THA_LIF_KERNEL is refused before any work
        with signals.sigterm_as_interrupt():
            code = func(args)
    except (ConfigError, DataError, NonFiniteError, ExportError) as err:
        return _fail(str(err))
    except OSError as err:  # missing file, read-only folder, full disk: the path and the reason
        if err.errno == errno.EPIPE:  # stdout closed early (`| head`): nothing left to say
            return 0
        if err.errno not in USER_OS_ERRORS:
            raise
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}")
    except KeyboardInterrupt as err:
        what = "terminated (SIGTERM)" if isinstance(err, signals.Terminated) else "interrupted"
        print(f"snn-tha: {what}; finished epochs are checkpointed: run the same command "
              f"with --resume to continue{resume_hint}", file=sys.stderr)
        return 143 if isinstance(err, signals.Terminated) else 130
    return code if isinstance(code, int) else 0


# errors a user causes (and can fix); anything else is a bug and keeps its traceback
USER_OS_ERRORS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC,
                  errno.EDQUOT, errno.EISDIR, errno.ENOTDIR}


def _fail(message):
    print(f"snn-tha: error: {message}", file=sys.stderr)
    return 2


def _resume_hint(args):
    if args.command in ("table1", "table2", "claims", "ablate"):
        return " (this command resumes matching runs by itself)"
    return ""


if __name__ == "__main__":
    sys.exit(main())
