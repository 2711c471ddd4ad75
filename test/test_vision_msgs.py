"""The vision_msgs types ROS uses at run time have the type hashes of the real vision_msgs 4.1.1.

In the pip environment vision_msgs is our rebuild (interfaces/vision_msgs, built by `make setup`);
on a ROS install it is the real package. Either way, a peer running the real 4.1.1 (Jazzy, Kilted)
only talks to us if every type hash matches: a field renamed, retyped or reordered in the rebuild
changes the hash and silently splits the graph. The hash is read the way ROS uses it, from the type
support of a live publisher (rcl -> rmw graph), not from files.
"""

from __future__ import annotations

import pytest
from rclpy.node import Node
from vision_msgs import msg as vision_msgs

# Recorded from a build of the real vision_msgs 4.1.1 sources (ros-perception/vision_msgs, tag
# 4.1.1, commit e77fa2d; plain CMake against the pip ROS prefix): share/vision_msgs/msg/<Type>.json,
# key type_hashes. The Kilted wheels (rclpy 9.1.2, rosidl_default_generators 1.7.1) and the Jazzy
# wheels (rclpy 7.1.6, rosidl_default_generators 1.6.0) gave the same value for every type.
VISION_MSGS_4_1_1_TYPE_HASHES = {
    "BoundingBox2D": "RIHS01_008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f",
    "BoundingBox3D": "RIHS01_bbb73a65c163d7f9bb29009c7bde9f7faa576bd2d23299c4511d19230dab4698",
    "Detection2D": "RIHS01_0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
    "Detection2DArray": "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "Detection3D": "RIHS01_ddd703be132ab0b69d33121f1bb034132bfbb3b0ac5f9fb1516005ba1c8a265b",
    "Detection3DArray": "RIHS01_793f5eab9595ac1c0da07873cc859db42eae51f0ee76056db8562515d830e018",
    "ObjectHypothesis": "RIHS01_51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90",
    "ObjectHypothesisWithPose": (
        "RIHS01_41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc"
    ),
    "Point2D": "RIHS01_eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247",
    "Pose2D": "RIHS01_b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648",
}


@pytest.fixture(scope="module")
def node(ros_context):
    node = Node("vision_msgs_type_hashes", context=ros_context)
    yield node
    node.destroy_node()


def runtime_type_hash(node: Node, msg_type: type) -> str:
    """The RIHS01 string that a publisher of ``msg_type`` announces on the ROS graph."""
    topic = f"/vision_msgs_type_hashes/{msg_type.__name__.lower()}"
    publisher = node.create_publisher(msg_type, topic, 1)
    try:
        (info,) = node.get_publishers_info_by_topic(topic)
        assert info.topic_type == f"vision_msgs/msg/{msg_type.__name__}"
        return str(info.topic_type_hash)  # rclpy.type_hash.TypeHash: "RIHS01_<64 hex>"
    finally:
        node.destroy_publisher(publisher)


@pytest.mark.parametrize("name", sorted(VISION_MSGS_4_1_1_TYPE_HASHES))
def test_type_hash_equals_vision_msgs_4_1_1(node, name):
    expected = VISION_MSGS_4_1_1_TYPE_HASHES[name]
    assert runtime_type_hash(node, getattr(vision_msgs, name)) == expected
