"""Benchmarks: training steps per network and engine (steps), cases, FLOPs, LIF bandwidth, peers."""
