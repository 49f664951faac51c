"""SIGTERM handled like Ctrl-C: a batch scheduler's or `kill`'s polite stop unwinds the
process (run locks released, atomic writes cleaned, checkpoints kept) instead of killing it
where it stands."""
import signal
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def caused_by_sigterm(err):
    """Whether `err` is `Terminated`, or was raised while one was being handled: a library's
    own cleanup can fail when the interrupt lands inside it (Optuna's journal-file lock, hit
    between renaming and removing its lock file, raises FileNotFoundError from its `except
    BaseException` clause), and the stop must still read as SIGTERM's."""
    while err is not None:
        if isinstance(err, Terminated):
            return True
        err = err.__context__
    return False


def _raise_terminated(signum, frame):
    raise Terminated("SIGTERM")


@contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises `Terminated` (a KeyboardInterrupt); an error raised
    while it unwound (`caused_by_sigterm`) leaves the block as `Terminated` too."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except Exception as err:
        if caused_by_sigterm(err):
            raise Terminated("SIGTERM") from err
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
