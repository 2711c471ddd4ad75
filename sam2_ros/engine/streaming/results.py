"""What the engine returns: per-frame tracking results and immediate prompt answers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrackResult:
    """All tracked objects on one frame, at the input resolution."""

    frame_index: int
    object_ids: list[int]
    masks: np.ndarray  # (N, H, W) bool
    scores: np.ndarray  # (N,) float32, predicted IoU
    occlusion_scores: np.ndarray  # (N,) float32, 1 - sigmoid(object score logit)
    object_pointers: np.ndarray  # (N, D) float32
    mask_logits: np.ndarray  # (N, S/4, S/4) float32, SAM 2's low-resolution mask logits

    @classmethod
    def empty(cls, frame_index: int, height: int, width: int, pointer_dim: int) -> TrackResult:
        """A frame without objects."""
        return cls(
            frame_index=frame_index,
            object_ids=[],
            masks=np.zeros((0, height, width), bool),
            scores=np.zeros(0, np.float32),
            occlusion_scores=np.zeros(0, np.float32),
            object_pointers=np.zeros((0, pointer_dim), np.float32),
            mask_logits=np.zeros((0, 0, 0), np.float32),
        )

    def select(self, object_ids: list[int]) -> TrackResult:
        """The same frame with only the listed objects (in this result's order)."""
        rows = [row for row, object_id in enumerate(self.object_ids) if object_id in object_ids]
        if len(rows) == len(self.object_ids):
            return self
        keep = np.array(rows, dtype=np.intp)
        return TrackResult(
            frame_index=self.frame_index,
            object_ids=[self.object_ids[row] for row in rows],
            masks=self.masks[keep],
            scores=self.scores[keep],
            occlusion_scores=self.occlusion_scores[keep],
            object_pointers=self.object_pointers[keep],
            mask_logits=self.mask_logits[keep] if len(self.mask_logits) else self.mask_logits,
        )


@dataclass(frozen=True)
class PromptResult:
    """The prompted object's mask on the frame the prompt was applied to."""

    object_id: int
    frame_index: int
    mask: np.ndarray  # (H, W) bool
    score: float  # predicted IoU
    occlusion_score: float
