"""Every NIR consumer installed here runs our graph (`snn_tha.deploy.consumers`), each from a NIR
file (the spec graph, or the flavour written for it and read back), batched on the test images,
against the export's own numpy engine: predictions equal, images with every output spike count
equal, accuracy and time, per consumer and mode. Written as JSON beside the graph and, on request,
as the Markdown table results/tables/nir_consumers.md."""
import copy
import json
import tempfile
import time
from pathlib import Path

from snn_tha.deploy import consumers, infer, onebit
from snn_tha.deploy.consumers import eight_bit


def compare(export_path, nir_path, data_dir, limit=None, names=None):
    """Each installed consumer of `names` (default: all) in each of its modes on the first `limit`
    test images; returns the summary written beside the graph."""
    import nir
    from snn_tha.deploy.nir_flavours import file_name, flavoured
    manifest, layers = onebit.load_export(export_path)
    if manifest["input"]["kind"] != "image_uint8":
        raise ValueError(f"{export_path}: the NIR consumers are checked on image inputs only")
    images, labels = infer.read_test_split(manifest, data_dir)
    images, labels = images[:limit], labels[:limit]
    ours = infer.spike_counts(manifest, layers, images)
    summary = {"graph": Path(nir_path).name, "images": int(len(labels)),
               "num_steps": int(manifest["num_steps"]), "input": "uint8 pixel values 0-255",
               "numpy_engine_accuracy": float((ours.argmax(1) == labels).mean()),
               "consumers": [], "not_installed": {}}
    spec, graphs = nir.read(str(nir_path)), {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or consumers.CONSUMERS:
            absent = consumers.missing(name)
            if absent:
                summary["not_installed"][name] = absent
                continue
            runner = consumers.module(name)
            for mode, how in runner.MODES.items():
                if how.flavour not in graphs:   # each consumer reads a file, as a user's would
                    path = Path(tmp) / file_name(how.flavour)
                    nir.write(str(path), flavoured(spec, how.flavour))
                    graphs[how.flavour] = nir.read(str(path))
                start = time.perf_counter()
                theirs = runner.spike_counts(copy.deepcopy(graphs[how.flavour]), mode, images,
                                             summary["num_steps"])
                summary["consumers"].append(_row(runner, name, mode, how, theirs, ours, labels,
                                                 time.perf_counter() - start))
    summary["eight_bit"] = [eight_bit.check(manifest, layers, images, ours, name)
                            for name in eight_bit.QUANTIZERS if consumers.missing(name) is None]
    return summary


def _row(runner, name, mode, how, theirs, ours, labels, seconds):
    return {"consumer": runner.NAME, "version": consumers.version(name), "mode": mode,
            "graph": how.flavour, "built": how.built, "differs": how.differs,
            "same_prediction": int((theirs.argmax(1) == ours.argmax(1)).sum()),
            "same_spike_counts": int((theirs == ours).all(axis=1).sum()),
            "accuracy": float((theirs.argmax(1) == labels).mean()), "seconds": round(seconds, 1)}


def check_beside(export_path, nir_path, data_dir, limit=None, names=None):
    """`compare`, written to <graph>.check.json beside the graph."""
    from snn_tha.repro import files
    summary = compare(export_path, nir_path, data_dir, limit, names)
    files.atomic_write_text(Path(str(nir_path) + ".check.json"), json.dumps(summary, indent=1) + "\n")
    return summary


def table(summary, model):
    """results/tables/nir_consumers.md from a check summary of the export of `model`."""
    n = summary["images"]
    lines = [f"# NIR consumers run {model} (`snn-tha export RUN --nir --check --consumers-table "
             "PATH`)", "",
             f"The first {n:,} test images, T = {summary['num_steps']}, input {summary['input']}; "
             f"our numpy engine: {100 * summary['numpy_engine_accuracy']:.2f}%. `graph`: the file "
             "the consumer reads (`spec` = `model.nir`; otherwise `snn-tha export --nir-for NAME`, "
             "`model.NAME.nir`). Equal spike counts: images whose every output count equals ours "
             "(float32 sums in another order may put a membrane on the other side of a threshold). "
             "Seconds: the consumer's wall time on this machine (batches of 100 or 500 images).",
             "", "| consumer | graph | what it builds | predictions equal | spike counts equal | "
             "accuracy | seconds | what differs from our network |", "|---|---|---|---|---|---|---|---|"]
    for r in summary["consumers"]:
        lines.append(f"| {r['consumer']} {r['version']} | {r['graph']} | {r['built']} | "
                     f"{r['same_prediction']:,} / {n:,} | {r['same_spike_counts']:,} | "
                     f"{100 * r['accuracy']:.2f}% | {r['seconds']:.0f} | {r['differs'] or 'nothing'} |")
    for name, package in summary["not_installed"].items():
        lines.append(f"| {name} | - | not installed here (no `{package}`) | | | | | |")
    return "\n".join(lines + eight_bit_lines(summary.get("eight_bit", []), n)) + "\n"


def eight_bit_lines(checks, n):
    """The 8-bit section: each consumer's quantizer on the spec graph's layers."""
    if not checks:
        return []
    lines = ["", "## 8-bit weights (`snn_tha.deploy.consumers.eight_bit`)", "",
             "Each quantizer applied to the spec graph's layers (weights = tap or sign / channel "
             "threshold, threshold 1); the integer network then runs in our numpy engine. Per layer: "
             "weights whose integer over the channel's scale equals the weight, the largest "
             "relative error of threshold and bias.", "",
             "| quantizer | scales | per layer: weights exact, largest integer, threshold error, "
             "bias error | network exact | predictions equal | spike counts equal |",
             "|---|---|---|---|---|---|"]
    for c in checks:
        per_layer = "; ".join(f"{k['weights_exact']:,}/{k['weights']:,}"
                              + (f" ({k['zero_channels']} channels all 0)" if k["zero_channels"] else "")
                              + f", {k['max_integer']}, "
                              f"{_sci(k['threshold_error'])}, {_sci(k['bias_error'])}" for k in c["layers"])
        lines.append(f"| {c['consumer']} `{c['quantizer']}` | {c['scales']} | {per_layer} | "
                     f"{'yes' if c['exact'] else 'no'} | {c['same_prediction']:,} / {n:,} | "
                     f"{c['same_spike_counts']:,} |")
    return lines


def _sci(error):
    """A relative error, or a dash where the layer kept no channel to measure it on."""
    return "—" if error is None else f"{error:.1e}"


def card_line(summary):
    """One line for a model card: which consumers run the graph as our network."""
    if not summary:
        return []
    exact = [f"{r['consumer']} ({r['mode']}: {r['same_prediction']:,})"
             for r in summary["consumers"] if not r["differs"]]
    return ["", f"NIR: predictions equal to the numpy engine's on the first {summary['images']:,} "
                f"test images: {', '.join(exact) or 'no consumer installed'}; every consumer, "
                "mode and difference in `model.nir.check.json`."]

