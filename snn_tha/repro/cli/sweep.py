"""`snn-tha sweep init | work | status | export`: its options and what each action runs."""
import json
import logging
import shlex
import sys

from snn_tha.repro.cli.args import _add_profile, _add_set, _command
from snn_tha.repro.yaml_config import ConfigError

log = logging.getLogger("snn_tha")


def cmd_sweep(args):
    from snn_tha.repro.sweep import report as sweep_report, study as sweep
    from snn_tha.repro.sweep.storage import safe_url, storage_url
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
        print(json.dumps(sweep_report.status(storage, args.study), indent=2, default=str)
              if args.json else sweep_report.status_text(storage, args.study))
    else:
        command = "snn-tha " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        for path in sweep_report.export_study(storage, args.study, configs_dir=args.tuned_dir,
                                        command=command, force=args.force):
            log.info("wrote %s", path)


def add_parser(sub):
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
    p.add_argument("--tuned-dir", help="export: where the tuned config goes (default configs/tuned; "
                   "elsewhere, the hyperparameter table goes beside it)")
    p.add_argument("--json", action="store_true", help="status: the raw record instead of the table")
    p.add_argument("--force", action="store_true",
                   help="export: replace a tuned config that another study wrote")
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
