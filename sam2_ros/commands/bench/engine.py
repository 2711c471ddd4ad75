"""``sam2-ros bench`` (engine mode): per-frame time and memory of the engine, side by side with
Meta's predictor (``--compare-official``), compiled against eager (``--compile``), and in bf16
against fp32.

All sides get the same weights (a checkpoint, or the same seeded random weights written to a
temporary checkpoint), the same generated frames and the same prompts on frame 0. Frames alternate
between the sides, in an order that rotates every frame, so machine noise hits all alike; the
first ``--warmup`` frames are not counted. The official predictor gets the frames preprocessed as
ours are, ahead of time in its ``init_state``; ours is inside every timed ``track`` call. It runs
under the same autocast as ours (``--precision``); in bf16, ours and Meta's predictor also run in
fp32, frame by frame, so that each precision is timed against the other and the bf16 mask logits
of both are measured against Meta's fp32 ones.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from tqdm import tqdm

from sam2_ros.commands.harness.measurements import growth, memory_trace, synced_clock
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.engine import Sam2Model, StreamingPredictor, load_model
from sam2_ros.engine.model.compiled import compiled_graphs
from sam2_ros.engine.streaming.preprocess import to_model_input
from sam2_ros.engine.streaming.warm_up import warm_up
from sam2_ros.geometry.lifting import depth_to_metres, lift_all
from sam2_ros.runtime.process_stats import rss_bytes


def _tensor_bytes(value: Any) -> int:
    """Bytes of all tensors in a nested dict/list (the official predictor's state)."""
    if isinstance(value, torch.Tensor):
        return value.nbytes
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_tensor_bytes(v) for v in value)
    return 0


#: Frames timed after an object is added: until its memory window is full (16 pointers).
BUCKET_CHANGE_FRAMES = 20


@dataclass
class _Sides:
    """What the engine mode times on every frame, in turn (None: not asked for)."""

    ours: StreamingPredictor
    #: Ours uncompiled, when ours is compiled (``--compile``).
    eager: StreamingPredictor | None = None
    #: Meta's predictor (``--compare-official``).
    official: _Official | None = None
    #: Ours and Meta's predictor in fp32, when ours runs bf16 against Meta's.
    fp32: StreamingPredictor | None = None
    official_fp32: _Official | None = None
    #: Seconds the compiled model took to warm up.
    compile_s: float = 0.0
    #: Graphs dynamo had compiled in the process when the counted frames began.
    graphs: int = 0

    def steps(self, frame: np.ndarray, prompts: list, index: int) -> dict[str, Callable]:
        """Each side's step on frame ``index`` (``prompts``: the points prompted on it), by name;
        each returns its result and milliseconds."""
        steps = {"ours": functools.partial(timed_step, self.ours, frame, prompts)}
        if self.eager is not None:
            steps["eager"] = functools.partial(timed_step, self.eager, frame, prompts)
        if self.fp32 is not None:
            steps["ours_fp32"] = functools.partial(timed_step, self.fp32, frame, prompts)
        if self.official is not None:
            steps["official"] = functools.partial(_official_step, self.official, index)
        if self.official_fp32 is not None:
            steps["official_fp32"] = functools.partial(_official_step, self.official_fp32, index)
        return steps

    def readings(self, lift: bool) -> list[str]:
        """The names of the per-frame readings of these sides (``lift``: with ``--lift``)."""
        names = ["ours_ms", "rss", "state"] + (["lift_ms"] if lift else [])
        if self.eager is not None:
            names += ["eager_ms"]
        if self.official is not None:
            names += ["official_ms", "official_state", "iou_min"]
        if self.fp32 is not None:
            names += ["ours_fp32_ms", "official_fp32_ms", "state_fp32"]
            names += ["logits_mad_ours", "logits_mad_official"]
        if self.ours.model.device.type == "cuda":
            names += ["cuda_allocated", "cuda_peak"]
        return names


