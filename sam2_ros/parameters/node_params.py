"""The node's parameters validated into :class:`NodeParams`: each value checked against its
declaration (:mod:`sam2_ros.parameters.declarations`), then the rules between parameters and the
engine's own rules (:func:`parse`). The node, the bag tool's replay and the tests validate with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam2_ros.engine.memory.samurai import SamuraiSettings, SamuraiSettingsError
from sam2_ros.engine.model.build import (
    IMAGE_SIZE_RULE,
    ModelConfigError,
    validate_backend,
    validate_image_size,
)
from sam2_ros.engine.model.checkpoint import resolve_checkpoint
from sam2_ros.engine.settings import EngineSettings
from sam2_ros.parameters.declarations import AUTO, BY_NAME, PARAMETERS, ParameterError
from sam2_ros.topics import camera_info_topic, image_topic_base, is_compressed, mouse_topics
from sam2_ros.tracking.association import AssociationSettings
from sam2_ros.tracking.duplicates import DuplicateSettings
from sam2_ros.tracking.frame_stamps import TimeJumpSettings
from sam2_ros.tracking.object_store import ObjectNameError, ObjectStore


@dataclass(frozen=True)
class CameraConfig:
    """Where one camera's inputs come from."""

    name: str
    image_topic: str
    camera_info_topic: str  # '' = none
    click_topics: tuple[str, ...]  # () = none
    depth_topic: str  # '' = none
    detection_topic: str  # '' = none

    @property
    def compressed(self) -> bool:
        """Whether the image topic carries sensor_msgs/CompressedImage."""
        return is_compressed(self.image_topic)


@dataclass(frozen=True)
class NodeParams:
    """Every parameter, validated: one field per undotted parameter (converted as declared), plus
    what is derived from several."""

    model_cfg: str
    checkpoint: Path | None  # resolved: the given path, else the installed file for model_cfg
    allow_random_weights: bool
    seed: int
    device: str
    precision: str
    image_size: int | None
    compile: str
    compile_cache_dir: Path | None
    backend: str
    onnx_dir: Path | None
    onnx_providers: str
    tensorrt_cache_dir: Path | None
    openvino_device: str
    camera_names: list[str]
    image_topics: list[str]
    camera_info_topics: list[str]
    click_topics: list[str]
    overlay_clicks: bool
    depth_topics: list[str]
    depth_scale: float
    depth_range: tuple[float, float]
    depth_max_time_diff: float
    depth_wait: float
    min_depth_points: int
    max_points_per_object: int
    detection_topics: list[str]
    detection_min_score: float
    detection_classes: list[str]
    detection_match_iou: float
    detection_match_on: str
    detection_recondition_iou: float
    detection_recondition_frames: int
    detection_forget_after: int
    detection_confirm_hits: int
    detection_confirm_window: int
    duplicate_iou: float
    duplicate_frames: int
    rviz_click_topic: str
    max_objects: int
    max_conditioning_frames: int
    memory_selection: str
    corrections_as_conditioning: bool
    prompt_history_frames: int
    time_jump_tolerance: float
    reset_on_time_jump: bool
    occlusion_threshold: float
    publish_overlay: bool
    publish_label_image: bool
    drop_frames: bool
    queue_size: int
    objects_dir: str
    load_objects_on_activate: str
    save_objects_on_deactivate: str
    image_reliability: str
    # derived from several parameters
    cameras: tuple[CameraConfig, ...]
    samurai: dict[str, float]  # the samurai.* settings to pass (empty with memory_selection sam2)
    detection: AssociationSettings
    duplicates: DuplicateSettings
    time_jumps: TimeJumpSettings

    def engine_settings(self) -> EngineSettings:
        """The engine's settings: the model to load and how each camera's predictor tracks."""
        return EngineSettings(
            model_cfg=self.model_cfg,
            checkpoint=self.checkpoint,
            device=self.device,
            image_size=self.image_size,
            allow_random_weights=self.allow_random_weights,
            seed=self.seed,
            precision=self.precision,
            backend=self.backend,
            onnx_dir=self.onnx_dir,
            onnx_providers=self.onnx_providers,
            tensorrt_cache_dir=self.tensorrt_cache_dir,
            openvino_device=self.openvino_device,
            max_objects=self.max_objects,
            max_conditioning_frames=self.max_conditioning_frames,
            corrections_as_conditioning=self.corrections_as_conditioning,
            history_frames=self.prompt_history_frames,
            memory_selection=self.memory_selection,
            samurai=dict(self.samurai),
        )


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    """Each value checked against its declaration."""
    return {parameter.name: parameter.check(values[parameter.name]) for parameter in PARAMETERS}


def _per_camera(name: str, values: list[str], count: int) -> list[str]:
    """One value per camera; a single default value (``auto``, or ``''`` for depth and
    detections) is every camera's."""
    default = BY_NAME[name].default
    if values == default:
        return default * count
    if len(values) != count:
        raise ParameterError(
            f"{name} has {len(values)} entries but there are {count} cameras: give one per camera "
            f"(or {default})"
        )
    return values


