"""What we publish stays true: every committed table, claims file and REPORT.md is rebuilt from
the committed run folders and must equal the committed file byte for byte."""
import shutil

import pytest

from snn_tha.repro import paths
from snn_tha.repro.paper import claims, report, tables

RESULTS = paths.ROOT / "results"
COMMITTED_TABLES = sorted(p for p in (RESULTS / "tables").glob("table[12]_*.md"))
COMMITTED_CLAIMS = sorted(p for p in RESULTS.glob("claims_*.md") if p.name != "claims_by_budget.md")


def _profile(path, prefix):
    return path.stem[len(prefix):]


@pytest.mark.parametrize("path", COMMITTED_TABLES, ids=lambda p: p.name)
def test_committed_tables_rebuild_from_the_run_folders(path, tmp_path):
    name, profile = path.stem.split("_", 1)
    (tmp_path / "runs").symlink_to(RESULTS / "runs")
    tables.build(name, profile, results=tmp_path)
    for suffix in (".md", ".csv"):
        rebuilt = tmp_path / "tables" / f"{path.stem}{suffix}"
        assert rebuilt.read_text() == path.with_suffix(suffix).read_text(), rebuilt.name
    dead = RESULTS / "tables" / f"dead_neurons_{profile}.md"
    if dead.is_file():
        assert (tmp_path / "tables" / dead.name).read_text() == dead.read_text()


@pytest.mark.parametrize("path", COMMITTED_CLAIMS, ids=lambda p: p.name)
def test_committed_claims_rebuild_from_the_run_folders(path, tmp_path):
    profile = _profile(path, "claims_")
    rebuilt = claims.write(profile, list(claims.PREFIXES), out=tmp_path)
    assert rebuilt.read_text() == path.read_text()


def test_committed_verdict_by_budget_rebuilds(tmp_path):
    from snn_tha.repro.paper import budget
    rebuilt = budget.write(list(claims.PREFIXES), out=tmp_path, runs_root=RESULTS / "runs")
    assert rebuilt.read_text() == (RESULTS / "claims_by_budget.md").read_text()


def test_committed_report_rebuilds(tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(RESULTS, copy, ignore=shutil.ignore_patterns("runs", "trials", "*.journal"))
    (copy / "REPORT.md").unlink()
    assert report.write_report(copy).read_text() == (RESULTS / "REPORT.md").read_text()


def test_report_prints_no_raw_none():
    text = (RESULTS / "REPORT.md").read_text()
    assert "None" not in text and "nan" not in text.replace("nanoGPT", "")
