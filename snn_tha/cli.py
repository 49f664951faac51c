"""Moved to `snn_tha.repro.cli`; this path stays for one release (installed `snn-tha` scripts
made before the move call it)."""
import sys

from snn_tha.repro.cli import main  # noqa: F401

if __name__ == "__main__":
    print("snn-tha: note: `python -m snn_tha.cli` moved to `python -m snn_tha.repro.cli` "
          "(the old path goes in the next release)", file=sys.stderr)
    sys.exit(main())
