"""``sam2-ros bench --association``: what pairing one detection message with the tracked objects
costs (:func:`~sam2_ros.tracking.association.associate`), at ``--objects`` tracked objects and
``--detections`` detections per message; and the detector of ``sam2-ros bench --node
--detector``, which sends every frame's objects back to the node as detections.

The objects are boxes spread over a ``--width`` x ``--height`` image in three classes; each
message holds a jittered box of every object (so each pairs, some disagree enough to be
re-prompted) and random boxes of the same classes for the rest, with scores from 0.2 to 1 (some
below the threshold): the work a busy detector gives the node on every frame.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from sam2_ros.tracking.association import (
    AssociationSettings,
    Birth,
    Detection,
    TrackedObject,
    associate,
)
from sam2_ros.tracking.duplicates import DuplicateSettings, find_duplicates
from sam2_ros.tracking.mask_overlap import mask_grid

CLASSES = ("cup", "person", "bottle")
SEED = 0
DETECTOR_TOPIC = "/sam2_bench_detector/detections"


def _box(rng: np.random.Generator, width: int, height: int) -> tuple[float, ...]:
    w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    return x, y, x + w, y + h


def bench_association(args: argparse.Namespace) -> dict[str, Any]:
    """Median and 95th percentile of ``associate`` per message and of the rules per tracked
    frame, and what the plans held."""
    rng = np.random.default_rng(SEED)
    width, height = args.width, args.height
    boxes = [_box(rng, width, height) for _ in range(args.objects)]
    objects = [
        TrackedObject(i + 1, box, CLASSES[i % 3], True, 0, None, Birth() if i % 2 else None)
        for i, box in enumerate(boxes)
    ]
    masks = _ellipses(boxes, width, height)
    ids = [obj.object_id for obj in objects]
    tentative = {obj.object_id for obj in objects if obj.birth is not None}
    settings = AssociationSettings(max_objects=max(args.objects, 1) + 4)
    times, frame_times, matched, started = [], [], [], []
    for index in range(args.frames + args.warmup):
        frame_started = time.perf_counter()  # what every tracked frame costs
        grid = mask_grid(masks)
        find_duplicates(ids, masks, set(ids), tentative, {}, DuplicateSettings())
        frame_ms = (time.perf_counter() - frame_started) * 1000.0
        jitter = rng.normal(0.0, 0.04 * width, (len(objects), 4))
        detections = [
            Detection.from_box(tuple(np.add(obj.box, shift)), obj.label, 0.9)
            for obj, shift in zip(objects, jitter, strict=True)
        ][: args.detections]
        while len(detections) < args.detections:
            detections.append(
                Detection.from_box(
                    _box(rng, width, height), str(rng.choice(CLASSES)), rng.uniform(0.2, 1.0)
                )
            )
        started_at = time.perf_counter()
        plan = associate(detections, objects, grid, index, settings)
        if index >= args.warmup:
            times.append((time.perf_counter() - started_at) * 1000.0)
            frame_times.append(frame_ms)
            matched.append(len(plan.matches))
            started.append(len(plan.start))
    return {
        "mode": "association",
        "objects": args.objects,
        "detections_per_message": args.detections,
        "messages": args.frames,
        "resolution": [width, height],
        "association_ms_median": float(np.median(times)),
        "association_ms_p95": float(np.percentile(times, 95)),
        "rules_per_frame_ms_median": float(np.median(frame_times)),
        "rules_per_frame_ms_p95": float(np.percentile(frame_times, 95)),
        "matched_per_message_median": float(np.median(matched)),
        "started_per_message_median": float(np.median(started)),
    }


def _ellipses(boxes: list[tuple[float, ...]], width: int, height: int) -> np.ndarray:
    """``(len(boxes), height, width)`` masks: the ellipse filling each box."""
    yy, xx = np.ogrid[:height, :width]
    masks = np.zeros((len(boxes), height, width), bool)
    for row, (x0, y0, x1, y1) in enumerate(boxes):
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        masks[row] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    return masks


def detections_of(masks: Any, header: Any = None) -> Any:
    """A detector message for the frame of an ``ObjectMasks`` (or the frame with ``header``):
    each object's ``roi`` as a box of its own class (``object<id>``), so that every detection
    pairs with its object."""
    from vision_msgs.msg import Detection2DArray

    from sam2_ros.messages.detections import box_detection

    message = Detection2DArray(header=masks.header if header is None else header)
    for obj in masks.objects:
        x0, y0 = obj.roi.x_offset, obj.roi.y_offset
        box = (x0, y0, x0 + obj.roi.width, y0 + obj.roi.height)
        message.detections.append(box_detection(box, f"object{obj.object_id}", 0.9))
    return message
