"""`snn-tha ship RUN_DIR`: a finished run as a shipped model (issue 20), since nothing else hosts
the trained networks: `results/models/<experiment>/` holds the 1-bit export (`model.1bit.npz` +
`model.1bit.json`), the float `model.pt`, the resolved `config.yaml`, the run's `final.json` (so
that `snn-tha export` takes the folder as a run) and `MODEL_CARD.md` (command,
commit, data, epochs, wall time, test accuracy of PyTorch and of the numpy engine, thresholds,
dead fractions), all from the run folder's files."""
import json
import logging
import shutil
from pathlib import Path

from snn_tha.repro import files, paths, schema, yaml_config as config
from snn_tha.repro.run import records

log = logging.getLogger("snn_tha")

SHIPPED = ("model.1bit.npz", "model.1bit.json", "model.pt", "config.yaml", "final.json")
MAX_BYTES = 1_000_000      # what the repository takes per file
SLICE = 500                # the first test images the card's slice accuracy is measured on
NIR_IMAGES = 1000           # test images every installed NIR consumer runs (rockpool: ~1 minute)


def training_command(cfg):
    """`snn-tha train` with the --set keys in which the run differs from its config + profile."""
    path = f"configs/{cfg.experiment}.yaml"
    reference = config.flatten(config.to_dict(schema.load_config(paths.ROOT / path, cfg.profile,
                                                          [f"seed={cfg.seed}"])))
    sets = [f"--set {key}={json.dumps(value)}" for key, value in config.flatten(config.to_dict(cfg)).items()
            if key not in ("data.data_dir", "device") and reference.get(key) != value]
    return " ".join([f"snn-tha train {path} --profile {cfg.profile}", f"--set seed={cfg.seed}", *sets])


def numpy_hits(npz, data_dir, limit):
    """Per image, whether the numpy engine (snn_tha.deploy.infer) is right, first `limit` test images."""
    from snn_tha.deploy import infer, onebit
    manifest, layers = onebit.load_export(npz)
    images, labels = infer.read_test_split(manifest, data_dir)
    images, labels = images[:limit], labels[:limit]
    return infer.predict(manifest, layers, images) == labels


def torch_slice_hits(run_dir, data_dir, final):
    """Per image, whether the run's PyTorch model is right on the first SLICE of its test images
    (the figure a float model's card gives for a user to reproduce)."""
    from snn_tha.deploy import infer
    from snn_tha.repro.export import run_export
    cfg, model, _ = run_export.load_run(run_dir)
    images, labels = infer.read_test_split({"dataset": final["dataset"]}, data_dir)
    n = min(SLICE, final["test_images"])   # the run's test images are the first ones
    counts = run_export.torch_spike_counts(model, cfg, images[:n])
    return counts.argmax(1).numpy() == labels[:n]


def shipped_files(cfg):
    """What a shipped folder holds: the 1-bit files only for a binarized network."""
    return SHIPPED if cfg.net.binarize else tuple(n for n in SHIPPED if "1bit" not in n)


def ship(run_dir, data_dir="data", out=None, replace=False, choose=None):
    """Copy a finished run's models into <results>/models/<experiment>/ and write its card. A
    folder that holds a shipped model is replaced only with `replace` (ConfigError otherwise).
    With `choose` (a profile), `run_dir` is an experiment folder and the seed is chosen on
    validation accuracy (`series_choice`)."""
    series = None
    if choose:
        from snn_tha.repro.export import series_choice
        run_dir, series = series_choice.choose(run_dir, choose)
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise config.ConfigError(f"{run_dir}: no config.yaml; ship needs a finished run folder")
    cfg = config.load_yaml(schema.TrainConfig, run_dir / "config.yaml")
    final = records.read_final(run_dir / "final.json")
    names = shipped_files(cfg)
    for name in names:
        path = run_dir / name
        if not path.is_file():
            fix = (f"snn-tha export {run_dir} writes the 1-bit files" if "1bit" in name else
                   f"retrain the run: snn-tha train {run_dir / 'config.yaml'} --retrain")
            raise config.ConfigError(f"{run_dir}: no {name}; {fix}")
        if path.stat().st_size > MAX_BYTES:
            raise config.ConfigError(f"{path}: {path.stat().st_size} bytes, over the "
                                     f"{MAX_BYTES}-byte limit of a shipped file")
    out = Path(out) if out else paths.results_root() / "models" / final["experiment"]
    if (out / "card.json").is_file() and not replace:
        raise config.ConfigError(f"{out}: holds a shipped model already; --replace replaces it "
                                 f"(or give another --out)")
    # the numpy engine on the run's own test images (a test subset is the first N); measured
    # before anything is written, so a missing data set leaves no half-shipped folder
    # (one pass: the slice is the first SLICE of the same images)
    hits = numpy_hits(run_dir / "model.1bit.npz", data_dir, final["test_images"]) \
        if cfg.net.binarize else None
    float_slice = None if cfg.net.binarize else torch_slice_hits(run_dir, data_dir, final)
    card = _card(run_dir, cfg, final, series, hits, float_slice)
    # staged: the NIR check takes minutes, and the folder being replaced keeps its old,
    # consistent set meanwhile
    with files.staged(out, ".ship-") as stage:
        for name in names:
            shutil.copyfile(run_dir / name, stage / name)
        if hits is not None:
            card["nir"] = ship_nir(stage, data_dir, final["test_images"])
        files.atomic_write_json(stage / "card.json", card)
        files.atomic_write_text(stage / "MODEL_CARD.md", card_markdown(card))
        (out / "card.json").unlink(missing_ok=True)
        files.replace_set(stage, out, SHIPPED_SET)
    return out


