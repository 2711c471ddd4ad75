"""Image messages to and from numpy (camera encodings, compressed images, errors)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from sam2_ros.messages.images import ImageConversionError, image_to_rgb, message_to_rgb

RGB = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)


def _image(pixels: np.ndarray, encoding: str, pad: int = 0) -> Image:
    rows = pixels.reshape(pixels.shape[0], -1)
    padded = np.concatenate([rows, np.zeros((rows.shape[0], pad), np.uint8)], axis=1)
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding)
    msg.step = padded.shape[1]
    msg.data = padded.tobytes()
    return msg


@pytest.mark.parametrize(
    ("encoding", "pixels"),
    [
        ("rgb8", RGB),
        ("bgr8", RGB[:, :, ::-1]),
        ("8UC3", RGB[:, :, ::-1]),
        ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])),
        ("bgra8", np.dstack([RGB[:, :, ::-1], np.zeros(RGB.shape[:2], np.uint8)])),
    ],
)
@pytest.mark.parametrize("pad", [0, 5])
def test_colour_encodings_decode_to_rgb_with_row_padding(encoding, pixels, pad):
    decoded = image_to_rgb(_image(np.ascontiguousarray(pixels), encoding, pad))
    np.testing.assert_array_equal(decoded, RGB)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono_is_replicated_to_three_channels(encoding):
    grey = RGB[:, :, 0].copy()
    decoded = image_to_rgb(_image(grey, encoding, pad=3))
    assert decoded.shape == (6, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[:, :, channel], grey)


def test_bayer_and_yuv_are_converted():
    bayer = image_to_rgb(_image(RGB[:, :, 0].copy(), "bayer_rggb8"))
    yuv = image_to_rgb(_image(RGB[:, :, :2].copy(), "yuv422"))
    assert bayer.shape == yuv.shape == (6, 8, 3)


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (
            _image(np.zeros((4, 4), np.uint16).view(np.uint8), "16UC1"),
            "unsupported encoding '16UC1'",
        ),
        (
            _image(np.zeros((4, 4), np.float32).view(np.uint8), "32FC1"),
            "unsupported encoding '32FC1'",
        ),
        (Image(height=0, width=0, encoding="rgb8"), "empty image"),
        (Image(height=4, width=4, encoding="rgb8", step=4, data=bytes(16)), "step 4 is smaller"),
        (Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(40)), "truncated"),
    ],
)
def test_unusable_images_raise_clear_errors(msg, message):
    with pytest.raises(ImageConversionError, match=message):
        image_to_rgb(msg)


def test_compressed_images_decode_and_corrupt_ones_fail():
    ok, png = cv2.imencode(".png", cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    assert ok
    decoded = message_to_rgb(CompressedImage(format="png", data=png.tobytes()))
    np.testing.assert_array_equal(decoded, RGB)
    with pytest.raises(ImageConversionError, match="cannot decode"):
        message_to_rgb(CompressedImage(format="jpeg", data=b"\xff\xd8garbage"))
    with pytest.raises(ImageConversionError, match="empty compressed"):
        message_to_rgb(CompressedImage(format="jpeg", data=b""))
    with pytest.raises(ImageConversionError, match="depth"):
        message_to_rgb(CompressedImage(format="16UC1; compressedDepth", data=b"x"))
