"""The bounded per-object memory bank: exactly what SAM 2 can still attend to, nothing older.

When SAM 2 tracks frame ``n`` it reads, per object
(``SAM2Base._prepare_memory_conditioned_features``):

* the spatial memories and object pointers of all *conditioning* (prompted) frames;
* the spatial memories of the ``num_maskmem - 1`` previous frames (stride ``r``);
* the object pointers of the ``max_obj_ptrs_in_encoder - 1`` previous frames.

The bank keeps exactly that and releases the rest after every frame, so its size is constant once
the window is full. Conditioning frames are capped too (the first prompted frame plus the most
recent ones), so endless re-prompting cannot grow it either. A memory selection that chooses
among more past frames (SAMURAI's, :mod:`sam2_ros.engine.memory.samurai`) widens the spatial
window to its fixed number of candidate frames (``maskmem_window``), never to the whole history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class MemoryScores:
    """How sure the model was of an object on a frame, which a memory selection can judge the
    frame's memory by: the chosen mask's predicted IoU, the object score logit, and the chosen
    mask's box IoU with the motion estimate (None while there is none)."""

    iou: float
    object_score: float
    motion: float | None


@dataclass
class FrameMemory:
    """What one object keeps from one frame."""

    maskmem_features: torch.Tensor | None  # (1, C_mem, h, w); None once only the pointer counts
    obj_ptr: torch.Tensor  # (1, C)
    scores: MemoryScores | None = None  # kept where the memory selection reads them

    def tensors(self) -> Iterator[torch.Tensor]:
        """The tensors held."""
        yield self.obj_ptr
        if self.maskmem_features is not None:
            yield self.maskmem_features


@dataclass
class ObjectMemory:
    """One object's conditioning frames and recent frames, keyed by frame index."""

    conditioning: dict[int, FrameMemory] = field(default_factory=dict)
    recent: dict[int, FrameMemory] = field(default_factory=dict)

    def copy(self) -> ObjectMemory:
        """A copy sharing the (never modified) memories: what the object holds now."""
        return ObjectMemory(dict(self.conditioning), dict(self.recent))

    def tensors(self) -> Iterator[torch.Tensor]:
        """The tensors held."""
        for memory in (*self.conditioning.values(), *self.recent.values()):
            yield from memory.tensors()

    def layout(self) -> tuple:
        """Which frames (and which kinds of memory) SAM 2 will find: objects that share a layout
        get identical memory and pointer positions, so their memory attention can run batched."""
        return (
            tuple(self.conditioning),
            tuple((t, m.maskmem_features is not None) for t, m in self.recent.items()),
        )


