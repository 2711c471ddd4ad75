"""``sam2-ros bags --ray``: the bag workers as Ray actors in an actor pool. Ray restarts an actor
whose process or node died and retries the bag it held (``--retries``); a bag's own failure is
an answer of the worker, never retried."""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import ray
from ray.util import ActorPool

from sam2_ros.commands.fleet.plan import BagJob
from sam2_ros.commands.fleet.worker import BagWorker, failure


def cpus_per_worker(args: argparse.Namespace) -> float:
    """``--cpus-per-worker``, by default this machine's cores shared by the workers on a local
    runtime and one core on a cluster (whose nodes this command does not know)."""
    if args.cpus_per_worker is not None:
        return args.cpus_per_worker
    if args.ray == "local":
        return max(1, (os.cpu_count() or 1) // args.workers)
    return 1.0


def start(args: argparse.Namespace) -> None:
    """Start a Ray runtime on this machine (``local``) or join the cluster at ``args.ray``."""
    address = None if args.ray == "local" else args.ray
    ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)


def start_workers(args: argparse.Namespace, options: argparse.Namespace, settings: str) -> list:
    """``args.workers`` actors, spread over the nodes, each loading its model."""
    cpus = cpus_per_worker(args)
    worker_class = ray.remote(BagWorker).options(
        num_cpus=cpus,
        num_gpus=args.gpus_per_worker,
        max_restarts=-1,  # a worker whose process or node died comes back ...
        max_task_retries=args.retries,  # ... and a bag it held is retried this often
        scheduling_strategy="SPREAD",
    )
    return [worker_class.remote(options, settings, max(1, int(cpus))) for _ in range(args.workers)]


def run_on_ray(
    args: argparse.Namespace,
    options: argparse.Namespace,
    settings: str,
    jobs: list[BagJob],
    on_record: Callable[[dict[str, Any]], None],
) -> dict[str, float]:
    """Annotate ``jobs`` on ``args.workers`` actors, calling ``on_record`` as each bag ends;
    the seconds Ray took to start (runtime and loaded workers) and to run the bags."""
    started = time.perf_counter()
    try:
        start(args)
    except Exception as err:  # ray.init raises ConnectionError, RuntimeError, ValueError, ...
        for job in jobs:
            reason = f"cannot start or join Ray ({args.ray}): {err}"
            on_record(failure(job, reason, settings, started, worker={}))
        return {}
    try:
        workers = start_workers(args, options, settings)
        try:
            ray.get([worker.ready.remote() for worker in workers])
        except ray.exceptions.RayError as err:
            for job in jobs:
                reason = f"the workers cannot start: {err}"
                on_record(failure(job, reason, settings, started, worker={}))
            return {"startup_seconds": time.perf_counter() - started, "run_seconds": 0.0}
        ready = time.perf_counter()
        _run_pool(ActorPool(workers), jobs, settings, on_record)
        return {"startup_seconds": ready - started, "run_seconds": time.perf_counter() - ready}
    finally:
        ray.shutdown()


def _run_pool(
    pool: ActorPool,
    jobs: list[BagJob],
    settings: str,
    on_record: Callable[[dict[str, Any]], None],
) -> None:
    """Every job through the pool; a job whose retries ran out is recorded as failed."""
    pending: dict[str, tuple[Any, BagJob, float]] = {}

    def submit(worker: Any, job: BagJob) -> Any:
        ref = worker.annotate.remote(job)
        pending[str(job.input)] = (ref, job, time.perf_counter())
        return ref

    for job in jobs:
        pool.submit(submit, job)
    while pool.has_next():
        try:
            record = pool.get_next_unordered()
        except ray.exceptions.RayError as err:
            record = _lost(pending, err, settings)
        pending.pop(record["input"], None)
        on_record(record)


def _lost(
    pending: dict[str, tuple[Any, BagJob, float]], err: Exception, settings: str
) -> dict[str, Any]:
    """The failure record of the job whose worker died more often than it may be retried."""
    refs = [ref for ref, _, _ in pending.values()]
    done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
    for ref, job, submitted in pending.values():
        if ref in done:
            try:
                ray.get(ref)
            except ray.exceptions.RayError:
                reason = f"its worker died and the retries ran out: {err}"
                return failure(job, reason, settings, submitted, worker={})
    raise RuntimeError(f"a Ray task failed and no pending bag is its: {err}") from err
