"""What a stream's state is made of: frames and their features, each object's output on a
frame, prompts waiting to become memory, and an object's state after a frame."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from sam2_ros.engine.memory.bank import MemoryScores, ObjectMemory
from sam2_ros.engine.memory.motion import MotionState


@dataclass
class FrameFeatures:
    """One frame's flattened backbone features (batch 1), as SAM 2's heads consume them."""

    vision_feats: list[torch.Tensor]  # per level (HW, 1, C)
    vision_pos: list[torch.Tensor]  # the lowest-resolution level's only: all SAM 2 reads
    feat_sizes: list[tuple[int, int]]

    def expand(
        self, batch: int, copy: bool = False
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The same features for ``batch`` objects: views, or copies (``copy``: every batch
        then has the same memory layout, which compiled graphs are specialised on)."""

        def expanded(x: torch.Tensor) -> torch.Tensor:
            view = x.expand(-1, batch, -1)
            return view.contiguous() if copy else view

        return [expanded(x) for x in self.vision_feats], [expanded(x) for x in self.vision_pos]

    def tensors(self) -> Iterator[torch.Tensor]:
        """The tensors held."""
        yield from self.vision_feats
        yield from self.vision_pos


@dataclass
class Frame:
    """A tracked frame: its model input until the image encoder has run, then its features."""

    index: int
    height: int
    width: int
    image: torch.Tensor | None  # (1, 3, S, S) normalised; dropped once encoded
    features: FrameFeatures | None = None

    def tensors(self) -> Iterator[torch.Tensor]:
        """The tensors held."""
        if self.image is not None:
            yield self.image
        if self.features is not None:
            yield from self.features.tensors()


@dataclass
class ObjectOutput:
    """One object's SAM 2 output on one frame."""

    pred_masks: torch.Tensor  # (1, 1, S/4, S/4) mask logits
    score: torch.Tensor  # (1,) predicted IoU of the chosen mask
    object_score_logits: torch.Tensor  # (1, 1)
    obj_ptr: torch.Tensor  # (1, C)
    #: The object's motion after this step (SAMURAI's selection; None: no filter yet).
    motion: MotionState | None = None
    #: What this output's memory will be judged by (SAMURAI's selection; None otherwise).
    memory_scores: MemoryScores | None = None

    def tensors(self) -> Iterator[torch.Tensor]:
        """The tensors held."""
        yield from (self.pred_masks, self.score, self.object_score_logits, self.obj_ptr)


@dataclass
class PendingPrompt:
    """A prompted output whose memory is encoded when the next frame arrives (so that several
    clicks on one frame build on each other before they become memory, as in SAM 2)."""

    output: ObjectOutput
    point_inputs: dict[str, torch.Tensor]
    is_initial: bool  # the object's first frame: no memory was used to segment it

    def tensors(self) -> Iterator[torch.Tensor]:
        """The tensors held."""
        yield from self.output.tensors()
        yield from self.point_inputs.values()


@dataclass(frozen=True)
class ObjectState:
    """An object as tracking left it on a frame, before any prompt on that frame."""

    memory: ObjectMemory | None  # what its memory bank held (None: nothing yet)
    output: ObjectOutput

    def tensors(self) -> Iterator[torch.Tensor]:
        """The tensors held."""
        if self.memory is not None:
            yield from self.memory.tensors()
        yield from self.output.tensors()


def distinct_nbytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the given tensors, each counted once however often it is referenced."""
    return sum({id(t): t.nbytes for t in tensors}.values())