class MemoryBank:
    """Per-object SAM 2 memory for one stream, bounded to what the model can attend to."""

    def __init__(
        self,
        num_maskmem: int,
        memory_stride: int,
        max_obj_ptrs: int,
        max_conditioning_frames: int,
        maskmem_window: int = 0,
    ) -> None:
        if max_conditioning_frames < 1:
            raise ValueError(f"max_conditioning_frames must be >= 1, got {max_conditioning_frames}")
        # Frames further back than these distances from a frame are not read when processing it.
        self._maskmem_reach = 1 + max(num_maskmem - 2, 0) * memory_stride if num_maskmem > 1 else 0
        self._maskmem_reach = max(self._maskmem_reach, maskmem_window)
        self._pointer_reach = max(max_obj_ptrs - 1, 0)
        self.max_conditioning_frames = max_conditioning_frames
        self._objects: dict[int, ObjectMemory] = {}
        # SAM 2's spatial positional encoding of a memory is the same for every frame and object.
        self._maskmem_pos_enc: list[torch.Tensor] | None = None

    @classmethod
    def for_model(
        cls, sam: nn.Module, max_conditioning_frames: int, maskmem_window: int = 0
    ) -> MemoryBank:
        """A bank bounded to what ``sam`` (a ``SAM2Base``) attends to when it tracks a video."""
        return cls(
            num_maskmem=sam.num_maskmem,
            memory_stride=sam.memory_temporal_stride_for_eval,
            max_obj_ptrs=sam.max_obj_ptrs_in_encoder if sam.use_obj_ptrs_in_encoder else 0,
            max_conditioning_frames=max_conditioning_frames,
            maskmem_window=maskmem_window,
        )

    @property
    def object_ids(self) -> list[int]:
        """Objects with memory, in the order they were added."""
        return list(self._objects)

    def __contains__(self, object_id: int) -> bool:
        return object_id in self._objects

    def conditioning_frames(self, object_id: int) -> list[int]:
        """Frame indices of an object's conditioning memories."""
        return list(self._objects[object_id].conditioning)

    @property
    def maskmem_pos_enc(self) -> list[torch.Tensor]:
        """The spatial encoding of memories ([] before the first memory)."""
        return list(self._maskmem_pos_enc or [])

    def set_maskmem_pos_enc(self, maskmem_pos_enc: list[torch.Tensor]) -> None:
        """Keep one copy of the (constant) spatial encoding of memories."""
        if self._maskmem_pos_enc is None:
            self._maskmem_pos_enc = [x[:1].clone() for x in maskmem_pos_enc]

    def store(
        self, object_id: int, frame_idx: int, memory: FrameMemory, conditioning: bool
    ) -> None:
        """Add an object's memory of a frame (a conditioning frame replaces a recent one)."""
        obj = self._objects.setdefault(object_id, ObjectMemory())
        if conditioning:
            obj.recent.pop(frame_idx, None)
            obj.conditioning[frame_idx] = memory
            obj.conditioning = dict(sorted(obj.conditioning.items()))
            while len(obj.conditioning) > self.max_conditioning_frames:
                second_oldest = list(obj.conditioning)[1]  # the first prompt always stays
                del obj.conditioning[second_oldest]
        elif frame_idx in obj.conditioning:
            raise ValueError(f"frame {frame_idx} of object {object_id} is already conditioning")
        else:
            obj.recent[frame_idx] = memory

    def remove(self, object_id: int) -> None:
        """Forget an object."""
        del self._objects[object_id]

    def memory(self, object_id: int) -> ObjectMemory:
        """What an object holds now, to read (not to change)."""
        return self._objects[object_id]

    def snapshot(self, object_id: int) -> ObjectMemory | None:
        """What an object holds now (None: nothing yet); memories are shared, not copied."""
        memory = self._objects.get(object_id)
        return None if memory is None else memory.copy()

    def restore(self, object_id: int, memory: ObjectMemory | None) -> None:
        """Put back what :meth:`snapshot` returned (None: the object holds nothing)."""
        if memory is None:
            self._objects.pop(object_id, None)
        else:
            self._objects[object_id] = memory.copy()

    def clear(self) -> None:
        """Forget all objects (and the cached positional encoding, so nothing stays held)."""
        self._objects.clear()
        self._maskmem_pos_enc = None

    def release_unreachable(self, frame_idx: int, object_ids: Iterable[int] | None = None) -> None:
        """Drop what neither a prompt on ``frame_idx`` nor tracking later frames can attend to
        (for the given objects, default all)."""
        oldest_maskmem = frame_idx - self._maskmem_reach
        oldest_pointer = frame_idx - self._pointer_reach
        ids = self._objects if object_ids is None else object_ids
        for obj in (self._objects[i] for i in ids if i in self._objects):
            for t in list(obj.recent):
                if t < oldest_pointer and t < oldest_maskmem:
                    del obj.recent[t]
                elif t < oldest_maskmem and obj.recent[t].maskmem_features is not None:
                    obj.recent[t] = FrameMemory(None, obj.recent[t].obj_ptr, obj.recent[t].scores)

    def groups(self, object_ids: Iterable[int]) -> list[list[int]]:
        """Partition objects into groups with identical memory layouts."""
        by_layout: dict[tuple, list[int]] = {}
        for object_id in object_ids:
            by_layout.setdefault(self._objects[object_id].layout(), []).append(object_id)
        return list(by_layout.values())

    def output_dict(self, object_ids: list[int]) -> dict[str, dict[int, dict]]:
        """The objects' memories batched as SAM 2's ``output_dict`` (objects share a layout)."""
        objects = [self._objects[i] for i in object_ids]
        first = objects[0]
        return {
            "cond_frame_outputs": {
                t: self._batched([o.conditioning[t] for o in objects]) for t in first.conditioning
            },
            "non_cond_frame_outputs": {
                t: self._batched([o.recent[t] for o in objects]) for t in first.recent
            },
        }

    def _batched(self, memories: list[FrameMemory]) -> dict:
        batch = len(memories)
        features = memories[0].maskmem_features
        if features is not None:
            features = torch.cat([m.maskmem_features for m in memories]) if batch > 1 else features
        pos_enc = self._maskmem_pos_enc
        return {
            "maskmem_features": features,
            "maskmem_pos_enc": None
            if pos_enc is None
            else [x.expand(batch, -1, -1, -1) for x in pos_enc],
            "obj_ptr": torch.cat([m.obj_ptr for m in memories])
            if batch > 1
            else memories[0].obj_ptr,
        }

    def tensors(self) -> Iterator[torch.Tensor]:
        """Every tensor held (the shared positional encoding once)."""
        yield from self._maskmem_pos_enc or []
        for obj in self._objects.values():
            yield from obj.tensors()
