"""Each custom message and service crosses real DDS (loopback) between rclpy endpoints."""

from __future__ import annotations

import pytest
import rclpy
from geometry_msgs.msg import Point32
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sam2_ros.msg import ObjectMask, ObjectMasks, ObjectPointers, OcclusionScores
from sam2_ros.srv import AddPrompt, RemoveObject

TIMEOUT_S = 10.0


@pytest.fixture
def node(ros_context):
    node = Node("interface_test", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    node.executor_for_test = executor
    yield node
    executor.shutdown()
    node.destroy_node()


def _round_trip(node: Node, msg_type: type, message: object) -> object:
    """Publish ``message`` until the subscription receives it; return what arrived."""
    received = rclpy.task.Future()
    topic = f"/interface_test/{msg_type.__name__.lower()}"
    node.create_subscription(
        msg_type, topic, lambda m: received.done() or received.set_result(m), 10
    )
    publisher = node.create_publisher(msg_type, topic, 10)
    timer = node.create_timer(0.05, lambda: publisher.publish(message))
    node.executor_for_test.spin_until_future_complete(received, timeout_sec=TIMEOUT_S)
    node.destroy_timer(timer)
    assert received.done(), f"{msg_type.__name__} never arrived"
    return received.result()


def _sample_masks() -> ObjectMasks:
    mask = ObjectMask(object_id=3, label="cup", score=0.75)
    mask.roi.x_offset, mask.roi.y_offset, mask.roi.width, mask.roi.height = 1, 2, 3, 4
    mask.mask.height, mask.mask.width, mask.mask.encoding, mask.mask.step = 2, 3, "mono8", 3
    mask.mask.data = bytes([0, 255, 0, 255, 255, 0])
    message = ObjectMasks(camera_name="front", objects=[mask])
    message.header.frame_id = "front_optical"
    message.header.stamp.sec, message.header.stamp.nanosec = 12, 345
    return message


def test_object_masks_round_trip(node):
    sent = _sample_masks()
    got = _round_trip(node, ObjectMasks, sent)
    assert got.header == sent.header
    assert got.camera_name == "front"
    assert got.objects[0].object_id == 3 and got.objects[0].label == "cup"
    assert got.objects[0].roi == sent.objects[0].roi
    assert bytes(got.objects[0].mask.data) == bytes(sent.objects[0].mask.data)


def test_occlusion_scores_round_trip(node):
    sent = OcclusionScores(
        camera_name="front",
        object_ids=[1, 2],
        occlusion_scores=[0.25, 0.75],
        occluded=[False, True],
    )
    got = _round_trip(node, OcclusionScores, sent)
    assert list(got.object_ids) == [1, 2]
    assert list(got.occlusion_scores) == pytest.approx([0.25, 0.75])
    assert list(got.occluded) == [False, True]


def test_object_pointers_round_trip(node):
    sent = ObjectPointers(camera_name="front", object_ids=[5], dim=4, data=[0.5, -1.0, 2.0, 0.0])
    got = _round_trip(node, ObjectPointers, sent)
    assert got.dim == 4 and list(got.object_ids) == [5]
    assert list(got.data) == pytest.approx([0.5, -1.0, 2.0, 0.0])


def _call(node: Node, srv_type: type, name: str, handler, request: object) -> object:
    """Serve ``srv_type`` with ``handler`` and call it once over DDS."""
    node.create_service(srv_type, name, handler)
    client = node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=TIMEOUT_S), f"{name} never appeared"
    future = client.call_async(request)
    node.executor_for_test.spin_until_future_complete(future, timeout_sec=TIMEOUT_S)
    assert future.done(), f"{name} did not answer"
    return future.result()


def test_add_prompt_service_round_trip(node):
    def handler(request, response):
        response.success = request.labels.tolist() == [1, 0] and request.use_box
        response.object_id = 7
        response.score = 0.5
        response.message = f"{request.camera_name}:{request.label}:{len(request.points)}"
        response.roi.width = int(request.box[2] - request.box[0])
        return response

    request = AddPrompt.Request(
        camera_name="front",
        object_id=0,
        points=[Point32(x=10.0, y=20.0), Point32(x=30.0, y=40.0)],
        labels=[1, 0],
        use_box=True,
        box=[1.0, 2.0, 51.0, 62.0],
        label="cup",
    )
    response = _call(node, AddPrompt, "/interface_test/add_prompt", handler, request)
    assert response.success and response.object_id == 7
    assert response.message == "front:cup:2"
    assert response.roi.width == 50


def test_remove_object_service_round_trip(node):
    def handler(request, response):
        response.success = request.object_id == 4
        response.message = f"removed {request.object_id} from {request.camera_name}"
        return response

    request = RemoveObject.Request(camera_name="front", object_id=4)
    response = _call(node, RemoveObject, "/interface_test/remove_object", handler, request)
    assert response.success and response.message == "removed 4 from front"
