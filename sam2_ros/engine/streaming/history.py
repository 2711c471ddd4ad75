"""The last tracked frames, kept so that a prompt can land on the frame it was made on.

For each of the last ``size`` frames the history keeps the frame (its features), every object's
state as tracking left it there, and the prompts applied to it since, in order. That is exactly
what re-running an object from that frame needs: restore its state, apply that frame's prompts
(the late one included), then track and prompt it again frame by frame up to the newest. It also
keeps each prompted object's output after the last prompt on a frame, so the results of a held
frame can be told as they stand now.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from sam2_ros.engine.streaming.prompts import Prompt, PromptError
from sam2_ros.engine.streaming.records import Frame, ObjectOutput, ObjectState


@dataclass
class HistoryFrame:
    """One tracked frame, every object's state after tracking it, and the prompts on it."""

    frame: Frame
    states: dict[int, ObjectState]
    prompts: dict[int, list[Prompt]] = field(default_factory=dict)
    answers: dict[int, ObjectOutput] = field(default_factory=dict)  # after the last prompt

    def output(self, object_id: int) -> ObjectOutput | None:
        """The object's output on this frame as it stands: its last prompt's answer, else what
        tracking gave (None: not tracked on this frame)."""
        answer = self.answers.get(object_id)
        if answer is not None:
            return answer
        state = self.states.get(object_id)
        return None if state is None else state.output

    def tensors(self) -> Iterator[torch.Tensor]:
        """The tensors held."""
        yield from self.frame.tensors()
        for state in self.states.values():
            yield from state.tensors()
        for answer in self.answers.values():
            yield from answer.tensors()


class FrameHistory:
    """The last ``size`` tracked frames (0: none), oldest first."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"history_frames must be >= 0, got {size}")
        self.size = size
        self._frames: deque[HistoryFrame] = deque(maxlen=size or None)

    def __len__(self) -> int:
        return len(self._frames) if self.size else 0

    def push(self, entry: HistoryFrame) -> None:
        """Add the newest tracked frame (the oldest leaves once ``size`` are held)."""
        if self.size:
            self._frames.append(entry)

    def __getitem__(self, frame_index: int) -> HistoryFrame:
        """The frame with that index; :class:`PromptError` naming the frames held otherwise."""
        if self._frames:
            position = frame_index - self._frames[0].frame.index
            if 0 <= position < len(self._frames):
                return self._frames[position]
            held = f"frames {self._frames[0].frame.index} to {self._frames[-1].frame.index}"
        else:
            held = "no frames"
        raise PromptError(
            f"frame {frame_index} is not in the prompt history ({held} are held, "
            f"history_frames={self.size})"
        )

    def after(self, frame_index: int) -> list[HistoryFrame]:
        """The frames held after ``frame_index``, oldest first."""
        return [entry for entry in self._frames if entry.frame.index > frame_index]

    def record_prompt(
        self, frame_index: int, object_id: int, prompt: Prompt, answer: ObjectOutput
    ) -> None:
        """Note a prompt applied to an object on a held frame, and the object's output after it
        (newest frames are always held)."""
        if self._frames and self._frames[-1].frame.index >= frame_index:
            entry = self[frame_index]
            entry.prompts.setdefault(object_id, []).append(prompt)
            entry.answers[object_id] = answer

    def drop_object(self, object_id: int) -> None:
        """Forget an object on every frame."""
        for entry in self._frames:
            entry.states.pop(object_id, None)
            entry.prompts.pop(object_id, None)
            entry.answers.pop(object_id, None)

    def clear(self) -> None:
        """Forget every frame."""
        self._frames.clear()

    def tensors(self) -> Iterator[torch.Tensor]:
        """The tensors held."""
        for entry in self._frames:
            yield from entry.tensors()
