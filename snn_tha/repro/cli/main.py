"""`snn-tha`, the command line. `snn-tha infer` runs the 1-bit numpy engine and never imports
PyTorch (nor anything that does); every other command is in `snn_tha.repro.cli.commands`."""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["infer"]:
        from snn_tha.deploy import infer
        from snn_tha.repro.cli.args import check_counts   # YAML at most: still no torch
        from snn_tha.repro.paths import data_root
        return infer.main(argv[1:], prog="snn-tha infer", data_root=data_root(), check=check_counts)
    from snn_tha.repro.cli.commands import main as commands_main
    return commands_main(argv)
