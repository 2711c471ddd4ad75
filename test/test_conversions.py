"""Image and result conversions shared by the node and the bag tool."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from sam2_ros import conversions
from sam2_ros.engine import TrackResult
from sam2_ros.overlay import draw_overlay

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
    decoded = conversions.image_to_rgb(_image(np.ascontiguousarray(pixels), encoding, pad))
    np.testing.assert_array_equal(decoded, RGB)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono_is_replicated_to_three_channels(encoding):
    grey = RGB[:, :, 0].copy()
    decoded = conversions.image_to_rgb(_image(grey, encoding, pad=3))
    assert decoded.shape == (6, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[:, :, channel], grey)


def test_bayer_and_yuv_are_converted():
    bayer = conversions.image_to_rgb(_image(RGB[:, :, 0].copy(), "bayer_rggb8"))
    yuv = conversions.image_to_rgb(_image(RGB[:, :, :2].copy(), "yuv422"))
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
    with pytest.raises(conversions.ImageConversionError, match=message):
        conversions.image_to_rgb(msg)


def test_compressed_images_decode_and_corrupt_ones_fail():
    ok, png = cv2.imencode(".png", cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    assert ok
    decoded = conversions.message_to_rgb(CompressedImage(format="png", data=png.tobytes()))
    np.testing.assert_array_equal(decoded, RGB)
    with pytest.raises(conversions.ImageConversionError, match="cannot decode"):
        conversions.message_to_rgb(CompressedImage(format="jpeg", data=b"\xff\xd8garbage"))
    with pytest.raises(conversions.ImageConversionError, match="empty compressed"):
        conversions.message_to_rgb(CompressedImage(format="jpeg", data=b""))
    with pytest.raises(conversions.ImageConversionError, match="depth"):
        conversions.message_to_rgb(CompressedImage(format="16UC1; compressedDepth", data=b"x"))


def _result() -> TrackResult:
    masks = np.zeros((2, 6, 8), bool)
    masks[0, 1:3, 2:5] = True
    masks[1, 2:6, 4:8] = True
    return TrackResult(
        frame_index=3,
        object_ids=[4, 9],
        masks=masks,
        scores=np.array([0.9, 0.4], np.float32),
        occlusion_scores=np.array([0.2, 0.7], np.float32),
        object_pointers=np.arange(2 * 256, dtype=np.float32).reshape(2, 256),
        mask_logits=np.zeros((2, 4, 4), np.float32),
    )


def test_result_messages_carry_the_header_and_the_data():
    header = Header(frame_id="cam")
    header.stamp.sec = 42
    result = _result()
    masks = conversions.to_object_masks_msg(header, "front", result, {4: "cup"})
    assert masks.header == header and masks.camera_name == "front"
    assert [o.label for o in masks.objects] == ["cup", ""]
    first = masks.objects[0]
    assert (first.roi.x_offset, first.roi.y_offset, first.roi.width, first.roi.height) == (
        2,
        1,
        3,
        2,
    )
    assert first.mask.header == header and first.mask.encoding == "mono8"
    pixels = np.frombuffer(bytes(first.mask.data), np.uint8).reshape(6, 8)
    np.testing.assert_array_equal(pixels == 255, result.masks[0])
    occlusion = conversions.to_occlusion_msg(header, "front", result, 0.5)
    assert list(occlusion.occluded) == [False, True]
    pointers = conversions.to_object_pointers_msg(header, "front", result)
    assert pointers.dim == 256
    np.testing.assert_array_equal(np.array(pointers.data), result.object_pointers.ravel())
    labels = conversions.to_label_image_msg(header, result)
    label_pixels = np.frombuffer(bytes(labels.data), np.uint16).reshape(6, 8)
    assert labels.encoding == "mono16" and labels.step == 16
    assert label_pixels[1, 2] == 4 and label_pixels[2, 4] == 9  # later objects on top
    np.testing.assert_array_equal(label_pixels > 0, result.masks.any(axis=0))


def test_empty_mask_has_an_empty_roi():
    roi = conversions.mask_roi(np.zeros((5, 5), bool))
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == (0, 0, 0, 0)


def test_overlay_colours_the_objects():
    small = _result()
    masks = np.kron(small.masks, np.ones((40, 40), bool))  # 240x320, objects top right
    result = TrackResult(**{**small.__dict__, "masks": masks})
    overlay = draw_overlay(np.zeros((240, 320, 3), np.uint8), result, {4: "cup"})
    assert overlay.shape == (240, 320, 3)
    for mask in masks:  # tinted (labels are drawn on top, with a dark outline)
        assert overlay[mask].any(axis=1).mean() > 0.9
    assert not overlay[200:, :100].any()  # far from both objects nothing is drawn
