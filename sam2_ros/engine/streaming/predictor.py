"""StreamingPredictor: SAM 2 video tracking one live frame at a time, in constant memory.

It drives the same ``SAM2Base`` building blocks, in the same order and with the same inputs, as
Meta's ``SAM2VideoPredictor`` does when a video is propagated while prompts arrive, so masks,
object scores and pointers match it; but frames are never preloaded and the memory bank keeps
only what SAM 2 can still attend to. Each frame is encoded once for all objects; the per-object
memory attention runs batched for objects whose memory layout is the same, and the mask decoder
and memory encoder run batched over all objects.

The last ``history_frames`` frames stay promptable: a prompt on an older frame is applied there
and its object alone is carried forward to the newest frame, exactly as if the prompt had arrived
right after that frame was tracked.

The predictor holds the stream's state (:mod:`~sam2_ros.engine.streaming.state`) and orders the
calls, as the video predictor does; SAM 2's steps are :mod:`~sam2_ros.engine.streaming.steps`,
late prompts :mod:`~sam2_ros.engine.streaming.late_prompts`, saved objects
:mod:`~sam2_ros.engine.streaming.saved_objects`, answers :mod:`~sam2_ros.engine.streaming.outputs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sam2_ros.engine.memory.bank import MemoryBank, ObjectMemory
from sam2_ros.engine.memory.samurai import SamuraiSelection, SamuraiSettings
from sam2_ros.engine.memory.selection import MEMORY_SELECTIONS, MemorySelection, Sam2Selection
from sam2_ros.engine.model.build import Sam2Model, load_model
from sam2_ros.engine.settings import EngineSettings, settings_with
from sam2_ros.engine.streaming import late_prompts, saved_objects
from sam2_ros.engine.streaming.history import FrameHistory, HistoryFrame
from sam2_ros.engine.streaming.objects_file import SavedObjects
from sam2_ros.engine.streaming.outputs import prompt_result, track_result
from sam2_ros.engine.streaming.preprocess import check_frame, to_model_input
from sam2_ros.engine.streaming.prompts import PromptError, make_prompt
from sam2_ros.engine.streaming.records import Frame
from sam2_ros.engine.streaming.results import PromptResult, TrackResult
from sam2_ros.engine.streaming.state import StreamState
from sam2_ros.engine.streaming.steps import FrameSteps


class StreamingPredictor:
    """Track prompted objects through a live stream of frames with SAM 2.

    ``track(rgb)`` segments every object on a new frame; ``add_prompt`` adds an object, or
    refines one, on the last tracked frame (or an earlier one still in the history) and answers
    at once. Its settings are an :class:`~sam2_ros.engine.settings.EngineSettings` (``changes``:
    field names of it). Pass ``model=`` to share one loaded :class:`Sam2Model` between several
    streams (e.g. one predictor per camera); otherwise the model is loaded from the settings (see
    :func:`~sam2_ros.engine.model.build.load_model`). ``memory_selection="samurai"`` tracks with
    SAMURAI's motion-aware memory, ``samurai`` its settings by SAMURAI's names
    (:class:`~sam2_ros.engine.memory.samurai.SamuraiSettings`).
    """

    def __init__(
        self,
        settings: EngineSettings | None = None,
        /,
        *,
        model: Sam2Model | None = None,
        **changes: Any,
    ) -> None:
        settings = _checked(settings_with(settings, changes))
        #: What this predictor was made with (its model's settings too, unless given ``model``).
        self.settings = settings
        history = FrameHistory(settings.history_frames)
        self.model = model or load_model(settings)
        self.max_objects = settings.max_objects
        selection: MemorySelection = (
            SamuraiSelection(SamuraiSettings.for_model(self.model.model_cfg, settings.samurai))
            if settings.memory_selection == "samurai"
            else Sam2Selection()
        )
        bank = MemoryBank.for_model(
            self.model.sam, settings.max_conditioning_frames, selection.maskmem_window
        )
        self._state = StreamState(bank, history)
        self._steps = FrameSteps(
            self.model,
            selection,
            self._state,
            bucketed=self.model.compiled if settings.bucketed is None else settings.bucketed,
            corrections_as_conditioning=settings.corrections_as_conditioning,
        )

    @property
    def selection(self) -> MemorySelection:
        """How memories are chosen and candidate masks ranked (SAM 2's way or SAMURAI's)."""
        return self._steps.selection

    @property
    def bucketed(self) -> bool:
        """Whether object batches run padded to :data:`~sam2_ros.engine.model.compiled.BUCKETS`
        rows with one memory layout (static shapes); by default when the model is compiled."""
        return self._steps.bucketed

    @property
    def corrections_as_conditioning(self) -> bool:
        """Whether a prompt on an already-tracked frame becomes a conditioning frame (kept until
        capped) rather than a recent memory that ages out: SAM 2's
        ``add_all_frames_to_correct_as_cond``."""
        return self._steps.corrections_as_conditioning

    @property
    def object_ids(self) -> list[int]:
        """Tracked objects, in the order they were added."""
        return list(self._state.outputs)

    @property
    def frame_index(self) -> int:
        """Index of the last tracked frame (-1 before the first one)."""
        return self._state.frame_index

    @property
    def history_frames(self) -> int:
        """How many of the last tracked frames can be prompted."""
        return self._state.history.size

    @property
    def pointer_dim(self) -> int:
        """Length of an object pointer."""
        return int(self.model.sam.hidden_dim)

    def conditioning_frames(self, object_id: int) -> list[int]:
        """Frame indices an object is conditioned on (its prompted frames, capped)."""
        self._state.check_known(object_id)
        bank = self._state.bank
        return bank.conditioning_frames(object_id) if object_id in bank else []

    def object_memory(self, object_id: int) -> ObjectMemory:
        """A copy of what an object's memory bank holds now (empty before its first memory)."""
        self._state.check_known(object_id)
        return self._state.bank.snapshot(object_id) or ObjectMemory()

    def track(self, rgb: np.ndarray) -> TrackResult:
        """Segment every tracked object on a new ``HxWx3`` uint8 RGB frame."""
        height, width = check_frame(rgb)
        state, steps = self._state, self._steps
        with self.model.inference():
            steps.commit_pending(state.frame, list(state.pending))
            image = to_model_input(rgb, self.model.image_size, self.model.device)
            frame = Frame(state.frame_index + 1, height, width, image)
            objects = list(state.outputs)
            state.outputs = steps.track_objects(frame, objects) if objects else {}
            state.frame, state.frame_index = frame, frame.index
            state.bank.release_unreachable(frame.index)
            state.history.push(HistoryFrame(frame, {i: state.object_state(i) for i in objects}))
            return self.result()

    def add_prompt(
        self,
        object_id: int | None = None,
        points: Sequence[Sequence[float]] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
        box: Sequence[float] | np.ndarray | None = None,
        frame_index: int | None = None,
    ) -> PromptResult:
        """Add a new object (``object_id=None``) or refine one, on a tracked frame.

        Points are ``(x, y)`` source-image pixels with labels 1 (object) / 0 (background); a box
        is ``(x_min, y_min, x_max, y_max)``. Clicks on the same frame accumulate; a box starts
        that frame's prompt afresh. ``frame_index`` None is the last tracked frame; an earlier
        frame still in the history gets the prompt, and the object alone is then tracked again
        up to the last frame (other objects are untouched). The answer is the object's mask on
        the prompted frame. Raises :class:`PromptError` (state unchanged) on bad input.
        """
        state = self._state
        newest = state.frame
        if newest is None:
            raise PromptError("no frame tracked yet: prompts apply to tracked frames")
        late = frame_index is not None and frame_index != newest.index
        entry = state.history[frame_index] if late else None
        frame = entry.frame if entry is not None else newest
        prompt = make_prompt(points, labels, box, frame.width, frame.height)
        if object_id is None:
            if len(state.outputs) >= self.max_objects:
                raise PromptError(
                    f"cannot add an object: already tracking {len(state.outputs)} "
                    f"(max_objects={self.max_objects}); remove one first"
                )
            object_id = state.next_object_id
        else:
            state.check_known(object_id)
            if entry is not None and object_id not in entry.states | entry.prompts:
                raise PromptError(
                    f"object {object_id} was not tracked yet on frame {frame.index}: prompt it "
                    "on a later frame"
                )
        with self.model.inference():
            if entry is None:
                output = self._steps.apply_prompt(frame, object_id, prompt)
            else:
                output = late_prompts.repropagate(self._steps, entry, object_id, prompt)
            answer = prompt_result(object_id, frame, output)
        state.history.record_prompt(frame.index, object_id, prompt, output)
        state.next_object_id = max(state.next_object_id, object_id + 1)
        return answer

    def remove_object(self, object_id: int) -> None:
        """Stop tracking an object and release its memory."""
        self._state.check_known(object_id)
        self._state.remove(object_id)

    def reset(self) -> None:
        """Forget all objects, their memory and the tracked frames (object ids keep counting
        up)."""
        self._state.clear()

    def save_objects(
        self,
        path: str | Path,
        labels: dict[int, str] | None = None,
        object_ids: Sequence[int] | None = None,
    ) -> int:
        """Write every object's (or those of ``object_ids``) memory bank, output, id and label
        (``labels``), the next object id and the last frame index to a safetensors file; bytes
        written. Prompts on the last frame that are not memory yet are saved as the memory they
        become. The prompt history is not saved."""
        return saved_objects.save_objects(self._steps, Path(path), labels, object_ids)

    def load_objects(self, path: str | Path) -> dict[int, str]:
        """Replace the tracked objects by a file's (see :meth:`save_objects`); their labels. The
        next tracked frame continues the saved frame numbering, so SAM 2 sees the loaded
        memories as the recent past. Raises :class:`ObjectsFileError` (state unchanged) for a
        file that is missing, corrupt, or made with another config, resolution or weights."""
        return self.restore_objects(self.read_objects(path))

    def read_objects(self, path: str | Path) -> SavedObjects:
        """Read and check an objects file against this predictor (nothing changes yet)."""
        return saved_objects.read_for(path, self.model, self.max_objects)

    def restore_objects(self, saved: SavedObjects) -> dict[int, str]:
        """Make ``saved`` (from :meth:`read_objects`) the tracked objects; their labels."""
        return saved_objects.restore_objects(self._state, saved)

    def memory_bytes(self) -> int:
        """Bytes of tracking state held: memory bank, last frame, per-object outputs, prompts
        waiting to become memory and the prompt history."""
        return self._state.memory_bytes()

    def history_bytes(self) -> int:
        """Bytes held only for the prompt history (earlier frames and memories)."""
        return self._state.history_bytes()

    def result(self, frame_index: int | None = None) -> TrackResult:
        """All objects on the last tracked frame, or on an earlier one still in the history, as
        they stand now: including prompts applied to it since, and an object's re-tracking
        after a prompt on an earlier frame. :class:`PromptError` for a frame not held."""
        state = self._state
        frame = state.frame
        if frame is None:
            raise RuntimeError("no frame tracked yet")
        if frame_index is None or frame_index == frame.index:
            return track_result(frame, state.outputs, self.pointer_dim)
        entry = state.history[frame_index]
        held = {i: entry.output(i) for i in state.outputs}
        outputs = {i: o for i, o in held.items() if o is not None}
        return track_result(entry.frame, outputs, self.pointer_dim)


def _checked(settings: EngineSettings) -> EngineSettings:
    """``settings``, whose tracking settings must go together (ValueError else)."""
    if settings.max_objects < 1:
        raise ValueError(f"max_objects must be >= 1, got {settings.max_objects}")
    if settings.memory_selection not in MEMORY_SELECTIONS:
        raise ValueError(
            f"memory_selection {settings.memory_selection!r} is not one of "
            f"{list(MEMORY_SELECTIONS)}"
        )
    if settings.samurai and settings.memory_selection != "samurai":
        raise ValueError("SAMURAI settings were given but memory_selection is not 'samurai'")
    return settings
