"""Where does the parity runs' difference in dead fraction come from (issue 37)? Each trained model
of the parity pairs evaluated on its test split by BOTH engines, from the same weights and
thresholds: if the exact engine and the reference loop give every model the same accuracy and
dead fractions, a difference between the paired runs comes from training (two float orders of one
computation drift apart over 141 iterations), not from how the exact engine measures.

    .venv/bin/python scripts/parity_same_weights.py [--seeds 10] [--profile claims]

Needs the run folders' model.pt (kept on the machine that trained them, not committed). Prints
one JSON line per model and a Markdown summary."""
import argparse
import dataclasses
import json

import torch

from snn_tha.models import build
from snn_tha.nn.annealing import leaky_layers
from snn_tha.repro import paths
from snn_tha.repro.export.run_export import load_run
from snn_tha.repro.run.evaluation import dead_fractions, evaluate
from snn_tha.repro.run.setup import prepare_data

EXPERIMENTS = ("fmnist_annealing", "fmnist_annealing_reference")


def with_engine(cfg, model, engine):
    """The trained `model` rebuilt with `engine`: same weights, same thresholds."""
    cfg = dataclasses.replace(cfg, net=dataclasses.replace(cfg.net, engine=engine))
    other = build(cfg.net_config)
    other.load_state_dict(model.state_dict())
    for mine, theirs in zip(leaky_layers(other), leaky_layers(model)):
        mine.set_threshold(float(theirs.threshold))
    return cfg, other.eval()


def measure(run_dir):
    cfg, model, final = load_run(run_dir)
    _, _, test, to_input = prepare_data(cfg)
    row = {"run": str(run_dir), "recorded_dead": final["dead_fraction"], "recorded_acc": final["test_acc"]}
    for engine in ("exact", "reference"):
        engine_cfg, net = with_engine(cfg, model, engine)
        acc, counts = evaluate(net, test, engine_cfg, to_input, activity=True)
        row[engine] = {"acc": acc, "dead": list(dead_fractions(counts).values())}
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--profile", default="claims")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for experiment in EXPERIMENTS:
        for seed in range(args.seeds):
            run = paths.results_root() / "runs" / experiment / f"{args.profile}-seed{seed}"
            rows.append(measure(run))
            print(json.dumps(rows[-1]), flush=True)
    same = sum(r["exact"] == r["reference"] for r in rows)
    recorded = sum(r["exact"]["dead"] == r["recorded_dead"] and r["exact"]["acc"] == r["recorded_acc"]
                   for r in rows)
    print(f"\n| models | both engines give equal accuracy and dead fractions | the exact engine gives "
          f"the recorded ones |\n|---|---|---|\n| {len(rows)} ({', '.join(EXPERIMENTS)}, "
          f"{args.profile}, seeds 0-{args.seeds - 1}) | {same} | {recorded} |")


if __name__ == "__main__":
    main()
