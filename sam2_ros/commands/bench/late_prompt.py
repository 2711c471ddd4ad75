"""``sam2-ros bench --late-prompt D``: what a prompt that arrives D frames late costs.

A new object is prompted on the frame D frames before the newest, so the engine applies it there
and tracks that object alone through the D later frames. Timed as the first object (no object
was tracked on those frames, so none was encoded yet and the image encoder runs on each of the
D + 1 frames; one run) and with 3 other objects tracked (every frame's features are in the
history), next to D times the one-object frame time (what tracking those frames live costs),
plus the bytes the prompt history holds per frame at this resolution.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from sam2_ros.commands.harness.measurements import synced_clock
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.engine import StreamingPredictor

REPEATS = 3


def bench_late_prompt(
    args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path
) -> dict[str, Any]:
    """Time late prompts with 0 and 3 other objects; frame time with one object."""
    lateness = args.late_prompt
    predictor = StreamingPredictor(
        model_cfg=args.model_cfg,
        checkpoint=checkpoint,
        device=args.device,
        image_size=args.image_size,
        max_objects=4,
        history_frames=max(lateness + 1, 30),
        precision=args.precision,
    )
    device = predictor.model.device
    frame_index = 0

    def track() -> float:
        nonlocal frame_index
        started = synced_clock(device)
        predictor.track(scene.frame(frame_index))
        frame_index += 1
        return synced_clock(device) - started

    def late_prompt_ms(repeats: int) -> list[float]:
        """Prompt a new object ``lateness`` frames back, ``repeats`` times (removed in between)."""
        times = []
        for _ in range(repeats):
            target = predictor.frame_index - lateness
            point = scene.center("ball", target)
            started = synced_clock(device)
            answer = predictor.add_prompt(points=[point], labels=[1], frame_index=target)
            times.append(synced_clock(device) - started)
            predictor.remove_object(answer.object_id)
            track()
        return times

    for _ in range(lateness + 1 + args.warmup):
        track()
    (first,) = late_prompt_ms(1)
    one = predictor.add_prompt(points=[scene.center("ball", predictor.frame_index)], labels=[1])
    frame_ms = [track() for _ in range(args.frames + args.warmup)][args.warmup :]
    predictor.remove_object(one.object_id)
    for name in ("pillar", "crate", "ball"):
        predictor.add_prompt(points=[scene.center(name, predictor.frame_index)], labels=[1])
    for _ in range(lateness + 1):
        track()
    with_others = late_prompt_ms(REPEATS)
    one_frame = float(np.median(frame_ms)) * 1000.0
    return {
        "mode": "late-prompt",
        "device": str(device),
        "precision": predictor.model.precision,
        "precision_reason": predictor.model.precision_reason,
        "frames": args.frames,
        "late_by_frames": lateness,
        "image_size": predictor.model.image_size,
        "resolution": [scene.width, scene.height],
        "one_object_frame_ms_median": one_frame,
        "late_prompt_ms_first_object": first * 1000.0,
        "late_prompt_ms_with_3_others_median": float(np.median(with_others)) * 1000.0,
        "d_times_one_object_frame_ms": lateness * one_frame,
        "ratio_with_3_others_over_d_frames": float(np.median(with_others))
        * 1000.0
        / (lateness * one_frame),
        "history_frames": predictor.history_frames,
        "history_bytes": predictor.history_bytes(),
        "history_bytes_per_frame": predictor.history_bytes()
        / min(predictor.history_frames, frame_index),
    }
