"""Warming a compiled model up: every graph a stream of up to N objects needs, compiled now."""

from __future__ import annotations

import time

import numpy as np

from sam2_ros.engine.model.build import Sam2Model
from sam2_ros.engine.model.compiled import BUCKETS, bucket
from sam2_ros.engine.streaming.predictor import StreamingPredictor

#: Frames tracked after the prompts: one commits them to memory, the next ones attend to memory.
TRACKED_FRAMES = 3


def warm_up(model: Sam2Model, max_objects: int, width: int = 640, height: int = 480) -> float:
    """Track a few noise frames with 1, 2, 4, ... objects up to ``max_objects``'s bucket, so
    that tracking that many objects compiles nothing more; seconds taken."""
    started = time.perf_counter()
    frames = np.random.default_rng(0).integers(0, 256, (2, height, width, 3), dtype=np.uint8)
    for objects in [size for size in BUCKETS if size <= bucket(max_objects)]:
        predictor = StreamingPredictor(model=model, max_objects=objects, history_frames=1)
        predictor.track(frames[0])
        for k in range(objects):
            predictor.add_prompt(points=[((k + 0.5) * width / objects, height / 2)], labels=[1])
        for index in range(TRACKED_FRAMES):
            predictor.track(frames[(index + 1) % 2])
    return time.perf_counter() - started
