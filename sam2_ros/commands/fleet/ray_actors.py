"""``sam2-ros bags --ray``: the bag workers as Ray actors in an actor pool. Ray restarts an actor
whose process or node died and retries the bag it held (``--retries``); a bag's own failure is
an answer of the worker, never retried."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import ray
from ray.util import ActorPool

from sam2_ros.commands.bag.options import BagSettings
from sam2_ros.commands.fleet.options import RaySettings
from sam2_ros.commands.fleet.plan import BagJob
from sam2_ros.commands.fleet.worker import BagWorker, failure


def cpus_per_worker(settings: RaySettings) -> float:
    """``--cpus-per-worker``, by default this machine's cores shared by the workers on a local
    runtime and one core on a cluster (whose nodes this command does not know)."""
    if settings.cpus_per_worker is not None:
        return settings.cpus_per_worker
    if settings.address == "local":
        return max(1, (os.cpu_count() or 1) // settings.workers)
    return 1.0


def start(settings: RaySettings) -> None:
    """Start a Ray runtime on this machine (``local``) or join the cluster at its address."""
    address = None if settings.address == "local" else settings.address
    ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)


def start_workers(settings: RaySettings, bag: BagSettings, digest: str) -> list:
    """``settings.workers`` actors, spread over the nodes, each loading its model to annotate
    with ``bag`` (whose settings hash is ``digest``)."""
    cpus = cpus_per_worker(settings)
    worker_class = ray.remote(BagWorker).options(
        num_cpus=cpus,
        num_gpus=settings.gpus_per_worker,
        max_restarts=-1,  # a worker whose process or node died comes back ...
        max_task_retries=settings.retries,  # ... and a bag it held is retried this often
        scheduling_strategy="SPREAD",
    )
    return [worker_class.remote(bag, digest, max(1, int(cpus))) for _ in range(settings.workers)]


def run_on_ray(
    settings: RaySettings,
    bag: BagSettings,
    digest: str,
    jobs: list[BagJob],
    on_record: Callable[[dict[str, Any]], None],
) -> dict[str, float]:
    """Annotate ``jobs`` with ``bag`` on ``settings.workers`` actors, calling ``on_record`` as
    each bag ends; the seconds Ray took to start (runtime and loaded workers) and to run the
    bags."""
    started = time.perf_counter()
    try:
        start(settings)
    except Exception as err:  # ray.init raises ConnectionError, RuntimeError, ValueError, ...
        for job in jobs:
            reason = f"cannot start or join Ray ({settings.address}): {err}"
            on_record(failure(job, reason, digest, started, worker={}))
        return {}
    try:
        workers = start_workers(settings, bag, digest)
        try:
            ray.get([worker.ready.remote() for worker in workers])
        except ray.exceptions.RayError as err:
            for job in jobs:
                reason = f"the workers cannot start: {err}"
                on_record(failure(job, reason, digest, started, worker={}))
            return {"startup_seconds": time.perf_counter() - started, "run_seconds": 0.0}
        ready = time.perf_counter()
        _run_pool(ActorPool(workers), jobs, digest, on_record)
        return {"startup_seconds": ready - started, "run_seconds": time.perf_counter() - ready}
    finally:
        ray.shutdown()


def _run_pool(
    pool: ActorPool,
    jobs: list[BagJob],
    digest: str,
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
            record = _lost(pending, err, digest)
        pending.pop(record["input"], None)
        on_record(record)


def _lost(
    pending: dict[str, tuple[Any, BagJob, float]], err: Exception, digest: str
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
                return failure(job, reason, digest, submitted, worker={})
    raise RuntimeError(f"a Ray task failed and no pending bag is its: {err}") from err
