"""Speed only: the sequence engine (`engine`), the fused C++ / Triton LIF (`fused`), host-memory
settings. Nothing here changes a result beyond float rounding; imports nothing of the
reproduction."""
