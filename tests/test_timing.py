import time

from snn_tha.repro.run.timing import rounded, timed, timed_iter


def test_timed_adds_the_block_seconds_even_when_it_raises():
    parts = {}
    with timed(parts, "a"):
        time.sleep(0.02)
    try:
        with timed(parts, "a"):
            time.sleep(0.01)
            raise KeyError
    except KeyError:
        pass
    assert 0.03 <= parts["a"] < 0.5


def test_timed_iter_counts_only_the_waiting():
    def slow():
        for i in range(3):
            time.sleep(0.02)
            yield i
    parts = {}
    seen = []
    for item in timed_iter(slow(), parts, "data"):
        time.sleep(0.03)   # work on the item: not data time
        seen.append(item)
    assert seen == [0, 1, 2]
    assert 0.06 <= parts["data"] < 0.09 + 0.05
    assert rounded({"x": 0.123456}) == {"x": 0.1}
