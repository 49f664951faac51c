"""The paper's outputs from run folders: claims and their statistics, ablation, tables, report, plots, comparison, the published numbers, the temporal-coding task, engine parity."""
