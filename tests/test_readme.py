"""The README's library section runs verbatim (every Python block, in order, one namespace),
and every shell command in it is one a fresh clone has (issue 24)."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SECTION = "### Add threshold annealing to your snnTorch model"


def library_blocks():
    text = Path("README.md").read_text()
    section = text[text.index(SECTION):]
    ends = [i for i in (section.find("\n### ", 1), section.find("\n## ", 1)) if i > 0]
    section = section[:min(ends)] if ends else section
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_library_blocks_run(capsys):
    blocks = library_blocks()
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    # three steps of theta += 0.1 * (theta_inf - theta) from 1.0: 2.084 (to 5) and 1.542 (to 3)
    assert "'theta_0': 2.08" in printed and "'theta_1': 1.54" in printed
    annealing = namespace["annealing"]           # the second block's schedule, not stepped
    assert annealing.thresholds() == [float(torch.tensor(13.5)), float(torch.tensor(11.2))]
    assert namespace["spk"].shape == (100, 8, 300)


# ---- every command of the README's shell blocks (issue 24) -----------------------------------
ROOT = Path(__file__).resolve().parent.parent
ELSEWHERE = ("parallel", "sbatch", "optuna-dashboard", "export")   # other tools: a cluster, a browser


def readme_commands():
    """The command lines of every ```bash block, comments dropped, $S filled in."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [re.sub(r"\s+#.*$", "", l).strip() for b in blocks for l in b.splitlines()]
    lines = [l.rstrip(" &") for l in lines if l and not l.startswith("#")]
    values = dict(l.split("=", 1) for l in lines if re.fullmatch(r"[A-Z_]+=\S+", l))
    return [re.sub(r"\$(\w+)", lambda m: values.get(m.group(1), m.group(0)), l)
            for l in lines if not re.fullmatch(r"[A-Z_]+=\S+", l)]


def _argv(line):
    words = shlex.split(line.split(" > ")[0])
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):   # VAR=value prefixes
        words.pop(0)
    return words


def _paths_exist(words):
    """Every argument naming a file of the repository exists (configs, results, scripts)."""
    for w in words:
        if re.match(r"(configs|results|scripts|experiments)/", w) and "<" not in w:
            assert (ROOT / w).exists(), f"README names {w}, which a fresh clone does not have"


def test_every_readme_command_is_one_a_fresh_clone_has():
    from snn_tha.repro.cli.commands import build_parser
    targets = set(re.findall(r"^([a-zA-Z0-9_-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    commands = readme_commands()
    assert len(commands) >= 20
    for line in commands:
        words = _argv(line)
        tool = Path(words[0]).name
        _paths_exist(words)
        if tool == "make":
            assert words[1] in targets, line
        elif tool == "snn-tha":
            build_parser().parse_args(words[1:])      # argparse exits (SystemExit) on a bad line
        elif tool == "python" and words[1].startswith("scripts/"):
            assert (ROOT / words[1]).is_file(), line   # a script of the repository
        elif tool == "python":
            assert words[1:3] == ["-m", "snn_tha.deploy.infer"], line
        else:
            assert tool in ELSEWHERE, f"README command not checked: {line}"


def test_the_first_minutes_run(tmp_path):
    """The README's first two snn-tha commands, for real: the shipped model and Table 1 at smoke."""
    first = [l for l in readme_commands() if "snn-tha" in l][:2]
    assert "infer results/models/fmnist_annealing" in first[0] and "table1 --profile smoke" in first[1]
    data = ROOT / "data"
    if not (data / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip("data/ not prepared (make data): the first-minutes commands need it")
    env = {**os.environ, "SNN_THA_RESULTS": str(tmp_path / "demo")}
    for line in first:
        argv = [sys.executable, "-m", "snn_tha.repro.cli", *_argv(line)[1:]]
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (line, done.stderr[-2000:])
    assert (tmp_path / "demo" / "tables" / "table1_smoke.md").is_file()


def readme_table(header):
    """(the header's text after its first cell, each body row's cells) of the README table whose
    header row starts with `header` (a regular expression)."""
    text = Path("README.md").read_text()
    head = re.search(rf"^\| {header}\|(.*)\|$", text, flags=re.M)
    body = text[head.end():].split("\n\n", 1)[0]
    return head.group(1), [[c.strip() for c in line.strip("|").split("|")]
                           for line in body.splitlines()[2:]]


def test_the_headline_accuracies_are_the_committed_tables():
    """Every cell of the README's Table 1 (best / mean ± sd (seeds)) is the committed
    results/tables/table1_<profile>.csv: the landing page is rebuilt by hand after each collect,
    so a stale number goes red here."""
    import csv
    names = {"flt32": "flt32", "BSNN θ=1": "BSNN θ=1", "BSNN, tuned θ": "BSNN (tuned θ)",
             "threshold annealing": "threshold annealing"}
    checked = 0
    for dataset in ("FashionMNIST", "MNIST"):
        header, lines = readme_table(rf"{dataset}[ (].*\| paper ")
        profiles = re.findall(r"`(\w+)`", header)
        rows = {(p, r["variant"]): r for p in profiles for r in csv.DictReader(
            open(f"results/tables/table1_{p}.csv", encoding="utf-8")) if r["dataset"] == dataset}
        for variant, paper, *ours in lines:
            first = rows[profiles[0], names[variant]]
            assert paper == (f"{float(first['paper_best']):.2f} / {float(first['paper_mean']):.2f}"
                             f" ± {float(first['paper_std']):.2f}")
            for profile, cell in zip(profiles, ours):
                row = rows[profile, names[variant]]
                want = (f"{float(row['best']):.2f} / {float(row['mean']):.2f} ± "
                        f"{float(row['std']):.2f} ({row['runs']})")
                assert cell == want, f"README {dataset} {variant} `{profile}`: {cell} != {want}"
                checked += 1
    assert checked == 16


def test_the_headline_effects_are_the_committed_claims_files():
    """Every 'mean ± se' in the README's claims table is a paired effect of the claims file of its
    column's data set and budget (results/claims_<profile>.md)."""
    header, lines = readme_table("the paper's claim ")
    columns = [re.match(r"\s*(\w+) `(\w+)`", c).groups() for c in header.split("|")]
    checked = 0
    for _claim, *cells in lines:
        for (dataset, profile), cell in zip(columns, cells):
            claims = Path(f"results/claims_{profile}.md").read_text()
            start = claims.index(f"## {dataset}\n")
            section = claims[start:claims.find("\n## ", start + 1)]
            for mean, se in re.findall(r"([+−-]\d+\.\d+) ± (\d+\.\d+)", cell):
                assert f"| {mean.replace('−', '-')} ± {se} |" in section, (
                    f"README {dataset} `{profile}`: {mean} ± {se} is not in results/claims_{profile}.md")
                checked += 1
    assert checked >= 12
