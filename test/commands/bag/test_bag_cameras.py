"""The cameras of a bag run: names derived from topics, per-camera topics paired in order."""

from __future__ import annotations

import pytest

from sam2_ros.commands.bag.cameras import BagCamera, CameraSpecError, bag_cameras, derived_name
from sam2_ros.commands.bag.prompts import BagPrompt, PromptsFileError, prompts_for


@pytest.mark.parametrize(
    ("topic", "name"),
    [
        ("/front/image_raw", "front"),
        ("/front/image_raw/compressed", "front"),
        ("/camera/color/image_rect_color", "camera_color"),
        ("/rear-cam/image", "rear_cam"),
        ("/image", "image"),
    ],
)
def test_names_come_from_the_topics(topic, name):
    assert derived_name(topic) == name


def test_one_camera_keeps_its_name_and_sibling_camera_info():
    (camera,) = bag_cameras(["/front/image_raw"])
    assert camera == BagCamera("camera", "/front/image_raw")
    assert camera.info_topic == "/front/camera_info"


def test_several_cameras_get_unique_names_and_their_topics_in_order():
    cameras = bag_cameras(
        ["/left/image_raw", "/right/image_raw", "/left/image_raw/compressed"],
        depth_topics=["/left/depth", ""],
        detections_topics=["/yolo/left"],
        camera_info_topics=["", "", "/left/info"],
    )
    assert [c.name for c in cameras] == ["left", "right", "left_2"]
    assert [c.depth_topic for c in cameras] == ["/left/depth", None, None]
    assert [c.detections_topic for c in cameras] == ["/yolo/left", None, None]
    assert [c.info_topic for c in cameras] == [
        "/left/camera_info",
        "/right/camera_info",
        "/left/info",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_topics": []}, "at least one --image-topic"),
        ({"image_topics": ["/a", "/a"]}, "repeats a topic"),
        ({"image_topics": ["/a", "/b"], "camera_names": ["x"]}, "--camera-name is given 1 times"),
        ({"image_topics": ["/a", "/b"], "camera_names": ["x", "x"]}, "must be unique"),
        ({"image_topics": ["/a"], "camera_names": ["a b"]}, "must be unique"),
        ({"image_topics": ["/a"], "depth_topics": ["/d", "/e"]}, "--depth-topic is given 2"),
    ],
)
def test_options_that_do_not_fit_are_named(kwargs, message):
    with pytest.raises(CameraSpecError, match=message):
        bag_cameras(**kwargs)


def _prompt(entry: int, camera: str | None) -> BagPrompt:
    return BagPrompt(entry, 0, None, None, "", [[1, 1]], [1], None, camera)


def test_prompts_go_to_the_camera_they_name():
    prompts = [_prompt(0, "left"), _prompt(1, "right")]
    assert prompts_for(prompts, "right", ["left", "right"]) == [prompts[1]]
    assert prompts_for([_prompt(0, None)], "camera", ["camera"]) == [_prompt(0, None)]
    with pytest.raises(PromptsFileError, match="say which camera"):
        prompts_for([_prompt(0, None)], "left", ["left", "right"])
    with pytest.raises(PromptsFileError, match="'front' is not one of"):
        prompts_for([_prompt(0, "front")], "left", ["left", "right"])
