"""The verdict as a function of budget (issue 37): each central claim's paired effect with its
2 se bar at every budget profile that has runs (`claims`, `full`, any other), the paper's effect
and zero marked; one table with the same numbers. Built from the run folders only, by the same
`claims.decide` that writes each `claims_<profile>.md`.

The central claims: annealing against the tuned fixed threshold (Table 1), the mechanism
(annealing against θ∞ imposed from the first step) and the dead fraction of each hidden layer
against that fixed θ∞ (Sec. 3 / 5.2).
"""
import logging
import math
from pathlib import Path

from snn_tha.repro import files, paths
from snn_tha.repro.data import DataError
from snn_tha.repro.paper import published as paper

log = logging.getLogger("snn_tha")

CENTRAL = {   # what the figure calls each claim: the start of its text in `claims.decide`
    "Table 1: annealing is more accurate than BSNN (tuned θ)": "annealing − tuned fixed θ, accuracy (pp)",
    "Mechanism: reaching θ∞ by annealing (release alphas)": "annealing − fixed θ∞, accuracy (pp)",
    "Sec. 3/5.2: a large fixed threshold kills neurons that annealing (release alphas) keeps alive, "
    "hidden layer 1": "dead %, fixed θ∞ − annealing, hidden layer 1",
    "Sec. 3/5.2: a large fixed threshold kills neurons that annealing (release alphas) keeps alive, "
    "hidden layer 2": "dead %, fixed θ∞ − annealing, hidden layer 2",
}


def budget_of(finals):
    """(training images x epochs, a label) of a profile's runs: what orders the budgets."""
    f = next(iter(finals.values()))[0]
    return f["train_images"] * f["epochs_run"], f"{f['epochs_run']} ep x {f['train_images']:,}"


def central_rows(runs_root, dataset):
    """[(profile, budget, budget label, {central label: claim row})] for every profile with runs."""
    from snn_tha.repro.paper import claims
    found = []
    for profile in paths.profile_names():
        try:
            v = claims.runs_by_variant(profile, dataset, runs_root)
        except DataError as err:   # runs of one profile that cannot be compared: said, left out
            log.warning("verdict by budget: %s left out (%s)", profile, err)
            continue
        if not v:
            continue
        rows = {label: r for text, label in CENTRAL.items() for r in claims.decide(v, dataset)
                if r["claim"].startswith(text) and r.get("n", 0) >= 2}   # a mean and an se
        if rows:
            found.append((profile, *budget_of(v), rows))
    return sorted(found, key=lambda item: item[1])


def table(found, dataset):
    lines = ["| claim | " + " | ".join(f"`{p}` ({label})" for p, _, label, _ in found) + " |",
             "|---|" + "---|" * len(found)]
    for label in CENTRAL.values():
        cells = []
        for _, _, _, rows in found:
            r = rows.get(label)
            cells.append(f"{r['mean']:+.2f} ± {2 * r['se']:.2f} (n={r['n']}): {r['verdict']}"
                         if r and not math.isnan(r["mean"]) else "—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def write(datasets, out=None, runs_root=None):
    """results/claims_by_budget.md and figures/claims_by_budget_<prefix>.png; the path or None."""
    from snn_tha.repro.paper import plots
    from snn_tha.repro.paper.claims import PREFIXES
    out = Path(out) if out is not None else paths.results_root()
    runs_root = Path(runs_root) if runs_root is not None else out / "runs"
    lines = ["# The central claims by budget", "",
             "Each cell: the paired effect A − B (mean ± 2 se over the seeds both variants finished, "
             "n pairs) and the verdict at that budget (rule: `claims_<profile>.md`). Built by "
             "`snn-tha claims` from the run folders only; budgets ordered by training images x epochs.", ""]
    wrote = False
    for dataset in datasets:
        found = central_rows(runs_root, dataset)
        if not found:
            continue
        name = paper.DATASET_LABELS.get(dataset, dataset)
        figure = out / "figures" / f"claims_by_budget_{PREFIXES[dataset]}.png"
        plots.effect_by_budget(found, list(CENTRAL.values()), figure,
                               f"{name}: the central claims by budget (mean ± 2 se over paired "
                               f"seeds; ◆ the paper's effect; 0: no effect)")
        lines += [f"## {name}", "", *table(found, dataset), "",
                  f"![the central claims by budget](figures/{figure.name})", ""]
        wrote = True
    if not wrote:
        return None
    path = out / "claims_by_budget.md"
    files.atomic_write_text(path, "\n".join(lines) + "\n")
    return path
