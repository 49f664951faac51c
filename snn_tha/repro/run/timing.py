"""Where a run's time goes: wall seconds summed per part (data, training steps, validation,
test, checkpoints, final evaluation), kept in the run's state and written to final.json."""
import time
from contextlib import contextmanager


@contextmanager
def timed(parts, name):
    """Add the wall seconds of the block to parts[name]."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        parts[name] = parts.get(name, 0.0) + time.perf_counter() - t0


def timed_iter(iterable, parts, name):
    """Yield from `iterable`, adding the seconds spent waiting for each item to parts[name]."""
    iterator = iter(iterable)
    while True:
        with timed(parts, name):
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


def rounded(parts):
    return {name: round(seconds, 1) for name, seconds in parts.items()}
