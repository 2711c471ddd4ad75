"""Tracked objects on disk: every object's memory bank in a safetensors file.

Tensors go into safetensors (no pickle: loading a file never runs code); everything else (format
version, the model the memories were made with, object ids, labels, frame indices and which
memories are conditioning, and with SAMURAI's selection each object's motion filter and each
memory's scores) goes into its JSON metadata. Reading checks the file's structure;
:mod:`~sam2_ros.engine.streaming.saved_objects` then checks it against the predictor's model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from sam2_ros.engine.memory.bank import FrameMemory, MemoryScores, ObjectMemory
from sam2_ros.engine.memory.motion import MotionState
from sam2_ros.engine.model.build import Sam2Model
from sam2_ros.engine.streaming.records import ObjectOutput

FORMAT = "sam2_ros.objects"
VERSION = 1
_OUTPUT_FIELDS = ("pred_masks", "score", "object_score_logits", "obj_ptr")
_BF16 = (torch.bfloat16,)  # SAM 2 stores memories in bf16
_FLOATS = (torch.float32, torch.bfloat16)  # fp32, or bf16 under autocast on a GPU


class ObjectsFileError(ValueError):
    """An objects file that cannot be loaded: missing, corrupt, of another format or model."""


@dataclass(frozen=True)
class ModelIdentity:
    """What memories are only valid for: the config, the resolution and the exact weights."""

    model_cfg: str
    image_size: int
    weights: str  # fingerprint of the state dict

    def describe(self) -> str:
        """``<config> at <size> px``."""
        return f"{self.model_cfg} at {self.image_size} px"


@dataclass
class SavedObject:
    """One tracked object: its memory bank and its output on the last tracked frame."""

    object_id: int
    label: str
    memory: ObjectMemory
    output: ObjectOutput


@dataclass
class SavedObjects:
    """Everything a predictor needs to go on tracking its objects on the next frame."""

    model: ModelIdentity
    objects: list[SavedObject]
    next_object_id: int
    last_frame_index: int
    maskmem_pos_enc: list[torch.Tensor]

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor by its name in the file."""
        tensors = {f"maskmem_pos_enc/{i}": t for i, t in enumerate(self.maskmem_pos_enc)}
        for obj in self.objects:
            prefix = f"object/{obj.object_id}"
            for name in _OUTPUT_FIELDS:
                tensors[f"{prefix}/output/{name}"] = getattr(obj.output, name)
            for kind, memories in (
                ("conditioning", obj.memory.conditioning),
                ("recent", obj.memory.recent),
            ):
                for frame, memory in memories.items():
                    tensors[f"{prefix}/{kind}/{frame}/obj_ptr"] = memory.obj_ptr
                    if memory.maskmem_features is not None:
                        tensors[f"{prefix}/{kind}/{frame}/maskmem_features"] = (
                            memory.maskmem_features
                        )
        return tensors


