"""How every command runs (`snn-tha ...` and `experiments/*.py`): a user's error is one line
and exit 2, Ctrl-C one line and 130, SIGTERM the same line and 143; counts checked first."""
import errno
import logging
import sys

from snn_tha.deploy.onebit import ExportError
from snn_tha.kernels import fused, host_memory
from snn_tha.repro import provenance
from snn_tha.repro.run import signals
from snn_tha.repro.yaml_config import ConfigError
from snn_tha.repro.data import DataError
from snn_tha.repro.run.train import NonFiniteError


RESUME = "finished epochs are checkpointed: run the same command with --resume to continue"


def guarded(func, args, how_to_resume=RESUME):
    """Run a command: a user's error is one line and exit 2, Ctrl-C one line and 130, SIGTERM
    the same line and 143 (locks released, finished epochs checkpointed)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    provenance.git_commit()  # provenance names the code this process started with
    host_memory.keep_freed_memory()
    try:
        fused.choice()  # a bad SNN_THA_LIF_KERNEL is refused before any work
        with signals.sigterm_as_interrupt():
            code = func(args)
    except (ConfigError, DataError, NonFiniteError, ExportError, fused.KernelError) as err:
        return _fail(str(err))
    except OSError as err:  # missing file, read-only folder, full disk: the path and the reason
        if err.errno == errno.EPIPE:  # stdout closed early (`| head`): nothing left to say
            return 0
        if err.errno not in USER_OS_ERRORS:
            raise
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}")
    except KeyboardInterrupt as err:
        what = "terminated (SIGTERM)" if isinstance(err, signals.Terminated) else "interrupted"
        print(f"snn-tha: {what}; {how_to_resume}", file=sys.stderr)
        return 143 if isinstance(err, signals.Terminated) else 130
    return code if isinstance(code, int) else 0


# errors a user causes (and can fix); anything else is a bug and keeps its traceback
USER_OS_ERRORS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC,
                  errno.EDQUOT, errno.EISDIR, errno.ENOTDIR}


def _fail(message):
    print(f"snn-tha: error: {message}", file=sys.stderr)
    return 2
