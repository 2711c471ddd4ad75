"""``sam2-ros demo``: the node tracking objects on a generated camera stream, end to end.

Starts the real lifecycle node in its own process, publishes a synthetic scene over DDS (colour,
a registered depth image and CameraInfo), prompts two objects through ``~/add_prompt`` as a
planner would, and writes what came back: ``overlay.mp4``, ``contact_sheet.png`` and
``summary.json`` (with each object's 3D position per frame).
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

from sam2_ros.commands.node_client import NodeClient, NodeProcess, local_ros_environment
from sam2_ros.commands.synthetic import SyntheticScene
from sam2_ros.engine import DEFAULT_MODEL_CFG
from sam2_ros.messages.images import array_to_image_msg
from sam2_ros.msg import ObjectMasks, Objects3D, OcclusionScores
from sam2_ros.srv import AddPrompt
from sam2_ros.tracking.parameters import expected_checkpoint, resolve_checkpoint

NODE = "sam2_demo"
CAMERA_TOPIC = "/sam2_demo_camera/image_raw"
DEPTH_TOPIC = "/sam2_demo_camera/depth/image_raw"
INFO_TOPIC = "/sam2_demo_camera/camera_info"
SHEET_TILES = 8


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
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--output", type=Path, default=Path("demo_output"), help="output folder")


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
        "drop_frames": False,
        "allow_random_weights": random_weights,
        "checkpoint": str(checkpoint or ""),
    }
    scene = SyntheticScene(args.width, args.height)
    node = NodeProcess(NODE, params, args.output / "node.log")
    client = NodeClient("sam2_demo_client")
    try:
        summary = _stream(client, node, scene, args.frames, args.output)
    except (TimeoutError, RuntimeError) as err:
        print(f"demo failed: {err}\n--- node log ---\n{node.log()[-3000:]}")
        return 1
    finally:
        client.close()
        node.stop()
    summary.update(
        random_weights=random_weights,
        checkpoint=str(checkpoint) if checkpoint else None,
        image_size=image_size or "model default",
        resolution=[args.width, args.height],
    )
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"demo: {summary['frames']} frames at {summary['fps']:.2f} fps, latency p50 "
        f"{summary['latency_ms']['p50']:.0f} ms / p95 {summary['latency_ms']['p95']:.0f} ms; "
        f"wrote {args.output}/overlay.mp4, contact_sheet.png, summary.json"
    )
    if warning:
        print(warning, flush=True)
    return 0


def _stream(
    client: NodeClient, node: NodeProcess, scene: SyntheticScene, frames: int, output: Path
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

    masks.wait_stamp(publish(0)[0])
    labels = {}
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
        labels[answer.object_id] = label
    latencies, started = [], time.perf_counter()
    for index in tqdm(range(1, frames), desc="sam2-ros demo", unit="frame"):
        header, sent = publish(index)
        masks.wait_stamp(header)
        latencies.append(time.perf_counter() - sent)
        overlays.wait_stamp(header)
        occlusion.wait_stamp(header)
        objects_3d.wait_stamp(header)
    elapsed = time.perf_counter() - started
    tracked = [m for m in occlusion.messages if len(m.object_ids)]
    lifted = [m for m in objects_3d.messages if m.objects]
    _write_video(overlays.messages, output / "overlay.mp4")
    _write_contact_sheet(overlays.messages, output / "contact_sheet.png")
    latency_ms = np.array(latencies) * 1000.0
    return {
        "frames": len(latencies),
        "fps": len(latencies) / elapsed,
        "latency_ms": {
            "p50": float(np.percentile(latency_ms, 50)),
            "p95": float(np.percentile(latency_ms, 95)),
        },
        "objects": {
            str(object_id): {
                "label": label,
                "occlusion_score": [
                    round(float(m.occlusion_scores[list(m.object_ids).index(object_id)]), 4)
                    for m in tracked
                ],
                "occluded": [
                    bool(m.occluded[list(m.object_ids).index(object_id)]) for m in tracked
                ],
                "position_m": [_position(m, object_id) for m in lifted],
            }
            for object_id, label in labels.items()
        },
        "node_log": str(node.log_path),
    }


def _position(objects: Objects3D, object_id: int) -> list[float] | None:
    """An object's 3D position on a frame, rounded to mm (None where it could not be lifted)."""
    entry = next(o for o in objects.objects if o.object_id == object_id)
    if not entry.valid:
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


def _write_contact_sheet(overlays: list[Image], path: Path) -> None:
    """A 4 x 2 grid of overlays spread over the stream, each captioned with its frame number."""
    picks = np.linspace(0, len(overlays) - 1, SHEET_TILES).round().astype(int)
    tiles = []
    for index in picks:
        tile = cv2.resize(_bgr(overlays[index]), (320, 240), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, f"frame {index}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3)
        cv2.putText(
            tile, f"frame {index}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1
        )
        tiles.append(tile)
    rows = [np.hstack(tiles[i : i + 4]) for i in range(0, SHEET_TILES, 4)]
    if not cv2.imwrite(str(path), np.vstack(rows)):
        raise RuntimeError(f"OpenCV cannot write {path}")
