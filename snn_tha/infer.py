"""Moved to `snn_tha.deploy.infer` (numpy only); this path stays for one release."""
import sys

from snn_tha.deploy.infer import *  # noqa: F401,F403
from snn_tha.deploy.infer import main

if __name__ == "__main__":
    print("snn-tha: note: `python -m snn_tha.infer` moved to `python -m snn_tha.deploy.infer` "
          "(the old path goes in the next release)", file=sys.stderr)
    sys.exit(main())
