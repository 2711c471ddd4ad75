"""What makes two runs of the bag tool write the same bag: the settings hash (computed without
loading the model), and the record an output bag carries in its metadata (rosbag2
``custom_data``), from which a later run tells that a bag is done."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from sam2_ros.engine.files import file_sha256

#: Options that say which bags, where and how a run goes, not what it writes.
RUN_OPTIONS = frozenset(
    {
        "command",
        "run",
        "input",
        "output",
        "inputs",
        "output_dir",
        "ray",
        "workers",
        "gpus_per_worker",
        "cpus_per_worker",
        "retries",
        "redo",
        "device",
        "checkpoint",
        "prompts",
    }
)
#: The keys of an output bag's ``custom_data`` start so; each value is JSON.
CUSTOM_DATA_PREFIX = "sam2_ros."


def settings_hash(args: argparse.Namespace) -> str:
    """SHA-256 of every option that changes the output, the checkpoint's bytes (or the random
    weights' seed) and the prompts file's bytes; the same for ``bag`` and ``bags``."""
    settings = {
        name: value for name, value in sorted(vars(args).items()) if name not in RUN_OPTIONS
    }
    settings["weights"] = (
        file_sha256(args.checkpoint) if args.checkpoint is not None else "random weights, seed 0"
    )
    settings["prompts"] = file_sha256(args.prompts) if args.prompts is not None else None
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def output_custom_data(record: dict[str, Any]) -> dict[str, str]:
    """An output bag's ``custom_data`` entries for ``record`` (input, settings_hash,
    weights_fingerprint, frames, objects)."""
    return {CUSTOM_DATA_PREFIX + key: json.dumps(value) for key, value in record.items()}


def read_output_record(path: Path) -> dict[str, Any] | None:
    """The record a bag written by this tool carries in its rosbag2 ``metadata.yaml``, or None
    for anything else (not a bag, not ours, unreadable)."""
    try:
        metadata = yaml.safe_load((path / "metadata.yaml").read_text())
        custom = metadata["rosbag2_bagfile_information"].get("custom_data") or {}
    except (OSError, yaml.YAMLError, TypeError, KeyError, AttributeError):
        return None
    try:
        record = {
            key[len(CUSTOM_DATA_PREFIX) :]: json.loads(value)
            for key, value in custom.items()
            if key.startswith(CUSTOM_DATA_PREFIX)
        }
    except json.JSONDecodeError:
        return None
    return record if "settings_hash" in record else None
