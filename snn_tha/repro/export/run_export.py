"""`snn-tha export RUN_DIR`: a trained run folder's chosen model, folded (`snn_tha.deploy.fold`)
into `model.1bit.npz` + `model.1bit.json`, optionally a NIR graph, a check of the export's
predictions against PyTorch, and the deployment memory table."""
import io
import json
from pathlib import Path

import numpy as np
import torch

from snn_tha.deploy import onebit
from snn_tha.deploy.fold import fold, neuron_count
from snn_tha.deploy.onebit import MANIFEST, NPZ, memory_bits
from snn_tha.models import build
from snn_tha.nn.annealing import ThresholdAnnealing, leaky_layers
from snn_tha.repro import files, paths, provenance, schema, yaml_config as config
from snn_tha.repro.run import records

MODEL_LIMIT = 1_000_000   # bytes: a run folder keeps its chosen model's state below this


def keep_model(run_dir, state, best_iteration, eval_thresholds):
    """model.pt: the chosen model's state (not the optimiser's), when under MODEL_LIMIT."""
    buffer = io.BytesIO()
    torch.save({"model": state, "best_iteration": best_iteration,
                "eval_thresholds": eval_thresholds}, buffer)
    if buffer.tell() < MODEL_LIMIT:
        files.atomic_write_bytes(Path(run_dir) / "model.pt", buffer.getvalue())


def load_run(run_dir, best_model=None, final=None):
    """(cfg, model in eval mode at its evaluation thresholds, final.json) of a run folder;
    `best_model` = (state, best iteration, thresholds) and `final` when the caller holds them
    already (the trainer writes final.json last, after the model files)."""
    run_dir = Path(run_dir)
    for name in ("config.yaml",) + (("final.json",) if final is None else ()):
        if not (run_dir / name).is_file():
            raise config.ConfigError(f"{run_dir}: no {name}; export needs a finished run folder")
    cfg = config.load_yaml(schema.TrainConfig, run_dir / "config.yaml")
    if final is None:
        final = records.read_final(run_dir / "final.json")
    state, best_iteration, thresholds = best_model or chosen_model(run_dir)
    model = build(cfg.net_config)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise config.ConfigError(f"{run_dir}: the model file does not fit the network of its "
                                 f"config.yaml ({str(err).splitlines()[0]}); retrain the run") from None
    model.eval()
    if thresholds is None:
        thresholds = evaluation_thresholds(cfg, model, final, best_iteration)
    for layer, theta in zip(leaky_layers(model), thresholds):
        layer.set_threshold(theta)
    return cfg, model, final


def _read_torch(path, keys):
    """A torch file holding `keys`, or a one-line ConfigError naming it."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:   # truncated zip, pickle or storage errors of every kind
        raise config.ConfigError(f"{path}: unreadable ({type(err).__name__}: truncated or "
                                 f"damaged); delete it and retrain the run (snn-tha train ... "
                                 f"--retrain), or restore the file") from None
    if not isinstance(saved, dict) or any(k not in saved for k in keys):
        raise config.ConfigError(f"{path}: not a model file of snn-tha (keys {list(keys)} "
                                 f"expected); delete it and retrain the run")
    return saved


def chosen_model(run_dir):
    """The chosen model's state: model.pt (kept in committed run folders) or the checkpoint."""
    path = run_dir / "model.pt"
    if path.is_file():
        saved = _read_torch(path, ("model", "best_iteration"))
        return saved["model"], saved["best_iteration"], saved.get("eval_thresholds")
    path = run_dir / "checkpoint.pt"
    if not path.is_file():
        raise config.ConfigError(f"{run_dir}: neither model.pt nor checkpoint.pt; retrain the run "
                                 f"(snn-tha train ... --retrain)")
    ckpt = _read_torch(path, ("best_model", "state"))
    return ckpt["best_model"], ckpt["state"]["best_iteration"], None


def evaluation_thresholds(cfg, model, final, best_iteration):
    """The thresholds the run evaluated its chosen model with (final.json says, or recompute)."""
    if final.get("eval_thresholds"):
        return final["eval_thresholds"]
    if not cfg.annealed:
        return [float(l.threshold) for l in leaky_layers(model)]
    if cfg.test_threshold == "theta_inf":
        return list(cfg.annealing.theta_inf)
    a = cfg.annealing
    annealing = ThresholdAnnealing(model, a.theta0, a.theta_inf, final.get("alpha") or a.alpha,
                                   update=a.update, warn_replaced=False)
    annealing.set_step(best_iteration)
    return annealing.thresholds()


