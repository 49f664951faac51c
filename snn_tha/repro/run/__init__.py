"""The trainer and its parts: one run from config to run folder (train, setup, evaluation, checkpoints, resume, records), its guards (signals, memory, device) and the process pool."""
