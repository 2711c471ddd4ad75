"""Image messages to and from numpy: camera frames to RGB, depth to metres, arrays to Image and
JPEG CompressedImage messages (shared by the node and the bag tool).

Image messages may be rclpy messages or ``rosbags`` messages: only their fields are used.
"""

from __future__ import annotations

import array
from typing import Any

import cv2
import numpy as np
from rosbags.image.image import convert_color
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from sam2_ros.geometry.lifting import DEPTH_ENCODINGS, depth_to_metres

try:  # a ROS 2 install ships cv_bridge; the pip environment converts with rosbags-image
    from cv_bridge import CvBridge

    _BRIDGE: Any = CvBridge()
except ImportError:
    _BRIDGE = None

# 8-bit encodings that can be turned into RGB: bytes per pixel. Generic OpenCV types are read
# with OpenCV's channel conventions.
BYTES_PER_PIXEL = {
    "rgb8": 3,
    "bgr8": 3,
    "rgba8": 4,
    "bgra8": 4,
    "mono8": 1,
    "8UC1": 1,
    "8UC3": 3,
    "8UC4": 4,
    "bayer_rggb8": 1,
    "bayer_bggr8": 1,
    "bayer_gbrg8": 1,
    "bayer_grbg8": 1,
    "yuv422": 2,
    "uyvy": 2,
    "yuyv": 2,
    "yuv422_yuy2": 2,
}
_GENERIC_AS = {"8UC1": "mono8", "8UC3": "bgr8", "8UC4": "bgra8"}
#: ``format`` of a JPEG made from a bgr8 image, exactly as image_transport's compressed plugin
#: writes it (its subscriber swaps red and blue unless the text says "compressed bgr").
JPEG_FORMAT_BGR8 = "bgr8; jpeg compressed bgr8"
#: JPEG quality of compressed outputs: keeps a 1280x720 overlay far below Fast DDS's 512 KiB
#: shared-memory segment, so best-effort viewers receive it without a DDS profile.
JPEG_QUALITY = 80


class ImageConversionError(ValueError):
    """An image message that cannot be segmented (encoding, size or content)."""


def image_to_rgb(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into an ``HxWx3`` uint8 RGB array."""
    height, width, encoding, step = msg.height, msg.width, msg.encoding, msg.step
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height}, encoding {encoding!r})")
    pixel_bytes = BYTES_PER_PIXEL.get(encoding)
    if pixel_bytes is None:
        raise ImageConversionError(
            f"unsupported encoding {encoding!r}: SAM 2 segments 8-bit colour or mono images "
            f"({', '.join(sorted(BYTES_PER_PIXEL))}); depth or 16/32-bit images such as 16UC1 "
            "or 32FC1 cannot be segmented"
        )
    row_bytes = width * pixel_bytes
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width x bytes per pixel = {row_bytes} ({encoding})"
        )
    if len(msg.data) < step * height:
        raise ImageConversionError(
            f"image data is truncated: {len(msg.data)} bytes, expected step x height = "
            f"{step * height} ({width}x{height} {encoding})"
        )
    if _BRIDGE is not None:
        return np.ascontiguousarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
    rows = np.frombuffer(msg.data, np.uint8, count=step * height).reshape(height, step)
    pixels = rows[:, :row_bytes].reshape(height, width, pixel_bytes)
    if pixel_bytes == 1:
        pixels = pixels[:, :, 0]
    return np.ascontiguousarray(convert_color(pixels, _GENERIC_AS.get(encoding, encoding), "rgb8"))


def depth_image_to_metres(msg: Any, depth_scale: float) -> np.ndarray:
    """Decode a depth ``sensor_msgs/Image`` (16UC1 / mono16 in ``depth_scale`` metres per unit,
    32FC1 in metres) into ``HxW`` float32 metres."""
    height, width, encoding, step = msg.height, msg.width, msg.encoding, msg.step
    if encoding not in DEPTH_ENCODINGS:
        raise ImageConversionError(
            f"unsupported depth encoding {encoding!r}: use 16UC1 (with depth_scale) or 32FC1 "
            "metres, e.g. a registered depth topic such as aligned_depth_to_color/image_raw"
        )
    dtype = np.dtype(DEPTH_ENCODINGS[encoding][0]).newbyteorder(">" if msg.is_bigendian else "<")
    if height == 0 or width == 0 or step < width * dtype.itemsize or len(msg.data) < step * height:
        raise ImageConversionError(
            f"depth image {width}x{height} {encoding} with step {step} has {len(msg.data)} bytes: "
            "empty or truncated"
        )
    rows = np.frombuffer(msg.data, np.uint8, count=step * height).reshape(height, step)
    pixels = rows[:, : width * dtype.itemsize].copy().view(dtype).reshape(height, width)
    return depth_to_metres(pixels.astype(dtype.newbyteorder("=")), encoding, depth_scale)


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG, PNG, ...) into ``HxWx3`` uint8 RGB."""
    if "compressedDepth" in msg.format:
        raise ImageConversionError(f"compressed depth images cannot be segmented ({msg.format})")
    if len(msg.data) == 0:
        raise ImageConversionError(f"empty compressed image (format {msg.format!r})")
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageConversionError(
            f"cannot decode compressed image ({len(msg.data)} bytes, format {msg.format!r}): "
            "corrupt or unsupported data"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def message_to_rgb(msg: Any) -> np.ndarray:
    """Decode an Image or CompressedImage message into ``HxWx3`` uint8 RGB."""
    return compressed_to_rgb(msg) if hasattr(msg, "format") else image_to_rgb(msg)


def ros_header(header: Any) -> Header:
    """An rclpy ``std_msgs/Header`` from any header-like object (rclpy or rosbags)."""
    if isinstance(header, Header):
        return header
    converted = Header(frame_id=header.frame_id)
    converted.stamp.sec, converted.stamp.nanosec = header.stamp.sec, header.stamp.nanosec
    return converted


def array_to_image_msg(pixels: np.ndarray, encoding: str, header: Any) -> Image:
    """Wrap a contiguous ``HxW`` / ``HxWxC`` array as a ``sensor_msgs/Image``."""
    msg = Image(header=header, height=pixels.shape[0], width=pixels.shape[1], encoding=encoding)
    msg.is_bigendian = int(pixels.dtype.byteorder == ">")
    msg.step = pixels.strides[0]
    msg.data = array.array("B", np.ascontiguousarray(pixels).tobytes())
    return msg


def to_compressed_image_msg(bgr: np.ndarray, header: Any) -> CompressedImage:
    """A bgr8 image as the JPEG ``sensor_msgs/CompressedImage`` of image_transport's compressed
    transport."""
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ImageConversionError(f"OpenCV could not encode a {bgr.shape} image as JPEG")
    msg = CompressedImage(header=header, format=JPEG_FORMAT_BGR8)
    msg.data = array.array("B", jpeg.tobytes())
    return msg
