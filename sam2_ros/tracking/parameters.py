"""The node's parameters as plain data: each one's default and description, and their validation
into :class:`NodeParams` (declared on the node by :mod:`sam2_ros.node.params`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam2_ros.engine import DEFAULT_MODEL_CFG
from sam2_ros.engine.checkpoint import CHECKPOINT_FOR_CONFIG
from sam2_ros.engine.compiled import COMPILE_MODES
from sam2_ros.engine.memory_selection import MEMORY_SELECTIONS
from sam2_ros.engine.model import BACKENDS, GRAPH_BACKENDS, ModelConfigError, validate_backend
from sam2_ros.engine.precision import PRECISIONS
from sam2_ros.engine.samurai import SamuraiSettings, SamuraiSettingsError
from sam2_ros.paths import model_dir
from sam2_ros.tracking.association import AssociationSettings
from sam2_ros.tracking.duplicates import DuplicateSettings
from sam2_ros.tracking.object_store import ObjectNameError, ObjectStore

AUTO = "auto"

#: The defaults of the ``detection_*`` and ``duplicate_*`` parameters (the bag tool's flags share
#: them).
_DETECTION = AssociationSettings()
_DUPLICATES = DuplicateSettings()
MATCH_ON = ("mask", "box")

# name -> (default, description); ranges are added below where they apply.
PARAMETERS: dict[str, tuple[Any, str]] = {
    "model_cfg": (DEFAULT_MODEL_CFG, "SAM 2 config (a file inside the sam2 package)."),
    "checkpoint": (
        "",
        "Path of the SAM 2 .pt checkpoint; '' uses the file matching model_cfg in the package's "
        "model/ folder (see model/download_checkpoints.sh).",
    ),
    "allow_random_weights": (
        False,
        "Run without a checkpoint on random weights (tests and demos only: masks are meaningless).",
    ),
    "seed": (0, "Seed of the random weights when allow_random_weights is used."),
    "device": ("auto", "Torch device: auto (CUDA when available), cpu, cuda or cuda:N."),
    "precision": (
        "auto",
        "Float precision of SAM 2: auto (bf16 on CUDA and on CPUs with native bf16 matrix "
        "instructions: avx512_bf16, amx_bf16 or Arm bf16; else fp32), fp32 or bf16.",
    ),
    "image_size": (
        0,
        "SAM 2 input resolution (a multiple of 32 in [128, 2048]); 0 = the model default (1024).",
    ),
    "compile": (
        "none",
        "torch.compile mode of every per-frame SAM 2 component: none, default or max "
        "(max-autotune; CUDA graphs on GPUs). Compiled in configure, kept in compile_cache_dir.",
    ),
    "compile_cache_dir": (
        "",
        "Where compiled kernels are kept between starts; '' = ~/.cache/sam2_ros/torch_compile.",
    ),
    "backend": (
        "torch",
        "What runs SAM 2's per-frame components: torch, or onnxruntime or openvino on the export "
        "in onnx_dir (sam2-ros export; made from the same model_cfg, image_size and weights).",
    ),
    "onnx_dir": (
        "",
        "Folder of an export (sam2-ros export OUTPUT_DIR) for backend onnxruntime or openvino.",
    ),
    "onnx_providers": (
        "auto",
        "ONNX Runtime execution providers: auto (TensorRT, then CUDA, then CPU, as the installed "
        "onnxruntime offers them) or a comma-separated list of tensorrt, cuda, cpu.",
    ),
    "tensorrt_cache_dir": (
        "",
        "Where TensorRT keeps the engines it builds from the graphs (minutes on first start); "
        "'' = ~/.cache/sam2_ros/tensorrt.",
    ),
    "openvino_device": (
        "CPU",
        "OpenVINO device of backend openvino: CPU, GPU, NPU (Intel's drivers) or AUTO; one "
        "OpenVINO does not offer here is refused at configure. Precision: auto = bf16 where the "
        "device has bf16 units.",
    ),
    "camera_names": (["camera"], "One name per camera; outputs go to ~/<name>/..."),
    "image_topics": (
        ["/camera/image_raw"],
        "One image topic per camera; a topic ending in /compressed is a CompressedImage.",
    ),
    "camera_info_topics": (
        [AUTO],
        "One CameraInfo topic per camera for rviz clicks; 'auto' = the image topic's sibling "
        "camera_info, '' = none.",
    ),
    "click_topics": (
        [AUTO],
        "One geometry_msgs/Point pixel-click topic per camera (rqt_image_view mouse publishing); "
        "'auto' = <image topic>_mouse_left and <image topic>/compressed_mouse_left (where "
        "rqt_image_view publishes clicks on the raw and the compressed transport), '' = none.",
    ),
    "overlay_clicks": (
        True,
        "Listen on ~/<camera>/overlay_mouse_left and ~/<camera>/overlay/compressed_mouse_left "
        "(geometry_msgs/Point): clicks on the overlay in rqt_image_view start objects on that "
        "camera.",
    ),
    "depth_topics": (
        [""],
        "One depth image topic per camera, registered to its colour image (16UC1 or 32FC1); "
        "'' = no 3D for that camera.",
    ),
    "depth_scale": (0.001, "Metres per unit of 16UC1 depth images."),
    "depth_range": ([0.1, 10.0], "Depths outside [min, max] metres are invalid."),
    "depth_max_time_diff": (
        0.02,
        "Seconds between a frame's and its depth image's stamps at most.",
    ),
    "depth_wait": (
        0.1,
        "Seconds to wait for a frame's depth image after its masks are ready.",
    ),
    "min_depth_points": (20, "Valid depth pixels an object needs to be lifted into 3D."),
    "max_points_per_object": (2000, "Most points per object in ~/<camera>/object_points."),
    "detection_topics": (
        [""],
        "One vision_msgs/Detection2DArray topic per camera: a detector's boxes, stamped with the "
        "image they were computed on, start, confirm and retire objects; '' = none.",
    ),
    "detection_min_score": (
        _DETECTION.min_score,
        "Detections start objects (and re-prompt disagreeing ones) only from this score up.",
    ),
    "detection_classes": (
        [""],
        "Class ids detections may have; others are ignored ([''] = every class).",
    ),
    "detection_match_iou": (
        _DETECTION.match_iou,
        "A detection pairs with an object when its box and the object's mask overlap at least "
        "this much (IoU of the box's and the mask's pixels).",
    ),
    "detection_match_on": (
        _DETECTION.match_on,
        "What a detection's box is measured against for pairing: mask (the object's mask "
        "pixels: a mask with a thin leak still pairs) or box (the mask's bounding box).",
    ),
    "detection_recondition_iou": (
        _DETECTION.recondition_iou,
        "A paired object whose mask box overlaps its confident detection less than this (IoU) "
        "is prompted again with the detection's box.",
    ),
    "detection_recondition_frames": (
        _DETECTION.recondition_frames,
        "An object is prompted again from a detection at most once every this many tracked frames.",
    ),
    "detection_forget_after": (
        _DETECTION.forget_after,
        "An object started by detections is removed after this many consecutive detection "
        "messages without a detection paired with it; 0 = never. Clicked objects stay.",
    ),
    "detection_confirm_hits": (
        _DETECTION.confirm_hits,
        "An object started by detections is tentative (tracked, on no output) until detections "
        "paired with it in this many of the first detection_confirm_window messages since its "
        "start (the start counts); else it is removed. 1 = published at once.",
    ),
    "detection_confirm_window": (
        _DETECTION.confirm_window,
        "Detection messages (the start included) within which a new object must be confirmed.",
    ),
    "duplicate_iou": (
        _DUPLICATES.iou,
        "Two published objects whose masks overlap at least this much (IoU) on duplicate_frames "
        "consecutive tracked frames are one: the detector's (else the younger) is removed.",
    ),
    "duplicate_frames": (
        _DUPLICATES.frames,
        "Consecutive tracked frames two objects must overlap before one is removed; 0 = never. "
        "Clicked objects are never removed for this.",
    ),
    "rviz_click_topic": (
        "/clicked_point",
        "rviz2 'Publish Point' topic: a 3D click projected into a camera starts an object; "
        "'' disables.",
    ),
    "max_objects": (16, "Most objects tracked per camera (>= 1)."),
    "max_conditioning_frames": (
        8,
        "Prompted frames kept per object (the first one plus the most recent ones).",
    ),
    "memory_selection": (
        "sam2",
        "How past frames become memory and which candidate mask an object gets: sam2 (SAM 2's "
        "own: the last frames, the top-scored mask) or samurai (SAMURAI's motion-aware memory: a "
        "Kalman filter on each object's box weighs the candidates, memory keeps confident past "
        "frames; for moving objects, look-alikes and occlusion; samurai.* tune it).",
    ),
    "samurai.stable_frames_threshold": (
        15,
        "SAMURAI: consecutive confident frames before the motion filter weighs the candidate "
        "masks.",
    ),
    "samurai.stable_ious_threshold": (
        0.3,
        "SAMURAI: predicted IoU a chosen mask needs to feed the motion filter.",
    ),
    "samurai.min_obj_score_logits": (
        -1.0,
        "SAMURAI: object score logit above which an object counts as present (SAM 2 uses 0).",
    ),
    "samurai.kf_score_weight": (
        -1.0,
        "SAMURAI: weight in [0, 1] of the motion IoU against the predicted IoU when choosing a "
        "mask; < 0 = SAMURAI's value for model_cfg (0.25; 0.15 for hiera_l).",
    ),
    "samurai.memory_bank_iou_threshold": (
        0.5,
        "SAMURAI: predicted IoU a past frame's mask needs to become memory.",
    ),
    "samurai.memory_bank_obj_score_threshold": (
        0.0,
        "SAMURAI: object score logit a past frame needs to become memory.",
    ),
    "samurai.memory_bank_kf_score_threshold": (
        0.0,
        "SAMURAI: motion IoU a past frame needs to become memory (once the filter weighs masks).",
    ),
    "samurai.candidate_frames": (
        30,
        "SAMURAI: past frames scanned for memories per object (their memories are kept: about "
        "0.5 MB each per object at 1024 px).",
    ),
    "corrections_as_conditioning": (
        True,
        "A prompt on an already tracked object becomes a lasting conditioning frame "
        "(SAM 2's add_all_frames_to_correct_as_cond) instead of a memory that ages out.",
    ),
    "prompt_history_frames": (
        30,
        "Last tracked frames per camera a prompt can land on (AddPrompt stamp, clicks on an "
        "older frame); the object is then tracked again up to the newest frame. 0 = the newest "
        "frame only.",
    ),
    "occlusion_threshold": (
        0.5,
        "Occlusion score in [0, 1] above which an object is reported occluded.",
    ),
    "publish_overlay": (True, "Publish ~/<camera>/overlay (bgr8) when it has subscribers."),
    "publish_label_image": (
        True,
        "Publish ~/<camera>/label_image (mono16 object ids) when it has subscribers.",
    ),
    "drop_frames": (
        True,
        "true: always process the newest frame and count the skipped ones (live cameras); "
        "false: process every frame in order (reliable input QoS, bounded queue; bag replay).",
    ),
    "queue_size": (30, "Input queue depth per camera when drop_frames is false."),
    "objects_dir": (
        "~/.ros/sam2_ros/objects",
        "Folder of saved objects: ~/save_objects and ~/load_objects use "
        "<objects_dir>/<name>.<camera>.safetensors.",
    ),
    "load_objects_on_activate": (
        "",
        "Saved objects to load on activate, by name ('' = none; a missing file is a warning).",
    ),
    "save_objects_on_deactivate": (
        "",
        "Name to save every camera's objects under before deactivate forgets them ('' = none).",
    ),
    "image_reliability": (
        AUTO,
        "Reliability of the image subscriptions when drop_frames is true: auto (reliable when "
        "every publisher of the topic offers reliable, else best effort), reliable or "
        "best_effort.",
    ),
}

RELIABILITY_MODES = (AUTO, "reliable", "best_effort")


class ParameterError(ValueError):
    """A parameter value that cannot work."""


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
        return self.image_topic.rstrip("/").endswith("/compressed")


@dataclass(frozen=True)
class NodeParams:
    """Every node parameter, validated."""

    model_cfg: str
    checkpoint: Path | None
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
    cameras: tuple[CameraConfig, ...]
    rviz_click_topic: str
    max_objects: int
    max_conditioning_frames: int
    corrections_as_conditioning: bool
    prompt_history_frames: int
    memory_selection: str
    #: The SAMURAI settings to pass (by SAMURAI's names), empty with memory_selection sam2.
    samurai: dict[str, float]
    occlusion_threshold: float
    publish_overlay: bool
    publish_label_image: bool
    drop_frames: bool
    queue_size: int
    image_reliability: str
    overlay_clicks: bool
    objects_dir: str
    depth_scale: float
    depth_range: tuple[float, float]
    depth_max_time_diff: float
    depth_wait: float
    min_depth_points: int
    max_points_per_object: int
    load_objects_on_activate: str
    save_objects_on_deactivate: str
    detection: AssociationSettings
    duplicates: DuplicateSettings


def _one_of(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ParameterError naming them."""
    if value not in choices:
        raise ParameterError(f"{name} {value!r} must be one of {', '.join(choices)}")
    return value


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    """Each value must have its default's type (an int is accepted for a float)."""
    checked = {}
    for name, (default, _) in PARAMETERS.items():
        value = values[name]
        if isinstance(default, list):
            kind = (int, float) if isinstance(default[0], float) else type(default[0])
            ok = isinstance(value, list | tuple) and all(
                isinstance(v, kind) and not isinstance(v, bool) for v in value
            )
            value = list(value) if ok else value
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ParameterError(
                f"parameter {name} must be a {type(default).__name__}"
                f"{' of ' + type(default[0]).__name__ + 's' if isinstance(default, list) else ''}"
                f", got {value!r}"
            )
        checked[name] = value
    return checked