def bench_engine(
    args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path, workdir: Path
) -> dict[str, Any]:
    """Time the engine on the scene frame by frame, with the sides the options ask for; the
    results (medians of the counted frames, ratios, memory growth and trace)."""
    total = args.frames + args.warmup + 1
    points = scene.prompt_points(args.objects)
    sides = _engine_sides(args, scene, checkpoint, workdir, points, total)
    # Per-frame readings in preallocated arrays, so recording them does not grow the RSS measured.
    record = {name: np.zeros(total) for name in sides.readings(args.lift)}
    graphs_uncounted = 0
    for index in tqdm(range(total), desc="sam2-ros bench", unit="frame"):
        if sides.eager is not None and index == args.warmup + 1:
            # dynamo counts every graph of the process: Meta's vos predictor compiles in its
            # first frames, so steady state is counted from the first counted frame
            graphs_uncounted, sides.graphs = compiled_graphs() - sides.graphs, compiled_graphs()
        frame = scene.frame(index)
        steps = sides.steps(frame, points if index == 0 else [], index)
        done = {}
        for name in in_turn(list(steps), index):
            done[name], record[f"{name}_ms"][index] = steps[name]()
        _read_frame(args, scene, sides, record, index, done)
    results = _engine_results(args, scene, sides, record)
    if sides.eager is not None:
        results |= _compiled_results(args, sides, record, graphs_uncounted)
        results |= _bucket_changes(sides.ours, scene, total)
    ours = sides.ours
    if args.save_objects:
        results["memory_bytes"] = memory = ours.memory_bytes()
        results["memory_bytes_without_history"] = memory - ours.history_bytes()
        results["objects_file_bytes"] = ours.save_objects(workdir / "objects.safetensors")
    counted = slice(args.warmup + 1, None)
    if args.lift:
        results["lift_ms_median"] = float(np.median(record["lift_ms"][counted]))
        results["ratio_lift_over_engine"] = results["lift_ms_median"] / results["ours_ms_median"]
    if sides.official is not None:
        results |= _official_results(args, sides, record, results)
    if sides.fp32 is not None:
        results |= _precision_comparison(record, counted)
    device = ours.model.device
    if device.type == "cuda":
        results["cuda_allocated_bytes"] = growth(record["cuda_allocated"])
        results["cuda_peak_bytes"] = growth(record["cuda_peak"])
    results["memory_trace"] = memory_trace(record, ["rss", "state", "cuda_allocated"])
    return results


def _engine_sides(
    args: argparse.Namespace,
    scene: SyntheticScene,
    checkpoint: Path,
    workdir: Path,
    points: list,
    total: int,
) -> _Sides:
    """Ours, and the sides the options ask for, each loaded (compiled ones warmed up)."""
    compiled = args.compile != "none"
    # Compiled, one object more than prompted is allowed: adding it is timed at the end.
    max_objects = max(args.objects, 1) + int(compiled)
    ours = StreamingPredictor(
        model_cfg=args.model_cfg,
        checkpoint=checkpoint,
        device=args.device,
        image_size=args.image_size,
        max_objects=max_objects,
        precision=args.precision,
    )
    sides = _Sides(ours)
    if compiled:
        sides.eager = StreamingPredictor(model=_load(args, checkpoint), max_objects=max_objects)
        ours.model.compile(args.compile)
        sides.compile_s = warm_up(ours.model, max(args.objects, 1), scene.width, scene.height)
        sides.graphs = compiled_graphs()
    if args.compare_official:
        folder = _frames_folder(scene, total, workdir)
        sides.official = _official(args, scene, checkpoint, folder, points, ours.model)
        if ours.model.precision == "bf16":
            sides.fp32 = StreamingPredictor(
                model=_load(args, checkpoint, "fp32"), max_objects=max_objects
            )
            sides.official_fp32 = _official(
                args, scene, checkpoint, folder, points, sides.fp32.model
            )
    return sides


def _read_frame(
    args: argparse.Namespace,
    scene: SyntheticScene,
    sides: _Sides,
    record: dict[str, np.ndarray],
    index: int,
    done: dict[str, Any],
) -> None:
    """Frame ``index``'s readings besides the times: lifting, agreement with Meta's predictor,
    memory."""
    result = done["ours"]
    if args.lift:
        record["lift_ms"][index] = _lift_ms(scene, index, result.masks)
    if sides.official is not None:
        official_masks = done["official"][0]
        record["official_state"][index] = _tensor_bytes(sides.official.state["output_dict_per_obj"])
        record["iou_min"][index] = mask_ious(result.masks, official_masks).min()
    if sides.official_fp32 is not None:
        reference = done["official_fp32"][1]
        record["logits_mad_ours"][index] = np.abs(result.mask_logits - reference).mean()
        record["logits_mad_official"][index] = np.abs(done["official"][1] - reference).mean()
    record["rss"][index] = rss_bytes()
    record["state"][index] = sides.ours.memory_bytes()
    if sides.fp32 is not None:
        record["state_fp32"][index] = sides.fp32.memory_bytes()
    device = sides.ours.model.device
    if device.type == "cuda":
        record["cuda_allocated"][index] = torch.cuda.memory_allocated(device)
        record["cuda_peak"][index] = torch.cuda.max_memory_allocated(device)