# every file a shipped folder may hold; card.json goes last, so a folder caught half replaced
# has no card (and `ship` without --replace may fill it), never a card of another network
SHIPPED_SET = (*SHIPPED, "model.nir", "model.nir.check.json", "MODEL_CARD.md", "card.json")


def _card(run_dir, cfg, final, series, hits, float_slice):
    """The card of a shipped run, but for its NIR check (made in the staging folder)."""
    card = {"experiment": final["experiment"], "run": paths.run_name(run_dir),
            "command": training_command(cfg), "git_commit": final["provenance"]["git_commit"],
            "data": f"{final['dataset']}: {final['train_images']} training images, validation "
                    f"{cfg.data.validation_size} (the model is chosen on it), {final['test_images']} "
                    f"test images, T={final['num_steps']}",
            "epochs_run": final["epochs_run"], "best_epoch": final["best_epoch"],
            "train_seconds": final["train_seconds"], "platform": final["provenance"]["platform"],
            "test_acc_pytorch": final["test_acc"],
            "eval_thresholds": final["eval_thresholds"], "dead_fraction": final["dead_fraction"]}
    if series:
        card["series"] = series
    if float_slice is not None:
        card |= {"slice_acc_pytorch": float(float_slice.mean()), "slice_images": len(float_slice)}
    if hits is not None:
        card |= {"test_acc_numpy": float(hits.mean()), "test_images_numpy": len(hits),
                 "slice_acc_numpy": float(hits[:SLICE].mean()), "slice_images": len(hits[:SLICE])}
    return card


def ship_nir(out, data_dir, images):
    """model.nir beside the 1-bit files and every installed NIR consumer's run of it on the first
    `images` test images, at most NIR_IMAGES (`nir_check`), or None without nir and nirtorch."""
    try:
        from snn_tha.deploy import nir as nir_graph
        from snn_tha.repro.export import nir_check
        import nirtorch  # noqa: F401 (snnTorch's importer needs it)
    except ImportError as err:
        log.warning("%s: no model.nir (%s; pip install '.[deploy]')", out, err)
        return None
    graph = nir_graph.write(out / "model.1bit.npz", out / "model.nir")
    return nir_check.check_beside(out / "model.1bit.npz", graph, data_dir, min(images, NIR_IMAGES))


def nir_lines(nir):
    from snn_tha.repro.export import nir_check
    return nir_check.card_line(nir)


def series_lines(series):
    from snn_tha.repro.export import series_choice
    return series_choice.card_line(series)


def card_markdown(card):
    pct = lambda x: f"{100 * x:.2f}%"   # noqa: E731
    binary = "test_acc_numpy" in card   # a float (flt32) model has no 1-bit file
    accuracy = (f"- test accuracy: {pct(card['test_acc_pytorch'])} (PyTorch); the 1-bit file with "
                f"the numpy engine: {pct(card['test_acc_numpy'])} on the same "
                f"{card['test_images_numpy']} images, {pct(card['slice_acc_numpy'])} on the first "
                f"{card['slice_images']}" if binary else
                f"- test accuracy: {pct(card['test_acc_pytorch'])} (PyTorch, float32 weights), "
                f"{pct(card['slice_acc_pytorch'])} on the first {card['slice_images']}"
                if "slice_acc_pytorch" in card else
                f"- test accuracy: {pct(card['test_acc_pytorch'])} (PyTorch, float32 weights)")
    listed = ("`model.1bit.npz` + `model.1bit.json` (the 1-bit network, numpy only), " if binary else "")
    run = ([f"snn-tha infer results/models/{card['experiment']}/model.1bit.npz --data data"] if binary
           else ["python -c \"from snn_tha.repro.export.run_export import load_run; "
                 f"cfg, model, final = load_run('results/models/{card['experiment']}'); print(model)\""])
    return "\n".join([
        f"# {card['experiment']}: a trained model", "",
        f"- trained by: `{card['command']}` at commit `{card['git_commit'][:12]}` "
        f"(run folder `results/runs/{card['run']}`)",
        f"- data: {card['data']}",
        f"- epochs: {card['epochs_run']} (model of epoch {card['best_epoch'] + 1}), "
        f"{card['train_seconds'] / 60:.0f} minutes of training on {card['platform']}",
        accuracy, *series_lines(card.get("series")),
        f"- thresholds at evaluation: {', '.join(f'{t:.4f}' for t in card['eval_thresholds'])}",
        f"- dead neurons on the test set per layer: "
        f"{' / '.join(pct(d) for d in card['dead_fraction'])}", "",
        f"Files: {listed}`model.pt` "
        "(the float latent weights, state dict), `config.yaml` (the resolved config), `final.json` "
        "(the run's record), `card.json`" + (", `model.nir` (the NIR graph: thresholds 1, "
        "the reset and input in its metadata) with `model.nir.check.json`." if card.get("nir")
        else "."),
        *nir_lines(card.get("nir")),
        "", "Run it (after `make data`):" if binary else "Load it (PyTorch, the model in eval mode):", "",
        "```", *run, "```", ""])
