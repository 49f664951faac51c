"""`snn-tha export` and `snn-tha ship`: a run's 1-bit deployment files, its NIR graphs and their
checks, and the shipped models with their cards."""
import json
import logging
from pathlib import Path

from snn_tha.repro import paths
from snn_tha.repro.cli.args import _command
from snn_tha.repro.paths import data_root
from snn_tha.repro.yaml_config import ConfigError

log = logging.getLogger("snn_tha")


def cmd_export(args):
    from snn_tha.repro.export import run_export as export
    if args.consumers_table and not (args.check and (args.nir or args.nir_for)):
        raise ConfigError(f"--consumers-table {args.consumers_table}: the table is the NIR "
                          f"consumers' check: add --nir --check")
    if args.table:
        log.info("wrote %s", export.deployment_table(Path(args.table)))
    for run_dir in args.run_dirs:
        done = export.export_set(run_dir, args.out, nir=args.nir or bool(args.nir_for),
                                 check_data=data_root(args.data_dir) if args.check else None,
                                 limit=None if args.all_images else args.images,
                                 flavours=args.nir_for)
        for check in done.pop("checks"):
            log.info("%s", json.dumps(check))
            if args.consumers_table and "consumers" in check:
                from snn_tha.repro import files
                from snn_tha.repro.export import nir_check
                files.atomic_write_text(Path(args.consumers_table),
                                        nir_check.table(check, paths.run_name(run_dir)))
                log.info("wrote %s", args.consumers_table)
        log.info("wrote %s", ", ".join(str(p) for p in done.values()))


def cmd_ship(args):
    from snn_tha.repro.export import model_card
    log.info("wrote %s", model_card.ship(args.run_dir, data_root(args.data_dir), args.out,
                                           replace=args.replace, choose=args.choose))


def add_parsers(sub):
    p = _command(sub, cmd_export, "export", "the 1-bit deployment file of trained run folders "
                 "(model.1bit.npz + .json), optionally NIR, a check against PyTorch, the memory table",
                 device=False)
    p.add_argument("run_dirs", nargs="*", help="results/runs/<experiment>/<profile>-seed<k>/ folders")
    p.add_argument("--out", help="output folder (default: each run folder)")
    p.add_argument("--nir", action="store_true", help="also write model.nir (NIR graph)")
    p.add_argument("--nir-for", action="append", default=[], metavar="CONSUMER",
                   choices=("norse", "sinabs", "rockpool"),
                   help="also write model.CONSUMER.nir, the graph in the form that consumer runs "
                        "as our network (repeatable; implies --nir)")
    p.add_argument("--check", action="store_true",
                   help="compare the export's predictions with the PyTorch model (and, with --nir, "
                        "every installed NIR consumer's run of the graph) on the first --images "
                        "test images")
    p.add_argument("--consumers-table", metavar="PATH",
                   help="with --nir --check: write the NIR consumers table there "
                        "(e.g. results/tables/nir_consumers.md)")
    p.add_argument("--images", type=int, default=1000,
                   help="test images --check runs (default 1000: about a minute on 2 cores; "
                        "the whole test set of 10,000 with --all-images)")
    p.add_argument("--all-images", action="store_true", help="--check on every test image")
    p.add_argument("--data-dir", help="data root for --check (default $SNN_THA_DATA or data/)")
    p.add_argument("--table", metavar="PATH", help="write the deployment memory table there "
                   "(e.g. results/tables/deployment.md)")

    p = _command(sub, cmd_ship, "ship", "a finished run's models (1-bit + float) and a model card "
                 "into results/models/<experiment>/", device=False)
    p.add_argument("run_dir", help="results/runs/<experiment>/<profile>-seed<k>/ (with --choose: "
                   "results/runs/<experiment>/)")
    p.add_argument("--choose", metavar="PROFILE",
                   help="ship the seed of the finished <PROFILE>-seed<k> runs with the highest "
                        "validation accuracy (never test), its card giving the test accuracy over "
                        "all of them")
    p.add_argument("--out", help="output folder (default $SNN_THA_RESULTS/models/<experiment>, "
                   "i.e. results/models/<experiment>)")
    p.add_argument("--replace", action="store_true",
                   help="replace the model already shipped in that folder (refused without it)")
    p.add_argument("--data-dir", help="data root for the numpy engine's test accuracy "
                   "(default $SNN_THA_DATA or data/)")
