"""What a training finds in its run folder before it starts: a checkpoint to continue from,
or a finished run to leave as it is, complete, extend or move aside (never to delete)."""
import logging

from snn_tha.repro.run import checkpoints

log = logging.getLogger("snn_tha")


def try_load(run, resume):
    """resume=True: continue or refuse (ResumeError); "auto": continue, or move a checkpoint
    of other settings aside (one line says so) and start afresh."""
    try:
        return run.load()
    except checkpoints.ResumeError as err:
        if resume != "auto":
            raise
        checkpoints.move_aside(run.dir, str(err).split(";")[0])
        return False


def keep_finished(cfg, run_dir, resume, retrain):
    """What to do with a finished run already in `run_dir`: its final result when it is to be
    left as it is, None when training goes on (resume completes or extends it, or the folder was
    moved aside). A finished run is never deleted."""
    if retrain:
        if any(p.name != ".lock" for p in run_dir.iterdir()):
            checkpoints.move_aside(run_dir, "--retrain")
        return None
    done = checkpoints.finished_run(run_dir, cfg)
    if done is None:
        return None
    has_checkpoint = (run_dir / checkpoints.LATEST).is_file() or (run_dir / checkpoints.PREVIOUS).is_file()
    if not resume:
        raise checkpoints.ResumeError(
            f"{run_dir}: holds a finished run (final.json); --resume keeps it (and writes any "
            f"missing file), --retrain moves it to {checkpoints.REPLACED}/ and trains again, or "
            f"use another --out")
    budget_only = all(d.split(":")[0] in checkpoints.BUDGET_KEYS for d in done.differences)
    if done.differences and not (budget_only and has_checkpoint):
        why = (f"finished with other settings ({'; '.join(done.differences[:4])}"
               f"{' ...' if len(done.differences) > 4 else ''})")
        if resume != "auto":
            raise checkpoints.ResumeError(
                f"{run_dir}: {why}{'' if has_checkpoint else ' and has no checkpoint to continue from'}; "
                f"--retrain moves it to {checkpoints.REPLACED}/ and trains again, or use another --out")
        checkpoints.move_aside(run_dir, why)
        return None
    if done.differences:
        log.info("%s: continuing the finished run from its checkpoint (%s)", run_dir,
                 "; ".join(done.differences))
        return None
    if not done.missing:
        log.info("%s: already trained with these settings (%s): reused, not trained again",
                 run_dir, _summary(done.final))
        return done.final
    if has_checkpoint:
        log.info("%s: finished, writing the missing %s from its checkpoint", run_dir,
                 ", ".join(done.missing))
        return None
    log.warning("%s: finished, but %s are not here and there is no checkpoint to write them from "
                "(the repository keeps a run's numbers, not its weights); --retrain makes them",
                run_dir, ", ".join(done.missing))
    return done.final


def _summary(final):
    if "test_acc" in final:
        return f"test accuracy {100 * final['test_acc']:.2f}%"
    return f"validation accuracy {100 * final['val_acc']:.2f}%"
