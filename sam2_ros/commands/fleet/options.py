"""The settings of a ``sam2-ros bags`` run, read once from its options: which bags, where the
outputs go, where the bags run (:class:`RaySettings`) and what each is annotated with (the
bag tool's :class:`~sam2_ros.commands.bag.options.BagSettings`). They pickle, for Ray."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from sam2_ros.commands.bag.options import BagSettings, read_bag_settings


@dataclass(frozen=True)
class RaySettings:
    """Where the bags run: here, or on Ray actors each holding one model."""

    #: ``local`` (a runtime on this machine), ``auto``, ``HOST:PORT`` or ``ray://HEAD:10001``
    #: (a cluster); None: this process, no Ray.
    address: str | None = None
    #: Ray actors, each with a model.
    workers: int = 1
    #: Ray GPUs per worker (fractions share a GPU).
    gpus_per_worker: float = 0.0
    #: Ray CPUs (and torch threads) per worker; None: chosen by
    #: :func:`~sam2_ros.commands.fleet.ray_actors.cpus_per_worker`.
    cpus_per_worker: float | None = None
    #: Times a bag is retried when its worker process or node dies.
    retries: int = 2


@dataclass(frozen=True)
class FleetSettings:
    """A ``sam2-ros bags`` run, every path absolute (Ray workers run elsewhere)."""

    #: Bags (folders, ``.db3``, ``.mcap``) or folders holding them.
    inputs: tuple[Path, ...]
    #: The output bags and ``manifest.jsonl``.
    output_dir: Path
    #: Recompute bags whose output is done already.
    redo: bool
    ray: RaySettings
    #: What every bag is annotated with.
    bag: BagSettings


def read_fleet_settings(args: argparse.Namespace) -> FleetSettings:
    """The settings of ``bags``' options (its bag options checked as
    :func:`~sam2_ros.commands.bag.options.read_bag_settings` checks them, with the paths as
    given), with every path made absolute."""
    bag = read_bag_settings(args)
    ray = RaySettings(
        address=args.ray,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        cpus_per_worker=args.cpus_per_worker,
        retries=args.retries,
    )
    return FleetSettings(
        inputs=tuple(path.resolve() for path in args.inputs),
        output_dir=args.output_dir.resolve(),
        redo=args.redo,
        ray=ray,
        bag=bag.absolute(),
    )
