"""Clicks exactly as rqt_image_view and rviz2 send them start an object at the clicked pixel.

rqt_image_view (``ImageView::onMousePublish``/``onMouseLeft``) publishes ``geometry_msgs/Point``
with rclcpp's default QoS (reliable, volatile, depth 1000) on ``<subscribed topic>_mouse_left``:
``<image>_mouse_left`` on the raw transport, ``<image>/compressed_mouse_left`` on the compressed
one; x right, y down, rounded to image pixels, z = 0. rviz2's "Publish Point" tool publishes
``geometry_msgs/PointStamped`` on ``/clicked_point`` (depth 5, reliable) in its fixed frame, stamped
now. Each test checks the node's answer (its log) and that the object's next mask is the one SAM 2
gives for a click at that pixel (the same weights run in this process).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    Camera,
    mask_iou,
    mask_of,
    publish_camera_info,
    start_node,
    wait_log,
)
from geometry_msgs.msg import Point, PointStamped
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo

from sam2_ros.engine import StreamingPredictor
from sam2_ros.geometry.projection import project_to_pixel

NODE = "sam2_clicks"
RQT_CLICK_QOS = QoSProfile(
    depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)
RVIZ_POINT_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
K = [200.0, 0.0, 160.0, 0.0, 210.0, 120.0, 0.0, 0.0, 1.0]


@pytest.fixture(scope="module")
def camera(client, tmp_path_factory):
    node = start_node(tmp_path_factory, NODE, max_objects=8)
    cam = Camera(client, NODE, "camera", "/camera/image_raw")
    client.bring_up(NODE)
    yield cam
    node.stop()


def expected_mask(model, first: np.ndarray, second: np.ndarray, pixel) -> np.ndarray:
    """SAM 2's mask on ``second`` of an object clicked at ``pixel`` on ``first``."""
    predictor = StreamingPredictor(model=model)
    predictor.track(first)
    predictor.add_prompt(points=[pixel], labels=[1])
    return predictor.track(second).masks[0]


@pytest.mark.parametrize(
    ("topic", "source", "index"),
    [
        ("/camera/image_raw_mouse_left", "image click", 0),
        ("/camera/image_raw/compressed_mouse_left", "image click", 3),
        (f"/{NODE}/camera/overlay_mouse_left", "overlay click", 6),
        (f"/{NODE}/camera/overlay/compressed_mouse_left", "overlay click", 9),
    ],
)
def test_rqt_click_starts_an_object_at_that_pixel(
    client, camera, rosout, scene, small_model, topic, source, index
):
    first, second = scene.frame(index), scene.frame(index + 1)
    shown = camera.step(first)
    before = {o.object_id for o in shown.objects}
    if source == "overlay click":  # the user clicks on the overlay they see
        camera.overlay.wait_stamp(shown.header)
    clicks = client.publisher(Point, topic, RQT_CLICK_QOS)
    client.wait_for_subscriber(clicks)
    x, y = (round(v) for v in scene.center("crate", index))
    clicks.publish(Point(x=float(x), y=float(y), z=0.0))
    stamp = f"{shown.header.stamp.sec}.{shown.header.stamp.nanosec:09d}"
    found = wait_log(
        rosout,
        NODE,
        rf"{source} on camera at \({x}, {y}\): object (\d+) on the frame stamped {stamp}",
    )
    object_id = int(found.group(1))
    assert object_id not in before
    masks = camera.step(second)
    assert {o.object_id for o in masks.objects} == before | {object_id}
    expected = expected_mask(small_model, first, second, (x, y))
    assert mask_iou(mask_of(masks, object_id), expected) >= 0.99


def test_rviz_point_starts_an_object_at_the_projected_pixel(
    client, camera, rosout, scene, small_model
):
    info = CameraInfo(width=320, height=240, k=K)
    info.header.frame_id = "camera_optical_frame"
    publish_camera_info(client, rosout, NODE, "camera", "/camera/camera_info", info)
    first, second = scene.frame(12), scene.frame(13)
    before = {o.object_id for o in camera.step(first).objects}
    click = PointStamped()
    click.header.frame_id = "camera_optical_frame"  # rviz's fixed frame
    click.header.stamp = client.node.get_clock().now().to_msg()
    click.point.x, click.point.y, click.point.z = 0.3, -0.2, 2.0
    u, v = project_to_pixel(K, 0.3, -0.2, 2.0)
    assert (u, v) == pytest.approx((200.0 * 0.3 / 2.0 + 160.0, 210.0 * -0.2 / 2.0 + 120.0))
    points = client.publisher(PointStamped, "/clicked_point", RVIZ_POINT_QOS)
    client.wait_for_subscriber(points)
    points.publish(click)
    found = wait_log(rosout, NODE, rf"rviz click on camera at \({u:.0f}, {v:.0f}\): object (\d+)")
    object_id = int(found.group(1))
    masks = camera.step(second)
    assert {o.object_id for o in masks.objects} == before | {object_id}
    expected = expected_mask(small_model, first, second, (u, v))
    assert mask_iou(mask_of(masks, object_id), expected) >= 0.99


def _subscribed_topics(node) -> set[str]:
    return {name for name, _ in node.get_subscriber_names_and_types_by_node(node.get_name(), "/")}


def test_click_subscriptions_follow_the_parameters(ros_context):
    from sam2_ros.node.sam2_node import Sam2Node

    overrides = [
        Parameter("allow_random_weights", value=True),
        Parameter("image_size", value=128),
        Parameter("camera_names", value=["front", "rear"]),
        Parameter("image_topics", value=["/front/image_raw", "/rear/image_raw"]),
        Parameter("click_topics", value=["", "auto"]),
        Parameter("overlay_clicks", value=False),
    ]
    node = Sam2Node(context=ros_context, parameter_overrides=overrides)
    try:
        node.trigger_configure()
        node.trigger_activate()
        mouse = {t for t in _subscribed_topics(node) if t.endswith("_mouse_left")}
        assert mouse == {"/rear/image_raw_mouse_left", "/rear/image_raw/compressed_mouse_left"}
        node.trigger_deactivate()
        node.set_parameters([Parameter("overlay_clicks", value=True)])
        node.trigger_cleanup()
        node.trigger_configure()
        node.trigger_activate()
        mouse = {t for t in _subscribed_topics(node) if t.endswith("_mouse_left")}
        overlay = {"/sam2/front/overlay_mouse_left", "/sam2/rear/overlay/compressed_mouse_left"}
        assert overlay <= mouse
        assert "/front/image_raw_mouse_left" not in mouse
        node.trigger_deactivate()
        node.trigger_cleanup()
    finally:
        node.destroy_node()
