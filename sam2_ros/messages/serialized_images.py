"""Camera frames as they came off the wire: the serialized (CDR) message, its header read ahead.

A camera publishing faster than SAM 2 tracks sends frames the node drops; turning each one into
a Python message costs the executor thread 0.3 ms at 640x480 and 1.4 ms at 1280x720 (measured
here), time taken from the tracking thread on a small machine. The node therefore subscribes to
images serialized, reads only the header (stamp and frame id, at the start of every
Image/CompressedImage) when a frame arrives, and deserializes the frames it actually tracks, on
the tracking thread.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from rclpy.serialization import deserialize_message

#: Encapsulation kinds (second byte of the CDR header; odd = little endian) whose top-level
#: struct starts right after the 4-byte header (XCDR1 CDR; XCDR2 PLAIN_CDR2), and those with a
#: 4-byte DHEADER first (XCDR2 DELIMITED_CDR2).
_PLAIN_KINDS = {0x00, 0x01, 0x06, 0x07}
_DELIMITED_KINDS = {0x08, 0x09}
_MAX_NANOSEC = 999_999_999


def header_of_cdr(data: bytes) -> tuple[int, int, str] | None:
    """``(sec, nanosec, frame_id)`` of a serialized message that starts with a ``std_msgs/Header``,
    or None where the encapsulation is not a plain CDR one or the bytes do not hold a header."""
    if len(data) < 16 or data[0] != 0:
        return None
    kind = data[1]
    if kind in _PLAIN_KINDS:
        offset = 4
    elif kind in _DELIMITED_KINDS:
        offset = 8
    else:
        return None
    order = "<" if kind & 1 else ">"
    if len(data) < offset + 12:
        return None
    sec, nanosec, length = struct.unpack_from(order + "iII", data, offset)
    start = offset + 12
    # a CDR string's length counts its terminating NUL
    if nanosec > _MAX_NANOSEC or length < 1 or len(data) < start + length:
        return None
    if data[start + length - 1] != 0:
        return None
    try:
        frame_id = data[start : start + length - 1].decode()
    except UnicodeDecodeError:
        return None
    return sec, nanosec, frame_id


def restamped(data: bytes, sec: int, nanosec: int) -> bytes:
    """A serialized plain-CDR message that starts with a ``std_msgs/Header``, with that header's
    stamp replaced (what a driver publishing the same pixels again would send)."""
    if header_of_cdr(data) is None or data[1] not in _PLAIN_KINDS:
        raise ValueError("not a plain CDR message starting with a std_msgs/Header")
    order = "<" if data[1] & 1 else ">"
    return data[:4] + struct.pack(order + "iI", sec, nanosec) + data[12:]


@dataclass(frozen=True)
class SerializedImage:
    """An Image or CompressedImage as received: its CDR bytes and its header's stamp (ns) and
    frame id; :meth:`message` deserializes it."""

    data: bytes
    msg_type: type
    stamp: int
    frame_id: str

    def message(self) -> Any:
        """The rclpy message."""
        return deserialize_message(self.data, self.msg_type)


def received_image(data: bytes, msg_type: type) -> SerializedImage:
    """Wrap a serialized image message, reading its header (the whole message is deserialized
    only where the encapsulation is not plain CDR)."""
    header = header_of_cdr(data)
    if header is None:
        message = deserialize_message(data, msg_type)
        header = message.header.stamp.sec, message.header.stamp.nanosec, message.header.frame_id
    sec, nanosec, frame_id = header
    return SerializedImage(data, msg_type, sec * 1_000_000_000 + nanosec, frame_id)
