import shutil
from pathlib import Path

from snn_tha.repro.paper import report


def test_report_from_recorded_files_only(tmp_path):
    (tmp_path / "temporal_coding").mkdir()
    shutil.copy(Path("results/temporal_coding/summary.json"), tmp_path / "temporal_coding")
    text = report.write_report(tmp_path).read_text()
    assert "## Temporal coding" in text and "![Figure 4](temporal_coding/figure4.png)" in text
    assert "| BSNN theta=50 suppresses all output spiking (Fig. 4c) | 0 output spikes" in text
    assert "## Table 1" not in text    # no table files, no section


def test_empty_results(tmp_path):
    assert "No recorded runs yet" in report.write_report(tmp_path).read_text()


def test_a_verdict_row_follows_the_rule_of_its_note():
    """Issue 24: the temporal '0.1% of theta_inf' row and the note under it use one computation."""
    import re
    text = (Path(__file__).resolve().parent.parent / "results" / "REPORT.md").read_text()
    row = next(l for l in text.splitlines() if l.startswith("| final theta within 0.1% of theta_inf"))
    note = re.search(r"Note on the paper's '0.1% of theta_inf'.* ([0-9.]+)% below theta_inf", text)
    pct = float(note.group(1))
    assert f"{pct:.1f}% below theta_inf" in row
    assert row.endswith("| yes |") == (pct <= 0.1)


def test_report_opens_with_the_verdicts_and_never_shows_smoke_verdicts(tmp_path):
    results = Path(__file__).resolve().parent.parent / "results"
    copy = tmp_path / "results"
    shutil.copytree(results, copy, ignore=shutil.ignore_patterns("runs", "trials", "*.journal"))
    (copy / "claims_smoke.md").write_text("# smoke\n\nx\n\n| claim | a | b | 2 | +1 | 0.1 | 1 | **holds** | |\n")
    text = report.write_report(copy).read_text()
    assert text.split("\n## ")[1].startswith("Summary")
    claims = (results / "claims_claims.md").read_text()
    decided = [r for r in claims.splitlines() if r.startswith("| ") and ("**holds**" in r or "**does not hold**" in r)]
    assert f"{len(decided)} of" in text.split("\n## ")[1]
    assert "smoke" not in text.split("\n## ")[1] and "(smoke profile)" not in text
