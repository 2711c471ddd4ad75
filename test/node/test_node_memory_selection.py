"""The node tracks with SAMURAI's motion-aware memory (``memory_selection: samurai`` and the
``samurai.*`` parameters) exactly as the engine does, and refuses bad settings at configure."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    Camera,
    add_prompt,
    assert_live,
    mask_of,
    set_parameter,
    start_node,
    wait_log,
)

from sam2_ros.engine import StreamingPredictor

NODE = "sam2_samurai"
# Settings under which SAMURAI departs from SAM 2 early (filters rank masks from frame 3).
SETTINGS = {"stable_frames_threshold": 2, "memory_bank_iou_threshold": 0.9, "kf_score_weight": 0.9}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    parameters = {f"samurai.{name}": value for name, value in SETTINGS.items()}
    process = start_node(tmp_path_factory, NODE, memory_selection="samurai", **parameters)
    yield process
    process.stop()


def test_node_masks_are_the_engines(client, node, scene, small_model):
    client.bring_up(NODE)
    camera = Camera(client, NODE, "camera", "/camera/image_raw")
    engine = StreamingPredictor(model=small_model, memory_selection="samurai", samurai=SETTINGS)
    sam2 = StreamingPredictor(model=small_model)
    departed = False
    for index in range(8):
        frame = scene.frame(index)
        masks = camera.step(frame)
        expected, plain = engine.track(frame), sam2.track(frame)
        if index == 0:
            for name in ("ball", "crate"):
                prompt = {"points": [scene.center(name, 0)], "labels": [1]}
                assert add_prompt(client, NODE, **prompt).success
                engine.add_prompt(**prompt)
                sam2.add_prompt(**prompt)
            continue
        assert_live(expected, f"on frame {index}")
        assert [o.object_id for o in masks.objects] == expected.object_ids == [1, 2]
        for row, object_id in enumerate(expected.object_ids):
            np.testing.assert_array_equal(mask_of(masks, object_id), expected.masks[row])
        departed |= bool(np.abs(expected.mask_logits - plain.mask_logits).max() > 1e-4)
    assert departed, "these settings should make SAMURAI's selection depart from SAM 2's"
    assert client.transition(NODE, "deactivate") and client.transition(NODE, "cleanup")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("samurai.kf_score_weight", 2.0, r"samurai.kf_score_weight must be in \[0, 1\]"),
        ("samurai.candidate_frames", 0, "samurai.candidate_frames must be an integer >= 1"),
        (
            "memory_selection",
            "samurai2",
            "memory_selection 'samurai2' must be one of sam2, samurai",
        ),
    ],
)
def test_bad_settings_are_refused_at_configure(client, rosout, node, name, value, message):
    for step, state in (("deactivate", "active"), ("cleanup", "inactive")):
        if client.state(NODE) == state:
            assert client.transition(NODE, step)
    set_parameter(client, NODE, name, value)
    try:
        assert not client.transition(NODE, "configure")
        assert client.state(NODE) == "unconfigured"
        wait_log(rosout, NODE, f"configure failed: {message}")
    finally:
        default = {"samurai.kf_score_weight": 0.9, "samurai.candidate_frames": 30}
        set_parameter(client, NODE, name, default.get(name, "samurai"))
