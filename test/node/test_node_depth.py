"""Objects in 3D over DDS: a camera, its registered depth image and CameraInfo in; per tracked
frame ``objects_3d`` with the masks' stamp, markers and points while subscribed.

The depth image is a wall 2 m away with every other pixel missing, so the test can lift the
published masks itself: each object's points are its mask's pixels with depth, at z = 2 m.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Camera, add_prompt, mask_of, publish_camera_info, start_node
from diagnostic_msgs.msg import DiagnosticArray
from sam2_ros.msg import Objects3D
from sam2_ros.srv import RemoveObject
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, Detection3DArray
from visualization_msgs.msg import Marker, MarkerArray

from sam2_ros.geometry.lifting import STATISTICS_SAMPLE
from sam2_ros.messages.images import array_to_image_msg

NODE = "sam2_depth"
K = [200.0, 0.0, 159.5, 0.0, 200.0, 119.5, 0.0, 0.0, 1.0]
WALL_MM = 2000


@pytest.fixture(scope="module")
def rgbd(client, rosout, tmp_path_factory):
    node = start_node(
        tmp_path_factory,
        NODE,
        camera_names=["rgbd"],
        image_topics=["/rgbd/color/image_raw"],
        depth_topics=["/rgbd/depth/image_raw"],
        max_points_per_object=500,
    )
    camera = Camera(client, NODE, "rgbd", "/rgbd/color/image_raw")
    depth = client.publisher(Image, "/rgbd/depth/image_raw")
    objects = client.collect(Objects3D, f"/{NODE}/rgbd/objects_3d")
    client.bring_up(NODE)
    info = CameraInfo(width=320, height=240, k=K)
    info.header.frame_id = "rgbd_optical_frame"
    publish_camera_info(client, rosout, NODE, "rgbd", "/rgbd/color/camera_info", info)
    yield node, camera, depth, objects
    node.stop()


def wall(width: int, height: int) -> np.ndarray:
    depth = np.full((height, width), WALL_MM, np.uint16)
    depth[::2, 1::2] = depth[1::2, ::2] = 0  # holes: every other pixel
    return depth


def step(client, rgbd, scene, index: int, depth_size=(320, 240), depth_offset_s: int = 0):
    """Publish a depth image and the colour frame with its stamp; the masks and objects_3d."""
    _, camera, depth, objects = rgbd
    frame = camera.message(scene.frame(index))
    stamp = frame.header.stamp
    header = Header(frame_id="rgbd_optical_frame")
    header.stamp.sec, header.stamp.nanosec = stamp.sec + depth_offset_s, stamp.nanosec
    client.wait_for_subscriber(depth)
    depth.publish(array_to_image_msg(wall(*depth_size), "16UC1", header))
    camera.publish(frame)
    return camera.wait_masks(frame.header), objects.wait_stamp(frame.header)


def expected(mask: np.ndarray, depth_size=(320, 240)):
    """Centre, box size, points and coverage of a mask on the wall, lifted by hand (a big mask
    on the even grid of about STATISTICS_SAMPLE pixels the node documents)."""
    width, height = depth_size
    scale = 320 / width
    rows = np.minimum(((np.arange(height) + 0.5) * scale).astype(int), 239)
    cols = np.minimum(((np.arange(width) + 0.5) * scale).astype(int), 319)
    mask = mask[np.ix_(rows, cols)]
    grid = np.zeros_like(mask)
    stride = max(int(np.sqrt(mask.sum() / STATISTICS_SAMPLE)), 1)
    grid[::stride, ::stride] = True
    mask &= grid
    valid = mask & (wall(width, height) > 0)
    v, u = np.nonzero(valid)
    fx, cx, cy = K[0] / scale, (K[2] + 0.5) / scale - 0.5, (K[5] + 0.5) / scale - 0.5
    points = np.stack([(u - cx) * 2.0 / fx, (v - cy) * 2.0 / fx, np.full(len(u), 2.0)], axis=1)
    low, high = np.percentile(points, [1, 99], axis=0)
    return points.mean(axis=0), high - low, len(u), len(u) / mask.sum()


@pytest.mark.parametrize("depth_size", [(320, 240), (160, 120)])
def test_every_frame_yields_objects_3d_matching_its_masks(client, rgbd, scene, depth_size):
    masks, _ = step(client, rgbd, scene, 0, depth_size)
    if not masks.objects:
        for name in ("ball", "crate"):
            assert add_prompt(
                client, NODE, camera_name="rgbd", points=[scene.center(name, 0)], labels=[1]
            ).success
    for index in range(1, 4):
        masks, lifted = step(client, rgbd, scene, index, depth_size)
        assert lifted.header == masks.header and lifted.camera_name == "rgbd"
        assert [o.object_id for o in lifted.objects] == [o.object_id for o in masks.objects]
        for entry in lifted.objects:
            position, size, points, coverage = expected(mask_of(masks, entry.object_id), depth_size)
            assert entry.valid and entry.num_points == points
            assert entry.depth_coverage == pytest.approx(coverage, abs=1e-6)
            got = [entry.position.x, entry.position.y, entry.position.z]
            np.testing.assert_allclose(got, position, atol=1e-4)
            box = [entry.bbox_size.x, entry.bbox_size.y, entry.bbox_size.z]
            np.testing.assert_allclose(box, size, atol=2e-3)


def test_markers_and_points_while_subscribed(client, rgbd, scene):
    markers = client.collect(MarkerArray, f"/{NODE}/rgbd/markers")
    points = client.collect(PointCloud2, f"/{NODE}/rgbd/object_points")
    masks, lifted = step(client, rgbd, scene, 4)
    while not (markers.messages and points.messages):  # until the node has seen both
        masks, lifted = step(client, rgbd, scene, 5)

    def markers_of(header) -> MarkerArray:
        def found(arrays):
            return [a for a in arrays if a.markers and a.markers[0].header == header]

        assert markers.wait_for(lambda arrays: bool(found(arrays)))
        return found(markers.messages)[0]

    masks, lifted = step(client, rgbd, scene, 6)
    box = markers_of(masks.header)
    ids = [o.object_id for o in lifted.objects if o.valid]
    cubes = [m for m in box.markers if m.type == Marker.CUBE and m.action == Marker.ADD]
    texts = [m for m in box.markers if m.type == Marker.TEXT_VIEW_FACING]
    assert sorted(m.id // 2 for m in cubes) == sorted(ids) == sorted(m.id // 2 for m in texts)
    assert all(m.color.a == pytest.approx(0.4) and m.ns == "rgbd" for m in cubes)
    cloud = points.wait_stamp(masks.header)
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "object_id"]
    data = np.frombuffer(
        bytes(cloud.data), [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("id", "<u4")]
    )
    assert set(data["id"]) == set(ids) and np.allclose(data["z"], 2.0)
    assert all((data["id"] == i).sum() <= 500 for i in ids)
    gone = ids[0]
    request = RemoveObject.Request(camera_name="rgbd", object_id=gone)
    assert client.call(RemoveObject, f"/{NODE}/remove_object", request).success
    masks, _ = step(client, rgbd, scene, 7)
    deleted = [m.id for m in markers_of(masks.header).markers if m.action == Marker.DELETE]
    assert sorted(deleted) == [2 * gone, 2 * gone + 1]


def test_frames_without_depth_are_invalid_and_reported(client, rgbd, scene):
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    masks, lifted = step(client, rgbd, scene, 8, depth_offset_s=5)  # depth of another time
    assert masks.objects and not any(o.valid for o in lifted.objects)
    assert all(o.num_points == 0 and o.position.z == 0.0 for o in lifted.objects)

    def unpaired(arrays) -> bool:
        return any(
            int(next(v.value for v in s.values if v.key == "frames_without_depth")) > 0
            for a in arrays
            for s in a.status
            if s.name == f"{NODE}: rgbd"
        )

    assert diagnostics.wait_for(unpaired)
    assert "objects not lifted into 3D: no depth image on /rgbd/depth/image_raw" in rgbd[0].log()


def test_vision_msgs_outputs_carry_the_ids_classes_and_boxes(client, rgbd, scene):
    detections = client.collect(Detection2DArray, f"/{NODE}/rgbd/detections")
    detections_3d = client.collect(Detection3DArray, f"/{NODE}/rgbd/detections_3d")
    box = list(scene.box("crate", 9))
    crate = add_prompt(client, NODE, camera_name="rgbd", use_box=True, box=box, label="crate")
    assert crate.success, crate.message
    masks, lifted = step(client, rgbd, scene, 10)
    while not (detections.messages and detections_3d.messages):  # until the node has seen both
        masks, lifted = step(client, rgbd, scene, 11)
    flat, solid = detections.wait_stamp(masks.header), detections_3d.wait_stamp(masks.header)
    assert flat.header == solid.header == masks.header
    shown = [o for o in masks.objects if o.roi.width]
    assert [d.id for d in flat.detections] == [str(o.object_id) for o in shown]
    for entry, obj in zip(flat.detections, shown, strict=True):
        assert entry.results[0].hypothesis.class_id == obj.label
        assert (entry.bbox.size_x, entry.bbox.size_y) == (obj.roi.width, obj.roi.height)
        assert entry.bbox.center.position.x == obj.roi.x_offset + obj.roi.width / 2
    valid = [o for o in lifted.objects if o.valid]
    assert [d.id for d in solid.detections] == [str(o.object_id) for o in valid]
    assert "crate" in [d.results[0].hypothesis.class_id for d in solid.detections]
    for entry, obj in zip(solid.detections, valid, strict=True):
        assert entry.results[0].hypothesis.class_id == obj.label
        assert entry.bbox.center.position == obj.bbox_center
        assert entry.bbox.size == obj.bbox_size
        assert entry.bbox.center.orientation.w == 1.0
        assert entry.results[0].pose.pose.position.z == obj.position.z
