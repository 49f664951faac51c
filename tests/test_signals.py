"""SIGTERM's stop (`snn_tha.repro.run.signals`, `guard.guarded`): an error a library raises while
the interrupt unwinds through its cleanup still reads as SIGTERM (143, one line), and errors
without SIGTERM behind them are what they were."""
import errno

import pytest

from snn_tha.repro.run import guard, signals


def journal_lock_release():
    """What Optuna's journal-file lock does when the interrupt lands between removing its lock
    file and returning: its `except BaseException` removes the file again."""
    try:
        raise signals.Terminated("SIGTERM")
    except BaseException:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "sweep.journal.lock")


def test_an_error_raised_while_handling_sigterm_is_caused_by_it():
    with pytest.raises(FileNotFoundError) as caught:
        journal_lock_release()
    assert signals.caused_by_sigterm(caught.value)
    assert signals.caused_by_sigterm(signals.Terminated("SIGTERM"))
    assert not signals.caused_by_sigterm(FileNotFoundError(errno.ENOENT, "gone", "x"))
    assert not signals.caused_by_sigterm(KeyboardInterrupt())


def test_guard_reports_it_as_sigterm(capsys):
    assert guard.guarded(lambda args: journal_lock_release(), None) == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "terminated (SIGTERM)" in err[0] and "error" not in err[0]


def test_errors_without_sigterm_are_unchanged(capsys):
    def missing(args):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "config.yaml")
    assert guard.guarded(missing, None) == 2
    assert capsys.readouterr().err.strip() == "snn-tha: error: config.yaml: No such file or directory"

    def bug(args):
        raise ValueError("a bug keeps its traceback")
    with pytest.raises(ValueError):
        guard.guarded(bug, None)

    def interrupted(args):
        raise KeyboardInterrupt
    assert guard.guarded(interrupted, None) == 130
