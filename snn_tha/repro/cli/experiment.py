"""The protocol runner behind `experiments/<dataset>.py`: plan the runs of a data set's
variants, print them (--dry-run), train them (resumable), then build its table and claims."""
import argparse
import logging
from pathlib import Path

from snn_tha.repro import catalogue, paths, schema
from snn_tha.repro.cli.args import _add_profile
from snn_tha.repro.paper import ablation, claims, tables
from snn_tha.repro.run import pool as side_by_side
from snn_tha.repro.data.common import DataError
from snn_tha.repro.run.train import check_data_root, train

log = logging.getLogger("snn_tha")


def parser(description):
    p = argparse.ArgumentParser(description=description)
    _add_profile(p)
    p.add_argument("--seeds", type=int, default=3, help="seeds per variant (seed 0, 1, ...)")
    p.add_argument("--resume", action="store_true",
                   help="continue runs from their checkpoints and keep finished ones (runs of other "
                        "settings are moved to <experiment>/.replaced/ and trained afresh)")
    p.add_argument("--dry-run", action="store_true", help="print the runs it would make, train nothing")
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--no-ablation", dest="ablation", action="store_false",
                   help="skip the paper-vs-release ablation of the annealing variant")
    p.add_argument("--skip-missing", action="store_true",
                   help="a data set that is not here is one line and exit 0 (make reproduce)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key of every run, e.g. --set data.validation_size=100")
    return p


def plan(configs, args):
    """[(config path, cfg)] for every variant at the requested profile, seeds and device."""
    extra = [*getattr(args, "overrides", []), f"repeats={args.seeds}"]
    extra += [f"device={args.device}"] if args.device else []
    return [(path, schema.load_config(path, args.profile, extra)) for path in configs]


def run(dataset, configs, args, ablation_config=None):
    """Train the protocol's runs, then its table, claims and (optionally) ablation; with
    --skip-missing an absent data set is one line, not an error."""
    try:
        return _run(dataset, configs, args, ablation_config)
    except DataError as err:
        if not args.skip_missing:
            raise
        log.warning("skipping %s: %s", dataset, err)


def _run(dataset, configs, args, ablation_config):
    planned = plan(configs, args)
    if args.dry_run:   # exactly what a real run trains: the variants, then the ablation
        lines = side_by_side.commands(planned, args.overrides)
        if ablation_config and args.ablation:
            shown = Path(ablation_config).resolve().relative_to(tables.ROOT)
            lines += ablation.ablation_commands(shown, args.profile, args.seeds,
                                                [f"device={args.device}"] if args.device else [])
        print("\n".join(lines))
        return
    check_data_root(planned[0][1])
    for path, cfg in planned:
        train(cfg, resume="auto" if args.resume else False)
    if ablation_config and args.ablation:
        ablation.ablate(ablation_config, args.profile, args.seeds,
                        overrides=[f"device={args.device}"] if args.device else [])
    name = catalogue.DATASETS[dataset].table
    for path in tables.build(name, args.profile):
        log.info("wrote %s", path)
    log.info("wrote %s", claims.write(args.profile, list(claims.PREFIXES)))  # every data set with runs


def script_main(dataset, doc, argv=None):
    """An experiments/<dataset>.py entry point: the configs of the variants the catalogue lists
    for the data set (those with a config file), its annealing ablation."""
    from snn_tha.repro.cli.args import check_counts
    from snn_tha.repro.run.guard import guarded
    prefix = catalogue.DATASETS[dataset].prefix
    configs = [paths.CONFIGS / f"{prefix}_{v}.yaml" for v in catalogue.configured_variants(prefix)]
    ablation = paths.CONFIGS / f"{prefix}_annealing.yaml"   # configs/ablations/ lists the changes
    args = parser(doc.splitlines()[0]).parse_args(argv)
    return guarded(lambda a: run(dataset, configs, check_counts(a), ablation), args,
                   "finished epochs are checkpointed: run this script again with --resume to continue")
