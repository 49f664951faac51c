"""The options that several `snn-tha` subcommands share (--set, --profile, --seeds, --device) and
the check of their counts (`check_counts`, also run by `snn-tha infer`: no torch here)."""
from snn_tha.repro import paths
from snn_tha.repro.yaml_config import ConfigError


# numeric options: the least value that makes sense, the largest a library takes, what it counts
COUNTS = {"seeds": (1, None, "seeds to train"), "budget": (1, None, "trials in the study"),
          "limit": (1, None, "test images"), "images": (1, None, "test images"),
          "seed": (0, 2 ** 32 - 1, "the study's seed"),   # Optuna's TPE seeds numpy: < 2**32
          "jobs": (1, None, "runs trained at a time")}


def check_counts(args):
    """--seeds, --budget, --limit, --jobs >= 1 and 0 <= --seed < 2**32 (ConfigError naming the
    option)."""
    for key, (least, most, what) in COUNTS.items():
        value = getattr(args, key, None)
        if value is not None and value < least:
            raise ConfigError(f"--{key} {value}: the number of {what} must be >= {least}"
                              if least else f"--{key} {value}: {what} must be >= 0")
        if value is not None and most is not None and value > most:
            raise ConfigError(f"--{key} {value}: {what} must be <= {most}")
    return args


def _add_set(parser, example="optim.lr=1e-3"):
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a config key, e.g. --set {example} (repeatable; list "
                             f"items by index: --set net.dropout.0=0.5)")


def _add_set_and_no_train(parser, what):
    _add_set(parser)
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help=f"only rebuild {what} from existing runs")


def _add_device(parser):
    parser.add_argument("--device", help="auto (default: CUDA when present), cpu, cuda or cuda:N")


def _add_budget(parser, profile, seeds, what):
    """--profile and --seeds: the budget of one run and how many seeds of it."""
    _add_profile(parser, profile)
    parser.add_argument("--seeds", type=int, default=seeds, help=f"{what} (default {seeds})")


def _add_profile(parser, default=paths.DEFAULT_PROFILE, what="budget profile"):
    """--profile: one of configs/profiles/ (listed in the help), `default` unless given."""
    shown = f"default: {default}" if default else "default: the config's own budget"
    parser.add_argument("--profile", default=default,
                        help=f"{what}: {', '.join(paths.profile_names())} ({shown})")


def _command(sub, func, name, help, device=True):
    """A subcommand that runs `func(args)`, with --device unless `device=False`."""
    p = sub.add_parser(name, help=help)
    p.set_defaults(func=func)
    if device:
        _add_device(p)
    return p