def export(run_dir, out=None, best_model=None, final=None):
    """Write model.1bit.npz and model.1bit.json (into `out`, default the run folder)."""
    cfg, model, final = load_run(run_dir, best_model, final)
    if not cfg.net.binarize:   # its float weights are not signs: a "1-bit" file would be another net
        raise config.ConfigError(f"{run_dir}: a float (flt32) run has no 1-bit model; export "
                                 f"needs a binarized run (net.binarize: true)")
    if not (Path(run_dir) / "model.pt").is_file():   # e.g. a run finished before model.pt existed
        state, best_iteration, _ = best_model or chosen_model(Path(run_dir))
        keep_model(run_dir, state, best_iteration, [float(l.threshold) for l in leaky_layers(model)])
    layers = fold(model, cfg.data.is_static)
    # the run as <experiment>/<run-id>: a machine's absolute path means nothing elsewhere
    source = {"run_dir": paths.run_name(run_dir), "experiment": final.get("experiment"),
              "seed": final.get("seed"), "test_acc": final.get("test_acc"),
              "git_commit": final.get("provenance", {}).get("git_commit")}
    return onebit.write(layers, Path(out) if out else Path(run_dir), cfg.net.arch, cfg.data.name,
                        cfg.num_steps, cfg.data.is_static, source)


# the files one export consists of: replaced together, never some of them
EXPORT_SET = (NPZ, MANIFEST, "model.nir", "model.nir.check.json", "deploy_check.json",
              *(f"model.{flavour}.nir" for flavour in ("norse", "sinabs", "rockpool")))


def export_set(run_dir, out=None, nir=False, check_data=None, limit=None, flavours=()):
    """`export`, then (with `check_data`, a data root) its check against PyTorch and (with `nir`)
    the NIR graph and snnTorch's run of it, all staged in a folder inside the output folder. Only
    when every step succeeded does the set replace the folder's, a file of the set not made this
    time removed: the folder never describes two networks, and a refused export replaces nothing.
    A folder holding another run's export is refused. `limit`: the checks' first test images
    (None: all); `flavours`: NIR graphs written for one consumer each (model.<flavour>.nir,
    `snn_tha.deploy.nir_flavours`). Returns {file name: path, "checks": [...]}."""
    out = Path(out) if out else Path(run_dir)
    refuse_other_run(out, run_dir)
    checks = []
    with files.staged(out, ".export-") as tmp:
        npz = export(run_dir, tmp)
        if check_data is not None:
            checks.append(check(run_dir, check_data, limit=limit, npz=npz))
        if nir:
            from snn_tha.deploy import nir as nir_graph
            graph = nir_graph.write(npz, tmp / "model.nir")
            from snn_tha.deploy import nir_flavours
            for flavour in flavours:
                nir_flavours.write(npz, tmp / nir_flavours.file_name(flavour), flavour)
            if check_data is not None:   # every NIR consumer installed runs it, against the numpy engine
                from snn_tha.repro.export import nir_check
                checks.append(nir_check.check_beside(npz, graph, check_data, limit))
        written = files.replace_set(tmp, out, EXPORT_SET)
    return {**written, "checks": checks}


