"""The package is a conventional ROS 2 package with the fixed layout."""

from __future__ import annotations

from catkin_pkg.package import parse_package
from conftest import REPO_ROOT

RUNTIME_DEPENDENCIES = {
    "rclpy",
    "sensor_msgs",
    "std_msgs",
    "std_srvs",
    "geometry_msgs",
    "lifecycle_msgs",
    "diagnostic_msgs",
    "cv_bridge",
    "launch_ros",
    "rosidl_default_runtime",
    "vision_msgs",
}


def test_layout_is_complete():
    for name in ["sam2_ros", "msg", "srv", "launch", "config", "model", "test"]:
        assert (REPO_ROOT / name).is_dir(), name
    for name in ["package.xml", "CMakeLists.txt", "setup.py", "README.md", "Makefile", ".ci/run"]:
        assert (REPO_ROOT / name).is_file(), name


def test_package_xml_parses_and_declares_runtime_dependencies():
    package = parse_package(REPO_ROOT / "package.xml")
    package.validate()
    assert package.name == "sam2_ros"
    assert package.package_format == 3
    assert package.get_build_type() == "ament_cmake"
    runtime = {d.name for d in package.exec_depends} | {
        d.name for d in package.build_export_depends
    }
    assert runtime >= RUNTIME_DEPENDENCIES, RUNTIME_DEPENDENCIES - runtime
    assert "rosidl_interface_packages" in [g.name for g in package.member_of_groups]


def test_interfaces_and_engine_import_as_one_package():
    from sam2_ros.msg import ObjectMask, ObjectMasks, ObjectPointers, OcclusionScores
    from sam2_ros.srv import AddPrompt, RemoveObject

    import sam2_ros.engine

    assert sam2_ros.engine.StreamingPredictor
    assert {f for f in ObjectMask.get_fields_and_field_types()} == {
        "object_id",
        "label",
        "score",
        "roi",
        "mask",
    }
    assert ObjectMasks.get_fields_and_field_types()["objects"] == "sequence<sam2_ros/ObjectMask>"
    assert set(OcclusionScores.get_fields_and_field_types()) == {
        "header",
        "camera_name",
        "object_ids",
        "occlusion_scores",
        "occluded",
    }
    assert set(ObjectPointers.get_fields_and_field_types()) == {
        "header",
        "camera_name",
        "object_ids",
        "dim",
        "data",
    }
    assert set(AddPrompt.Request.get_fields_and_field_types()) == {
        "camera_name",
        "object_id",
        "points",
        "labels",
        "use_box",
        "box",
        "label",
        "stamp",
    }
    assert set(AddPrompt.Response.get_fields_and_field_types()) == {
        "success",
        "message",
        "object_id",
        "score",
        "roi",
        "frame_stamp",
    }
    assert set(RemoveObject.Request.get_fields_and_field_types()) == {"camera_name", "object_id"}
    assert set(RemoveObject.Response.get_fields_and_field_types()) == {"success", "message"}
