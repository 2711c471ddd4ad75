"""Frames as received: the header read from the CDR bytes equals rclpy's deserialization."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from sam2_ros.messages.images import array_to_image_msg
from sam2_ros.messages.serialized_images import header_of_cdr, received_image, restamped


def _header(sec: int, nanosec: int, frame_id: str) -> Header:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


@pytest.mark.parametrize(
    ("sec", "nanosec", "frame_id"),
    [(0, 0, ""), (1732712345, 120000000, "camera_color_optical_frame"), (-5, 999999999, "ü/x")],
)
def test_the_header_read_ahead_is_the_deserialized_one(sec, nanosec, frame_id):
    header = _header(sec, nanosec, frame_id)
    image = array_to_image_msg(np.arange(24, dtype=np.uint8).reshape(2, 4, 3), "rgb8", header)
    jpeg = CompressedImage(header=header, format="jpeg", data=b"\xff\xd8\xff")
    for message, msg_type in ((image, Image), (jpeg, CompressedImage)):
        data = serialize_message(message)
        assert header_of_cdr(data) == (sec, nanosec, frame_id)
        received = received_image(data, msg_type)
        assert received.stamp == sec * 1_000_000_000 + nanosec
        assert received.frame_id == frame_id
        assert received.message() == message


def test_unknown_or_broken_encapsulations_are_not_guessed():
    data = serialize_message(
        array_to_image_msg(np.zeros((2, 2), np.uint8), "mono8", _header(7, 8, "f"))
    )
    assert header_of_cdr(data[:10]) is None  # too short
    assert header_of_cdr(bytes([0x00, 0x0A]) + data[2:]) is None  # parameter-list CDR
    assert (
        header_of_cdr(data[:4] + data[4:8] + (2_000_000_000).to_bytes(4, "little") + data[12:])
        is None
    )
    assert header_of_cdr(data[:12] + (10_000).to_bytes(4, "little") + data[16:]) is None  # length
    # big-endian CDR (as other DDS vendors may send) is read as well
    big_endian_cdr = (
        bytes([0x00, 0x00, 0x00, 0x00]) + (7).to_bytes(4, "big") + (8).to_bytes(4, "big")
    )
    assert header_of_cdr(big_endian_cdr + (2).to_bytes(4, "big") + b"f\x00") == (7, 8, "f")


def test_a_restamped_message_is_the_message_with_the_new_stamp():
    image = array_to_image_msg(np.ones((3, 5), np.uint8), "mono8", _header(1, 2, "cam"))
    data = restamped(serialize_message(image), 1796229460, 249214631)
    image.header.stamp.sec, image.header.stamp.nanosec = 1796229460, 249214631
    assert data == serialize_message(image)
    with pytest.raises(ValueError, match="plain CDR"):
        restamped(bytes([0x00, 0x0A]) + data[2:], 1, 2)
