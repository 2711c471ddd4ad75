"""``sam2-ros demo``: the node tracking objects on a generated camera stream, end to end.

Starts the real lifecycle node in its own process, publishes a synthetic scene over DDS (colour,
a registered depth image and CameraInfo), prompts two objects through ``~/add_prompt`` as a
planner would (or, with ``--detector``, lets a simulated detector start and retire them), and
writes what came back: ``overlay.mp4``, ``contact_sheet.png`` and ``summary.json`` (with each
object's 3D position per frame).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from geometry_msgs.msg import Point32
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tqdm import tqdm
from vision_msgs.msg import Detection2DArray

from sam2_ros.commands.cli import add_device_arguments
from sam2_ros.commands.harness.engine_alone import EngineAlone, engine_settings
from sam2_ros.commands.harness.node_client import (
    Collector,
    NodeClient,
    NodeProcess,
    local_ros_environment,
)
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.engine import DEFAULT_MODEL_CFG
from sam2_ros.engine.model.checkpoint import expected_checkpoint, resolve_checkpoint
from sam2_ros.messages.detections import box_detection
from sam2_ros.messages.images import array_to_image_msg
from sam2_ros.msg import ObjectMasks, Objects3D, OcclusionScores
from sam2_ros.overlay import object_color
from sam2_ros.srv import AddPrompt

NODE = "sam2_demo"
CAMERA_TOPIC = "/sam2_demo_camera/image_raw"
DEPTH_TOPIC = "/sam2_demo_camera/depth/image_raw"
INFO_TOPIC = "/sam2_demo_camera/camera_info"
DETECTOR_TOPIC = "/sam2_demo_detector/detections"
SHEET_TILES = 8
#: A contact sheet tile's size (width, height).
SHEET_TILE = (480, 360)
#: The simulated detector: its messages arrive this many frames after their frame, it misses
#: every MISSED_EVERY-th frame, and sees a "ghost" that is not there on FALSE_POSITIVE_FRAME.
DETECTOR_LAG = 2
MISSED_EVERY = 5
FALSE_POSITIVE_FRAME = 6
#: Detection messages without a pairing detection before a detector object is retired (the node
#: default is 30; the demo is 40 frames long).
DEMO_FORGET_AFTER = 8
#: Objects the demo prompts (the ball and the crate), and frames the engine alone tracks with as
#: many before the node starts (the first ENGINE_WARMUP_FRAMES not counted).
PROMPTED_OBJECTS = 2
ENGINE_WARMUP_FRAMES, ENGINE_FRAMES = 2, 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sam2-ros demo``."""
    parser.add_argument("--frames", type=int, default=40, help="frames to stream (default 40)")
    parser.add_argument("--width", type=int, default=640, help="camera width (default 640)")
    parser.add_argument("--height", type=int, default=480, help="camera height (default 480)")
    parser.add_argument(
        "--image-size",
        type=int,
        default=0,
        help="SAM 2 resolution; 0 = 256 with random weights, 512 with a checkpoint on CPU, "
        "the model's 1024 on a GPU",
    )
    parser.add_argument("--checkpoint", default="", help="checkpoint (default: model/ folder)")
    add_device_arguments(parser)
    parser.add_argument("--output", type=Path, default=Path("demo_output"), help="output folder")
    parser.add_argument(
        "--detector",
        action="store_true",
        help=f"objects start from a simulated detector's vision_msgs detections ({DETECTOR_LAG} "
        "frames late, some frames missed, one false positive) instead of two prompts",
    )


def _warning_box(model_cfg: str) -> str:
    lines = [
        "WARNING: no SAM 2 checkpoint found - running on RANDOM WEIGHTS.",
        "The masks below are meaningless (the pipeline is real, the weights are not).",
        f"Expected {expected_checkpoint(model_cfg)}",
        "Fix: run model/download_checkpoints.sh tiny, then make demo again.",
    ]
    width = max(len(line) for line in lines)
    border = "+" + "-" * (width + 2) + "+"
    return "\n".join([border, *[f"| {line.ljust(width)} |" for line in lines], border])


