"""What the benchmark scripts share: the median time of a call, after one warm-up call."""

import statistics
import time


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up: tracing, compilation, caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
