"""Data sets as in-memory tensors plus a deterministic, resumable batch iterator."""
from snn_tha.repro.data.common import DataError, Split, batches
from snn_tha.repro.data.static import load_static

__all__ = ["DataError", "Split", "batches", "load_static"]