def _image_size(args: argparse.Namespace, random_weights: bool) -> int:
    if args.image_size:
        return args.image_size
    if random_weights:
        return 256
    gpu = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    return 0 if gpu else 512


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 on success."""
    checkpoint = resolve_checkpoint(args.checkpoint, DEFAULT_MODEL_CFG)
    random_weights = checkpoint is None
    warning = _warning_box(DEFAULT_MODEL_CFG) if random_weights else ""
    if warning:
        print(warning, flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    local_ros_environment()
    image_size = _image_size(args, random_weights)
    params = {
        "camera_names": ["camera"],
        "image_topics": [CAMERA_TOPIC],
        "depth_topics": [DEPTH_TOPIC],
        "image_size": image_size,
        "device": args.device,
        "precision": args.precision,
        "backend": args.backend,
        "onnx_dir": str(args.onnx_dir or ""),
        "openvino_device": args.openvino_device,
        "drop_frames": False,
        "allow_random_weights": random_weights,
        "checkpoint": str(checkpoint or ""),
    }
    if args.detector:
        params |= {
            "detection_topics": [DETECTOR_TOPIC],
            "detection_forget_after": DEMO_FORGET_AFTER,
        }
        if random_weights:  # random masks cover the frame: no box pairs, nothing is confirmed
            params["detection_confirm_hits"] = 1
            print(
                "demo --detector on random weights: no detection can confirm an object (their "
                "masks cover the whole frame), so objects are published from their start "
                "(detection_confirm_hits: 1)",
                flush=True,
            )
    scene = SyntheticScene(args.width, args.height)
    engine_fps = _engine_alone_fps(args, checkpoint, image_size)
    node = NodeProcess(NODE, params, args.output / "node.log")
    client = NodeClient("sam2_demo_client")
    try:
        summary = _stream(client, node, scene, args.frames, args.output, args.detector)
    except (TimeoutError, RuntimeError) as err:
        print(f"demo failed: {err}\n--- node log ---\n{node.log()[-3000:]}")
        return 1
    finally:
        client.close()
        node.stop()
    summary.update(
        engine_alone_fps=engine_fps,
        ratio_fps_over_engine_alone=summary["fps"] / engine_fps,
        random_weights=random_weights,
        checkpoint=str(checkpoint) if checkpoint else None,
        image_size=image_size or "model default",
        resolution=[args.width, args.height],
    )
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"demo: {summary['frames']} frames at {summary['fps']:.2f} fps (the engine alone: "
        f"{engine_fps:.2f} fps, so the node delivered {summary['fps'] / engine_fps:.2f} of it), "
        "latency p50 "
        f"{summary['latency_ms']['p50']:.0f} ms / p95 {summary['latency_ms']['p95']:.0f} ms; "
        f"wrote {args.output}/overlay.mp4, contact_sheet.png, summary.json"
    )
    if warning:
        print(warning, flush=True)
    return 0


def _engine_alone_fps(args: argparse.Namespace, checkpoint: Path | None, image_size: int) -> float:
    """Frames per second of the engine alone with the node's settings, in a process of its own
    that ends before the node starts: the rate the node is measured against."""
    settings = engine_settings(
        DEFAULT_MODEL_CFG,
        checkpoint,
        args.device,
        image_size,
        args.precision,
        PROMPTED_OBJECTS,
        (args.width, args.height),
        backend=args.backend,
        onnx_dir=args.onnx_dir,
        openvino_device=args.openvino_device,
    )
    engine = EngineAlone(settings, args.output / "engine_alone.log")
    try:
        engine.track(ENGINE_WARMUP_FRAMES)
        times = engine.track(ENGINE_FRAMES)
    finally:
        engine.close()
    return 1000.0 * len(times) / sum(times)


def _stream(
    client: NodeClient,
    node: NodeProcess,
    scene: SyntheticScene,
    frames: int,
    output: Path,
    use_detector: bool,
) -> dict:
    """Bring the node up, stream the scene closed-loop, collect and write the results."""
    masks = client.collect(ObjectMasks, f"/{NODE}/camera/masks")
    occlusion = client.collect(OcclusionScores, f"/{NODE}/camera/occlusion")
    overlays = client.collect(Image, f"/{NODE}/camera/overlay")
    objects_3d = client.collect(Objects3D, f"/{NODE}/camera/objects_3d")
    camera = client.publisher(Image, CAMERA_TOPIC)
    depth = client.publisher(Image, DEPTH_TOPIC)
    info = client.publisher(CameraInfo, INFO_TOPIC)
    client.bring_up(NODE)
    for publisher in (camera, depth, info):
        client.wait_for_subscriber(publisher)
    frame_id = "sam2_demo_camera_optical_frame"
    info.publish(
        CameraInfo(
            header=Header(frame_id=frame_id),
            width=scene.width,
            height=scene.height,
            k=scene.intrinsics(),
        )
    )

    def publish(index: int) -> tuple[Header, float]:
        header = Header(frame_id=frame_id)
        header.stamp = client.node.get_clock().now().to_msg()
        millimetres = np.round(scene.depth(index) * 1000.0).astype(np.uint16)
        depth.publish(array_to_image_msg(millimetres, "16UC1", header))
        camera.publish(array_to_image_msg(scene.frame(index), "rgb8", header))
        return header, time.perf_counter()

    first = publish(0)[0]
    masks.wait_stamp(first)
    detector = DemoDetector(client, scene) if use_detector else None
    if detector is None:
        _prompt_two_objects(client, scene)
    else:
        detector.after(0, first)
    latencies, headers, started = [], [], time.perf_counter()
    for index in tqdm(range(1, frames), desc="sam2-ros demo", unit="frame"):
        header, sent = publish(index)
        masks.wait_stamp(header)
        latencies.append(time.perf_counter() - sent)
        overlays.wait_stamp(header)
        occlusion.wait_stamp(header)
        objects_3d.wait_stamp(header)
        headers.append(header)
        if detector is not None:
            detector.after(index, header)
    elapsed = time.perf_counter() - started
    _write_video(overlays.messages, output / "overlay.mp4")
    _write_contact_sheet(overlays.messages, masks, output / "contact_sheet.png")
    latency_ms = np.array(latencies) * 1000.0
    summary = {
        "frames": len(latencies),
        "fps": len(latencies) / elapsed,
        "latency_ms": {
            "p50": float(np.percentile(latency_ms, 50)),
            "p95": float(np.percentile(latency_ms, 95)),
        },
        "objects": _objects(
            [masks.wait_stamp(h) for h in headers],
            [occlusion.wait_stamp(h) for h in headers],
            [objects_3d.wait_stamp(h) for h in headers],
        ),
        "node_log": str(node.log_path),
    }
    if detector is not None:
        summary["detector"] = detector.summary()
    return summary


def _prompt_two_objects(client: NodeClient, scene: SyntheticScene) -> None:
    """The ball by a click and the crate by a box on frame 0, as a planner would."""
    for label, request in (
        (
            "ball",
            AddPrompt.Request(
                points=[Point32(x=x, y=y) for x, y in [scene.center("ball", 0)]], labels=[1]
            ),
        ),
        ("crate", AddPrompt.Request(use_box=True, box=list(scene.box("crate", 0)))),
    ):
        request.label = label
        answer = client.call(AddPrompt, f"/{NODE}/add_prompt", request)
        if not answer.success:
            raise RuntimeError(f"add_prompt for the {label} failed: {answer.message}")


class DemoDetector:
    """A detector of the generated scene that behaves like a real one: the scene's boxes of a
    frame, published DETECTOR_LAG frames later with that frame's header, nothing for every
    MISSED_EVERY-th frame, and a ghost box on FALSE_POSITIVE_FRAME."""

    def __init__(self, client: NodeClient, scene: SyntheticScene) -> None:
        self._scene = scene
        self._publisher = client.publisher(Detection2DArray, DETECTOR_TOPIC)
        client.wait_for_subscriber(self._publisher)
        self._headers: dict[int, Header] = {}
        self._sent = self._missed = 0

    def after(self, index: int, header: Header) -> None:
        """Frame ``index`` (with ``header``) was tracked: send the detections of an older one."""
        self._headers[index] = header
        late = index - DETECTOR_LAG
        if late < 0:
            return
        if late % MISSED_EVERY == MISSED_EVERY - 1:
            self._missed += 1
            return
        boxes = [(obj.name, self._scene.box(obj.name, late)) for obj in self._scene.objects]
        if late == FALSE_POSITIVE_FRAME:
            width, height = self._scene.width, self._scene.height
            boxes.append(("ghost", (0.02 * width, 0.05 * height, 0.12 * width, 0.2 * height)))
        message = Detection2DArray(header=self._headers.pop(late))
        message.detections = [box_detection(box, name, 0.9) for name, box in boxes]
        self._publisher.publish(message)
        self._sent += 1

    def summary(self) -> dict:
        """What the detector did."""
        return {
            "lag_frames": DETECTOR_LAG,
            "messages": self._sent,
            "missed_frames": self._missed,
            "false_positive_frame": FALSE_POSITIVE_FRAME,
            "detection_forget_after": DEMO_FORGET_AFTER,
        }


def _objects(
    masks: list[ObjectMasks], occlusion: list[OcclusionScores], lifted: list[Objects3D]
) -> dict[str, dict]:
    """Per object seen on the streamed frames: its label and, per frame (None where it was not
    tracked), its occlusion score and state and its 3D position."""
    labels = {o.object_id: o.label for m in masks for o in m.objects}  # the last one seen
    rows = [list(m.object_ids) for m in occlusion]
    summary = {}
    for object_id, label in labels.items():
        at = [ids.index(object_id) if object_id in ids else None for ids in rows]
        frames = list(zip(occlusion, at, strict=True))
        summary[str(object_id)] = {
            "label": label,
            "occlusion_score": [
                None if r is None else round(float(m.occlusion_scores[r]), 4) for m, r in frames
            ],
            "occluded": [None if r is None else bool(m.occluded[r]) for m, r in frames],
            "position_m": [_position(m, object_id) for m in lifted],
        }
    return summary


def _position(objects: Objects3D, object_id: int) -> list[float] | None:
    """An object's 3D position on a frame, rounded to mm (None where it was not tracked or could
    not be lifted)."""
    entry = next((o for o in objects.objects if o.object_id == object_id), None)
    if entry is None or not entry.valid:
        return None
    return [round(entry.position.x, 3), round(entry.position.y, 3), round(entry.position.z, 3)]


def _bgr(msg: Image) -> np.ndarray:
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)


def _write_video(overlays: list[Image], path: Path) -> None:
    first = _bgr(overlays[0])
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (first.shape[1], first.shape[0])
    )
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for msg in overlays:
        writer.write(_bgr(msg))
    writer.release()


def _write_contact_sheet(overlays: list[Image], masks: Collector, path: Path) -> None:
    """A 4 x 2 grid of overlays spread over the stream, each captioned at the sheet's scale with
    its frame number and, in each object's colour, the id and label of every object on it (the
    overlay's own text, drawn for the camera's resolution, is too small to read on a tile)."""
    picks = np.linspace(0, len(overlays) - 1, SHEET_TILES).round().astype(int)
    tiles = []
    for index in picks:
        tile = cv2.resize(_bgr(overlays[index]), SHEET_TILE, interpolation=cv2.INTER_AREA)
        objects = masks.wait_stamp(overlays[index].header).objects
        lines = [(f"frame {index}", (255, 255, 255))] + [
            (f"#{o.object_id} {o.label}".strip(), object_color(o.object_id)) for o in objects
        ]
        width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)[0][0] for t, _ in lines)
        panel = tile[: 12 + 30 * len(lines), : 20 + width]
        panel[:] = panel // 3  # a dark panel under the legend: it reads on any mask colour
        for row, (text, color) in enumerate(lines):
            cv2.putText(
                tile,
                text,
                (10, 30 + 30 * row),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.8,
                color,
                2,
                cv2.LINE_AA,
            )
        tiles.append(tile)
    rows = [np.hstack(tiles[i : i + 4]) for i in range(0, SHEET_TILES, 4)]
    if not cv2.imwrite(str(path), np.vstack(rows)):
        raise RuntimeError(f"OpenCV cannot write {path}")
