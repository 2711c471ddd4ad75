"""Conversions between ROS messages and numpy, shared by the node and the bag tool.

Image messages may be rclpy messages or ``rosbags`` messages: only their fields are used.
"""

from __future__ import annotations

import array
from typing import Any

import cv2
import numpy as np
from rosbags.image.image import convert_color
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from sam2_ros.engine import TrackResult
from sam2_ros.lifting import DEPTH_ENCODINGS, depth_to_metres
from sam2_ros.msg import ObjectMask, ObjectMasks, ObjectPointers, OcclusionScores

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


def mask_roi(mask: np.ndarray) -> RegionOfInterest:
    """The tight box around a binary mask (all zero for an empty mask)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return RegionOfInterest()
    return RegionOfInterest(
        x_offset=int(cols[0]),
        y_offset=int(rows[0]),
        width=int(cols[-1] - cols[0] + 1),
        height=int(rows[-1] - rows[0] + 1),
    )


def to_object_masks_msg(
    header: Any, camera_name: str, result: TrackResult, labels: dict[int, str]
) -> ObjectMasks:
    """One mono8 mask (255 inside) per object at the source resolution."""
    objects = []
    for row, object_id in enumerate(result.object_ids):
        mask = result.masks[row]
        objects.append(
            ObjectMask(
                object_id=object_id,
                label=labels.get(object_id, ""),
                score=float(result.scores[row]),
                roi=mask_roi(mask),
                mask=array_to_image_msg(mask.view(np.uint8) * np.uint8(255), "mono8", header),
            )
        )
    return ObjectMasks(header=header, camera_name=camera_name, objects=objects)


def to_occlusion_msg(
    header: Any, camera_name: str, result: TrackResult, threshold: float
) -> OcclusionScores:
    """Per-object probability of not being visible, and whether it exceeds ``threshold``."""
    scores = result.occlusion_scores.astype(np.float32)
    return OcclusionScores(
        header=header,
        camera_name=camera_name,
        object_ids=result.object_ids,
        occlusion_scores=scores.tolist(),
        occluded=(scores > threshold).tolist(),
    )


def to_object_pointers_msg(header: Any, camera_name: str, result: TrackResult) -> ObjectPointers:
    """The object pointers, row-major."""
    pointers = result.object_pointers.astype(np.float32)
    msg = ObjectPointers(header=header, camera_name=camera_name, object_ids=result.object_ids)
    msg.dim = pointers.shape[1]
    msg.data = array.array("f", pointers.tobytes())
    return msg


def to_tracking_msgs(
    header: Any,
    camera_name: str,
    result: TrackResult,
    labels: dict[int, str],
    occlusion_threshold: float,
) -> dict[str, Any]:
    """The messages every processed frame yields, by output name (masks, occlusion,
    object_pointers); the node and the bag tool publish/write exactly these."""
    return {
        "masks": to_object_masks_msg(header, camera_name, result, labels),
        "occlusion": to_occlusion_msg(header, camera_name, result, occlusion_threshold),
        "object_pointers": to_object_pointers_msg(header, camera_name, result),
    }


def label_image(result: TrackResult) -> np.ndarray:
    """``HxW`` uint16: each pixel the id of the object covering it (later objects on top), 0
    for background."""
    labels = np.zeros(result.masks.shape[1:], np.uint16)
    for row, object_id in enumerate(result.object_ids):
        labels[result.masks[row]] = object_id
    return labels


def to_label_image_msg(header: Any, result: TrackResult) -> Image:
    """The label image as ``mono16`` (view it in rviz2 with a colour map)."""
    return array_to_image_msg(label_image(result), "mono16", header)
