"""What makes two runs of the bag tool write the same bag: the settings hash (computed without
loading the model), and the record an output bag carries in its metadata (rosbag2
``custom_data``), from which a later run tells that a bag is done."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from sam2_ros.commands.bag.bag_io import BagError
from sam2_ros.commands.bag.options import BagSettings
from sam2_ros.engine.files import file_sha256

#: Engine settings that say where a run goes, not what it writes (the checkpoint's bytes count
#: instead of its path).
RUN_ONLY_ENGINE_SETTINGS = ("device", "checkpoint", "tensorrt_cache_dir")
#: The keys of an output bag's ``custom_data`` start so; each value is JSON.
CUSTOM_DATA_PREFIX = "sam2_ros."


def settings_hash(settings: BagSettings) -> str:
    """SHA-256 of every setting that changes the output, the checkpoint's bytes (or the random
    weights' seed) and the prompts file's bytes: the same for ``bag`` and ``bags`` given the same
    options, whatever the device, the paths of the checkpoint and the prompts file, and where and
    how the bags run. A missing checkpoint or prompts file is a BagError."""
    engine = settings.engine
    record = dataclasses.asdict(settings)
    for name in RUN_ONLY_ENGINE_SETTINGS:
        del record["engine"][name]
    if engine.onnx_dir is not None:
        record["engine"]["onnx_dir"] = engine.onnx_dir.resolve()
    record["prompts"] = _file_hash(settings.prompts)
    record["weights"] = _file_hash(engine.checkpoint) or f"random weights, seed {engine.seed}"
    text = json.dumps(record, sort_keys=True, default=_json_value)
    return hashlib.sha256(text.encode()).hexdigest()


def _file_hash(path: Path | None) -> str | None:
    """SHA-256 of a file's bytes; None without a file."""
    if path is None:
        return None
    try:
        return file_sha256(path)
    except OSError as err:
        raise BagError(f"cannot read {path}: {err}") from err


def _json_value(value: Any) -> Any:
    """What JSON writes for a value it has no type for: a set sorted, anything else its text."""
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


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
