"""What a stream keeps between calls: the one place the predictor's state lives.

SAM 2's video predictor keeps an ``inference_state`` dict per video; a stream keeps this instead:
every object's memory bank, its output on the newest frame, prompts on that frame waiting to
become memory, the newest frame and its index, the prompt history and the next object id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sam2_ros.engine.memory.bank import MemoryBank
from sam2_ros.engine.streaming.history import FrameHistory
from sam2_ros.engine.streaming.prompts import PromptError
from sam2_ros.engine.streaming.records import (
    Frame,
    ObjectOutput,
    ObjectState,
    PendingPrompt,
    distinct_nbytes,
)


@dataclass
class StreamState:
    """One stream's tracking state (its steps change it; the predictor reads and resets it)."""

    bank: MemoryBank
    history: FrameHistory
    #: The newest tracked frame (None before the first one, and after objects were loaded).
    frame: Frame | None = None
    #: Index of the newest tracked frame (-1 before the first; loaded objects continue theirs).
    frame_index: int = -1
    #: Every object's output on the newest frame, in the order the objects were added.
    outputs: dict[int, ObjectOutput] = field(default_factory=dict)
    #: Prompted outputs on the newest frame whose memory is encoded when the next frame arrives.
    pending: dict[int, PendingPrompt] = field(default_factory=dict)
    next_object_id: int = 1

    def check_known(self, object_id: int) -> None:
        """:class:`PromptError` unless the object is tracked."""
        if object_id not in self.outputs:
            raise PromptError(
                f"unknown object id {object_id}; tracked objects: {list(self.outputs)}"
            )

    def object_state(self, object_id: int) -> ObjectState:
        """The object as it stands now: its memory and its output."""
        return ObjectState(self.bank.snapshot(object_id), self.outputs[object_id])

    def remove(self, object_id: int) -> None:
        """Forget an object: its output, waiting prompt, memory and history."""
        del self.outputs[object_id]
        self.pending.pop(object_id, None)
        if object_id in self.bank:
            self.bank.remove(object_id)
        self.history.drop_object(object_id)

    def clear(self) -> None:
        """Forget every object, its memory and the tracked frames (object ids keep counting)."""
        self.bank.clear()
        self.outputs.clear()
        self.pending.clear()
        self.history.clear()
        self.frame, self.frame_index = None, -1

    def memory_bytes(self) -> int:
        """Bytes held: memory bank, newest frame, outputs, waiting prompts and the history."""
        return distinct_nbytes([*self._live_tensors(), *self.history.tensors()])

    def history_bytes(self) -> int:
        """Bytes held only for the prompt history (earlier frames and memories)."""
        return self.memory_bytes() - distinct_nbytes(self._live_tensors())

    def _live_tensors(self) -> list[torch.Tensor]:
        tensors = list(self.bank.tensors())
        for output in self.outputs.values():
            tensors.extend(output.tensors())
        for pending in self.pending.values():
            tensors.extend(pending.tensors())
        if self.frame is not None:
            tensors.extend(self.frame.tensors())
        return tensors