def parse(values: dict[str, Any]) -> NodeParams:
    """Validate raw parameter values (as read from the node) into :class:`NodeParams`."""
    values = _checked(values)
    image_size = values["image_size"]
    if image_size:
        try:
            validate_image_size(image_size)
        except ModelConfigError as err:
            raise ParameterError(f"image_size {image_size} must be 0 or {IMAGE_SIZE_RULE}") from err
    depth_range = values["depth_range"]
    if len(depth_range) != 2 or not 0.0 <= depth_range[0] < depth_range[1]:
        raise ParameterError(
            f"depth_range {list(depth_range)} must be [min, max] with 0 <= min < max"
        )
    store = ObjectStore(str(values["objects_dir"]))
    for name in ("load_objects_on_activate", "save_objects_on_deactivate"):
        if values[name]:
            try:
                store.path(values[name], "camera")
            except ObjectNameError as err:
                raise ParameterError(f"{name}: {err}") from err
    try:
        validate_backend(
            values["backend"], values["onnx_dir"], values["precision"], values["compile"]
        )
    except ModelConfigError as err:
        raise ParameterError(str(err)) from err
    model_cfg = values["model_cfg"]
    selection = values["memory_selection"]
    return NodeParams(
        **{
            p.attribute: p.convert(values[p.name]) if p.convert else values[p.name]
            for p in PARAMETERS
            if p.attribute and p.attribute != "checkpoint"
        },
        checkpoint=resolve_checkpoint(values["checkpoint"], model_cfg),
        cameras=camera_configs(values),
        samurai=samurai_settings(values, model_cfg) if selection == "samurai" else {},
        detection=association_settings(values),
        duplicates=duplicate_settings(values),
        time_jumps=TimeJumpSettings(
            round(values["time_jump_tolerance"] * 1e9), values["reset_on_time_jump"]
        ),
    )


def camera_configs(values: dict[str, Any]) -> tuple[CameraConfig, ...]:
    """Each camera's topics, from the per-camera lists (checked values)."""
    names, topics = list(values["camera_names"]), list(values["image_topics"])
    if not names or len(names) != len(topics):
        raise ParameterError(
            f"camera_names ({len(names)}) and image_topics ({len(topics)}) must be non-empty "
            "and of equal length"
        )
    if len(set(names)) != len(names) or not all(n and n.replace("_", "").isalnum() for n in names):
        raise ParameterError(
            f"camera_names {names} must be unique and made of letters, digits and '_'"
        )
    if not all(t.startswith("/") or t[:1].isalpha() for t in topics):
        raise ParameterError(f"image_topics {topics} must be valid topic names")
    infos = _per_camera("camera_info_topics", list(values["camera_info_topics"]), len(names))
    clicks = _per_camera("click_topics", list(values["click_topics"]), len(names))
    depths = _per_camera("depth_topics", list(values["depth_topics"]), len(names))
    detections = _per_camera("detection_topics", list(values["detection_topics"]), len(names))
    return tuple(
        CameraConfig(
            name=name,
            image_topic=topic,
            camera_info_topic=camera_info_topic(topic) if info == AUTO else info,
            click_topics=(
                mouse_topics(image_topic_base(topic)) if click == AUTO else (click,) * bool(click)
            ),
            depth_topic=depth,
            detection_topic=detection,
        )
        for name, topic, info, click, depth, detection in zip(
            names, topics, infos, clicks, depths, detections, strict=True
        )
    )


def association_settings(values: dict[str, Any]) -> AssociationSettings:
    """The ``detection_*`` parameters (and ``max_objects``), validated (also the bag tool's
    flags of the same names)."""
    names = [n for n in BY_NAME if n.startswith("detection_") and n != "detection_topics"]
    checked = {name: BY_NAME[name].check(values[name]) for name in [*names, "max_objects"]}
    hits, window = checked["detection_confirm_hits"], checked["detection_confirm_window"]
    if not 1 <= hits <= window:
        raise ParameterError(
            "detection_confirm_hits must be >= 1 and at most detection_confirm_window, got "
            f"{hits} of {window}"
        )
    return AssociationSettings(
        min_score=float(checked["detection_min_score"]),
        classes=frozenset(c for c in checked["detection_classes"] if c),
        match_iou=float(checked["detection_match_iou"]),
        recondition_iou=float(checked["detection_recondition_iou"]),
        recondition_frames=checked["detection_recondition_frames"],
        forget_after=checked["detection_forget_after"],
        max_objects=checked["max_objects"],
        confirm_hits=hits,
        confirm_window=window,
        match_on=checked["detection_match_on"],
    )


def samurai_settings(values: dict[str, Any], model_cfg: str) -> dict[str, float]:
    """The ``samurai.*`` parameters by SAMURAI's names (a negative ``kf_score_weight`` left out:
    SAMURAI's for the model), validated."""
    settings = {
        name.removeprefix("samurai."): value
        for name, value in values.items()
        if name.startswith("samurai.")
    }
    if settings["kf_score_weight"] < 0:
        del settings["kf_score_weight"]
    try:
        SamuraiSettings.for_model(model_cfg, settings)
    except SamuraiSettingsError as err:
        raise ParameterError(f"samurai.{err}") from err
    return settings


def duplicate_settings(values: dict[str, Any]) -> DuplicateSettings:
    """The ``duplicate_*`` parameters, validated (also the bag tool's flags)."""
    iou, frames = (BY_NAME[n].check(values[n]) for n in ("duplicate_iou", "duplicate_frames"))
    return DuplicateSettings(float(iou), frames)
