"""What a ``sam2-ros bags`` run has to do: the bags its inputs name, an output name for each in
the output folder, and which outputs are done already (same input, same settings hash)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam2_ros.commands.bag.output_record import read_output_record

#: Files a rosbag2 storage plugin reads without a folder around them.
BAG_SUFFIXES = (".mcap", ".db3")
#: Where an attempt writes its bag before the rename that publishes it (a sibling of the output).
PARTIAL_PREFIX = ".sam2_ros-partial-"
MANIFEST_NAME = "manifest.jsonl"
OUTPUT_SUFFIX = "_sam2"


@dataclass(frozen=True)
class BagJob:
    """One input bag to annotate into ``output`` (which exists already when ``replace``)."""

    input: Path
    output: Path
    replace: bool = False


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (with ``metadata.yaml``) or a ``.mcap``/``.db3`` file."""
    if path.is_dir():
        return (path / "metadata.yaml").is_file()
    return path.is_file() and path.suffix in BAG_SUFFIXES


def find_bags(
    inputs: list[Path], outputs: Path | None = None
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The bags the inputs name (bags, or folders searched for bags), each once, in the order
    given; and the inputs that are not bags, each with why. A search does not enter the
    ``outputs`` folder (where the results of earlier runs are bags too)."""
    bags: list[Path] = []
    unusable: list[tuple[Path, str]] = []
    for given in inputs:
        path = given.resolve()
        if is_bag(path):
            bags.append(path)
        elif path.is_dir():
            found = _bags_under(path, outputs.resolve() if outputs else None)
            bags.extend(found)
            if not found:
                unusable.append((path, "holds no bag (a folder with metadata.yaml, .mcap, .db3)"))
        else:
            why = "does not exist" if not path.exists() else "is not a bag (.mcap, .db3, folder)"
            unusable.append((path, why))
    return list(dict.fromkeys(bags)), unusable


def _bags_under(folder: Path, outputs: Path | None) -> list[Path]:
    """Bags below a folder that is not one, sorted; a bag folder's own files are not bags, and
    hidden folders and ``outputs`` are not searched."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = [d for d in dirs if here / d != outputs]
        bag_dirs = [d for d in dirs if is_bag(here / d)]
        found += [here / d for d in bag_dirs]
        dirs[:] = sorted(d for d in dirs if d not in bag_dirs and not d.startswith("."))
        found += [here / f for f in files if Path(f).suffix in BAG_SUFFIXES]
    return sorted(found)


def bag_stem(path: Path) -> str:
    """The name an input's output is named after (``run_042.mcap`` -> ``run_042``)."""
    return path.stem if path.suffix in BAG_SUFFIXES else path.name


def plan(
    bags: list[Path], output_dir: Path, settings: str, redo: bool
) -> tuple[list[BagJob], list[tuple[BagJob, dict[str, Any]]]]:
    """The jobs to run, and the done ones to skip with their outputs' records.

    Each bag's output is ``<stem>_sam2`` in ``output_dir``, or ``<stem>_<n>_sam2`` when that
    name belongs to another input (of this run, or of an earlier one by its record); an output
    of the same input with the same settings hash is done, unless ``redo``.
    """
    jobs: list[BagJob] = []
    skipped: list[tuple[BagJob, dict[str, Any]]] = []
    claimed: set[Path] = set()
    for bag in bags:
        stem, number = bag_stem(bag), 1
        while True:
            suffix = OUTPUT_SUFFIX if number == 1 else f"_{number}{OUTPUT_SUFFIX}"
            output = output_dir / f"{stem}{suffix}"
            record = read_output_record(output) if output.exists() else None
            if output not in claimed and (
                not output.exists() or (record is not None and record.get("input") == str(bag))
            ):
                break
            number += 1
        claimed.add(output)
        job = BagJob(bag, output, replace=output.exists())
        if record is not None and record["settings_hash"] == settings and not redo:
            skipped.append((job, record))
        else:
            jobs.append(job)
    return jobs, skipped


def remove_partials(output_dir: Path) -> list[Path]:
    """Remove what attempts that did not finish left in the output folder; what was removed."""
    partials = sorted(output_dir.glob(PARTIAL_PREFIX + "*"))
    for partial in partials:
        shutil.rmtree(partial, ignore_errors=True)
    return partials


def publish(written: Path, output: Path) -> None:
    """Move a complete bag into place with renames (an existing output is replaced; its old
    copy goes to ``written``'s folder, which the caller removes)."""
    if output.exists():
        output.rename(written.parent / (written.name + ".replaced"))
    written.rename(output)
