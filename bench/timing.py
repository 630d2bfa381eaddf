"""Small timing helpers: medians of repeated calls and throughput of a batch."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Timing:
    """Per-call wall times in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    runs: int

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def time_calls(fn: Callable[[int], Any], runs: int, warmup: int = 3) -> Timing:
    """Call ``fn(i)`` ``warmup`` times untimed, then ``runs`` times timed; medians resist the
    noise of a shared machine better than means."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, received runs={runs}")
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return Timing(
        median_ms=statistics.median(times),
        p10_ms=times[int(0.1 * (len(times) - 1))],
        p90_ms=times[math.ceil(0.9 * (len(times) - 1))],
        runs=runs,
    )


@dataclass
class Throughput:
    """A pass over ``images`` files: wall time, and CPU time of this process (all threads),
    which on a shared machine shows the work done independently of other processes' load."""

    images: int
    seconds: float
    cpu_seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "seconds": round(self.seconds, 4),
                "images_per_s": round(self.images_per_s, 2),
                "cpu_ms_per_image": round(1e3 * self.cpu_seconds / max(1, self.images), 3),
                "cpu_utilisation": round(self.cpu_seconds / self.seconds, 2) if self.seconds else None}


def median_pass(fn: Callable[[], int], repeats: int) -> Throughput:
    """Run ``fn`` (which returns how many images it processed) ``repeats`` times and keep the
    median pass by wall time."""
    passes = []
    for _ in range(max(1, repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        n = fn()
        passes.append(Throughput(n, time.perf_counter() - t0, time.process_time() - c0))
    passes.sort(key=lambda tp: tp.seconds)
    return passes[(len(passes) - 1) // 2]
