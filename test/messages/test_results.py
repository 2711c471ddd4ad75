"""Tracking results as messages: masks, occlusion, pointers, label image."""

from __future__ import annotations

import numpy as np
from conftest import small_result
from std_msgs.msg import Header

from sam2_ros.messages.results import (
    mask_roi,
    to_label_image_msg,
    to_object_masks_msg,
    to_object_pointers_msg,
    to_occlusion_msg,
)


def test_result_messages_carry_the_header_and_the_data():
    header = Header(frame_id="cam")
    header.stamp.sec = 42
    result = small_result()
    masks = to_object_masks_msg(header, "front", result, {4: "cup"})
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
    occlusion = to_occlusion_msg(header, "front", result, 0.5)
    assert list(occlusion.occluded) == [False, True]
    pointers = to_object_pointers_msg(header, "front", result)
    assert pointers.dim == 256
    np.testing.assert_array_equal(np.array(pointers.data), result.object_pointers.ravel())
    labels = to_label_image_msg(header, result)
    label_pixels = np.frombuffer(bytes(labels.data), np.uint16).reshape(6, 8)
    assert labels.encoding == "mono16" and labels.step == 16
    assert label_pixels[1, 2] == 4 and label_pixels[2, 4] == 9  # later objects on top
    np.testing.assert_array_equal(label_pixels > 0, result.masks.any(axis=0))


def test_empty_mask_has_an_empty_roi():
    roi = mask_roi(np.zeros((5, 5), bool))
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == (0, 0, 0, 0)
