"""``sam2-ros bench``: per-frame time and memory of the engine, side by side with Meta's predictor
(``--compare-official``), end to end through the ROS node over DDS (``--node``), or the cost of a
prompt that arrives D frames late (``--late-prompt D``).

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
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from tqdm import tqdm

from sam2_ros.commands.detection_bench import bench_association
from sam2_ros.commands.late_prompt_bench import bench_late_prompt
from sam2_ros.commands.synthetic import SyntheticScene
from sam2_ros.engine import (
    DEFAULT_MODEL_CFG,
    CheckpointError,
    ModelConfigError,
    Sam2Model,
    StreamingPredictor,
    load_model,
)
from sam2_ros.engine.compiled import COMPILE_MODES, compiled_graphs
from sam2_ros.engine.model import resolve_device, validate_image_size
from sam2_ros.engine.precision import PRECISIONS
from sam2_ros.engine.preprocess import to_model_input
from sam2_ros.engine.warm_up import warm_up
from sam2_ros.geometry.lifting import depth_to_metres, lift_all
from sam2_ros.heap import heap_settings
from sam2_ros.process_stats import rss_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sam2-ros bench``."""
    parser.add_argument(
        "--frames", type=_at_least(1), default=30, help="frames to time (default 30)"
    )
    parser.add_argument(
        "--objects", type=_at_least(0), default=1, help="objects prompted on frame 0"
    )
    parser.add_argument("--image-size", type=int, default=256, help="SAM 2 resolution")
    parser.add_argument("--model-cfg", default=DEFAULT_MODEL_CFG, help="SAM 2 config")
    parser.add_argument("--checkpoint", type=Path, help="real weights (default: seeded random)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: bf16 on CUDA and on CPUs with native bf16 units, else fp32",
    )
    parser.add_argument(
        "--width", type=_at_least(0), default=0, help="frame width (640, --node 1280)"
    )
    parser.add_argument(
        "--height", type=_at_least(0), default=0, help="frame height (480, --node 720)"
    )
    parser.add_argument(
        "--warmup", type=_at_least(0), default=3, help="uncounted frames after frame 0"
    )
    parser.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default="none",
        help="torch.compile mode; timed frame by frame against the same engine eager",
    )
    parser.add_argument(
        "--save-objects",
        action="store_true",
        help="save the tracked objects at the end and report the file size (engine mode)",
    )
    parser.add_argument(
        "--lift",
        action="store_true",
        help="also lift every frame's objects into 3D with the scene's depth (engine mode)",
    )
    parser.add_argument(
        "--compare-official",
        nargs="?",
        const="eager",
        choices=("eager", "vos"),
        help="time Meta's SAM2VideoPredictor alongside (vos: its compiled vos_optimized one)",
    )
    parser.add_argument("--node", action="store_true", help="measure the ROS node end to end")
    parser.add_argument(
        "--late-prompt",
        type=_at_least(1),
        metavar="D",
        help="time a prompt on the frame D frames before the newest (prompt history)",
    )
    parser.add_argument(
        "--association",
        action="store_true",
        help="time pairing a detection message with --objects tracked objects (no model)",
    )
    parser.add_argument(
        "--detections",
        type=_at_least(0),
        default=50,
        help="detections per message for --association (default 50)",
    )
    parser.add_argument(
        "--detector",
        action="store_true",
        help="with --node: a detector publishes every frame's objects as Detection2DArray",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")


def _at_least(minimum: int):
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print a table (and JSON); a bad option is one line on stderr."""
    problem = None
    modes = (args.compare_official, args.node, args.late_prompt, args.association)
    if sum(bool(x) for x in modes) > 1:
        problem = "choose one of --compare-official, --node, --late-prompt and --association"
    elif args.detector and not args.node:
        problem = "--detector goes with --node"
    elif args.compare_official and args.objects < 1:
        problem = "--compare-official needs at least one object to prompt"
    elif args.checkpoint is not None and not args.checkpoint.is_file():
        problem = f"checkpoint {args.checkpoint} does not exist"
    if problem is not None:
        print(f"sam2-ros bench: {problem}", file=sys.stderr)
        return 2
    args.width = args.width or (1280 if args.node else 640)
    args.height = args.height or (720 if args.node else 480)
    if args.association:
        return _report(args, bench_association(args))
    scene = SyntheticScene(args.width, args.height)
    try:
        resolve_device(args.device)
        validate_image_size(args.image_size)
        with tempfile.TemporaryDirectory(prefix="sam2_ros_bench_") as workdir:
            checkpoint = args.checkpoint or _random_checkpoint(args, Path(workdir))
            if args.node:
                results = _bench_node(args, scene, checkpoint, Path(workdir))
            elif args.late_prompt:
                results = bench_late_prompt(args, scene, checkpoint)
            else:
                results = _bench_engine(args, scene, checkpoint, Path(workdir))
    except (CheckpointError, ModelConfigError) as err:
        print(f"sam2-ros bench: {err}", file=sys.stderr)
        return 1
    return _report(args, results)


def _report(args: argparse.Namespace, results: dict) -> int:
    """Print the results as a table (and write them as JSON)."""
    results["machine"] = _machine(results.get("device", args.device))
    results["command"] = "sam2-ros bench " + " ".join(_argv(args))
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    flags = []
    model = ["frames", "objects", "image_size", "model_cfg", "device", "precision"]
    for name in [*model, "width", "height"]:
        flags.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    for name in ("node", "detector", "association", "lift", "save_objects"):
        if getattr(args, name):
            flags.append(f"--{name.replace('_', '-')}")
    if args.compare_official:
        flags.append(f"--compare-official {args.compare_official}")
    if args.compile != "none":
        flags.append(f"--compile {args.compile}")
    if args.late_prompt:
        flags.append(f"--late-prompt {args.late_prompt}")
    if args.association:
        flags.append(f"--detections {args.detections}")
    return flags


def _random_checkpoint(args: argparse.Namespace, workdir: Path) -> Path:
    model = load_model(
        args.model_cfg, None, "cpu", args.image_size, allow_random_weights=True, precision="fp32"
    )
    path = workdir / "random_weights.pt"
    torch.save({"model": model.sam.state_dict()}, path)
    return path


def _prompt_points(scene: SyntheticScene, count: int) -> list[tuple[float, float]]:
    """The scene's objects first, then a grid, so any number of objects gets distinct clicks."""
    points = [scene.center(obj.name, 0) for obj in scene.objects]
    columns = 4
    for k in range(max(count - len(points), 0)):
        points.append(
            (
                scene.width * (0.1 + 0.8 * (k % columns) / columns),
                scene.height * (0.15 + 0.2 * (k // columns)),
            )
        )
    return points[:count]


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


def _bench_engine(args, scene, checkpoint, workdir) -> dict:
    compiled = args.compile != "none"
    # Compiled, one object more than prompted is allowed: adding it is timed at the end.
    max_objects = max(args.objects, 1) + int(compiled)
    ours = StreamingPredictor(
        args.model_cfg,
        checkpoint,
        args.device,
        args.image_size,
        max_objects=max_objects,
        precision=args.precision,
    )
    device = ours.model.device
    eager = None
    if compiled:
        eager = StreamingPredictor(model=_load(args, checkpoint), max_objects=max_objects)
        ours.model.compile(args.compile)
        compile_s = warm_up(ours.model, max(args.objects, 1), scene.width, scene.height)
        graphs = compiled_graphs()
    points = _prompt_points(scene, args.objects)
    total = args.frames + args.warmup + 1
    official = fp32 = official_fp32 = None
    if args.compare_official:
        folder = _frames_folder(scene, total, workdir)
        official = _official(args, scene, checkpoint, folder, points, ours.model)
        if ours.model.precision == "bf16":
            fp32 = StreamingPredictor(
                model=_load(args, checkpoint, "fp32"), max_objects=max_objects
            )
            official_fp32 = _official(args, scene, checkpoint, folder, points, fp32.model)
    # Per-frame readings in preallocated arrays, so recording them does not grow the RSS measured.
    names = ["ours_ms", "rss", "state"] + (["lift_ms"] if args.lift else [])
    if eager is not None:
        names += ["eager_ms"]
    if official is not None:
        names += ["official_ms", "official_state", "iou_min"]
    if fp32 is not None:
        names += ["ours_fp32_ms", "official_fp32_ms", "state_fp32"]
        names += ["logits_mad_ours", "logits_mad_official"]
    if device.type == "cuda":
        names += ["cuda_allocated", "cuda_peak"]
    record = {name: np.zeros(total) for name in names}
    for index in tqdm(range(total), desc="sam2-ros bench", unit="frame"):
        if eager is not None and index == args.warmup + 1:
            # dynamo counts every graph of the process: Meta's vos predictor compiles in its
            # first frames, so steady state is counted from the first counted frame
            graphs_uncounted, graphs = compiled_graphs() - graphs, compiled_graphs()
        frame = scene.frame(index)
        prompts = points if index == 0 else []
        steps = {"ours": functools.partial(_timed_step, ours, frame, prompts)}
        if eager is not None:
            steps["eager"] = functools.partial(_timed_step, eager, frame, prompts)
        if fp32 is not None:
            steps["ours_fp32"] = functools.partial(_timed_step, fp32, frame, prompts)
        if official is not None:
            steps["official"] = functools.partial(_official_step, official, index)
        if official_fp32 is not None:
            steps["official_fp32"] = functools.partial(_official_step, official_fp32, index)
        done = {}
        for name in _in_turn(list(steps), index):
            done[name], record[f"{name}_ms"][index] = steps[name]()
        result = done["ours"]
        if args.lift:
            record["lift_ms"][index] = _lift_ms(scene, index, result.masks)
        if official is not None:
            official_masks, official_logits = done["official"]
            record["official_state"][index] = _tensor_bytes(official.state["output_dict_per_obj"])
            record["iou_min"][index] = _mask_ious(result.masks, official_masks).min()
        if official_fp32 is not None:
            reference = done["official_fp32"][1]
            record["logits_mad_ours"][index] = np.abs(result.mask_logits - reference).mean()
            record["logits_mad_official"][index] = np.abs(official_logits - reference).mean()
        record["rss"][index] = rss_bytes()
        record["state"][index] = ours.memory_bytes()
        if fp32 is not None:
            record["state_fp32"][index] = fp32.memory_bytes()
        if device.type == "cuda":
            record["cuda_allocated"][index] = torch.cuda.memory_allocated(device)
            record["cuda_peak"][index] = torch.cuda.max_memory_allocated(device)
    counted = slice(args.warmup + 1, None)
    uncounted = slice(0, args.warmup + 1)
    results: dict[str, Any] = {
        "mode": "engine",
        "device": str(device),
        "precision": ours.model.precision,
        "precision_reason": ours.model.precision_reason,
        "frames": args.frames,
        "objects": args.objects,
        "image_size": ours.model.image_size,
        "resolution": [scene.width, scene.height],
        "ours_ms_median": float(np.median(record["ours_ms"][counted])),
        "rss_bytes": _growth(record["rss"]),
        "ours_state_bytes": _growth(record["state"]),
        "rss_includes_official": official is not None,
    }
    if eager is not None:
        results["compile"] = args.compile
        results["compile_warmup_s"] = compile_s
        results["ours_warmup_frames_s"] = float(record["ours_ms"][uncounted].sum() / 1000.0)
        results["eager_ms_median"] = float(np.median(record["eager_ms"][counted]))
        results["ratio_compiled_over_eager"] = (
            results["ours_ms_median"] / results["eager_ms_median"]
        )
        results["graphs_compiled_in_uncounted_frames"] = graphs_uncounted
        results["recompilations"] = compiled_graphs() - graphs
        results |= _bucket_changes(ours, scene, total)
    if args.save_objects:
        results["memory_bytes"] = memory = ours.memory_bytes()
        results["memory_bytes_without_history"] = memory - ours.history_bytes()
        results["objects_file_bytes"] = ours.save_objects(workdir / "objects.safetensors")
    if args.lift:
        results["lift_ms_median"] = float(np.median(record["lift_ms"][counted]))
        results["ratio_lift_over_engine"] = results["lift_ms_median"] / results["ours_ms_median"]
    if official is not None:
        results["official"] = args.compare_official
        results["official_setup_s"] = official.setup_s
        results["official_warmup_frames_s"] = float(record["official_ms"][uncounted].sum() / 1000.0)
        results["official_ms_median"] = median = float(np.median(record["official_ms"][counted]))
        results["ratio_ours_over_official"] = results["ours_ms_median"] / median
        if eager is not None:
            results["ratio_eager_over_official"] = results["eager_ms_median"] / median
        results["mask_iou_vs_official_min"] = float(record["iou_min"][counted].min())
        results["official_state_bytes"] = _growth(record["official_state"])
    if fp32 is not None:
        results |= _precision_comparison(record, counted)
    if device.type == "cuda":
        results["cuda_allocated_bytes"] = _growth(record["cuda_allocated"])
        results["cuda_peak_bytes"] = _growth(record["cuda_peak"])
    results["memory_trace"] = _memory_trace(record, ["rss", "state", "cuda_allocated"])
    return results


def _load(args: argparse.Namespace, checkpoint: Path, precision: str | None = None) -> Sam2Model:
    return load_model(
        args.model_cfg,
        checkpoint,
        args.device,
        args.image_size,
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
        "ours_fp32_state_bytes": _growth(record["state_fp32"]),
        "ours_fp32_ms_median": medians["ours_fp32"],
        "official_fp32_ms_median": medians["official_fp32"],
        "ratio_ours_over_ours_fp32": medians["ours"] / medians["ours_fp32"],
        "ratio_official_over_official_fp32": medians["official"] / medians["official_fp32"],
        "logits_mad_vs_official_fp32_ours_max": float(ours.max()),
        "logits_mad_vs_official_fp32_official_max": float(official.max()),
        "ratio_logits_mad_ours_over_official_median": float(np.median(ratios)),
        "ratio_logits_mad_ours_over_official_max": float(ratios.max()),
    }


def _in_turn(names: list[str], index: int) -> list[str]:
    """The sides in the order they run on frame ``index``: rotated by one every frame, so that
    none always runs first or always after the same one (caches, clock)."""
    shift = index % len(names)
    return names[shift:] + names[:shift]


def _timed_step(predictor: StreamingPredictor, frame: np.ndarray, prompts: list) -> tuple:
    """Track ``frame`` and prompt a new object at each point; the result and milliseconds."""
    device = predictor.model.device
    _sync(device)
    started = time.perf_counter()
    result = predictor.track(frame)
    for point in prompts:
        predictor.add_prompt(points=[point], labels=[1])
    if prompts:
        result = predictor.result()
    _sync(device)
    return result, (time.perf_counter() - started) * 1000.0


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
        times = [_timed_step(predictor, scene.frame(index + k), [])[1] for k in range(frames)]
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


def _growth(series: np.ndarray) -> dict[str, float]:
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


def _memory_trace(record: dict[str, np.ndarray], names: list[str]) -> list[dict]:
    """About 20 evenly spaced samples of the memory readings (and the last frame), to tell a
    one-off step from steady growth."""
    length = len(record["rss"])
    frames = sorted({*range(0, length, max(length // 20, 1)), length - 1})
    return [
        {"frame": frame} | {name: int(record[name][frame]) for name in names if name in record}
        for frame in frames
    ]


def _mask_ious(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
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
    started = time.perf_counter()
    with official.model.inference():
        _, _, video_logits = next(official.frames)
    _sync(official.model.device)
    milliseconds = (time.perf_counter() - started) * 1000.0
    outputs = [
        per_object["cond_frame_outputs"].get(index) or per_object["non_cond_frame_outputs"][index]
        for per_object in official.state["output_dict_per_obj"].values()
    ]
    logits = torch.cat([out["pred_masks"][:, 0] for out in outputs]).float().cpu().numpy()
    return ((video_logits[:, 0] > 0).cpu().numpy(), logits), milliseconds


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _bench_node(args, scene, checkpoint, workdir) -> dict:
    """End to end over DDS: from an image handed to DDS to its masks received (the test
    publisher's own serialisation is reported apart). The node reports its engine time on
    /diagnostics as a median over its recent frames; the overhead divides the end-to-end median
    over those same frames by it. Latency percentiles are over the frames after warm-up."""
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Point32
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray

    from sam2_ros.commands.detection_bench import DETECTOR_TOPIC, detections_of
    from sam2_ros.commands.node_client import NodeClient, NodeProcess, local_ros_environment
    from sam2_ros.messages.images import array_to_image_msg
    from sam2_ros.msg import ObjectMasks
    from sam2_ros.srv import AddPrompt
    from sam2_ros.tracking.statistics import WINDOW as STATS_WINDOW

    local_ros_environment()
    name, topic = "sam2_bench", "/sam2_bench_camera/image_raw"
    node = NodeProcess(
        name,
        {
            "checkpoint": str(checkpoint),
            "image_size": args.image_size,
            "device": args.device,
            "image_topics": [topic],
            "drop_frames": False,
            "max_objects": max(args.objects, 1),
            "compile": args.compile,
            "detection_topics": [DETECTOR_TOPIC if args.detector else ""],
        },
        workdir / "node.log",
    )
    client = NodeClient("sam2_bench_client")
    try:
        masks = client.collect(ObjectMasks, f"/{name}/camera/masks", keep=False)
        diagnostics = client.collect(DiagnosticArray, "/diagnostics")
        camera = client.publisher(Image, topic)
        detector = client.publisher(Detection2DArray, DETECTOR_TOPIC) if args.detector else None
        try:
            client.bring_up(name)
        except RuntimeError as err:
            raise RuntimeError(f"{err}:\n{node.log()[-2000:]}") from err
        for publisher in (camera, detector):
            if publisher is not None:
                client.wait_for_subscriber(publisher)
        total = args.frames + args.warmup + 1
        latencies, publishing = [], []
        # preallocated: the node's resident memory after each frame, and when each frame ended
        rss, finished = np.zeros(total), np.zeros(total)
        for index in tqdm(range(total), desc="sam2-ros bench --node", unit="frame"):
            header = Header(frame_id="bench")
            header.stamp = client.node.get_clock().now().to_msg()
            message = array_to_image_msg(scene.frame(index), "rgb8", header)
            started = time.perf_counter()
            camera.publish(message)  # rclpy serialises large images slowly; a driver would not
            sent = time.perf_counter()
            received = masks.wait_stamp(header)
            if detector is not None:  # the frame's objects, detected: every one pairs
                detector.publish(detections_of(received))
            publishing.append((sent - started) * 1000.0)
            latencies.append((time.perf_counter() - sent) * 1000.0)
            rss[index] = node.rss_bytes()
            finished[index] = time.perf_counter()
            if index == 0:
                for x, y in _prompt_points(scene, args.objects):
                    request = AddPrompt.Request(points=[Point32(x=x, y=y)], labels=[1])
                    if not client.call(AddPrompt, f"/{name}/add_prompt", request).success:
                        raise RuntimeError("add_prompt failed")

        def node_report(arrays) -> dict[str, str] | None:
            for array in reversed(arrays):
                for status in array.status:
                    values = {v.key: v.value for v in status.values}
                    if values.get("frames_processed") == str(total):
                        return values
            return None

        if not diagnostics.wait_for(lambda arrays: node_report(arrays) is not None, timeout=10):
            raise RuntimeError("the node did not report its engine time on /diagnostics")
        report = node_report(diagnostics.messages)
    finally:
        client.close()
        node.stop()
    counted = np.array(latencies[args.warmup + 1 :])
    # The node's percentiles cover its last STATS_WINDOW frames: compare the same frames.
    same_frames = np.array(latencies[-STATS_WINDOW:])
    return {
        "mode": "node",
        "device": args.device,
        "frames": args.frames,
        "objects": args.objects,
        "image_size": args.image_size,
        "resolution": [scene.width, scene.height],
        "fastdds_profile": os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", "(Fast DDS defaults)"),
        "publisher_serialize_ms_p50": float(np.median(publishing[args.warmup + 1 :])),
        "latency_ms_p50": float(np.percentile(counted, 50)),
        "latency_ms_p95": float(np.percentile(counted, 95)),
        "latency_ms_max": float(counted.max()),
        "node_stamp_to_published_ms_p50": float(report["latency_p50_ms"]),
        "engine_ms_p50": float(report["engine_p50_ms"]),
        "end_to_end_ms_p50_same_frames": float(np.median(same_frames)),
        "overhead_end_to_end_over_engine": float(np.median(same_frames))
        / float(report["engine_p50_ms"]),
        **_frame_rates(finished[args.warmup :]),
        "detector": args.detector,
        "detection_messages_applied": int(report["detection_messages_applied"]),
        "node_rss_bytes": _growth(rss),
        "memory_trace": _memory_trace({"rss": rss}, ["rss"]),
    }


#: Frames at each end of a node run whose frame rates are compared.
RATE_WINDOW = 500


def _frame_rates(finished: np.ndarray) -> dict[str, float]:
    """Frames per second over the first and the last ``RATE_WINDOW`` frames (a quarter of the run
    each when shorter), from ``finished``: when each frame ended, the first entry being the end of
    the frame before them; and last over first, which stays near 1 when neither the node nor this
    driver slows down as the run goes on."""
    window = min(RATE_WINDOW, max((len(finished) - 1) // 4, 1))
    first = window / (finished[window] - finished[0])
    last = window / (finished[-1] - finished[-1 - window])
    return {
        "rate_window_frames": window,
        "frames_per_s_first": float(first),
        "frames_per_s_last": float(last),
        "ratio_rate_last_over_first": float(last / first),
    }


def _machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {gpu} (device {device}), "
        f"{heap_settings()}"
    )


def _table(results: dict) -> str:
    rows = [("mode", results["mode"]), ("machine", results["machine"])]
    keys = [k for k in results if k not in {"mode", "machine", "command", "memory_trace"}]
    for key in keys:
        value = results[key]
        if isinstance(value, float):
            if "ratio" in key or "overhead" in key:
                value = f"{value:.3f}"
            else:
                value = f"{value:.2e}" if "logits_mad" in key else f"{value:.1f}"
        rows.append((key, value))
    rows.append(("command", results["command"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
