"""Benchmarks of this machine: `python -m bench` runs every module; each prints its own table."""


def median_seconds(call, repeats: int) -> float:
    """The median wall time of `repeats` calls of `call`, after one warm-up call."""
    import statistics
    import time

    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
