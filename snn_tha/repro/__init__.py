"""The reproduction machinery: configs and schema, data, the trainer, checkpoints and run
folders, claims and ablation, tables / report / plots, sweeps, bench and the command line."""
