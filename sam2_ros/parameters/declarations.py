"""One declaration per node parameter (name, default and so type, description, accepted values,
how :class:`~sam2_ros.parameters.node_params.NodeParams` holds it), from which the node declares
them (:mod:`sam2_ros.node.params`), checks each value and builds ``NodeParams``
(:func:`~sam2_ros.parameters.node_params.parse`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam2_ros.engine.memory.selection import MEMORY_SELECTIONS
from sam2_ros.engine.model.build import BACKENDS
from sam2_ros.engine.model.compiled import COMPILE_MODES
from sam2_ros.engine.model.precision import PRECISIONS
from sam2_ros.engine.settings import DEFAULT_MODEL_CFG
from sam2_ros.tracking.association import AssociationSettings
from sam2_ros.tracking.duplicates import DuplicateSettings

AUTO = "auto"
RELIABILITY_MODES = (AUTO, "reliable", "best_effort")
MATCH_ON = ("mask", "box")
#: The defaults of the ``detection_*`` and ``duplicate_*`` parameters (the bag tool's flags share
#: them).
_DETECTION = AssociationSettings()
_DUPLICATES = DuplicateSettings()


class ParameterError(ValueError):
    """A parameter value that cannot work."""


def optional_path(value: str) -> Path | None:
    """'' -> None, else the path."""
    return Path(value) if value else None


def zero_is_none(value: int) -> int | None:
    """0 -> None (the model's own), else the value."""
    return value or None


def as_tuple(value: list) -> tuple:
    """A list parameter held as a tuple."""
    return tuple(value)


@dataclass(frozen=True)
class Parameter:
    """One node parameter. Its type is its default's (an int is accepted for a float; a list's
    elements have the first default element's type); ``minimum``/``maximum`` bound it inclusively,
    ``above`` exclusively; ``choices`` lists its values; ``convert`` turns the checked value into
    what ``NodeParams`` holds. A dotted name (``samurai.x``) is grouped, not an attribute."""

    name: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    choices: tuple[str, ...] = ()
    convert: Callable[[Any], Any] | None = None

    @property
    def attribute(self) -> str | None:
        """Its name on ``NodeParams`` (None for a dotted name)."""
        return None if "." in self.name else self.name

    def check(self, value: Any) -> Any:
        """``value`` if it has the parameter's type and is accepted, else ParameterError."""
        self._check_type(value)
        if self.choices and value not in self.choices:
            raise ParameterError(f"{self.name} {value!r} must be one of {', '.join(self.choices)}")
        low, high = self.above if self.above is not None else self.minimum, self.maximum
        if isinstance(value, bool) or not isinstance(value, int | float):
            return list(value) if isinstance(value, list | tuple) else value
        too_low = low is not None and (value <= low if self.above is not None else value < low)
        if too_low or (high is not None and value > high) or not math.isfinite(value):
            raise ParameterError(f"{self.name} must be {self.accepted()}, got {value}")
        return value

    def accepted(self) -> str:
        """The accepted numbers in words (``>= 1``, ``in (0, 1]``...)."""
        opening = "(" if self.above is not None else "["
        low = self.above if self.above is not None else self.minimum
        if low is not None and self.maximum is not None:
            return f"in {opening}{low:g}, {self.maximum:g}]"
        if low is not None:
            return f"{'>' if self.above is not None else '>='} {low:g}"
        if self.maximum is not None:
            return f"<= {self.maximum:g}"
        return "a finite number"

    def _check_type(self, value: Any) -> None:
        default = self.default
        if isinstance(default, list):
            kind = (int, float) if isinstance(default[0], float) else type(default[0])
            ok = isinstance(value, list | tuple) and all(
                isinstance(v, kind) and not isinstance(v, bool) for v in value
            )
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            of = f" of {type(default[0]).__name__}s" if isinstance(default, list) else ""
            raise ParameterError(
                f"parameter {self.name} must be a {type(default).__name__}{of}, got {value!r}"
            )


#: Every node parameter, in the order ``config/sam2.yaml`` documents them.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "model_cfg",
        DEFAULT_MODEL_CFG,
        "SAM 2 config (a file inside the sam2 package).",
    ),
    Parameter(
        "checkpoint",
        "",
        "Path of the SAM 2 .pt checkpoint; '' uses the file matching model_cfg in the package's "
        "model/ folder (see model/download_checkpoints.sh).",
    ),
    Parameter(
        "allow_random_weights",
        False,
        "Run without a checkpoint on random weights (tests and demos only: masks are meaningless).",
    ),
    Parameter(
        "seed",
        0,
        "Seed of the random weights when allow_random_weights is used.",
    ),
    Parameter(
        "device",
        "auto",
        "Torch device: auto (CUDA when available), cpu, cuda or cuda:N.",
    ),
    Parameter(
        "precision",
        "auto",
        "Float precision of SAM 2: auto (bf16 on CUDA and on CPUs with native bf16 matrix "
        "instructions: avx512_bf16, amx_bf16 or Arm bf16; else fp32), fp32 or bf16.",
        choices=PRECISIONS,
    ),
    Parameter(
        "image_size",
        0,
        "SAM 2 input resolution (a multiple of 32 in [128, 2048]); 0 = the model default (1024).",
        convert=zero_is_none,
    ),
    Parameter(
        "compile",
        "none",
        "torch.compile mode of every per-frame SAM 2 component: none, default or max "
        "(max-autotune; CUDA graphs on GPUs). Compiled in configure, kept in compile_cache_dir.",
        choices=COMPILE_MODES,
    ),
    Parameter(
        "compile_cache_dir",
        "",
        "Where compiled kernels are kept between starts; '' = ~/.cache/sam2_ros/torch_compile.",
        convert=optional_path,
    ),
    Parameter(
        "backend",
        "torch",
        "What runs SAM 2's per-frame components: torch, or onnxruntime or openvino on the export "
        "in onnx_dir (sam2-ros export; made from the same model_cfg, image_size and weights).",
        choices=BACKENDS,
    ),
    Parameter(
        "onnx_dir",
        "",
        "Folder of an export (sam2-ros export OUTPUT_DIR) for backend onnxruntime or openvino.",
        convert=optional_path,
    ),
    Parameter(
        "onnx_providers",
        "auto",
        "ONNX Runtime execution providers: auto (TensorRT, then CUDA, then CPU, as the installed "
        "onnxruntime offers them) or a comma-separated list of tensorrt, cuda, cpu.",
    ),
    Parameter(
        "tensorrt_cache_dir",
        "",
        "Where TensorRT keeps the engines it builds from the graphs (minutes on first start); "
        "'' = ~/.cache/sam2_ros/tensorrt.",
        convert=optional_path,
    ),
    Parameter(
        "openvino_device",
        "CPU",
        "OpenVINO device of backend openvino: CPU, GPU, NPU (Intel's drivers) or AUTO; one "
        "OpenVINO does not offer here is refused at configure. Precision: auto = bf16 where the "
        "device has bf16 units.",
    ),
    Parameter(
        "camera_names",
        ["camera"],
        "One name per camera; outputs go to ~/<name>/...",
    ),
    Parameter(
        "image_topics",
        ["/camera/image_raw"],
        "One image topic per camera; a topic ending in /compressed is a CompressedImage.",
    ),
    Parameter(
        "camera_info_topics",
        [AUTO],
        "One CameraInfo topic per camera for rviz clicks; 'auto' = the image topic's sibling "
        "camera_info, '' = none.",
    ),
    Parameter(
        "click_topics",
        [AUTO],
        "One geometry_msgs/Point pixel-click topic per camera (rqt_image_view mouse publishing); "
        "'auto' = <image topic>_mouse_left and <image topic>/compressed_mouse_left (where "
        "rqt_image_view publishes clicks on the raw and the compressed transport), '' = none.",
    ),
    Parameter(
        "overlay_clicks",
        True,
        "Listen on ~/<camera>/overlay_mouse_left and ~/<camera>/overlay/compressed_mouse_left "
        "(geometry_msgs/Point): clicks on the overlay in rqt_image_view start objects on that "
        "camera.",
    ),
    Parameter(
        "depth_topics",
        [""],
        "One depth image topic per camera, registered to its colour image (16UC1 or 32FC1); "
        "'' = no 3D for that camera.",
    ),
    Parameter(
        "depth_scale",
        0.001,
        "Metres per unit of 16UC1 depth images.",
        above=0.0,
    ),
    Parameter(
        "depth_range",
        [0.1, 10.0],
        "Depths outside [min, max] metres are invalid.",
        convert=as_tuple,
    ),
    Parameter(
        "depth_max_time_diff",
        0.02,
        "Seconds between a frame's and its depth image's stamps at most.",
        above=0.0,
    ),
    Parameter(
        "depth_wait",
        0.1,
        "Seconds to wait for a frame's depth image after its masks are ready.",
        minimum=0.0,
    ),
    Parameter(
        "min_depth_points",
        20,
        "Valid depth pixels an object needs to be lifted into 3D.",
        minimum=1,
    ),
    Parameter(
        "max_points_per_object",
        2000,
        "Most points per object in ~/<camera>/object_points.",
        minimum=1,
    ),
    Parameter(
        "detection_topics",
        [""],
        "One vision_msgs/Detection2DArray topic per camera: a detector's boxes, stamped with the "
        "image they were computed on, start, confirm and retire objects; '' = none.",
    ),
    Parameter(
        "detection_min_score",
        _DETECTION.min_score,
        "Detections start objects (and re-prompt disagreeing ones) only from this score up.",
        minimum=0.0,
        maximum=1.0,
    ),
    Parameter(
        "detection_classes",
        [""],
        "Class ids detections may have; others are ignored ([''] = every class).",
    ),
    Parameter(
        "detection_match_iou",
        _DETECTION.match_iou,
        "A detection pairs with an object when its box and the object's mask overlap at least "
        "this much (IoU of the box's and the mask's pixels).",
        above=0.0,
        maximum=1.0,
    ),
    Parameter(
        "detection_match_on",
        _DETECTION.match_on,
        "What a detection's box is measured against for pairing: mask (the object's mask "
        "pixels: a mask with a thin leak still pairs) or box (the mask's bounding box).",
        choices=MATCH_ON,
    ),
    Parameter(
        "detection_recondition_iou",
        _DETECTION.recondition_iou,
        "A paired object whose mask box overlaps its confident detection less than this (IoU) "
        "is prompted again with the detection's box.",
        minimum=0.0,
        maximum=1.0,
    ),
    Parameter(
        "detection_recondition_frames",
        _DETECTION.recondition_frames,
        "An object is prompted again from a detection at most once every this many tracked frames.",
        minimum=1,
    ),
    Parameter(
        "detection_forget_after",
        _DETECTION.forget_after,
        "An object started by detections is removed after this many consecutive detection "
        "messages without a detection paired with it; 0 = never. Clicked objects stay.",
        minimum=0,
    ),
    Parameter(
        "detection_confirm_hits",
        _DETECTION.confirm_hits,
        "An object started by detections is tentative (tracked, on no output) until detections "
        "paired with it in this many of the first detection_confirm_window messages since its "
        "start (the start counts); else it is removed. 1 = published at once.",
    ),
    Parameter(
        "detection_confirm_window",
        _DETECTION.confirm_window,
        "Detection messages (the start included) within which a new object must be confirmed.",
    ),
    Parameter(
        "duplicate_iou",
        _DUPLICATES.iou,
        "Two published objects whose masks overlap at least this much (IoU) on duplicate_frames "
        "consecutive tracked frames are one: the detector's (else the younger) is removed.",
        above=0.0,
        maximum=1.0,
    ),
    Parameter(
        "duplicate_frames",
        _DUPLICATES.frames,
        "Consecutive tracked frames two objects must overlap before one is removed; 0 = never. "
        "Clicked objects are never removed for this.",
        minimum=0,
    ),
    Parameter(
        "rviz_click_topic",
        "/clicked_point",
        "rviz2 'Publish Point' topic: a 3D click projected into a camera starts an object; "
        "'' disables.",
    ),
    Parameter(
        "max_objects",
        16,
        "Most objects tracked per camera (>= 1).",
        minimum=1,
    ),
    Parameter(
        "max_conditioning_frames",
        8,
        "Prompted frames kept per object (the first one plus the most recent ones).",
        minimum=1,
    ),
    Parameter(
        "memory_selection",
        "sam2",
        "How past frames become memory and which candidate mask an object gets: sam2 (SAM 2's "
        "own: the last frames, the top-scored mask) or samurai (SAMURAI's motion-aware memory: a "
        "Kalman filter on each object's box weighs the candidates, memory keeps confident past "
        "frames; for moving objects, look-alikes and occlusion; samurai.* tune it).",
        choices=MEMORY_SELECTIONS,
    ),
    Parameter(
        "samurai.stable_frames_threshold",
        15,
        "SAMURAI: consecutive confident frames before the motion filter weighs the candidate "
        "masks.",
    ),
    Parameter(
        "samurai.stable_ious_threshold",
        0.3,
        "SAMURAI: predicted IoU a chosen mask needs to feed the motion filter.",
    ),
    Parameter(
        "samurai.min_obj_score_logits",
        -1.0,
        "SAMURAI: object score logit above which an object counts as present (SAM 2 uses 0).",
    ),
    Parameter(
        "samurai.kf_score_weight",
        -1.0,
        "SAMURAI: weight in [0, 1] of the motion IoU against the predicted IoU when choosing a "
        "mask; < 0 = SAMURAI's value for model_cfg (0.25; 0.15 for hiera_l).",
    ),
    Parameter(
        "samurai.memory_bank_iou_threshold",
        0.5,
        "SAMURAI: predicted IoU a past frame's mask needs to become memory.",
    ),
    Parameter(
        "samurai.memory_bank_obj_score_threshold",
        0.0,
        "SAMURAI: object score logit a past frame needs to become memory.",
    ),
    Parameter(
        "samurai.memory_bank_kf_score_threshold",
        0.0,
        "SAMURAI: motion IoU a past frame needs to become memory (once the filter weighs masks).",
    ),
    Parameter(
        "samurai.candidate_frames",
        30,
        "SAMURAI: past frames scanned for memories per object (their memories are kept: about "
        "0.5 MB each per object at 1024 px).",
    ),
    Parameter(
        "corrections_as_conditioning",
        True,
        "A prompt on an already tracked object becomes a lasting conditioning frame "
        "(SAM 2's add_all_frames_to_correct_as_cond) instead of a memory that ages out.",
    ),
    Parameter(
        "prompt_history_frames",
        30,
        "Last tracked frames per camera a prompt can land on (AddPrompt stamp, clicks on an "
        "older frame); the object is then tracked again up to the newest frame. 0 = the newest "
        "frame only.",
        minimum=0,
    ),
    Parameter(
        "time_jump_tolerance",
        0.1,
        "Seconds a frame may be stamped before the newest tracked frame of its camera without "
        "counting as a jump back in time (frames delivered out of order); an older frame starts "
        "a new timeline: stamps then name only frames tracked since, and the clicks and "
        "detections waiting for frames of the old one are dropped.",
        minimum=0.0,
    ),
    Parameter(
        "reset_on_time_jump",
        False,
        "Forget a camera's objects when its stamps go back (a looped bag, a restarted camera); "
        "false: SAM 2's memory carries them on.",
    ),
    Parameter(
        "occlusion_threshold",
        0.5,
        "Occlusion score in [0, 1] above which an object is reported occluded.",
        minimum=0.0,
        maximum=1.0,
    ),
    Parameter(
        "publish_overlay",
        True,
        "Publish ~/<camera>/overlay (bgr8) when it has subscribers.",
    ),
    Parameter(
        "publish_label_image",
        True,
        "Publish ~/<camera>/label_image (mono16 object ids) when it has subscribers.",
    ),
    Parameter(
        "drop_frames",
        True,
        "true: always process the newest frame and count the skipped ones (live cameras); "
        "false: process every frame in order (reliable input QoS, bounded queue; bag replay).",
    ),
    Parameter(
        "queue_size",
        30,
        "Input queue depth per camera when drop_frames is false.",
        minimum=1,
    ),
    Parameter(
        "objects_dir",
        "~/.ros/sam2_ros/objects",
        "Folder of saved objects: ~/save_objects and ~/load_objects use "
        "<objects_dir>/<name>.<camera>.safetensors.",
    ),
    Parameter(
        "load_objects_on_activate",
        "",
        "Saved objects to load on activate, by name ('' = none; a missing file is a warning).",
    ),
    Parameter(
        "save_objects_on_deactivate",
        "",
        "Name to save every camera's objects under before deactivate forgets them ('' = none).",
    ),
    Parameter(
        "image_reliability",
        AUTO,
        "Reliability of the image subscriptions when drop_frames is true: auto (reliable when "
        "every publisher of the topic offers reliable, else best effort), reliable or "
        "best_effort.",
        choices=RELIABILITY_MODES,
    ),
)
#: The declarations by name.
BY_NAME = {parameter.name: parameter for parameter in PARAMETERS}