def image_topic_base(image_topic: str) -> str:
    """The raw topic of a transport topic (``/cam/image/compressed`` -> ``/cam/image``)."""
    topic = image_topic.rstrip("/")
    return topic[: -len("/compressed")] if topic.endswith("/compressed") else topic


def mouse_topics(base_topic: str) -> tuple[str, str]:
    """Where rqt_image_view publishes clicks on an image: ``<topic>_mouse_left`` while it shows
    the raw transport, ``<topic>/compressed_mouse_left`` while it shows the compressed one (its
    mouse topic is the subscribed transport topic plus ``_mouse_left``)."""
    return f"{base_topic}_mouse_left", f"{base_topic}/compressed_mouse_left"


def _per_camera(name: str, values: list[str], count: int) -> list[str]:
    """One value per camera; a single default value (``auto``, or ``''`` for depth and
    detections) is every camera's."""
    default = PARAMETERS[name][0]
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
    cameras = tuple(
        CameraConfig(
            name=name,
            image_topic=topic,
            camera_info_topic=(
                image_topic_base(topic).rsplit("/", 1)[0] + "/camera_info" if info == AUTO else info
            ),
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
    image_size = int(values["image_size"])
    if image_size != 0 and (image_size % 32 or not 128 <= image_size <= 2048):
        raise ParameterError(
            f"image_size {image_size} must be 0 or a multiple of 32 in [128, 2048]"
        )
    threshold = float(values["occlusion_threshold"])
    if not 0.0 <= threshold <= 1.0:
        raise ParameterError(f"occlusion_threshold {threshold} must be in [0, 1]")
    for name in ("max_objects", "max_conditioning_frames", "queue_size"):
        if int(values[name]) < 1:
            raise ParameterError(f"{name} must be >= 1, got {values[name]}")
    if int(values["prompt_history_frames"]) < 0:
        raise ParameterError(
            f"prompt_history_frames must be >= 0, got {values['prompt_history_frames']}"
        )
    depth_range = tuple(float(v) for v in values["depth_range"])
    if len(depth_range) != 2 or not 0.0 <= depth_range[0] < depth_range[1]:
        raise ParameterError(
            f"depth_range {list(depth_range)} must be [min, max] with 0 <= min < max"
        )
    for name in ("depth_scale", "depth_max_time_diff"):
        if not float(values[name]) > 0.0:
            raise ParameterError(f"{name} must be > 0, got {values[name]}")
    if float(values["depth_wait"]) < 0.0:
        raise ParameterError(f"depth_wait must be >= 0, got {values['depth_wait']}")
    for name in ("min_depth_points", "max_points_per_object"):
        if int(values[name]) < 1:
            raise ParameterError(f"{name} must be >= 1, got {values[name]}")
    store = ObjectStore(str(values["objects_dir"]))
    for name in ("load_objects_on_activate", "save_objects_on_deactivate"):
        if values[name]:
            try:
                store.path(values[name], "camera")
            except ObjectNameError as err:
                raise ParameterError(f"{name}: {err}") from err
    backend = _one_of("backend", values["backend"], BACKENDS)
    precision = _one_of("precision", values["precision"], PRECISIONS)
    try:
        validate_backend(backend, values["onnx_dir"], precision)
    except ModelConfigError as err:
        raise ParameterError(str(err)) from err
    if backend in GRAPH_BACKENDS and values["compile"] != "none":
        raise ParameterError(
            f"compile {values['compile']} applies to the torch backend only: with backend "
            f"{backend} the runtime optimises the graphs itself (set compile: none)"
        )
    model_cfg = str(values["model_cfg"])
    memory_selection = _one_of("memory_selection", values["memory_selection"], MEMORY_SELECTIONS)
    return NodeParams(
        model_cfg=model_cfg,
        checkpoint=resolve_checkpoint(str(values["checkpoint"]), model_cfg),
        allow_random_weights=bool(values["allow_random_weights"]),
        seed=int(values["seed"]),
        device=str(values["device"]),
        precision=precision,
        image_size=image_size or None,
        compile=_one_of("compile", values["compile"], COMPILE_MODES),
        compile_cache_dir=Path(cache_dir) if (cache_dir := values["compile_cache_dir"]) else None,
        backend=backend,
        onnx_dir=Path(onnx_dir) if (onnx_dir := values["onnx_dir"]) else None,
        onnx_providers=str(values["onnx_providers"]),
        tensorrt_cache_dir=Path(trt) if (trt := values["tensorrt_cache_dir"]) else None,
        openvino_device=str(values["openvino_device"]),
        cameras=cameras,
        rviz_click_topic=str(values["rviz_click_topic"]),
        max_objects=int(values["max_objects"]),
        max_conditioning_frames=int(values["max_conditioning_frames"]),
        corrections_as_conditioning=bool(values["corrections_as_conditioning"]),
        prompt_history_frames=int(values["prompt_history_frames"]),
        memory_selection=memory_selection,
        samurai=samurai_settings(values, model_cfg) if memory_selection == "samurai" else {},
        occlusion_threshold=threshold,
        publish_overlay=bool(values["publish_overlay"]),
        publish_label_image=bool(values["publish_label_image"]),
        drop_frames=bool(values["drop_frames"]),
        queue_size=int(values["queue_size"]),
        image_reliability=_one_of(
            "image_reliability", values["image_reliability"], RELIABILITY_MODES
        ),
        overlay_clicks=bool(values["overlay_clicks"]),
        objects_dir=str(values["objects_dir"]),
        depth_scale=float(values["depth_scale"]),
        depth_range=depth_range,
        depth_max_time_diff=float(values["depth_max_time_diff"]),
        depth_wait=float(values["depth_wait"]),
        min_depth_points=int(values["min_depth_points"]),
        max_points_per_object=int(values["max_points_per_object"]),
        load_objects_on_activate=str(values["load_objects_on_activate"]),
        save_objects_on_deactivate=str(values["save_objects_on_deactivate"]),
        detection=association_settings(values),
        duplicates=duplicate_settings(values),
    )


def association_settings(values: dict[str, Any]) -> AssociationSettings:
    """The ``detection_*`` parameters (and ``max_objects``), validated."""
    for name in ("detection_min_score", "detection_recondition_iou"):
        if not 0.0 <= float(values[name]) <= 1.0:
            raise ParameterError(f"{name} must be in [0, 1], got {values[name]}")
    if not 0.0 < float(values["detection_match_iou"]) <= 1.0:
        raise ParameterError(
            f"detection_match_iou must be in (0, 1], got {values['detection_match_iou']}"
        )
    if int(values["detection_recondition_frames"]) < 1:
        raise ParameterError(
            "detection_recondition_frames must be >= 1, got "
            f"{values['detection_recondition_frames']}"
        )
    if int(values["detection_forget_after"]) < 0:
        raise ParameterError(
            f"detection_forget_after must be >= 0, got {values['detection_forget_after']}"
        )
    match_on = _one_of("detection_match_on", values["detection_match_on"], MATCH_ON)
    hits, window = int(values["detection_confirm_hits"]), int(values["detection_confirm_window"])
    if not 1 <= hits <= window:
        raise ParameterError(
            "detection_confirm_hits must be >= 1 and at most detection_confirm_window, got "
            f"{hits} of {window}"
        )
    return AssociationSettings(
        min_score=float(values["detection_min_score"]),
        classes=frozenset(c for c in values["detection_classes"] if c),
        match_iou=float(values["detection_match_iou"]),
        recondition_iou=float(values["detection_recondition_iou"]),
        recondition_frames=int(values["detection_recondition_frames"]),
        forget_after=int(values["detection_forget_after"]),
        max_objects=int(values["max_objects"]),
        confirm_hits=hits,
        confirm_window=window,
        match_on=match_on,
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
    """The ``duplicate_*`` parameters, validated."""
    if not 0.0 < float(values["duplicate_iou"]) <= 1.0:
        raise ParameterError(f"duplicate_iou must be in (0, 1], got {values['duplicate_iou']}")
    if int(values["duplicate_frames"]) < 0:
        raise ParameterError(f"duplicate_frames must be >= 0, got {values['duplicate_frames']}")
    return DuplicateSettings(float(values["duplicate_iou"]), int(values["duplicate_frames"]))


def resolve_checkpoint(checkpoint: str, model_cfg: str) -> Path | None:
    """The given path, or the official file for ``model_cfg`` in the package's model/ folder
    when it exists there; None when there is none."""
    if checkpoint:
        return Path(checkpoint).expanduser()
    folder, name = model_dir(), CHECKPOINT_FOR_CONFIG.get(model_cfg)
    if folder is not None and name is not None and (folder / name).is_file():
        return folder / name
    return None


def expected_checkpoint(model_cfg: str) -> str:
    """Where the node looks for a checkpoint by default (for error messages)."""
    folder, name = model_dir(), CHECKPOINT_FOR_CONFIG.get(model_cfg, "<checkpoint for model_cfg>")
    return str((folder or Path("model")) / name)
