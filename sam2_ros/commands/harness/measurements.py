"""Readings the benchmarks share: a device-synchronised clock, and how a per-frame memory reading
grows over a run."""

from __future__ import annotations

import time

import numpy as np
import torch


def synced_clock(device: torch.device) -> float:
    """``time.perf_counter()`` once the device has finished its queued work (CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def growth(series: np.ndarray) -> dict[str, float]:
    """A per-frame reading at frame 100 (the middle frame of shorter runs) and at the end, and
    its growth."""
    baseline = min(100, len(series) // 2)
    start, end = int(series[baseline]), int(series[-1])
    return {
        "at_frame": baseline,
        "start": start,
        "end": end,
        "growth": end - start,
        "growth_per_frame": (end - start) / max(len(series) - 1 - baseline, 1),
    }


def memory_trace(record: dict[str, np.ndarray], names: list[str]) -> list[dict]:
    """About 20 evenly spaced samples of the memory readings (and the last frame), to tell a
    one-off step from steady growth."""
    length = len(record["rss"])
    frames = sorted({*range(0, length, max(length // 20, 1)), length - 1})
    return [
        {"frame": frame} | {name: int(record[name][frame]) for name in names if name in record}
        for frame in frames
    ]
