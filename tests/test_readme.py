"""The README's library section runs verbatim (every Python block, in order, one namespace)."""
import re

import torch
from pathlib import Path

SECTION = "### Add threshold annealing to your snnTorch model"


def library_blocks():
    text = Path("README.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n### ", 1)]
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
