import shutil
from pathlib import Path

from snn_tha.repro import report


def test_report_from_recorded_files_only(tmp_path):
    (tmp_path / "temporal_coding").mkdir()
    shutil.copy(Path("results/temporal_coding/summary.json"), tmp_path / "temporal_coding")
    text = report.write_report(tmp_path).read_text()
    assert "## Temporal coding" in text and "![Figure 4](temporal_coding/figure4.png)" in text
    assert "| BSNN theta=50 suppresses all output spiking (Fig. 4c) | 0 output spikes" in text
    assert "## Table 1" not in text    # no table files, no section


def test_empty_results(tmp_path):
    assert "No recorded runs yet" in report.write_report(tmp_path).read_text()
