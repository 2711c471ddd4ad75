"""The prompts file of ``sam2-ros bag`` (format: ``config/bag_prompts.yaml``): prompts by frame
index or bag time, each applied right after its frame is tracked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml


class PromptsFileError(ValueError):
    """A prompts file that cannot be read or used."""


@dataclass
class BagPrompt:
    """One prompt from the prompts file, applied after tracking its frame."""

    entry: int  # position in the file, for error messages
    frame: int | None
    time_ns: int | None
    object_id: int | None
    label: str
    points: list | None
    labels: list | None
    box: list | None
    camera: str | None = None  # the camera it is for (required when the bag run has several)
    applied: bool = field(default=False)

    def due(self, frame: int, time_ns: int) -> bool:
        """Whether this prompt applies to the frame just tracked."""
        if self.applied:
            return False
        return frame == self.frame if self.frame is not None else time_ns >= self.time_ns


def load_prompts(path: Path) -> list[BagPrompt]:
    """Parse a prompts YAML file (format: config/bag_prompts.yaml)."""
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise PromptsFileError(f"cannot read prompts file {path}: {err}") from err
    entries = content.get("prompts") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        raise PromptsFileError(f"prompts file {path} must hold a list under 'prompts:'")
    prompts = []
    for index, entry in enumerate(entries):
        where = f"prompts file {path}, entry {index}"
        if not isinstance(entry, dict) or ("frame" in entry) == ("time" in entry):
            raise PromptsFileError(
                f"{where}: give exactly one of 'frame' (index) or 'time' (seconds)"
            )
        unknown = set(entry) - {
            *("frame", "time", "object_id", "label", "points", "labels", "box", "camera")
        }
        if unknown:
            raise PromptsFileError(f"{where}: unknown keys {sorted(unknown)}")
        prompts.append(
            BagPrompt(
                entry=index,
                frame=int(entry["frame"]) if "frame" in entry else None,
                time_ns=round(float(entry["time"]) * 1e9) if "time" in entry else None,
                object_id=entry.get("object_id"),
                label=str(entry.get("label", "")),
                points=entry.get("points"),
                labels=entry.get("labels"),
                box=entry.get("box"),
                camera=str(entry["camera"]) if "camera" in entry else None,
            )
        )
    return prompts


def prompts_for(prompts: list[BagPrompt], camera: str, cameras: list[str]) -> list[BagPrompt]:
    """The prompts of one of the run's cameras (PromptsFileError for an entry that names no
    camera of the run, or none while there are several)."""
    for prompt in prompts:
        if prompt.camera is None and len(cameras) > 1:
            raise PromptsFileError(
                f"prompts file entry {prompt.entry}: say which camera it is for "
                f"('camera: NAME', one of {cameras})"
            )
        if prompt.camera is not None and prompt.camera not in cameras:
            raise PromptsFileError(
                f"prompts file entry {prompt.entry}: camera {prompt.camera!r} is not one of "
                f"the run's cameras {cameras}"
            )
    return [p for p in prompts if p.camera in (camera, None)]
