"""Lifting masks with a depth Image and a CameraInfo message: inputs that cannot be lifted are
refused with the fix."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from sam2_ros.messages.images import array_to_image_msg
from sam2_ros.messages.objects_3d import DepthError, lift_objects

K = [200.0, 0.0, 159.5, 0.0, 200.0, 119.5, 0.0, 0.0, 1.0]
WALL = np.full((240, 320), 2000, np.uint16)


def _info(k=K) -> CameraInfo:
    return CameraInfo(width=320, height=240, k=k)


@pytest.mark.parametrize(
    ("depth", "info", "reason"),
    [
        (np.zeros((240, 320, 3), np.uint8), _info(), "unsupported depth encoding 'rgb8'"),
        (np.zeros((200, 320), np.uint16), _info(), "a registered depth image has the colour"),
        (WALL, _info([0.0] * 9), "no usable intrinsics (fx=0.0"),
        (WALL, None, "no CameraInfo received yet"),
    ],
)
def test_bad_depth_inputs_name_the_fix(depth, info, reason):
    encoding = "rgb8" if depth.ndim == 3 else "16UC1"
    message = array_to_image_msg(depth, encoding, Header())
    masks = np.ones((1, 240, 320), bool)
    with pytest.raises(DepthError, match=re.escape(reason)):
        lift_objects(masks, message, info, 0.001, (0.1, 10.0), 20, "/rgbd/depth")
