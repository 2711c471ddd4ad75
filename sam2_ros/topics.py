"""ROS topic naming the package follows (plain strings, no ROS): an image's transports, where
rqt_image_view publishes clicks on it, and its sibling ``camera_info``."""

from __future__ import annotations


def image_topic_base(image_topic: str) -> str:
    """The raw topic of a transport topic (``/cam/image/compressed`` -> ``/cam/image``)."""
    topic = image_topic.rstrip("/")
    return topic[: -len("/compressed")] if topic.endswith("/compressed") else topic


def is_compressed(image_topic: str) -> bool:
    """Whether the topic is an image's ``compressed`` transport (sensor_msgs/CompressedImage)."""
    return image_topic.rstrip("/").endswith("/compressed")


def mouse_topics(base_topic: str) -> tuple[str, str]:
    """Where rqt_image_view publishes clicks on an image: ``<topic>_mouse_left`` while it shows
    the raw transport, ``<topic>/compressed_mouse_left`` while it shows the compressed one (its
    mouse topic is the subscribed transport topic plus ``_mouse_left``)."""
    return f"{base_topic}_mouse_left", f"{base_topic}/compressed_mouse_left"


def camera_info_topic(image_topic: str) -> str:
    """The image's sibling ``camera_info`` (``/cam/color/image_raw`` -> ``/cam/color/camera_info``),
    as camera drivers and image_transport name it."""
    return image_topic_base(image_topic).rsplit("/", 1)[0] + "/camera_info"
