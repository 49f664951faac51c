"""Your numbers beside the committed ones: `make reproduce` trains into its own results root
(results/reproduced/, never the committed run folders, which stay the reference) and ends with
`<yours>/tables/beside_committed_<profile>.md`, one row per (data set, variant) of Tables 1-2.

    python -m snn_tha.repro.paper.compare <committed results> <your results> <profile>
"""
import csv
import sys
from pathlib import Path

from snn_tha.repro import files


def _rows(path):
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {(r["dataset"], r["variant"]): r for r in csv.DictReader(handle)}


def _cell(row):
    return f"{row['mean']} ± {row['std']} (n={row['runs']})" if row else "—"


def beside(committed, yours, profile):
    """Write the side-by-side table; returns its path."""
    committed, yours = Path(committed), Path(yours)
    lines = [f"# Your runs beside the committed ones ({profile} profile)", "",
             f"Mean ± sample std of the test accuracy (%) over seeds; yours from {yours}/runs, "
             f"committed from {committed}/runs (same profile, same configs).", "",
             "| table | data set | variant | yours | committed | yours − committed |",
             "|---|---|---|---|---|---|"]
    for table in ("table1", "table2"):
        mine = _rows(yours / "tables" / f"{table}_{profile}.csv")
        ref = _rows(committed / "tables" / f"{table}_{profile}.csv")
        for key in list(mine) + [k for k in ref if k not in mine]:
            a, b = mine.get(key), ref.get(key)
            diff = f"{float(a['mean']) - float(b['mean']):+.2f}" if a and b else "—"
            lines.append(f"| {table} | {key[0]} | {key[1]} | {_cell(a)} | {_cell(b)} | {diff} |")
    path = yours / "tables" / f"beside_committed_{profile}.md"
    files.atomic_write_text(path, "\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {beside(*sys.argv[1:4])}")
