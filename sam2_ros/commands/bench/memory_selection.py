"""``sam2-ros bench --memory-selection samurai``: what SAMURAI's motion-aware memory costs per
frame against SAM 2's own selection, on one model, frame by frame in turn in one run, with the
memory each holds per object (the memory bank and last outputs alone, and with the default
30-frame prompt history, which holds past memories anyway) and how far their results are apart."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sam2_ros.commands.bench.engine import in_turn, mask_ious, timed_step
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.engine import StreamingPredictor, load_model


def bench_memory_selection(
    args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path
) -> dict[str, Any]:
    """Median ms per frame of ``sam2`` and ``args.memory_selection`` tracking the same objects,
    their ratio, the memory held per object by each, the lowest mask IoU between them."""
    model = load_model(
        model_cfg=args.model_cfg,
        checkpoint=checkpoint,
        device=args.device,
        image_size=args.image_size,
        precision=args.precision,
    )
    selections = ["sam2", args.memory_selection]
    predictors = {
        name: StreamingPredictor(
            model=model, max_objects=max(args.objects, 1), memory_selection=name
        )
        for name in selections
    }
    points = scene.prompt_points(args.objects)
    total = args.frames + args.warmup + 1
    times = {name: np.zeros(total) for name in selections}
    iou = np.ones(total)
    mad = np.zeros(total)
    foreground = np.zeros(total)
    for index in tqdm(range(total), desc="sam2-ros bench --memory-selection", unit="frame"):
        frame = scene.frame(index)
        prompts = points if index == 0 else []
        results = {}
        for name in in_turn(selections, index):
            results[name], times[name][index] = timed_step(predictors[name], frame, prompts)
        if results["sam2"].object_ids:
            foreground[index] = (results["sam2"].mask_logits > 0).mean()
            other, sam2 = results[selections[1]], results["sam2"]
            iou[index] = mask_ious(other.masks, sam2.masks).min()
            mad[index] = np.abs(other.mask_logits - sam2.mask_logits).mean()
    counted = slice(args.warmup + 1, None)
    medians = {name: float(np.median(times[name][counted])) for name in selections}
    per_object = max(args.objects, 1)
    return {
        "mode": "memory-selection",
        "device": str(model.device),
        "precision": model.precision,
        "frames": args.frames,
        "objects": args.objects,
        "image_size": model.image_size,
        "resolution": [scene.width, scene.height],
        "mask_foreground_mean": float(foreground[counted].mean()),
        **{f"{name}_ms_median": medians[name] for name in selections},
        f"ratio_{selections[1]}_over_sam2": medians[selections[1]] / medians["sam2"],
        **{
            f"{name}_bank_bytes_per_object": (p.memory_bytes() - p.history_bytes()) // per_object
            for name, p in predictors.items()
        },
        **{
            f"{name}_bytes_per_object_with_history": p.memory_bytes() // per_object
            for name, p in predictors.items()
        },
        "mask_iou_between_min": float(iou[counted].min()),
        "logits_mad_between_max": float(mad[counted].max()),
    }
