"""`python -m snn_tha.repro.cli`: the `snn-tha` command."""
import sys

from snn_tha.repro.cli.main import main

sys.exit(main())