def _engine_results(
    args: argparse.Namespace, scene: SyntheticScene, sides: _Sides, record: dict[str, np.ndarray]
) -> dict[str, Any]:
    """What every engine run reports: the run, our median frame time and memory growth."""
    ours = sides.ours
    counted = slice(args.warmup + 1, None)
    return {
        "mode": "engine",
        "device": str(ours.model.device),
        "precision": ours.model.precision,
        "precision_reason": ours.model.precision_reason,
        "frames": args.frames,
        "objects": args.objects,
        "image_size": ours.model.image_size,
        "resolution": [scene.width, scene.height],
        "ours_ms_median": float(np.median(record["ours_ms"][counted])),
        "rss_bytes": growth(record["rss"]),
        "ours_state_bytes": growth(record["state"]),
        "rss_includes_official": sides.official is not None,
    }


def _compiled_results(
    args: argparse.Namespace, sides: _Sides, record: dict[str, np.ndarray], graphs_uncounted: int
) -> dict[str, Any]:
    """The compiled engine against itself eager: warm-up, median frame times, graphs compiled."""
    counted = slice(args.warmup + 1, None)
    uncounted = slice(0, args.warmup + 1)
    ours_ms = float(np.median(record["ours_ms"][counted]))
    eager_ms = float(np.median(record["eager_ms"][counted]))
    return {
        "compile": args.compile,
        "compile_warmup_s": sides.compile_s,
        "ours_warmup_frames_s": float(record["ours_ms"][uncounted].sum() / 1000.0),
        "eager_ms_median": eager_ms,
        "ratio_compiled_over_eager": ours_ms / eager_ms,
        "graphs_compiled_in_uncounted_frames": graphs_uncounted,
        "recompilations": compiled_graphs() - sides.graphs,
    }


def _official_results(
    args: argparse.Namespace,
    sides: _Sides,
    record: dict[str, np.ndarray],
    results: dict[str, Any],
) -> dict[str, Any]:
    """Ours (and ours eager) against Meta's predictor: set-up, frame times, mask agreement,
    state growth."""
    counted = slice(args.warmup + 1, None)
    uncounted = slice(0, args.warmup + 1)
    median = float(np.median(record["official_ms"][counted]))
    official = {
        "official": args.compare_official,
        "official_setup_s": sides.official.setup_s,
        "official_warmup_frames_s": float(record["official_ms"][uncounted].sum() / 1000.0),
        "official_ms_median": median,
        "ratio_ours_over_official": results["ours_ms_median"] / median,
    }
    if sides.eager is not None:
        official["ratio_eager_over_official"] = results["eager_ms_median"] / median
    official["mask_iou_vs_official_min"] = float(record["iou_min"][counted].min())
    official["official_state_bytes"] = growth(record["official_state"])
    return official


def _load(args: argparse.Namespace, checkpoint: Path, precision: str | None = None) -> Sam2Model:
    return load_model(
        model_cfg=args.model_cfg,
        checkpoint=checkpoint,
        device=args.device,
        image_size=args.image_size,
        precision=precision or args.precision,
    )


def _precision_comparison(record: dict[str, np.ndarray], counted: slice) -> dict[str, float]:
    """bf16 against fp32: median frame times of the counted frames, and per frame (all frames)
    the mean absolute difference of ours' and the official bf16 mask logits from the official
    fp32 ones, and the ratio of the two; our fp32 tracking state."""
    medians = {
        name: float(np.median(record[f"{name}_ms"][counted]))
        for name in ("ours", "ours_fp32", "official", "official_fp32")
    }
    ours, official = record["logits_mad_ours"], record["logits_mad_official"]
    ratios = ours / np.maximum(official, np.finfo(np.float64).tiny)
    return {
        "ours_fp32_state_bytes": growth(record["state_fp32"]),
        "ours_fp32_ms_median": medians["ours_fp32"],
        "official_fp32_ms_median": medians["official_fp32"],
        "ratio_ours_over_ours_fp32": medians["ours"] / medians["ours_fp32"],
        "ratio_official_over_official_fp32": medians["official"] / medians["official_fp32"],
        "logits_mad_vs_official_fp32_ours_max": float(ours.max()),
        "logits_mad_vs_official_fp32_official_max": float(official.max()),
        "ratio_logits_mad_ours_over_official_median": float(np.median(ratios)),
        "ratio_logits_mad_ours_over_official_max": float(ratios.max()),
    }


def in_turn(names: list[str], index: int) -> list[str]:
    """The sides in the order they run on frame ``index``: rotated by one every frame, so that
    none always runs first or always after the same one (caches, clock)."""
    shift = index % len(names)
    return names[shift:] + names[:shift]


