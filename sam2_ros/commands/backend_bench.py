"""``sam2-ros bench --backend onnxruntime``: the engine on ONNX Runtime against the torch engine in
fp32 and in bf16, frame by frame in turn in one run, with the time each backend spends per
component (the four exported graphs) and how far ONNX Runtime's mask logits are from torch fp32's.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sam2_ros.commands.engine_bench import _in_turn, _timed_step
from sam2_ros.commands.synthetic import SyntheticScene
from sam2_ros.engine import StreamingPredictor
from sam2_ros.engine.model import Sam2Model, load_model
from sam2_ros.engine.onnx_export import export_onnx
from sam2_ros.engine.onnx_graphs import GRAPHS

#: The sides, in the order of the table; ``onnxruntime`` is measured against the two others.
SIDES = ("onnxruntime", "torch_fp32", "torch_bf16")


def bench_backends(
    args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path, workdir: Path
) -> dict[str, Any]:
    """Time the three sides on the scene; medians of the counted frames, ratios, per-component
    medians and the largest per-frame mean absolute difference of the logits."""
    onnx_dir = args.onnx_dir
    export_s = 0.0
    if onnx_dir is None:
        started = time.perf_counter()
        onnx_dir = workdir / "onnx"
        export_onnx(onnx_dir, args.model_cfg, checkpoint, args.image_size)
        export_s = time.perf_counter() - started
    models = {
        "onnxruntime": _load(args, checkpoint, "fp32", backend="onnxruntime", onnx_dir=onnx_dir),
        "torch_fp32": _load(args, checkpoint, "fp32"),
        "torch_bf16": _load(args, checkpoint, "bf16"),
    }
    components = {side: _time_components(model) for side, model in models.items()}
    predictors = {
        side: StreamingPredictor(model=model, max_objects=max(args.objects, 1))
        for side, model in models.items()
    }
    points = scene.prompt_points(args.objects)
    total = args.frames + args.warmup + 1
    times = {side: np.zeros(total) for side in SIDES}
    mad = np.zeros(total)
    for index in tqdm(range(total), desc="sam2-ros bench --backend", unit="frame"):
        frame = scene.frame(index)
        prompts = points if index == 0 else []
        if index == args.warmup + 1:
            for timings in components.values():
                timings.clear()
        results = {}
        for side in _in_turn(list(SIDES), index):
            results[side], times[side][index] = _timed_step(predictors[side], frame, prompts)
        if results["onnxruntime"].object_ids:
            difference = results["onnxruntime"].mask_logits - results["torch_fp32"].mask_logits
            mad[index] = np.abs(difference).mean()
    counted = slice(args.warmup + 1, None)
    medians = {side: float(np.median(times[side][counted])) for side in SIDES}
    backend = models["onnxruntime"]
    return {
        "mode": "backend",
        "device": str(backend.device),
        "backend": backend.describe_backend(),
        "frames": args.frames,
        "objects": args.objects,
        "image_size": backend.image_size,
        "resolution": [scene.width, scene.height],
        "export_s": export_s,
        "torch_bf16_reason": models["torch_bf16"].precision_reason,
        **{f"{side}_ms_median": medians[side] for side in SIDES},
        "ratio_onnxruntime_over_torch_fp32": medians["onnxruntime"] / medians["torch_fp32"],
        "ratio_onnxruntime_over_torch_bf16": medians["onnxruntime"] / medians["torch_bf16"],
        "logits_mad_vs_torch_fp32_max": float(mad.max()),
        **{
            f"{side}_{name}_ms_per_frame": float(np.sum(timings.get(name, [])) / args.frames)
            for side, timings in components.items()
            for name in GRAPHS
        },
    }


def _load(args: argparse.Namespace, checkpoint: Path, precision: str, **backend: Any) -> Sam2Model:
    return load_model(
        args.model_cfg, checkpoint, args.device, args.image_size, precision=precision, **backend
    )


def _time_components(model: Sam2Model) -> dict[str, list[float]]:
    """Wrap the four exported components of ``model`` (whichever backend runs them) with a timer;
    milliseconds of each call, by graph name, in the returned dict."""
    sam = model.sam
    owners = {
        "image_encoder": (sam.image_encoder, "forward"),
        "memory_attention": (sam.memory_attention, "forward"),
        "mask_decoder": (sam.sam_mask_decoder, "predict_masks"),
        "memory_encoder": (sam.memory_encoder, "forward"),
    }
    timings: dict[str, list[float]] = {}
    for name, (owner, attribute) in owners.items():
        original = getattr(owner, attribute)
        setattr(owner, attribute, functools.partial(_timed, timings, name, original))
    return timings


def _timed(timings: dict[str, list[float]], name: str, call: Callable, *args: Any, **kw: Any):
    started = time.perf_counter()
    out = call(*args, **kw)
    timings.setdefault(name, []).append((time.perf_counter() - started) * 1000.0)
    return out
