"""How a tracked frame reads the past and picks its mask: SAM 2's own way, or SAMURAI's.

A memory selection answers the two questions of SAM 2's tracking step that SAMURAI changes:
which past frames condition the current one (memory attention), and which of the mask
decoder's candidate masks becomes the object's mask and pointer. The streaming predictor runs
everything else (image encoder, memory encoder, the memory bank's bounds, prompts, history) the
same way for both. :class:`Sam2Selection` calls SAM 2's own functions unchanged;
:class:`~sam2_ros.engine.memory.samurai.SamuraiSelection` adds the motion model.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from sam2_ros.engine.memory.bank import MemoryBank, MemoryScores
from sam2_ros.engine.memory.motion import MotionState

#: The selections, by the name the node and the commands take.
MEMORY_SELECTIONS = ("sam2", "samurai")
#: SAM 2 attends to min(num_frames, max_obj_ptrs_in_encoder) pointers; a stream is unbounded.
STREAM_NUM_FRAMES = sys.maxsize


@dataclass(frozen=True)
class CurrentFrame:
    """What memory attention reads of the frame being segmented: its index and its
    lowest-resolution features (as a one-element list each, batched to the objects)."""

    index: int
    vision_feats: list[torch.Tensor]  # [(HW, B, C)]
    vision_pos: list[torch.Tensor]  # [(HW, B, C)]
    feat_sizes: list[tuple[int, int]]


@dataclass(frozen=True)
class DecoderInputs:
    """What the prompt encoder and mask decoder read for a batch of objects."""

    pix_feat: torch.Tensor  # (B, C, H, W) conditioned features
    point_inputs: dict[str, torch.Tensor] | None
    mask_inputs: torch.Tensor | None
    high_res_features: list[torch.Tensor]
    multimask: bool


@dataclass
class Heads:
    """The mask decoder's answer for a batch of objects, one candidate chosen per object."""

    low_res_masks: torch.Tensor  # (B, 1, S/4, S/4) logits
    high_res_masks: torch.Tensor  # (B, 1, S, S) logits
    obj_ptr: torch.Tensor  # (B, C)
    object_score_logits: torch.Tensor  # (B, 1)
    scores: torch.Tensor  # (B,) predicted IoU of the chosen masks
    motions: list[MotionState | None]
    memory_scores: list[MemoryScores | None]


class MemorySelection(ABC):
    """Which memories condition a frame, and which candidate mask an object gets."""

    #: Its name in :data:`MEMORY_SELECTIONS`.
    name: str
    #: How many past frames' spatial memories it may read (0: SAM 2's own window).
    maskmem_window: int = 0

    def __str__(self) -> str:
        return self.name

    @abstractmethod
    def groups(
        self, sam: nn.Module, frame_index: int, bank: MemoryBank, object_ids: list[int]
    ) -> list[list[int]]:
        """Objects whose memory attention can run as one batch on ``frame_index``."""

    @abstractmethod
    def condition(
        self, sam: nn.Module, frame: CurrentFrame, bank: MemoryBank, object_ids: list[int]
    ) -> torch.Tensor:
        """The frame's features conditioned on the memories of ``object_ids`` (one of
        :meth:`groups`, or one object), ``(B, C, H, W)``."""

    @abstractmethod
    def heads(
        self, sam: nn.Module, inputs: DecoderInputs, motions: list[MotionState | None]
    ) -> Heads:
        """SAM 2's prompt encoder and mask decoder, and the choice among the candidates given
        each object's motion before this step."""


class Sam2Selection(MemorySelection):
    """SAM 2's own: the last frames and every conditioning frame, the top-scored candidate."""

    name = "sam2"

    def groups(
        self, sam: nn.Module, frame_index: int, bank: MemoryBank, object_ids: list[int]
    ) -> list[list[int]]:
        """Objects with identical memory layouts."""
        return bank.groups(object_ids)

    def condition(
        self, sam: nn.Module, frame: CurrentFrame, bank: MemoryBank, object_ids: list[int]
    ) -> torch.Tensor:
        """``SAM2Base._prepare_memory_conditioned_features`` on the bank's memories."""
        return sam._prepare_memory_conditioned_features(
            frame_idx=frame.index,
            is_init_cond_frame=False,
            current_vision_feats=frame.vision_feats,
            current_vision_pos_embeds=frame.vision_pos,
            feat_sizes=frame.feat_sizes,
            output_dict=bank.output_dict(object_ids),
            num_frames=STREAM_NUM_FRAMES,
        )

    def heads(
        self, sam: nn.Module, inputs: DecoderInputs, motions: list[MotionState | None]
    ) -> Heads:
        """``SAM2Base._forward_sam_heads`` (no motion)."""
        _, _, ious, low_res_masks, high_res_masks, obj_ptr, object_score_logits = (
            sam._forward_sam_heads(
                backbone_features=inputs.pix_feat,
                point_inputs=inputs.point_inputs,
                mask_inputs=inputs.mask_inputs,
                high_res_features=inputs.high_res_features,
                multimask_output=inputs.multimask,
            )
        )
        count = len(motions)
        return Heads(
            low_res_masks,
            high_res_masks,
            obj_ptr,
            object_score_logits,
            ious.float().max(dim=-1).values,
            [None] * count,
            [None] * count,
        )
