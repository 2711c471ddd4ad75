"""``sam2-ros bench``: per-frame time and memory of the engine, side by side with Meta's predictor
(``--compare-official``), or end to end through the ROS node over DDS (``--node``).

Both sides get the same weights (a checkpoint, or the same seeded random weights written to a
temporary checkpoint), the same generated frames and the same prompts on frame 0. Frames alternate
between the two after the prompts, so machine noise hits both alike; the first ``--warmup``
frames are not counted. The official predictor's preprocessing happens ahead of time in its
``init_state``; ours is inside every timed ``track`` call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from tqdm import tqdm

from sam2_ros.engine import DEFAULT_MODEL_CFG, StreamingPredictor, load_model
from sam2_ros.engine.model import resolve_device
from sam2_ros.node_client import rss_bytes
from sam2_ros.synthetic import SyntheticScene


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sam2-ros bench``."""
    parser.add_argument("--frames", type=int, default=30, help="frames to time (default 30)")
    parser.add_argument("--objects", type=int, default=1, help="objects prompted on frame 0")
    parser.add_argument("--image-size", type=int, default=256, help="SAM 2 resolution")
    parser.add_argument("--model-cfg", default=DEFAULT_MODEL_CFG, help="SAM 2 config")
    parser.add_argument("--checkpoint", type=Path, help="real weights (default: seeded random)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--width", type=int, default=0, help="frame width (640, --node 1280)")
    parser.add_argument("--height", type=int, default=0, help="frame height (480, --node 720)")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted frames after frame 0")
    parser.add_argument("--compile", action="store_true", help="torch.compile (GPU)")
    parser.add_argument(
        "--compare-official", action="store_true", help="time SAM2VideoPredictor alongside"
    )
    parser.add_argument("--node", action="store_true", help="measure the ROS node end to end")
    parser.add_argument("--json", type=Path, help="also write the results here")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print a table (and JSON)."""
    args.width = args.width or (1280 if args.node else 640)
    args.height = args.height or (720 if args.node else 480)
    scene = SyntheticScene(args.width, args.height)
    with tempfile.TemporaryDirectory(prefix="sam2_ros_bench_") as workdir:
        checkpoint = args.checkpoint or _random_checkpoint(args, Path(workdir))
        if args.node:
            results = _bench_node(args, scene, checkpoint, Path(workdir))
        else:
            results = _bench_engine(args, scene, checkpoint, Path(workdir))
    results["machine"] = _machine(results.get("device", args.device))
    results["command"] = "sam2-ros bench " + " ".join(_argv(args))
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    flags = []
    for name in ("frames", "objects", "image_size", "model_cfg", "device", "width", "height"):
        flags.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    for name in ("compare_official", "node", "compile"):
        if getattr(args, name):
            flags.append(f"--{name.replace('_', '-')}")
    return flags


def _random_checkpoint(args: argparse.Namespace, workdir: Path) -> Path:
    model = load_model(args.model_cfg, None, "cpu", args.image_size, allow_random_weights=True)
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


def _bench_engine(args, scene, checkpoint, workdir) -> dict:
    ours = StreamingPredictor(
        args.model_cfg, checkpoint, args.device, args.image_size, max_objects=max(args.objects, 1)
    )
    if args.compile:
        ours.model.compile()
    device = ours.model.device
    points = _prompt_points(scene, args.objects)
    official = (
        _official(args, scene, checkpoint, workdir, points) if args.compare_official else None
    )
    total = args.frames + args.warmup + 1
    ours_ms, theirs_ms, rss, state, official_state = [], [], [], [], []
    for index in tqdm(range(total), desc="sam2-ros bench", unit="frame"):
        frame = scene.frame(index)
        _sync(device)
        started = time.perf_counter()
        ours.track(frame)
        if index == 0:
            for point in points:
                ours.add_prompt(points=[point], labels=[1])
        _sync(device)
        ours_ms.append((time.perf_counter() - started) * 1000.0)
        if official is not None:
            state_dict, frames = official
            started = time.perf_counter()
            next(frames)
            _sync(device)
            theirs_ms.append((time.perf_counter() - started) * 1000.0)
            official_state.append(_tensor_bytes(state_dict["output_dict_per_obj"]))
        rss.append(rss_bytes())
        state.append(ours.memory_bytes())
    counted = slice(args.warmup + 1, None)
    baseline = min(100, total // 2)
    results: dict[str, Any] = {
        "mode": "engine",
        "device": str(device),
        "frames": args.frames,
        "objects": args.objects,
        "image_size": ours.model.image_size,
        "resolution": [scene.width, scene.height],
        "ours_ms_median": float(np.median(ours_ms[counted])),
        "rss_bytes": {"at_frame": baseline, "start": rss[baseline], "end": rss[-1]},
        "rss_growth_bytes_per_frame": (rss[-1] - rss[baseline]) / max(total - 1 - baseline, 1),
        "ours_state_bytes": {"start": state[baseline], "end": state[-1]},
        "rss_includes_official": official is not None,
    }
    if official is not None:
        results["official_ms_median"] = float(np.median(theirs_ms[counted]))
        results["ratio_ours_over_official"] = (
            results["ours_ms_median"] / results["official_ms_median"]
        )
        results["official_state_bytes"] = {
            "start": official_state[baseline],
            "end": official_state[-1],
            "growth_per_frame": (official_state[-1] - official_state[baseline])
            / max(total - 1 - baseline, 1),
        }
    if device.type == "cuda":
        results["cuda_peak_bytes"] = torch.cuda.max_memory_allocated(device)
    return results


def _official(args, scene, checkpoint, workdir, points):
    """Meta's SAM2VideoPredictor on the same frames (a JPEG folder, as it reads videos)."""
    from sam2.build_sam import build_sam2_video_predictor

    folder = workdir / "frames"
    folder.mkdir()
    for index in range(args.frames + args.warmup + 1):
        PILImage.fromarray(scene.frame(index)).save(folder / f"{index:05d}.jpg", quality=95)
    predictor = build_sam2_video_predictor(
        args.model_cfg,
        str(checkpoint),
        device=str(resolve_device(args.device)),
        hydra_overrides_extra=[f"++model.image_size={args.image_size}"],
    )
    state = predictor.init_state(str(folder))
    for object_id, point in enumerate(points, start=1):
        predictor.add_new_points_or_box(state, 0, object_id, points=[point], labels=[1])
    return state, iter(predictor.propagate_in_video(state))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _bench_node(args, scene, checkpoint, workdir) -> dict:
    """End to end over DDS: from an image handed to DDS to its masks received (the test
    publisher's own serialisation is reported apart); the node reports its engine time on
    /diagnostics."""
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Point32
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from sam2_ros.conversions import array_to_image_msg
    from sam2_ros.msg import ObjectMasks
    from sam2_ros.node_client import NodeClient, NodeProcess
    from sam2_ros.srv import AddPrompt

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
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
        },
        workdir / "node.log",
    )
    client = NodeClient("sam2_bench_client")
    try:
        masks = client.collect(ObjectMasks, f"/{name}/camera/masks")
        diagnostics = client.collect(DiagnosticArray, "/diagnostics")
        camera = client.publisher(Image, topic)
        try:
            client.bring_up(name)
        except RuntimeError as err:
            raise RuntimeError(f"{err}:\n{node.log()[-2000:]}") from err
        client.wait_for_subscriber(camera)
        frames = [scene.frame(i) for i in range(args.frames + args.warmup + 1)]
        latencies, publishing = [], []
        for index, rgb in enumerate(tqdm(frames, desc="sam2-ros bench --node", unit="frame")):
            header = Header(frame_id="bench")
            header.stamp = client.node.get_clock().now().to_msg()
            message = array_to_image_msg(rgb, "rgb8", header)
            started = time.perf_counter()
            camera.publish(message)  # rclpy serialises large images slowly; a driver would not
            sent = time.perf_counter()
            masks.wait_stamp(header)
            publishing.append((sent - started) * 1000.0)
            latencies.append((time.perf_counter() - sent) * 1000.0)
            if index == 0:
                for x, y in _prompt_points(scene, args.objects):
                    request = AddPrompt.Request(points=[Point32(x=x, y=y)], labels=[1])
                    if not client.call(AddPrompt, f"/{name}/add_prompt", request).success:
                        raise RuntimeError("add_prompt failed")

        def engine_ms(arrays) -> float | None:
            for array in reversed(arrays):
                for status in array.status:
                    values = {v.key: v.value for v in status.values}
                    if values.get("frames_processed") == str(len(frames)):
                        return float(values["engine_p50_ms"])
            return None

        if not diagnostics.wait_for(lambda arrays: engine_ms(arrays) is not None, timeout=10):
            raise RuntimeError("the node did not report its engine time on /diagnostics")
        engine = engine_ms(diagnostics.messages)
    finally:
        client.close()
        node.stop()
    counted = np.array(latencies[args.warmup + 1 :])
    return {
        "mode": "node",
        "device": args.device,
        "frames": args.frames,
        "objects": args.objects,
        "image_size": args.image_size,
        "resolution": [scene.width, scene.height],
        "publisher_serialize_ms_p50": float(np.median(publishing[args.warmup + 1 :])),
        "latency_ms_p50": float(np.percentile(counted, 50)),
        "latency_ms_p95": float(np.percentile(counted, 95)),
        "engine_ms_p50": engine,
        "overhead_end_to_end_over_engine": float(np.percentile(counted, 50)) / engine,
    }


def _machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {gpu} (device {device})"


def _table(results: dict) -> str:
    rows = [("mode", results["mode"]), ("machine", results["machine"])]
    keys = [k for k in results if k not in {"mode", "machine", "command"}]
    for key in keys:
        value = results[key]
        if isinstance(value, float):
            value = f"{value:.3f}" if "ratio" in key or "overhead" in key else f"{value:.1f}"
        rows.append((key, value))
    rows.append(("command", results["command"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
