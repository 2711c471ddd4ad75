"""A worker of ``sam2-ros bags``: one loaded model that annotates bags one at a time, each
written under a temporary sibling name and renamed into place when complete. The same class
runs in the command's process or as a Ray actor."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
import uuid
import warnings
from typing import Any

from sam2_ros.commands.bag.annotate import annotate, load_bag_model
from sam2_ros.commands.bag.options import BagSettings
from sam2_ros.commands.fleet.plan import PARTIAL_PREFIX, BagJob, publish


def worker_identity() -> dict[str, Any]:
    """Where this runs: host, process and (in a Ray worker) the Ray node and whether this
    actor was restarted after its process died."""
    identity: dict[str, Any] = {"host": socket.gethostname(), "process": os.getpid()}
    ray = sys.modules.get("ray")  # imported by Ray's worker processes, never here
    if ray is not None and ray.is_initialized():
        context = ray.get_runtime_context()
        identity["node"] = context.get_node_id()
        if context.get_actor_id() is not None:  # an actor, not a driver
            with warnings.catch_warnings():  # Ray 2.60 warns from inside its own property
                warnings.simplefilter("ignore", DeprecationWarning)
                identity["restarted"] = context.was_current_actor_reconstructed
    return identity


def manifest_line(
    job: BagJob,
    status: str,
    record: dict[str, Any],
    seconds: float,
    worker: dict | None,
    reason: str | None = None,
) -> dict[str, Any]:
    """One line of ``manifest.jsonl``: the job, what became of it (``done``, ``skipped``,
    ``failed`` with the reason) and its output's record (frames, objects, weights, settings)."""
    line: dict[str, Any] = {
        "input": str(job.input),
        "output": None if status == "failed" else str(job.output),
        "status": status,
    }
    if reason is not None:
        line["reason"] = reason
    return line | {
        "frames": record.get("frames", {}),
        "objects": record.get("objects", {}),
        "seconds": round(seconds, 3),
        "worker": worker,
        "weights_fingerprint": record.get("weights_fingerprint"),
        "settings_hash": record["settings_hash"],
    }


def failure(
    job: BagJob, reason: str, digest: str, started: float, worker: dict | None = None
) -> dict[str, Any]:
    """The manifest line of a bag that failed (in this process unless ``worker`` says) with
    settings whose hash is ``digest``."""
    seconds = time.perf_counter() - started
    where = worker_identity() if worker is None else worker
    return manifest_line(job, "failed", {"settings_hash": digest}, seconds, where, reason)


class BagWorker:
    """Holds one model (loaded once) and annotates the bags it is given with ``settings``, whose
    hash is ``digest``; ``threads`` > 0: torch's threads."""

    def __init__(self, settings: BagSettings, digest: str, threads: int = 0) -> None:
        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        self._settings, self._digest = settings, digest
        self._model = load_bag_model(settings)

    def ready(self) -> dict[str, Any]:
        """Where the loaded worker runs (answers once the model is loaded)."""
        return worker_identity()

    def annotate(self, job: BagJob) -> dict[str, Any]:
        """Annotate one bag; its manifest record (``done``, or ``failed`` with the reason: a
        bag's own failure is an answer, not an exception)."""
        started = time.perf_counter()
        attempt = job.output.parent / (
            f"{PARTIAL_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        )
        try:
            attempt.mkdir()
            written = attempt / job.output.name
            summary = annotate(self._settings, self._model, job.input, written, self._digest)
            publish(written, job.output)
        except Exception as err:  # a bad bag fails alone: the worker goes on with the next
            return failure(job, f"{type(err).__name__}: {err}", self._digest, started)
        finally:
            shutil.rmtree(attempt, ignore_errors=True)
        seconds = time.perf_counter() - started
        return manifest_line(job, "done", summary["record"], seconds, worker_identity())