def refuse_other_run(out, run_dir):
    """ConfigError when `out` holds export files that are not this run's (or cannot say whose)."""
    present = [name for name in EXPORT_SET if (Path(out) / name).is_file()]
    if not present:
        return
    try:
        owner = json.loads((Path(out) / MANIFEST).read_text())["source"]["run_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        owner = None
    if owner != paths.run_name(run_dir):
        whose = f"the export of run {owner}" if owner else "export files of an unknown run"
        raise config.ConfigError(f"{out}: holds {whose} ({', '.join(present)}); export into another "
                                 f"folder (--out) or delete those files first")


PAPER_WEIGHT_MEMORY = {"dvs_annealing": "98 Kbit", "shd_annealing": "2.16 Mbit",
                       "fmnist_annealing": "binarized (no figure)"}
NETWORKS = (("static (MNIST / FashionMNIST)", "fmnist_annealing"), ("DVS128 Gesture", "dvs_annealing"),
            ("SHD", "shd_annealing"))


def deployment_table(path):
    """results/tables/deployment.md: weight memory fp32 vs 1-bit, thresholds/offsets, state."""
    rows = []
    for label, experiment in NETWORKS:
        cfg = schema.load_config(paths.CONFIGS / f"{experiment}.yaml")
        model = build(cfg.net_config).eval()
        layers = fold(model, cfg.data.is_static)
        bits, neurons = memory_bits(layers), sum(neuron_count(cfg.net.arch, layers))
        rows.append(f"| {label} | {bits['weights_1bit']:,} | {bits['weights_fp32'] / 1000:,.1f} | "
                    f"{bits['weights_1bit'] / 1000:,.1f} | {bits['thresholds_and_offsets_fp32'] / 1000:,.1f} | "
                    f"{neurons:,} | {32 * neurons / 1000:,.1f} | {PAPER_WEIGHT_MEMORY[experiment]} |")
    lines = ["# Deployment memory (`snn-tha export --table`)", "",
             "Counted from the folded networks (`snn_tha.deploy.fold.fold`) of the annealing configs; "
             "Kbit = 1,000 bits. Thresholds and offsets: one float32 pair per channel (batch norm "
             "and the layer threshold folded in); state: one float32 membrane per neuron.", "",
             "| network | weights | fp32 weights (Kbit) | 1-bit weights (Kbit) | thresholds + offsets "
             "(Kbit) | neurons | state fp32 (Kbit) | paper's weight memory |",
             "|---|---|---|---|---|---|---|---|", *rows, "",
             "The SHD figure matches the paper's 2.16 Mbit. We could not derive the paper's DVS "
             "figure (98 Kbit): its architecture as printed (16C5-AP2-32C5-AP2-800Dense11) holds "
             "22,400 weights, and with the printed '8800' dense input it would hold 110,400."]
    files.atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def torch_spike_counts(model, cfg, images, batch=100):
    """The trained PyTorch model's output spikes per class over T for uint8 test images."""
    counts = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch].copy()).unsqueeze(1).float() / 255.0
            counts.append(model(x, cfg.num_steps).spikes.sum(0))
    return torch.cat(counts)


def check(run_dir, data_dir, limit=None, batch=100, npz=None):
    """The export (`npz`, default the run's own) against the trained PyTorch model on the static
    test set: predictions that differ (each explained), file size, inference time per image;
    written to deploy_check.json beside the export."""
    import time
    from snn_tha.deploy import infer
    run_dir = Path(run_dir)
    npz = Path(npz) if npz else run_dir / NPZ
    if not npz.is_file():
        export(run_dir, npz.parent)
    cfg, model, final = load_run(run_dir)
    manifest, layers = onebit.load_export(npz)
    images, labels = infer.read_test_split(manifest, data_dir)
    images, labels = images[:limit], labels[:limit]
    start = time.perf_counter()
    ours = infer.predict(manifest, layers, images, batch)
    numpy_seconds = time.perf_counter() - start
    start = time.perf_counter()
    counts = torch_spike_counts(model, cfg, images, batch)
    torch_seconds = time.perf_counter() - start
    theirs = counts.argmax(1).numpy()
    differ = np.nonzero(ours != theirs)[0]
    ties = [int(i) for i in differ if int((counts[i] == counts[i].max()).sum()) > 1]
    result = {"run_dir": str(run_dir), "images": int(len(labels)),
              "predictions_equal": int((ours == theirs).sum()), "predictions_differ": int(len(differ)),
              "differ_where_the_model_has_a_tie": len(ties),
              "differ_otherwise (a spike flipped by float32 rounding in other units)": int(len(differ) - len(ties)),
              "accuracy_export": float((ours == labels).mean()), "accuracy_torch": float((theirs == labels).mean()),
              "file_bytes": npz.stat().st_size + npz.with_name(MANIFEST).stat().st_size,
              "ms_per_image_numpy": round(1000 * numpy_seconds / len(labels), 3),
              "ms_per_image_torch": round(1000 * torch_seconds / len(labels), 3),
              "threads": torch.get_num_threads(), "provenance": provenance.provenance()}
    files.atomic_write_json(npz.parent / "deploy_check.json", result)
    return result
