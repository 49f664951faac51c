"""Norse reads our NIR graph: `norse.torch.from_nir` on a shipped model's `model.nir`, run batched
on the FashionMNIST test images against the numpy engine, as written and with each LIF's r folded
into the weights that feed it (Norse 1.1.0 ignores r, warning that it should be 1). Norse is not
a dependency of the project: install it beside it first (pure Python; its own dependencies are
ours): `.venv/bin/python -m pip install --no-deps norse==1.1.0`.
Writes results/tables/nir_norse.{json,md}.
Usage: .venv/bin/python scripts/nir_norse.py [MODEL_DIR] [--images N]
"""
import argparse
import contextlib
import importlib.metadata
import io
import logging
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from snn_tha.deploy import infer, onebit  # noqa: E402
from snn_tha.repro import files, paths  # noqa: E402


def norse_network(graph, dt):
    from norse.torch.utils.import_nir import from_nir
    with contextlib.redirect_stderr(io.StringIO()):
        return from_nir(graph, dt=dt)


def fold_r_into_weights(graph):
    """Norse-only copy semantics: every LIF's r (one value per layer) multiplied into the weights
    and bias of the node feeding it, r set to 1."""
    import nir
    for src, dst in graph.edges:
        node = graph.nodes[dst]
        if isinstance(node, nir.LIF):
            r = np.asarray(node.r)
            if not np.allclose(r, r.flat[0]):
                raise ValueError(f"LIF {dst}: r differs between neurons")
            graph.nodes[src].weight = graph.nodes[src].weight * r.flat[0]
            graph.nodes[src].bias = graph.nodes[src].bias * r.flat[0]
            node.r = np.ones_like(r)
    return graph


def counts(net, images, num_steps, batch=500):
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.tensor(images[start:start + batch].astype(np.float32))[:, None]  # 0-255
            state, total = None, 0
            for _ in range(num_steps):
                spikes, state = net(x, state)
                total = total + spikes
            out.append(total.reshape(len(x), -1).numpy())
    return np.concatenate(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir", nargs="?", default=str(paths.ROOT / "results/models/fmnist_annealing"))
    p.add_argument("--images", type=int, default=10000)
    p.add_argument("--data", default=str(paths.ROOT / "data"))
    args = p.parse_args(argv)
    try:
        import nir
        import norse  # noqa: F401 (installed?)
    except ImportError as err:
        print(f"nir_norse: {err.name} is not installed: .venv/bin/python -m pip install --no-deps "
              f"norse==1.1.0", file=sys.stderr)
        return 2
    logging.disable(logging.WARNING)   # Norse's r warning, once per LIF: the table says it
    model_dir = Path(args.model_dir)
    manifest, layers = onebit.load_export(model_dir / "model.1bit.npz")
    images, labels = infer.read_test_split(manifest, args.data)
    images, labels = images[:args.images], labels[:args.images]
    ours = infer.spike_counts(manifest, layers, images)
    graph_path = model_dir / "model.nir"
    dt = float(nir.read(str(graph_path)).metadata.get("dt", 1e-4))
    rows = []
    for variant in ("as written", "r folded into the weights"):
        graph = nir.read(str(graph_path))
        if variant != "as written":
            graph = fold_r_into_weights(graph)
        theirs = counts(norse_network(graph, dt), images, manifest["num_steps"])
        rows.append({"graph": variant, "equal_predictions": int((theirs.argmax(1) == ours.argmax(1)).sum()),
                     "equal_counts": int((theirs == ours).all(1).sum()),
                     "accuracy": float((theirs.argmax(1) == labels).mean()),
                     "mean_output_spikes": float(theirs.mean())})
    result = {"model": str(model_dir.relative_to(paths.ROOT)) if model_dir.is_relative_to(paths.ROOT) else str(model_dir),
              "images": int(len(labels)), "num_steps": manifest["num_steps"], "dt": dt,
              "norse": importlib.metadata.version("norse"),
              "numpy_engine_accuracy": float((ours.argmax(1) == labels).mean()), "rows": rows}
    out = paths.ROOT / "results" / "tables"
    files.atomic_write_json(out / "nir_norse.json", result)
    lines = [f"# Norse {result['norse']}'s `from_nir` on {result['model']}/model.nir ({len(labels)} FashionMNIST test "
             f"images, T={manifest['num_steps']}, dt={dt}, batched 500)", "",
             "Command: `.venv/bin/python scripts/nir_norse.py`. Against the numpy engine "
             f"(accuracy {100 * result['numpy_engine_accuracy']:.2f}%). Norse's LIF resets to 0 "
             "at once (its `from_nir` passes no reset choice to LIF nodes); ours subtracts the "
             "threshold one step later.", "",
             "| graph | equal predictions | equal spike counts | accuracy | mean output spikes |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['graph']} | {r['equal_predictions']:,} / {len(labels):,} | {r['equal_counts']:,} | "
              f"{100 * r['accuracy']:.2f}% | {r['mean_output_spikes']:.2f} |" for r in rows]
    files.atomic_write_text(out / "nir_norse.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
