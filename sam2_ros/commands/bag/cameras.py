"""The cameras of a ``sam2-ros bag`` run: one per ``--image-topic``, each with its name and the
depth, CameraInfo and detections topics paired with it in order."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sam2_ros.topics import camera_info_topic, image_topic_base

#: The last topic levels that name an image stream, not a camera (``/front/image_raw``).
IMAGE_LEVELS = ("image_raw", "image_rect_color", "image_rect", "image_color", "image_mono", "image")
#: A single camera keeps the name the tool always gave it.
SINGLE_CAMERA_NAME = "camera"


class CameraSpecError(ValueError):
    """Camera options that do not fit together (names, per-camera topics)."""


@dataclass(frozen=True)
class BagCamera:
    """One camera of a bag: where its frames are and what pairs with them."""

    name: str
    image_topic: str
    depth_topic: str | None = None
    camera_info_topic: str | None = None
    detections_topic: str | None = None

    @property
    def info_topic(self) -> str:
        """The CameraInfo topic: given, or the image topic's sibling ``camera_info``."""
        return self.camera_info_topic or camera_info_topic(self.image_topic)


def derived_name(topic: str) -> str:
    """A camera name from its image topic: ``/front/color/image_raw`` -> ``front_color``."""
    levels = [level for level in image_topic_base(topic).split("/") if level]
    while len(levels) > 1 and levels[-1] in IMAGE_LEVELS:
        levels.pop()
    return re.sub(r"\W", "_", "_".join(levels)) or SINGLE_CAMERA_NAME


def _unique(names: list[str]) -> list[str]:
    """``names`` with later repeats numbered (``camera``, ``camera_2``)."""
    unique: list[str] = []
    for name in names:
        candidate, number = name, 1
        while candidate in unique:
            number += 1
            candidate = f"{name}_{number}"
        unique.append(candidate)
    return unique


def _paired(option: str, values: list[str] | None, count: int) -> list[str | None]:
    """Per-camera values of a repeated option, paired with the cameras in order; cameras past
    the last value (and an empty value) have none."""
    values = values or []
    if len(values) > count:
        raise CameraSpecError(
            f"{option} is given {len(values)} times for {count} image topics: give at most one "
            "per --image-topic, in the same order ('' for a camera without)"
        )
    return [value or None for value in values] + [None] * (count - len(values))


def bag_cameras(
    image_topics: list[str],
    camera_names: list[str] | None = None,
    depth_topics: list[str] | None = None,
    camera_info_topics: list[str] | None = None,
    detections_topics: list[str] | None = None,
) -> list[BagCamera]:
    """The cameras of the options (CameraSpecError naming what does not fit)."""
    if not image_topics:
        raise CameraSpecError("give at least one --image-topic")
    if len(set(image_topics)) != len(image_topics):
        raise CameraSpecError(f"--image-topic repeats a topic: {image_topics}")
    if camera_names:
        if len(camera_names) != len(image_topics):
            raise CameraSpecError(
                f"--camera-name is given {len(camera_names)} times for {len(image_topics)} "
                "image topics: give one per --image-topic, or none to derive them from the topics"
            )
        names = list(camera_names)
    elif len(image_topics) == 1:
        names = [SINGLE_CAMERA_NAME]
    else:
        names = _unique([derived_name(topic) for topic in image_topics])
    if len(set(names)) != len(names) or not all(re.fullmatch(r"\w+", name) for name in names):
        raise CameraSpecError(f"camera names {names} must be unique, of letters, digits and '_'")
    count = len(image_topics)
    return [
        BagCamera(name, topic, depth, info, detections)
        for name, topic, depth, info, detections in zip(
            names,
            image_topics,
            _paired("--depth-topic", depth_topics, count),
            _paired("--camera-info-topic", camera_info_topics, count),
            _paired("--detections-topic", detections_topics, count),
            strict=True,
        )
    ]
