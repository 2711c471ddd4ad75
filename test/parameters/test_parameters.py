"""The node's parameters validated without ROS: defaults, per-camera topics, clear errors."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import pytest

from sam2_ros.parameters.declarations import PARAMETERS, ParameterError
from sam2_ros.parameters.node_params import NodeParams, parse
from sam2_ros.tracking.association import AssociationSettings
from sam2_ros.tracking.duplicates import DuplicateSettings


def _values(**overrides):
    values = {parameter.name: parameter.default for parameter in PARAMETERS}
    values.update(overrides)
    return values


def test_defaults_derive_each_cameras_topics():
    params = parse(
        _values(
            camera_names=["front", "rear"],
            image_topics=["/front/image_raw", "/rear/color/image/compressed"],
        )
    )
    front, rear = params.cameras
    assert front.camera_info_topic == "/front/camera_info"
    assert front.click_topics == (
        "/front/image_raw_mouse_left",
        "/front/image_raw/compressed_mouse_left",
    )
    assert rear.compressed and not front.compressed
    assert rear.camera_info_topic == "/rear/color/camera_info"
    assert rear.click_topics == (
        "/rear/color/image_mouse_left",
        "/rear/color/image/compressed_mouse_left",
    )
    assert params.image_reliability == "auto" and params.overlay_clicks


def test_click_topics_can_be_named_or_disabled():
    params = parse(
        _values(
            camera_names=["a", "b"],
            image_topics=["/a/image", "/b/image"],
            click_topics=["/a/clicks", ""],
        )
    )
    assert [c.click_topics for c in params.cameras] == [("/a/clicks",), ()]
    assert params.image_size is None and params.checkpoint is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"camera_names": ["a", "b"]}, "must be non-empty and of equal length"),
        ({"camera_names": ["a b"]}, "letters, digits"),
        ({"image_size": 250}, "multiple of 32"),
        ({"image_size": "large"}, "image_size must be a int"),
        ({"occlusion_threshold": 1.5}, r"\[0, 1\]"),
        ({"max_objects": 0}, "max_objects must be >= 1"),
        ({"drop_frames": "yes"}, "drop_frames must be a bool"),
        ({"click_topics": ["/a", "/b"]}, "click_topics has 2 entries but there are 1 cameras"),
        ({"image_reliability": "sometimes"}, "must be one of auto, reliable, best_effort"),
        ({"compile": "fast"}, "compile 'fast' must be one of none, default, max"),
        ({"compile": True}, "compile must be a str"),
        ({"precision": "fp16"}, "precision 'fp16' must be one of auto, fp32, bf16"),
        ({"detection_topics": ["/a", "/b"]}, "detection_topics has 2 entries"),
        ({"detection_min_score": 1.5}, r"detection_min_score must be in \[0, 1\]"),
        ({"detection_match_iou": 0.0}, r"detection_match_iou must be in \(0, 1\]"),
        ({"detection_recondition_frames": 0}, "detection_recondition_frames must be >= 1"),
        ({"detection_forget_after": -1}, "detection_forget_after must be >= 0"),
        ({"detection_classes": [1, 2]}, "detection_classes must be a list of strs"),
        ({"detection_confirm_hits": 0}, "detection_confirm_hits must be >= 1 and at most"),
        ({"detection_confirm_hits": 6}, r"at most detection_confirm_window, got 6 of 5"),
        ({"detection_match_on": "centre"}, "must be one of mask, box"),
        ({"duplicate_iou": 0.0}, r"duplicate_iou must be in \(0, 1\]"),
        ({"duplicate_frames": -1}, "duplicate_frames must be >= 0"),
        ({"backend": "tensorrt"}, "backend 'tensorrt' must be one of torch, onnxruntime, openvino"),
        ({"backend": "onnxruntime"}, "backend onnxruntime needs onnx_dir"),
        ({"backend": "openvino"}, "backend openvino needs onnx_dir"),
        (
            {"backend": "onnxruntime", "onnx_dir": "/x", "precision": "bf16"},
            "precision bf16 applies to the torch and openvino backends",
        ),
        (
            {"backend": "openvino", "onnx_dir": "/x", "compile": "default"},
            "compile default applies to the torch backend only: with backend openvino",
        ),
        (
            {"backend": "onnxruntime", "onnx_dir": "/x", "compile": "max"},
            "compile max applies to the torch backend only",
        ),
    ],
)
def test_bad_values_are_explained(overrides, message):
    with pytest.raises(ParameterError, match=message):
        parse(_values(**overrides))


def test_detection_parameters_become_association_settings():
    params = parse(_values())
    assert params.cameras[0].detection_topic == ""
    assert params.detection == AssociationSettings(
        min_score=0.5,
        classes=frozenset(),
        match_iou=0.4,
        recondition_iou=0.7,
        recondition_frames=16,
        forget_after=30,
        max_objects=16,
        confirm_hits=3,
        confirm_window=5,
        match_on="mask",
    )
    assert params.duplicates == DuplicateSettings(iou=0.7, frames=5)
    chosen = parse(
        _values(
            detection_topics=["/detector/detections"],
            detection_classes=["cup", "person"],
            detection_forget_after=0,
            max_objects=4,
            detection_confirm_hits=1,
            detection_match_on="box",
            duplicate_frames=0,
        )
    )
    assert (chosen.detection.confirm_hits, chosen.detection.match_on) == (1, "box")
    assert chosen.duplicates.frames == 0
    assert chosen.cameras[0].detection_topic == "/detector/detections"
    assert chosen.detection.classes == {"cup", "person"}
    assert (chosen.detection.forget_after, chosen.detection.max_objects) == (0, 4)


def test_backend_parameters():
    params = parse(_values(backend="onnxruntime", onnx_dir="/exports/tiny", onnx_providers="cpu"))
    assert (params.backend, params.onnx_dir, params.onnx_providers) == (
        "onnxruntime",
        Path("/exports/tiny"),
        "cpu",
    )
    assert params.tensorrt_cache_dir is None  # the default cache
    assert params.openvino_device == "CPU"
    params = parse(
        _values(backend="openvino", onnx_dir="/e", precision="bf16", openvino_device="GPU")
    )
    assert (params.backend, params.precision, params.openvino_device) == ("openvino", "bf16", "GPU")
    assert parse(_values()).backend == "torch"


def test_node_params_holds_every_parameter_with_its_type():
    """``NodeParams`` is a dataclass written out: a field per undotted parameter, each with a
    type (none ``Any``), and the values parse gives have those types."""
    fields = {field.name: field.type for field in dataclasses.fields(NodeParams)}
    undotted = [p.attribute for p in PARAMETERS if p.attribute]
    assert set(undotted) <= set(fields)
    assert not [name for name, kind in fields.items() if "Any" in str(kind)]
    hints = typing.get_type_hints(NodeParams)
    params = parse(_values(checkpoint="/tmp/weights.pt", image_size=256))
    for name in undotted:
        origin = typing.get_origin(hints[name]) or hints[name]
        kinds = typing.get_args(hints[name]) if origin is types.UnionType else (origin,)
        assert isinstance(getattr(params, name), kinds), name
    settings = params.engine_settings()
    assert settings.checkpoint == Path("/tmp/weights.pt") and settings.image_size == 256
    assert settings.history_frames == params.prompt_history_frames
