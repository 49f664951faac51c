"""The 1-bit deployment model: folding and files (`fold`), the numpy engine (`infer`,
torch-free)."""
