"""Optuna sweeps: the study (init, work, objective), search spaces, storage, scale, report, silence."""
