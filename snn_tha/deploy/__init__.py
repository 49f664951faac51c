"""The 1-bit deployment model: folding and files (`export`), the numpy engine (`infer`,
torch-free)."""
