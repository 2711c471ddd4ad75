"""``sam2-ros bench --node``: the ROS node end to end over DDS, from an image handed to DDS to its
masks received, with the node's resident memory after every frame and the frame rate of the run's
start and end (``--detector``: a detector sends every frame's objects back as detections)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sam2_ros.commands.measurements import growth, memory_trace
from sam2_ros.commands.synthetic import SyntheticScene


def bench_node(
    args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path, workdir: Path
) -> dict:
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
                for x, y in scene.prompt_points(args.objects):
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
        **frame_rates(finished[args.warmup :]),
        "detector": args.detector,
        "detection_messages_applied": int(report["detection_messages_applied"]),
        "node_rss_bytes": growth(rss),
        "memory_trace": memory_trace({"rss": rss}, ["rss"]),
    }


#: Frames at each end of a node run whose frame rates are compared.
RATE_WINDOW = 500


def frame_rates(finished: np.ndarray) -> dict[str, float]:
    """Frames per second over all frames, and over the first and the last ``RATE_WINDOW`` frames
    (a quarter of the run each when shorter), from ``finished``: when each frame ended, the first
    entry being the end of the frame before them; and last over first, which stays near 1 when
    neither the node nor this driver slows down as the run goes on."""
    frames = len(finished) - 1
    window = min(RATE_WINDOW, max(frames // 4, 1))
    first = window / (finished[window] - finished[0])
    last = window / (finished[-1] - finished[-1 - window])
    return {
        "frames_per_s": float(frames / (finished[-1] - finished[0])),
        "rate_window_frames": window,
        "frames_per_s_first": float(first),
        "frames_per_s_last": float(last),
        "ratio_rate_last_over_first": float(last / first),
    }
