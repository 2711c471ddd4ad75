"""``sam2-ros bench --fleet``: what distributing bags over Ray costs. Bags of the generated scene
are annotated here and by one Ray worker holding all of this machine's cores, bag by bag in
turn (interleaved, so both see the same machine), with Ray's start-up timed apart; then by
``bags --ray local`` with one and with two workers, for throughput."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ray
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from sam2_ros.commands.bag.bag_io import open_writer, sam2_ros_typestore
from sam2_ros.commands.bag.options import BagSettings, add_options, read_bag_settings
from sam2_ros.commands.bag.output_record import settings_hash
from sam2_ros.commands.fleet.options import RaySettings
from sam2_ros.commands.fleet.plan import BagJob
from sam2_ros.commands.fleet.ray_actors import run_on_ray, start, start_workers
from sam2_ros.commands.fleet.worker import BagWorker
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.engine.model.build import resolve_device
from sam2_ros.messages.images import array_to_image_msg

TOPIC = "/camera/image_raw"
PERIOD_NS = 100_000_000


def write_scene_bag(path: Path, scene: SyntheticScene, frames: int, first: int) -> Path:
    """``frames`` frames of the scene from frame ``first`` as rgb8 Images at 10 Hz (MCAP)."""
    typestore = sam2_ros_typestore()
    with open_writer(path, "mcap") as writer:
        connection = writer.add_connection(TOPIC, "sensor_msgs/msg/Image", typestore=typestore)
        for offset in range(frames):
            stamp = (first + offset + 1) * PERIOD_NS
            header = Header(frame_id="camera")
            header.stamp.sec, header.stamp.nanosec = divmod(stamp, 10**9)
            image = array_to_image_msg(scene.frame(first + offset), "rgb8", header)
            writer.write(connection, stamp, serialize_message(image))
    return path


def _bag_settings(args: argparse.Namespace, checkpoint: Path, prompts: Path) -> BagSettings:
    """The bag settings of the benchmark's options, read as ``sam2-ros bag`` reads its own."""
    parser = argparse.ArgumentParser()
    add_options(parser)
    options = parser.parse_args(
        [
            *["--image-topic", TOPIC, "--prompts", str(prompts), "--checkpoint", str(checkpoint)],
            *["--image-size", str(args.image_size), "--model-cfg", args.model_cfg],
            *["--device", args.device, "--precision", args.precision],
        ]
    )
    return read_bag_settings(options)


def _ray_settings(workers: int, gpus: float) -> RaySettings:
    """``bags --ray local --workers N`` (default CPUs per worker, no retries)."""
    return RaySettings("local", workers=workers, gpus_per_worker=gpus, retries=0)


def bench_fleet(
    args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path, workdir: Path
) -> dict:
    """Time the bags here and on Ray (one run, interleaved by bag); throughput of 1 and 2
    workers."""
    bags = [
        write_scene_bag(workdir / f"bag_{i}", scene, args.frames, i * args.frames)
        for i in range(args.fleet_bags)
    ]
    prompts = workdir / "prompts.yaml"
    prompts.write_text(
        "prompts:\n"
        + "".join(
            f"  - {{frame: 0, points: [[{x:.1f}, {y:.1f}]], labels: [1]}}\n"
            for x, y in scene.prompt_points(args.objects)
        )
    )
    settings = _bag_settings(args, checkpoint, prompts)
    digest = settings_hash(settings)
    gpus = 1.0 if resolve_device(args.device).type == "cuda" else 0.0
    here = BagWorker(settings, digest)
    started = time.perf_counter()
    start(_ray_settings(1, gpus))
    try:
        (worker,) = start_workers(_ray_settings(1, gpus), settings, digest)
        ray.get(worker.ready.remote())
        startup = time.perf_counter() - started
        here_s, ray_s = [], []
        for bag in bags:
            for place, times in ((None, here_s), (worker, ray_s)):
                job = BagJob(bag, workdir / ("here" if place is None else "ray") / bag.name)
                job.output.parent.mkdir(exist_ok=True)
                begin = time.perf_counter()
                record = (
                    here.annotate(job) if place is None else ray.get(place.annotate.remote(job))
                )
                times.append(time.perf_counter() - begin)
                if record["status"] != "done":
                    raise RuntimeError(f"bench bag {bag} failed: {record['reason']}")
    finally:
        ray.shutdown()
    frames = args.frames * len(bags)
    results = {
        "mode": "fleet",
        "device": args.device,
        "bags": len(bags),
        "frames_per_bag": args.frames,
        "here_seconds": sum(here_s),
        "ray_1_worker_seconds": sum(ray_s),
        "ray_over_here_ratio": sum(ray_s) / sum(here_s),
        "ray_startup_seconds": startup,
    }
    for workers in (1, 2):
        records: list[dict] = []
        jobs = [BagJob(bag, workdir / f"bags_{workers}" / bag.name) for bag in bags]
        jobs[0].output.parent.mkdir()
        timings = run_on_ray(_ray_settings(workers, gpus), settings, digest, jobs, records.append)
        if any(record["status"] != "done" for record in records):
            raise RuntimeError(f"bench bags failed: {records}")
        results[f"bags_{workers}_workers_startup_seconds"] = timings["startup_seconds"]
        results[f"bags_{workers}_workers_seconds"] = timings["run_seconds"]
        results[f"bags_{workers}_workers_fps"] = frames / timings["run_seconds"]
    results["bags_1_worker_over_here_ratio"] = results["bags_1_workers_seconds"] / sum(here_s)
    results["here_fps"] = frames / sum(here_s)
    return results