def timed_step(predictor: StreamingPredictor, frame: np.ndarray, prompts: list) -> tuple:
    """Track ``frame`` and prompt a new object at each point; the result and milliseconds."""
    device = predictor.model.device
    started = synced_clock(device)
    result = predictor.track(frame)
    for point in prompts:
        predictor.add_prompt(points=[point], labels=[1])
    if prompts:
        result = predictor.result()
    return result, (synced_clock(device) - started) * 1000.0


def _bucket_changes(predictor: StreamingPredictor, scene: SyntheticScene, index: int) -> dict:
    """The compiled engine's frames after an object is added (which may take the batch into a
    bucket not warmed up) and after it is removed again: the slowest frame and graphs compiled."""
    changes = {}
    for change, frames in (("add", BUCKET_CHANGE_FRAMES), ("remove", 3)):
        graphs = compiled_graphs()
        if change == "add":
            predictor.add_prompt(points=[(scene.width * 0.9, scene.height * 0.1)], labels=[1])
        else:
            predictor.remove_object(predictor.object_ids[-1])
        times = [timed_step(predictor, scene.frame(index + k), [])[1] for k in range(frames)]
        changes[f"{change}_object_frame_ms_max"] = max(times)
        changes[f"{change}_object_graphs_compiled"] = compiled_graphs() - graphs
        index += frames
    return changes


def _lift_ms(scene: SyntheticScene, index: int, masks: np.ndarray) -> float:
    """Milliseconds to lift a frame's masks with its 16UC1 depth image, as the node does."""
    millimetres = np.round(scene.depth(index) * 1000.0).astype(np.uint16)
    k = np.array(scene.intrinsics()).reshape(3, 3)
    started = time.perf_counter()
    depth = depth_to_metres(millimetres, "16UC1", 0.001)
    lift_all(masks, depth, k, (scene.width, scene.height), (0.1, 10.0), 20)
    return (time.perf_counter() - started) * 1000.0


def mask_ious(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Per-object IoU of two ``(N, H, W)`` boolean mask stacks (1 where both are empty)."""
    intersection = (ours & theirs).sum(axis=(1, 2))
    union = (ours | theirs).sum(axis=(1, 2))
    return np.where(union > 0, intersection / np.maximum(union, 1), 1.0)


@dataclass
class _Official:
    """Meta's predictor propagating through the frames, under a model's inference context."""

    state: dict
    frames: Iterator
    model: Sam2Model  # whose inference mode and autocast it runs under
    setup_s: float


def _frames_folder(scene: SyntheticScene, count: int, workdir: Path) -> Path:
    """The frames as the JPEG folder the official predictor opens (it takes the video's size from
    them; its input is then replaced by ours)."""
    folder = workdir / "frames"
    folder.mkdir()
    for index in range(count):
        PILImage.fromarray(scene.frame(index)).save(folder / f"{index:05d}.jpg", quality=95)
    return folder


def _official(args, scene, checkpoint, folder, points, model: Sam2Model) -> _Official:
    """Meta's SAM2VideoPredictor (``vos``: ``vos_optimized``, compiled) on the same frames,
    preprocessed by ours, under ``model``'s inference mode and autocast."""
    from sam2.build_sam import build_sam2_video_predictor

    started = time.perf_counter()
    predictor = build_sam2_video_predictor(
        args.model_cfg,
        str(checkpoint),
        device=str(model.device),
        hydra_overrides_extra=[f"++model.image_size={args.image_size}"],
        vos_optimized=args.compare_official == "vos",
    )
    with model.inference():
        state = predictor.init_state(str(folder))
        images = state["images"]
        for index in range(len(images)):
            images[index] = to_model_input(scene.frame(index), args.image_size, model.device)[0]
        state["cached_features"] = {}  # frame 0 was encoded from the JPEG file
        for object_id, point in enumerate(points, start=1):
            predictor.add_new_points_or_box(state, 0, object_id, points=[point], labels=[1])
    frames = iter(predictor.propagate_in_video(state))
    return _Official(state, frames, model, time.perf_counter() - started)


def _official_step(official: _Official, index: int) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """The official predictor's next frame: its masks at the input resolution and its mask
    logits at SAM 2's low resolution (as ours report them); milliseconds."""
    started = synced_clock(official.model.device)
    with official.model.inference():
        _, _, video_logits = next(official.frames)
    milliseconds = (synced_clock(official.model.device) - started) * 1000.0
    outputs = [
        per_object["cond_frame_outputs"].get(index) or per_object["non_cond_frame_outputs"][index]
        for per_object in official.state["output_dict_per_obj"].values()
    ]
    logits = torch.cat([out["pred_masks"][:, 0] for out in outputs]).float().cpu().numpy()
    return ((video_logits[:, 0] > 0).cpu().numpy(), logits), milliseconds
