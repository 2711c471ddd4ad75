"""A stream's objects to and from an objects file (:mod:`~sam2_ros.engine.streaming.objects_file`
is the file): what is saved of them, what a file must match to be loaded into a predictor, and
how loaded objects become the stream's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sam2_ros.engine.memory.bank import ObjectMemory
from sam2_ros.engine.model.build import Sam2Model
from sam2_ros.engine.streaming.objects_file import (
    ModelIdentity,
    ObjectsFileError,
    SavedObject,
    SavedObjects,
    check_saved_tensors,
    read_objects,
    write_objects,
)
from sam2_ros.engine.streaming.state import StreamState
from sam2_ros.engine.streaming.steps import FrameSteps


def save_objects(
    steps: FrameSteps,
    path: Path,
    labels: dict[int, str] | None,
    object_ids: Sequence[int] | None,
) -> int:
    """Write the stream's objects (those of ``object_ids``; all for None) with their labels to
    ``path``; bytes written. Prompts on the newest frame are saved as the memory they become."""
    state = steps.state
    with steps.model.inference():
        memories = _memories_with_prompts_committed(steps)
    kept = set(state.outputs if object_ids is None else object_ids)
    saved = SavedObjects(
        model=model_identity(steps.model),
        objects=[
            SavedObject(object_id, (labels or {}).get(object_id, ""), memory, output)
            for (object_id, output), memory in zip(state.outputs.items(), memories, strict=True)
            if object_id in kept
        ],
        next_object_id=state.next_object_id,
        last_frame_index=state.frame_index,
        maskmem_pos_enc=state.bank.maskmem_pos_enc,
    )
    return write_objects(path, saved)


def read_for(path: str | Path, model: Sam2Model, max_objects: int) -> SavedObjects:
    """Read an objects file and check it against ``model`` and ``max_objects``:
    :class:`ObjectsFileError` for one made with another config, resolution or weights."""
    saved = read_objects(Path(path), model.device)
    ours = model_identity(model)
    if (saved.model.model_cfg, saved.model.image_size) != (ours.model_cfg, ours.image_size):
        raise ObjectsFileError(
            f"{path} was saved with {saved.model.describe()}; this node runs {ours.describe()}"
        )
    if saved.model.weights != ours.weights:
        raise ObjectsFileError(
            f"{path} was saved with other weights for {ours.describe()} (fingerprint "
            f"{saved.model.weights[:12]}, this model's {ours.weights[:12]}): memories are "
            "only valid for the weights that made them"
        )
    if len(saved.objects) > max_objects:
        raise ObjectsFileError(
            f"{path} holds {len(saved.objects)} objects but max_objects is {max_objects}"
        )
    check_saved_tensors(saved, model)
    return saved


def restore_objects(state: StreamState, saved: SavedObjects) -> dict[int, str]:
    """Make ``saved`` the stream's objects (everything else is forgotten); their labels."""
    state.clear()
    if saved.maskmem_pos_enc:
        state.bank.set_maskmem_pos_enc(saved.maskmem_pos_enc)
    for obj in saved.objects:
        state.bank.restore(obj.object_id, obj.memory)
        state.outputs[obj.object_id] = obj.output
    state.next_object_id = saved.next_object_id
    state.frame_index = saved.last_frame_index
    return {obj.object_id: obj.label for obj in saved.objects}


def model_identity(model: Sam2Model) -> ModelIdentity:
    """What memories made with ``model`` are only valid for."""
    return ModelIdentity(model.model_cfg, model.image_size, model.weights_fingerprint())


def _memories_with_prompts_committed(steps: FrameSteps) -> list[ObjectMemory]:
    """Every object's memory as it will be once prompts on the newest frame are encoded (they
    are, here, and then put back to wait for the next frame as before)."""
    state = steps.state
    waiting = dict(state.pending)
    before = {object_id: state.bank.snapshot(object_id) for object_id in waiting}
    steps.commit_pending(state.frame, list(waiting))
    memories = [state.bank.snapshot(i) or ObjectMemory() for i in state.outputs]
    for object_id, memory in before.items():
        state.bank.restore(object_id, memory)
    state.pending = waiting
    return memories
