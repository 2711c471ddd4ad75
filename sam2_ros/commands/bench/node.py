"""``sam2-ros bench --node``: the ROS node end to end over DDS, against its engine alone.

Two processes besides this one: the engine alone (:mod:`~sam2_ros.commands.harness.engine_alone`:
SAM 2 with the node's settings, weights, scene and prompts, loaded before the node starts) and the
node. They take turns, a phase of frames each, so that the machine's drift hits both alike; while
one works the other waits idle. The node is fed one of two ways:

* closed loop (default): each frame is published when the previous frame's masks have arrived,
  every frame is tracked (``drop_frames: false``): the latency of a frame;
* as a camera (``--rate HZ``): during its phases a camera thread publishes frames at that rate
  whatever the node does, and the node tracks the newest (``drop_frames: true``, its default):
  the rate a user gets from a camera faster than the engine.

Reported: the node's delivered frames per second beside the engine alone's and their ratio, the
engine time the node reports on /diagnostics beside the engine alone's, latency, the node's
memory, and the CPU the node's threads used during its phases, by role (read from /proc). With
``--detector`` a detector sends detections for every frame; with ``--depth`` the camera also
publishes a registered depth image and CameraInfo and the node lifts every object into 3D.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sam2_ros.commands.harness.engine_alone import SCENE_FRAMES, EngineAlone, engine_settings
from sam2_ros.commands.harness.measurements import growth, memory_trace
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.engine.model.onnx_export import export_onnx
from sam2_ros.runtime.process_stats import ThreadCpuMeter
from sam2_ros.runtime.threads import ROLES, thread_role

NODE = "sam2_bench"
CAMERA_TOPIC = "/sam2_bench_camera/image_raw"
DEPTH_TOPIC = "/sam2_bench_camera/depth/image_raw"
INFO_TOPIC = "/sam2_bench_camera/camera_info"
FRAME_ID = "sam2_bench_camera_optical_frame"
#: Frames per phase (at least), and phases per run (at most: longer runs get longer phases).
PHASE_FRAMES = 10
MAX_PHASES = 20


def _cores_by_role(phases: list[dict]) -> dict[str, float]:
    """The node's CPU over its phases, by thread role (see :mod:`sam2_ros.runtime.threads`),
    in cores (1.0: one core busy), and in total."""
    wall = sum(p["wall_s"] for p in phases)
    cores = {role: sum(p["node_cpu_s"].get(role, 0.0) for p in phases) / wall for role in ROLES}
    return cores | {"total": sum(cores.values())}


def _process_cpu_s() -> float:
    """CPU seconds this process (the camera, the detector, the subscriber of the node's outputs)
    has used."""
    times = os.times()
    return times.user + times.system


def phase_sizes(frames: int) -> list[int]:
    """How many frames each phase counts: ``PHASE_FRAMES`` or more, at most ``MAX_PHASES``."""
    size = max(PHASE_FRAMES, math.ceil(frames / MAX_PHASES))
    return [size] * (frames // size) + ([frames % size] if frames % size else [])


def bench_node(
    args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path, workdir: Path
) -> dict:
    """The engine alone and the node in turns; the results. A graph backend without
    ``--onnx-dir`` runs on an export of the checkpoint made here first."""
    if args.backend != "torch" and args.onnx_dir is None:
        args = argparse.Namespace(**{**vars(args), "onnx_dir": workdir / "onnx"})
        export_onnx(
            args.onnx_dir,
            model_cfg=args.model_cfg,
            checkpoint=checkpoint,
            image_size=args.image_size,
        )
    engine = EngineAlone(
        engine_settings(
            args.model_cfg,
            checkpoint,
            args.device,
            args.image_size,
            args.precision,
            args.objects,
            (scene.width, scene.height),
            args.compile,
            args.backend,
            args.onnx_dir,
            args.openvino_device,
        ),
        workdir / "engine_alone.log",
    )
    node = _NodeRun(args, scene, checkpoint, workdir)
    engine_ms: list[float] = []
    phases: list[dict] = []
    try:
        node.start()
        engine.track(args.warmup)
        node.phase(args.warmup)
        for size in tqdm(phase_sizes(args.frames), desc="sam2-ros bench --node", unit="phase"):
            engine_ms += engine.track(size)
            phases.append(node.phase(size))
        report = node.report()
    finally:
        node.close()
        engine.close()
    node_fps = sum(p["frames"] for p in phases) / sum(p["seconds"] for p in phases)
    engine_fps = 1000.0 * len(engine_ms) / sum(engine_ms)
    engine_median = float(np.median(engine_ms))
    latency_ms = np.array([ms for p in phases for ms in p["latency_ms"]])
    rss = np.array([p["rss"] for p in phases], dtype=float)
    rates = [p["frames"] / p["seconds"] for p in phases]
    wall = sum(p["wall_s"] for p in phases)
    return {
        "mode": "node",
        "device": args.device,
        "frames": args.frames,
        "objects": args.objects,
        "image_size": args.image_size,
        "resolution": [scene.width, scene.height],
        "camera_rate_hz": args.rate or "closed loop",
        "detector": args.detector,
        "depth": args.depth,
        "phases": len(phases),
        "fastdds_profile": os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", "(Fast DDS defaults)"),
        "node_fps": node_fps,
        "engine_alone_fps": engine_fps,
        "ratio_node_fps_over_engine_alone": node_fps / engine_fps,
        "engine_ms_in_node_p50": report["engine_p50_ms"],
        "engine_alone_ms_p50": engine_median,
        "ratio_engine_in_node_over_alone": report["engine_p50_ms"] / engine_median,
        "latency_ms_p50": float(np.percentile(latency_ms, 50)),
        "latency_ms_p95": float(np.percentile(latency_ms, 95)),
        "latency_ms_max": float(latency_ms.max()),
        "node_cpu_cores_by_thread_role": _cores_by_role(phases),
        "bench_process_cpu_cores": sum(p["bench_cpu_s"] for p in phases) / wall,
        "node_fps_first_phase": rates[0],
        "node_fps_last_phase": rates[-1],
        "ratio_rate_last_over_first": rates[-1] / rates[0],
        **report["extra"],
        "node_rss_bytes": growth(rss),
        "memory_trace": memory_trace({"rss": rss}, ["rss"]),
    }


class _NodeRun:
    """The node in its own process and a client that feeds it and reads what it publishes."""

    def __init__(
        self, args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path, workdir: Path
    ) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CameraInfo, Image
        from vision_msgs.msg import Detection2DArray

        from sam2_ros.commands.bench.association import DETECTOR_TOPIC
        from sam2_ros.commands.harness.node_client import (
            NodeClient,
            NodeProcess,
            local_ros_environment,
        )
        from sam2_ros.msg import ObjectMasks

        local_ros_environment()
        self.args, self.scene = args, scene
        self.node = NodeProcess(
            NODE,
            {
                "checkpoint": str(checkpoint),
                "image_size": args.image_size,
                "device": args.device,
                "precision": args.precision,
                "image_topics": [CAMERA_TOPIC],
                "drop_frames": bool(args.rate),
                "max_objects": max(args.objects, 1),
                "compile": args.compile,
                "backend": args.backend,
                "onnx_dir": str(args.onnx_dir or ""),
                "openvino_device": args.openvino_device,
                "detection_topics": [DETECTOR_TOPIC if args.detector else ""],
                "depth_topics": [DEPTH_TOPIC if args.depth else ""],
            },
            workdir / "node.log",
        )
        self.client = client = NodeClient("sam2_bench_client")
        self.diagnostics = client.collect(DiagnosticArray, "/diagnostics")
        self.masks = client.arrivals(ObjectMasks, f"/{NODE}/camera/masks")
        self.camera = client.publisher(Image, CAMERA_TOPIC)
        self.depth = client.publisher(Image, DEPTH_TOPIC) if args.depth else None
        self.info = client.publisher(CameraInfo, INFO_TOPIC) if args.depth else None
        self.detector = (
            client.publisher(Detection2DArray, DETECTOR_TOPIC) if args.detector else None
        )
        self._frames: list[list[tuple[Any, Any]]] = []
        self._published = 0
        self._node_cpu: ThreadCpuMeter | None = None  # the node's threads, by role
        self._camera_on = False
        self._last_stamp = (0, 0)

    def close(self) -> None:
        """Stop the client and the node."""
        self.client.close()
        self.node.stop()

    def start(self) -> None:
        """Bring the node up, track the first frame and prompt the objects there."""
        from geometry_msgs.msg import Point32

        from sam2_ros.srv import AddPrompt

        try:
            self.client.bring_up(NODE)
        except RuntimeError as err:
            raise RuntimeError(f"{err}:\n{self.node.log()[-2000:]}") from err
        for publisher in (self.camera, self.depth, self.info, self.detector):
            if publisher is not None:
                self.client.wait_for_subscriber(publisher)
        pid = self.node.process.pid
        self._node_cpu = ThreadCpuMeter(functools.partial(thread_role, main_tid=pid), pid)
        self._frames = [self._messages(index) for index in range(SCENE_FRAMES)]
        self._publish_next()
        self.masks.wait_count(1)
        for x, y in self.scene.prompt_points(self.args.objects):
            request = AddPrompt.Request(points=[Point32(x=x, y=y)], labels=[1])
            answer = self.client.call(AddPrompt, f"/{NODE}/add_prompt", request)
            if not answer.success:
                raise RuntimeError(f"add_prompt failed: {answer.message}")

    def phase(self, frames: int) -> dict:
        """The node's turn: ``frames`` frames counted; their seconds, latencies (ms) and the
        node's resident memory after them."""
        started, cpu = time.time(), _process_cpu_s()
        self._node_cpu.read()
        if self.args.rate:
            seconds, ages = self._at_rate(frames)
        else:
            seconds, ages = self._closed_loop(frames)
        wall = time.time() - started
        return {
            "frames": frames,
            "seconds": seconds,
            "bench_cpu_s": _process_cpu_s() - cpu,
            "node_cpu_s": {role: cores * wall for role, cores in self._node_cpu.read().items()},
            "wall_s": wall,
            "latency_ms": [age * 1000.0 for age in ages],
            "rss": self.node.rss_bytes(),
        }

    def _closed_loop(self, frames: int) -> tuple[float, list[float]]:
        """Each frame published once the previous one's masks arrived."""
        started, count = time.time(), self.masks.count()
        for _ in range(frames):
            stamp = self._publish_next()
            self.masks.wait_stamp(stamp)
        return time.time() - started, self.masks.window(count, count + frames)[1]

    def _at_rate(self, frames: int) -> tuple[float, list[float]]:
        """A camera at ``--rate`` until ``frames`` masks arrived after the first one; then the
        frame still waiting is tracked, so the node is idle when the phase ends."""
        count = self.masks.count()
        camera = threading.Thread(target=self._publish_at_rate, name="bench_camera", daemon=True)
        self._camera_on = True
        camera.start()
        try:
            self.masks.wait_count(count + frames + 1)
        finally:
            self._camera_on = False
            camera.join()
        self.masks.wait_stamp(self._last_stamp)
        times, ages = self.masks.window(count, count + frames + 1)
        return times[-1] - times[0], ages[1:]

    def _publish_at_rate(self) -> None:
        period, due = 1.0 / self.args.rate, time.monotonic()
        while self._camera_on:
            self._publish_next()
            due += period
            time.sleep(max(due - time.monotonic(), 0.0))

    def _publish_next(self) -> tuple[int, int]:
        """Publish the next frame (depth and CameraInfo first, as a driver of a registered depth
        camera does, then colour) stamped now, and its detections when there is a detector (the
        objects' newest boxes, detected on this frame); its stamp."""
        from std_msgs.msg import Header

        from sam2_ros.commands.bench.association import detections_of
        from sam2_ros.messages.serialized_images import restamped

        header = Header(frame_id=FRAME_ID)
        header.stamp = self.client.node.get_clock().now().to_msg()
        # the scene's frames rendered ahead, as the engine alone cycles through them
        for publisher, data in self._frames[self._published % SCENE_FRAMES]:
            publisher.publish(restamped(data, header.stamp.sec, header.stamp.nanosec))
        latest = self.masks.latest
        if self.detector is not None and latest is not None:
            self.detector.publish(detections_of(latest, header))
        self._published += 1
        self._last_stamp = (header.stamp.sec, header.stamp.nanosec)
        return self._last_stamp

    def _messages(self, index: int) -> list[tuple[Any, bytes]]:
        """(publisher, serialized message) of scene frame ``index``, restamped when published: as
        a driver written in C++ publishes, with no Python conversion of every frame."""
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import CameraInfo
        from std_msgs.msg import Header

        from sam2_ros.messages.images import array_to_image_msg

        scene, header = self.scene, Header(frame_id=FRAME_ID)
        messages = []
        if self.depth is not None:
            millimetres = np.round(scene.depth(index) * 1000.0).astype(np.uint16)
            messages.append((self.depth, array_to_image_msg(millimetres, "16UC1", header)))
            info = CameraInfo(header=header, width=scene.width, height=scene.height)
            info.k = scene.intrinsics()
            messages.append((self.info, info))
        messages.append((self.camera, array_to_image_msg(scene.frame(index), "rgb8", header)))
        return [(publisher, serialize_message(message)) for publisher, message in messages]

    def report(self) -> dict:
        """What the node's /diagnostics said once every published frame was tracked: its engine
        time and counts."""
        processed = None if self.args.rate else str(self._published)

        def camera_values(arrays) -> dict[str, str] | None:
            for array in reversed(arrays):
                for status in array.status:
                    values = {v.key: v.value for v in status.values}
                    done = values.get("frames_processed")
                    if done is not None and (processed is None or done == processed):
                        return values
            return None

        if not self.diagnostics.wait_for(lambda a: camera_values(a) is not None, timeout=10):
            raise RuntimeError("the node did not report its engine time on /diagnostics")
        arrays = list(self.diagnostics.messages)
        camera = camera_values(arrays)
        extra = {
            "frames_published": self._published,
            "frames_skipped": int(camera["frames_skipped"]),
            "detection_messages_applied": int(camera["detection_messages_applied"]),
            "events_published": int(camera["events"]),
            "events_ms_per_frame": float(camera["events_ms_per_frame"]),
            "ratio_events_ms_over_engine_ms": float(camera["events_ms_per_frame"])
            / max(float(camera["engine_p50_ms"]), 1e-9),
        }
        return {"engine_p50_ms": float(camera["engine_p50_ms"]), "extra": extra}
