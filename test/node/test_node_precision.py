"""The node runs SAM 2 in the precision the machine suits (``precision: auto``), says which and
why, reports it on /diagnostics, and tracks in it."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import Camera, add_prompt, start_node, wait_log
from diagnostic_msgs.msg import DiagnosticArray

from sam2_ros.engine.model.precision import choose_precision

NODE = "sam2_precision"


@pytest.fixture(scope="module")
def camera(client, tmp_path_factory):
    node = start_node(tmp_path_factory, NODE, precision="auto")
    cam = Camera(client, NODE, "camera", "/camera/image_raw")
    client.bring_up(NODE)
    yield cam
    node.stop()


def test_auto_precision_is_logged_reported_and_tracked_in(client, rosout, camera, scene):
    precision, reason = choose_precision("auto", torch.device("cpu"))
    wait_log(rosout, NODE, rf"at 128 px in {precision} \({re.escape(reason)}\)")
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")

    def reported(arrays) -> bool:
        values = [
            {v.key: v.value for v in status.values}
            for array in arrays
            for status in array.status
            if status.name == f"{NODE}: camera"
        ]
        return any(v["precision"] == precision for v in values)

    assert diagnostics.wait_for(reported, timeout=30)
    camera.step(scene.frame(0))
    assert add_prompt(client, NODE, points=[scene.center("ball", 0)], labels=[1]).success
    assert [o.object_id for o in camera.step(scene.frame(1)).objects] == [1]
