"""``sam2-ros bench --backend onnxruntime|openvino``: the engine on a graph runtime against the
torch engine in fp32 and in bf16, frame by frame in turn in one run, with the time each side
spends per component (the four exported graphs) and how far each side's mask logits are from
torch fp32's. With ``openvino`` the runtime runs in fp32 and, where the CPU has bf16 units, in bf16.
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

from sam2_ros.commands.bench.engine import in_turn, mask_ious, timed_step
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.engine import OnnxExportError, StreamingPredictor
from sam2_ros.engine.graphs.components import COMPONENTS
from sam2_ros.engine.model.build import Sam2Model, load_model
from sam2_ros.engine.model.onnx_export import export_onnx

#: The torch sides every graph runtime is measured against.
TORCH_SIDES = {"torch_fp32": {"precision": "fp32"}, "torch_bf16": {"precision": "bf16"}}


def graph_sides(backend: str) -> dict[str, dict[str, str]]:
    """The graph runtime's sides and their precision: ``onnxruntime`` (fp32 graphs), or
    ``openvino_fp32`` and ``openvino_bf16``."""
    if backend == "onnxruntime":
        return {"onnxruntime": {"precision": "fp32"}}
    return {f"{backend}_{p}": {"precision": p} for p in ("fp32", "bf16")}


def bench_backends(
    args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path, workdir: Path
) -> dict[str, Any]:
    """Time every side on the scene; medians of the counted frames, each graph side's ratios to
    the torch sides, per-component medians, each side's largest per-frame mean absolute
    difference of the logits from torch fp32, and how much the masks overlap (lowest IoU) with
    those of torch in the same precision."""
    onnx_dir = args.onnx_dir
    export_s = 0.0
    if onnx_dir is None:
        started = time.perf_counter()
        onnx_dir = workdir / "onnx"
        export_onnx(
            onnx_dir, model_cfg=args.model_cfg, checkpoint=checkpoint, image_size=args.image_size
        )
        export_s = time.perf_counter() - started
    models, skipped = {}, {}
    for side, options in graph_sides(args.backend).items():
        try:
            models[side] = _load(
                args, checkpoint, **options, backend=args.backend, onnx_dir=onnx_dir
            )
        except OnnxExportError as err:
            if options["precision"] != "bf16":
                raise
            skipped[f"{side}_skipped"] = str(err)  # a device without bf16 units
    graphs = list(models)
    models |= {side: _load(args, checkpoint, **options) for side, options in TORCH_SIDES.items()}
    sides = list(models)
    components = {side: _time_components(model) for side, model in models.items()}
    predictors = {
        side: StreamingPredictor(model=model, max_objects=max(args.objects, 1))
        for side, model in models.items()
    }
    points = scene.prompt_points(args.objects)
    total = args.frames + args.warmup + 1
    times = {side: np.zeros(total) for side in sides}
    mad = {side: np.zeros(total) for side in sides}
    iou = {side: np.ones(total) for side in graphs}
    foreground = np.zeros(total)
    for index in tqdm(range(total), desc="sam2-ros bench --backend", unit="frame"):
        frame = scene.frame(index)
        prompts = points if index == 0 else []
        if index == args.warmup + 1:
            for timings in components.values():
                timings.clear()
        results = {}
        for side in in_turn(sides, index):
            results[side], times[side][index] = timed_step(predictors[side], frame, prompts)
        reference = results["torch_fp32"]
        if not reference.object_ids:
            continue
        foreground[index] = (reference.mask_logits > 0).mean()
        for side in sides:
            mad[side][index] = np.abs(results[side].mask_logits - reference.mask_logits).mean()
        for side in graphs:
            same_precision = results[f"torch_{models[side].precision}"]
            iou[side][index] = mask_ious(results[side].masks, same_precision.masks).min()
    counted = slice(args.warmup + 1, None)
    medians = {side: float(np.median(times[side][counted])) for side in sides}
    first = models[graphs[0]]
    return {
        "mode": "backend",
        "device": str(first.device),
        "backend": first.describe_backend(),
        "frames": args.frames,
        "objects": args.objects,
        "image_size": first.image_size,
        "resolution": [scene.width, scene.height],
        "export_s": export_s,
        "torch_bf16_reason": models["torch_bf16"].precision_reason,
        "mask_foreground_mean": float(foreground[counted].mean()),
        **skipped,
        **{f"{side}_ms_median": medians[side] for side in sides},
        **{
            f"ratio_{side}_over_{torch_side}": medians[side] / medians[torch_side]
            for side in graphs
            for torch_side in TORCH_SIDES
        },
        **{
            f"{side}_logits_mad_vs_torch_fp32_max": float(mad[side].max())
            for side in sides
            if side != "torch_fp32"
        },
        **{f"{side}_mask_iou_vs_same_precision_min": float(iou[side].min()) for side in graphs},
        **{
            f"{side}_{component.name}_ms_per_frame": float(
                np.sum(timings.get(component.name, [])) / args.frames
            )
            for side, timings in components.items()
            for component in COMPONENTS
        },
    }


def _load(args: argparse.Namespace, checkpoint: Path, precision: str, **backend: Any) -> Sam2Model:
    return load_model(
        model_cfg=args.model_cfg,
        checkpoint=checkpoint,
        device=args.device,
        image_size=args.image_size,
        precision=precision,
        **backend,
    )


def _time_components(model: Sam2Model) -> dict[str, list[float]]:
    """Wrap the four components of ``model`` (whichever backend runs them) with a timer;
    milliseconds of each call, by component name, in the returned dict."""
    timings: dict[str, list[float]] = {}
    for component in COMPONENTS:
        module, method = component.call(model.sam)
        original = getattr(module, method)
        setattr(module, method, functools.partial(_timed, timings, component.name, original))
    return timings


def _timed(timings: dict[str, list[float]], name: str, call: Callable, *args: Any, **kw: Any):
    started = time.perf_counter()
    out = call(*args, **kw)
    timings.setdefault(name, []).append((time.perf_counter() - started) * 1000.0)
    return out
