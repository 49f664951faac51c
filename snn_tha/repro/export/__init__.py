"""A run's deployment files: the 1-bit export of a run folder with its checks, snnTorch's run of the NIR graph, shipped models and their cards."""
