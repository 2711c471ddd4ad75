"""``sam2-ros bags``: annotate many bags as ``sam2-ros bag`` does each, in this process or on Ray.

Each input bag gets one output bag in ``--output-dir`` (``run_042.mcap`` -> ``run_042_sam2``),
written under a temporary sibling name and renamed into place when complete, and one line in
``manifest.jsonl`` per run (``done``, ``skipped`` or ``failed`` with the reason). A rerun skips
the bags whose output has the same settings hash. Without ``--ray`` the bags run here one after
another; with ``--ray local`` or ``--ray ADDRESS`` they run on Ray actors, each holding one model.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sam2_ros.commands.bag.bag_io import RUN_ERRORS, BagError
from sam2_ros.commands.bag.options import BagSettings, add_options
from sam2_ros.commands.bag.output_record import settings_hash
from sam2_ros.commands.cli import at_least
from sam2_ros.commands.fleet.options import FleetSettings, RaySettings, read_fleet_settings
from sam2_ros.commands.fleet.plan import (
    MANIFEST_NAME,
    BagJob,
    find_bags,
    plan,
    remove_partials,
)
from sam2_ros.commands.fleet.worker import BagWorker, failure, manifest_line

#: Where the bags run by default: here, no Ray (the defaults of the Ray options).
RAY = RaySettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sam2-ros bags``: where the bags are and run, then those of ``bag``."""
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="bags (folders, .db3, .mcap) or folders holding them",
    )
    parser.add_argument(
        "--output-dir", type=Path, required=True, help="output bags and manifest.jsonl"
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on Ray: 'local' starts a runtime on this machine; 'auto', 'HOST:PORT' or "
        "'ray://HEAD:10001' join a cluster (default: this process, no Ray)",
    )
    parser.add_argument(
        "--workers", type=at_least(1), default=RAY.workers, help="Ray actors, each with a model"
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=at_least(0, float),
        default=RAY.gpus_per_worker,
        help="Ray GPUs (fractions)",
    )
    parser.add_argument(
        "--cpus-per-worker",
        type=at_least(0.01, float),
        help="Ray CPUs (and torch threads) per worker (default: --ray local shares this "
        "machine's cores among the workers; a cluster gives each worker 1)",
    )
    parser.add_argument(
        "--retries",
        type=at_least(0),
        default=RAY.retries,
        help="times a bag is retried when its worker process or node dies",
    )
    parser.add_argument(
        "--redo", action="store_true", help="recompute bags whose output is done already"
    )
    add_options(parser)


class Manifest:
    """``manifest.jsonl``: one JSON line per input and run, appended as each bag ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.frames = 0

    def append(self, record: dict[str, Any]) -> None:
        """Write one record (durably: a crash later keeps it)."""
        line = json.dumps({**record, "run": self.run}, sort_keys=False) + "\n"
        with self.path.open("a") as stream:
            stream.write(line)
            stream.flush()
            os.fsync(stream.fileno())
        self.counts[record["status"]] += 1
        if record["status"] == "done":
            self.frames += sum(record["frames"].values())


def run(args: argparse.Namespace) -> int:
    """Annotate every input; 0 when none failed."""
    try:
        fleet = read_fleet_settings(args)
    except RUN_ERRORS as err:
        print(f"sam2-ros bags: {err}\nnothing run")
        return 1
    ray = fleet.ray
    if ray.address is None and (ray.workers != 1 or ray.gpus_per_worker):
        print("sam2-ros bags: --workers and --gpus-per-worker need --ray (local or an address)")
        return 1
    try:
        digest = settings_hash(fleet.bag)  # reads the checkpoint and the prompts file
    except BagError as err:
        print(f"sam2-ros bags: {err}\nnothing run")
        return 1
    output_dir = fleet.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_partials(output_dir)  # of an earlier run that was killed
    bags, unusable = find_bags(list(fleet.inputs), output_dir)
    jobs, skipped = plan(bags, output_dir, digest, fleet.redo)
    manifest = Manifest(output_dir / MANIFEST_NAME)
    started = time.perf_counter()
    for path, why in unusable:
        manifest.append(failure(BagJob(path, output_dir), why, digest, started))
    for job, record in skipped:
        manifest.append(manifest_line(job, "skipped", record, 0.0, None))
    timings = _run_jobs(fleet, digest, jobs, manifest) if jobs else {}
    remove_partials(output_dir)  # of attempts whose worker died
    print(f"sam2-ros bags: {_summary(manifest, jobs, timings, time.perf_counter() - started)}")
    return 1 if manifest.counts["failed"] else 0


def _run_jobs(
    fleet: FleetSettings, digest: str, jobs: list[BagJob], manifest: Manifest
) -> dict[str, float]:
    """Run the jobs here or on Ray with a progress bar (quiet off a terminal); ``digest``: the
    settings hash."""
    with tqdm(total=len(jobs), desc="sam2-ros bags", unit="bag", disable=None) as bar:

        def on_record(record: dict[str, Any]) -> None:
            manifest.append(record)
            bar.update()
            bar.set_postfix(frames=manifest.frames, failed=manifest.counts["failed"])
            if record["status"] == "failed":
                tqdm.write(f"sam2-ros bags: {record['input']} failed: {record['reason']}")

        if fleet.ray.address is None:
            return run_here(fleet.bag, digest, jobs, on_record)
        from sam2_ros.commands.fleet.ray_actors import run_on_ray  # Ray only when asked for

        return run_on_ray(fleet.ray, fleet.bag, digest, jobs, on_record)


def run_here(
    settings: BagSettings,
    digest: str,
    jobs: list[BagJob],
    on_record: Callable[[dict[str, Any]], None],
) -> dict[str, float]:
    """The jobs one after another in this process, with one model; ``digest``: the settings
    hash."""
    started = time.perf_counter()
    try:
        worker = BagWorker(settings, digest)
    except RUN_ERRORS as err:
        for job in jobs:
            on_record(failure(job, f"cannot load the model: {err}", digest, started))
        return {}
    ready = time.perf_counter()
    for job in jobs:
        on_record(worker.annotate(job))
    return {"startup_seconds": ready - started, "run_seconds": time.perf_counter() - ready}


def _summary(
    manifest: Manifest, jobs: list[BagJob], timings: dict[str, float], seconds: float
) -> str:
    """The last line: bags done, skipped and failed; frames and time; where the manifest is."""
    counts = manifest.counts
    text = f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed"
    if not jobs:
        return f"{text} (nothing to run: no model loaded); manifest {manifest.path}"
    run_seconds = timings.get("run_seconds", 0.0)
    return (
        f"{text}; {manifest.frames} frames in {seconds:.1f} s (start-up "
        f"{timings.get('startup_seconds', 0.0):.1f} s, bags {run_seconds:.1f} s, "
        f"{manifest.frames / max(run_seconds, 1e-9):.2f} frames/s); manifest {manifest.path}"
    )
