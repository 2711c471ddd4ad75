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
    Detection,
    TrackedObject,
    associate,
)

CLASSES = ("cup", "person", "bottle")
SEED = 0
DETECTOR_TOPIC = "/sam2_bench_detector/detections"


def _box(rng: np.random.Generator, width: int, height: int) -> tuple[float, ...]:
    w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    return x, y, x + w, y + h


def bench_association(args: argparse.Namespace) -> dict[str, Any]:
    """Median and 95th percentile of ``associate`` per message, and what the plans held."""
    rng = np.random.default_rng(SEED)
    width, height = args.width, args.height
    objects = [
        TrackedObject(i + 1, _box(rng, width, height), CLASSES[i % 3], True, 0, None)
        for i in range(args.objects)
    ]
    settings = AssociationSettings(max_objects=max(args.objects, 1) + 4)
    times, matched, started = [], [], []
    for index in range(args.frames + args.warmup):
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
        plan = associate(detections, objects, index, (width, height), settings)
        if index >= args.warmup:
            times.append((time.perf_counter() - started_at) * 1000.0)
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
        "matched_per_message_median": float(np.median(matched)),
        "started_per_message_median": float(np.median(started)),
    }


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
