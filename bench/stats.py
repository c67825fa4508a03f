"""Figures and how they are summarised."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.client import NotMeasurable


@dataclass
class Figure:
    value: float | None = None  # a rate, or the p50 of a latency
    p95: float | None = None  # latencies only
    samples: int = 0
    note: str = ""  # why there is no value, or a caveat that goes with it

    @classmethod
    def missing(cls, reason: str) -> "Figure":
        return cls(note=reason)


def latency(samples_ms: list[float], note: str = "") -> Figure:
    p50, p95 = np.percentile(samples_ms, [50, 95])
    return Figure(float(p50), float(p95), len(samples_ms), note)


def timed_ms(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000.0, result


def measure(call: Callable[[], Figure]) -> Figure:
    """Run one measurement; a server that cannot do it gets the reason."""
    try:
        return call()
    except NotMeasurable as exc:
        return Figure.missing(str(exc))