def write_objects(path: Path, saved: SavedObjects) -> int:
    """Write ``saved`` to ``path`` (atomically: a temporary file renamed); bytes written."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "model_cfg": saved.model.model_cfg,
        "image_size": saved.model.image_size,
        "weights": saved.model.weights,
        "next_object_id": saved.next_object_id,
        "last_frame_index": saved.last_frame_index,
        "maskmem_pos_enc": len(saved.maskmem_pos_enc),
        "objects": [
            {
                "id": obj.object_id,
                "label": obj.label,
                "conditioning": list(obj.memory.conditioning),
                "recent": list(obj.memory.recent),
                "motion": None if obj.output.motion is None else obj.output.motion.as_list(),
                "scores": {
                    str(frame): [
                        memory.scores.iou,
                        memory.scores.object_score,
                        memory.scores.motion,
                    ]
                    for frame, memory in {**obj.memory.conditioning, **obj.memory.recent}.items()
                    if memory.scores is not None
                },
            }
            for obj in saved.objects
        ],
    }
    tensors = {
        name: tensor.detach().to("cpu").contiguous().clone()
        for name, tensor in saved.tensors().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata={"sam2_ros": json.dumps(header)})
    partial.replace(path)
    return path.stat().st_size


def read_objects(path: Path, device: torch.device) -> SavedObjects:
    """Read an objects file onto ``device``; :class:`ObjectsFileError` saying why it cannot be."""
    if not path.is_file():
        raise ObjectsFileError(f"objects file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as content:
            metadata = content.metadata() or {}
            tensors = {name: content.get_tensor(name).to(device) for name in content.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ObjectsFileError(
            f"{path} is not a readable safetensors file (corrupt, truncated or another format; "
            f"{str(err).splitlines()[0][:200]})"
        ) from err
    try:
        header = json.loads(metadata["sam2_ros"])
    except (KeyError, json.JSONDecodeError) as err:
        raise ObjectsFileError(
            f"{path} is a safetensors file but not a sam2_ros objects file"
        ) from err
    if header.get("format") != FORMAT:
        raise ObjectsFileError(
            f"{path} is not a sam2_ros objects file (format {header.get('format')!r})"
        )
    if header.get("version") != VERSION:
        raise ObjectsFileError(
            f"{path} has format version {header.get('version')!r}; this sam2_ros reads version "
            f"{VERSION}"
        )
    try:
        return _parse(header, tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise ObjectsFileError(f"{path} is inconsistent: {type(err).__name__}: {err}") from err


def _parse(header: dict, tensors: dict[str, torch.Tensor]) -> SavedObjects:
    objects = []
    for entry in header["objects"]:
        object_id = int(entry["id"])
        prefix = f"object/{object_id}"
        memory = ObjectMemory()
        scores = entry.get("scores", {})
        for kind in ("conditioning", "recent"):
            for frame in entry[kind]:
                features = tensors.get(f"{prefix}/{kind}/{frame}/maskmem_features")
                obj_ptr = tensors[f"{prefix}/{kind}/{frame}/obj_ptr"]
                score = scores.get(str(frame))
                getattr(memory, kind)[int(frame)] = FrameMemory(
                    features, obj_ptr, None if score is None else _scores(score)
                )
        motion = entry.get("motion")
        output = ObjectOutput(
            **{n: tensors[f"{prefix}/output/{n}"] for n in _OUTPUT_FIELDS},
            motion=None if motion is None else MotionState.from_list(motion),
        )
        objects.append(SavedObject(object_id, str(entry["label"]), memory, output))
    return SavedObjects(
        model=ModelIdentity(
            str(header["model_cfg"]), int(header["image_size"]), str(header["weights"])
        ),
        objects=objects,
        next_object_id=int(header["next_object_id"]),
        last_frame_index=int(header["last_frame_index"]),
        maskmem_pos_enc=[
            tensors[f"maskmem_pos_enc/{i}"] for i in range(int(header["maskmem_pos_enc"]))
        ],
    )


def _scores(values: list) -> MemoryScores:
    iou, object_score, motion = values
    return MemoryScores(float(iou), float(object_score), None if motion is None else float(motion))


def check_saved_tensors(saved: SavedObjects, model: Sam2Model) -> None:
    """Every tensor has the shape and dtype ``model`` makes and reads; ObjectsFileError else."""
    sam, size = model.sam, model.image_size
    memory_size = size // sam.backbone_stride
    mask_size = memory_size * 4
    expected = {  # name pattern -> (shape, dtypes)
        "maskmem_features": ((1, sam.mem_dim, memory_size, memory_size), _BF16),
        "obj_ptr": ((1, sam.hidden_dim), _FLOATS),
        "pred_masks": ((1, 1, mask_size, mask_size), _FLOATS),
        "score": ((1,), _FLOATS),
        "object_score_logits": ((1, 1), _FLOATS),
        "maskmem_pos_enc": ((1, sam.mem_dim, memory_size, memory_size), _FLOATS),
    }
    for name, tensor in saved.tensors().items():
        kind = "maskmem_pos_enc" if name.startswith("maskmem_pos_enc/") else name.rsplit("/")[-1]
        shape, dtypes = expected[kind]
        if tuple(tensor.shape) != shape or tensor.dtype not in dtypes:
            raise ObjectsFileError(
                f"tensor {name} is {tuple(tensor.shape)} {tensor.dtype}; "
                f"{model.model_cfg} at {size} px needs {shape} {' or '.join(map(str, dtypes))}"
            )
