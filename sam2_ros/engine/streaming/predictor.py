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
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sam2.utils.misc import fill_holes_in_mask_scores

from sam2_ros.engine.memory.bank import FrameMemory, MemoryBank, MemoryScores, ObjectMemory
from sam2_ros.engine.memory.samurai import SamuraiSelection, SamuraiSettings
from sam2_ros.engine.memory.selection import (
    MEMORY_SELECTIONS,
    STREAM_NUM_FRAMES,
    CurrentFrame,
    DecoderInputs,
    Heads,
    MemorySelection,
    Sam2Selection,
)
from sam2_ros.engine.model.build import Sam2Model, load_model
from sam2_ros.engine.model.compiled import bucket
from sam2_ros.engine.settings import EngineSettings, settings_with
from sam2_ros.engine.streaming.history import FrameHistory, HistoryFrame
from sam2_ros.engine.streaming.objects_file import (
    ModelIdentity,
    ObjectsFileError,
    SavedObject,
    SavedObjects,
    check_saved_tensors,
    read_objects,
    write_objects,
)
from sam2_ros.engine.streaming.preprocess import check_frame, to_model_input
from sam2_ros.engine.streaming.prompts import Prompt, PromptError, make_prompt, to_point_inputs
from sam2_ros.engine.streaming.records import (
    Frame,
    FrameFeatures,
    ObjectOutput,
    ObjectState,
    PendingPrompt,
    distinct_nbytes,
)
from sam2_ros.engine.streaming.results import PromptResult, TrackResult

# `build_sam2_video_predictor` fills mask holes up to this area (needs SAM 2's CUDA extension).
FILL_HOLE_AREA = 8
HAS_FILL_HOLES_KERNEL = importlib.util.find_spec("sam2._C") is not None
# The video predictor clamps earlier mask logits before feeding them back with new clicks.
PREVIOUS_MASK_LOGIT_LIMIT = 32.0


def _occlusion_scores(object_score_logits: torch.Tensor) -> torch.Tensor:
    """Probability that each object is not visible: 1 - sigmoid(object score logit)."""
    return 1.0 - torch.sigmoid(object_score_logits.float().view(-1))


def _pad_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x`` with its first row repeated up to ``rows`` rows."""
    missing = rows - x.shape[0]
    return x if missing == 0 else torch.cat([x, x[:1].expand(missing, *x.shape[1:])])


def _to_host(*tensors: torch.Tensor) -> list[np.ndarray]:
    """Copy tensors to host memory, waiting for the device once rather than once per tensor."""
    host = [t.to("cpu", non_blocking=True) for t in tensors]
    if any(t.is_cuda for t in tensors):
        torch.cuda.current_stream(tensors[0].device).synchronize()
    return [h.numpy() for h in host]


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
        settings = settings_with(settings, changes)
        if settings.max_objects < 1:
            raise ValueError(f"max_objects must be >= 1, got {settings.max_objects}")
        if settings.memory_selection not in MEMORY_SELECTIONS:
            raise ValueError(
                f"memory_selection {settings.memory_selection!r} is not one of "
                f"{list(MEMORY_SELECTIONS)}"
            )
        if settings.samurai and settings.memory_selection != "samurai":
            raise ValueError("SAMURAI settings were given but memory_selection is not 'samurai'")
        #: What this predictor was made with (its model's settings too, unless given ``model``).
        self.settings = settings
        self._history = FrameHistory(settings.history_frames)
        self.model = model or load_model(settings)
        self.max_objects = settings.max_objects
        #: Whether object batches run padded to :data:`~sam2_ros.engine.model.compiled.BUCKETS` rows
        #: with one memory layout (static shapes); by default when the model is compiled.
        self.bucketed = self.model.compiled if settings.bucketed is None else settings.bucketed
        #: Whether a prompt on an already-tracked frame becomes a conditioning frame (kept until
        #: capped) rather than a recent memory that ages out: SAM 2's
        #: ``add_all_frames_to_correct_as_cond``.
        self.corrections_as_conditioning = settings.corrections_as_conditioning
        sam = self.model.sam
        #: How memories are chosen and candidate masks ranked (SAM 2's way or SAMURAI's).
        self.selection: MemorySelection = (
            SamuraiSelection(SamuraiSettings.for_model(self.model.model_cfg, settings.samurai))
            if settings.memory_selection == "samurai"
            else Sam2Selection()
        )
        self._bank = MemoryBank(
            num_maskmem=sam.num_maskmem,
            memory_stride=sam.memory_temporal_stride_for_eval,
            max_obj_ptrs=sam.max_obj_ptrs_in_encoder if sam.use_obj_ptrs_in_encoder else 0,
            max_conditioning_frames=settings.max_conditioning_frames,
            maskmem_window=self.selection.maskmem_window,
        )
        self._frame: Frame | None = None
        self._frame_index = -1  # of the last tracked frame (loaded objects continue from theirs)
        self._outputs: dict[int, ObjectOutput] = {}  # every object, on the last frame
        self._pending: dict[int, PendingPrompt] = {}
        self._next_object_id = 1

    @property
    def object_ids(self) -> list[int]:
        """Tracked objects, in the order they were added."""
        return list(self._outputs)

    @property
    def frame_index(self) -> int:
        """Index of the last tracked frame (-1 before the first one)."""
        return self._frame_index

    @property
    def history_frames(self) -> int:
        """How many of the last tracked frames can be prompted."""
        return self._history.size

    @property
    def pointer_dim(self) -> int:
        """Length of an object pointer."""
        return int(self.model.sam.hidden_dim)

    def conditioning_frames(self, object_id: int) -> list[int]:
        """Frame indices an object is conditioned on (its prompted frames, capped)."""
        self._check_known(object_id)
        return self._bank.conditioning_frames(object_id) if object_id in self._bank else []

    def object_memory(self, object_id: int) -> ObjectMemory:
        """A copy of what an object's memory bank holds now (empty before its first memory)."""
        self._check_known(object_id)
        return self._bank.snapshot(object_id) or ObjectMemory()

    def track(self, rgb: np.ndarray) -> TrackResult:
        """Segment every tracked object on a new ``HxWx3`` uint8 RGB frame."""
        height, width = check_frame(rgb)
        with self.model.inference():
            self._commit_pending(self._frame, list(self._pending))
            image = to_model_input(rgb, self.model.image_size, self.model.device)
            frame = Frame(self.frame_index + 1, height, width, image)
            objects = list(self._outputs)
            self._outputs = self._track_objects(frame, objects) if objects else {}
            self._frame, self._frame_index = frame, frame.index
            self._bank.release_unreachable(frame.index)
            self._history.push(HistoryFrame(frame, {i: self._state(i) for i in objects}))
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
        newest = self._frame
        if newest is None:
            raise PromptError("no frame tracked yet: prompts apply to tracked frames")
        late = frame_index is not None and frame_index != newest.index
        entry = self._history[frame_index] if late else None
        frame = entry.frame if entry is not None else newest
        prompt = make_prompt(points, labels, box, frame.width, frame.height)
        if object_id is None:
            if len(self._outputs) >= self.max_objects:
                raise PromptError(
                    f"cannot add an object: already tracking {len(self._outputs)} "
                    f"(max_objects={self.max_objects}); remove one first"
                )
            object_id = self._next_object_id
        else:
            self._check_known(object_id)
            if entry is not None and object_id not in entry.states | entry.prompts:
                raise PromptError(
                    f"object {object_id} was not tracked yet on frame {frame.index}: prompt it "
                    "on a later frame"
                )
        with self.model.inference():
            if entry is None:
                output = self._apply_prompt(frame, object_id, prompt)
            else:
                output = self._repropagate(entry, object_id, prompt)
            mask, score, occlusion = _to_host(
                self._masks_at_input_resolution(output.pred_masks, frame)[0],
                output.score,
                _occlusion_scores(output.object_score_logits),
            )
        self._history.record_prompt(frame.index, object_id, prompt, output)
        self._next_object_id = max(self._next_object_id, object_id + 1)
        return PromptResult(object_id, frame.index, mask, float(score[0]), float(occlusion[0]))

    def remove_object(self, object_id: int) -> None:
        """Stop tracking an object and release its memory."""
        self._check_known(object_id)
        del self._outputs[object_id]
        self._pending.pop(object_id, None)
        if object_id in self._bank:
            self._bank.remove(object_id)
        self._history.drop_object(object_id)

    def reset(self) -> None:
        """Forget all objects, their memory and the tracked frames (object ids keep counting
        up)."""
        self._bank.clear()
        self._outputs.clear()
        self._pending.clear()
        self._history.clear()
        self._frame, self._frame_index = None, -1

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
        with self.model.inference():
            memories = self._memories_with_prompts_committed()
        kept = set(self._outputs if object_ids is None else object_ids)
        saved = SavedObjects(
            model=self._identity(),
            objects=[
                SavedObject(object_id, (labels or {}).get(object_id, ""), memory, output)
                for (object_id, output), memory in zip(self._outputs.items(), memories, strict=True)
                if object_id in kept
            ],
            next_object_id=self._next_object_id,
            last_frame_index=self._frame_index,
            maskmem_pos_enc=self._bank.maskmem_pos_enc,
        )
        return write_objects(Path(path), saved)

    def load_objects(self, path: str | Path) -> dict[int, str]:
        """Replace the tracked objects by a file's (see :meth:`save_objects`); their labels. The
        next tracked frame continues the saved frame numbering, so SAM 2 sees the loaded
        memories as the recent past. Raises :class:`ObjectsFileError` (state unchanged) for a
        file that is missing, corrupt, or made with another config, resolution or weights."""
        return self.restore_objects(self.read_objects(path))

    def read_objects(self, path: str | Path) -> SavedObjects:
        """Read and check an objects file against this predictor (nothing changes yet)."""
        saved = read_objects(Path(path), self.model.device)
        ours = self._identity()
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
        if len(saved.objects) > self.max_objects:
            raise ObjectsFileError(
                f"{path} holds {len(saved.objects)} objects but max_objects is {self.max_objects}"
            )
        check_saved_tensors(saved, self.model)
        return saved

    def restore_objects(self, saved: SavedObjects) -> dict[int, str]:
        """Make ``saved`` (from :meth:`read_objects`) the tracked objects; their labels."""
        self.reset()
        if saved.maskmem_pos_enc:
            self._bank.set_maskmem_pos_enc(saved.maskmem_pos_enc)
        for obj in saved.objects:
            self._bank.restore(obj.object_id, obj.memory)
            self._outputs[obj.object_id] = obj.output
        self._next_object_id = saved.next_object_id
        self._frame_index = saved.last_frame_index
        return {obj.object_id: obj.label for obj in saved.objects}

    def _identity(self) -> ModelIdentity:
        model = self.model
        return ModelIdentity(model.model_cfg, model.image_size, model.weights_fingerprint())

    def _memories_with_prompts_committed(self) -> list[ObjectMemory]:
        """Every object's memory as it will be once prompts on the last frame are encoded (they
        are, here, and then put back to wait for the next frame as before)."""
        waiting = dict(self._pending)
        before = {object_id: self._bank.snapshot(object_id) for object_id in waiting}
        self._commit_pending(self._frame, list(waiting))
        memories = [self._bank.snapshot(i) or ObjectMemory() for i in self._outputs]
        for object_id, memory in before.items():
            self._bank.restore(object_id, memory)
        self._pending = waiting
        return memories

    def memory_bytes(self) -> int:
        """Bytes of tracking state held: memory bank, last frame, per-object outputs, prompts
        waiting to become memory and the prompt history."""
        return distinct_nbytes([*self._live_tensors(), *self._history.tensors()])

    def history_bytes(self) -> int:
        """Bytes held only for the prompt history (earlier frames and memories)."""
        return self.memory_bytes() - distinct_nbytes(self._live_tensors())

    def _live_tensors(self) -> list[torch.Tensor]:
        tensors = list(self._bank.tensors())
        for output in self._outputs.values():
            tensors.extend(output.tensors())
        for pending in self._pending.values():
            tensors.extend(pending.tensors())
        if self._frame is not None:
            tensors.extend(self._frame.tensors())
        return tensors

    def _check_known(self, object_id: int) -> None:
        if object_id not in self._outputs:
            raise PromptError(f"unknown object id {object_id}; tracked objects: {self.object_ids}")

    def _state(self, object_id: int) -> ObjectState:
        return ObjectState(self._bank.snapshot(object_id), self._outputs[object_id])

    def _encode(self, frame: Frame) -> FrameFeatures:
        """Run the image encoder on a frame once, on first use (its input is then dropped)."""
        if frame.features is None:
            sam = self.model.sam
            _, feats, pos, sizes = sam._prepare_backbone_features(sam.forward_image(frame.image))
            frame.features = FrameFeatures(feats, pos[-1:], sizes)
            frame.image = None
        return frame.features

    def _apply_prompt(self, frame: Frame, object_id: int, prompt: Prompt) -> ObjectOutput:
        """SAM 2's step for a prompt on ``frame``, the newest frame the object was tracked on:
        the output replaces the object's and waits to become memory until the next frame."""
        pending = self._pending.get(object_id)
        previous = self._outputs.get(object_id)
        is_initial = previous is None or (pending is not None and pending.is_initial)
        earlier_points = pending.point_inputs if pending and prompt.box is None else None
        features = self._encode(frame)
        point_inputs = to_point_inputs(
            prompt,
            earlier_points,
            frame.width,
            frame.height,
            self.model.image_size,
            self.model.device,
        )
        previous_logits = (
            None
            if previous is None
            else previous.pred_masks.clamp(-PREVIOUS_MASK_LOGIT_LIMIT, PREVIOUS_MASK_LOGIT_LIMIT)
        )
        sam = self.model.sam
        vision_feats, vision_pos = features.expand(1)
        if is_initial:  # SAM 2's step on a first frame: no memory
            pix_feat = sam._prepare_memory_conditioned_features(
                frame_idx=frame.index,
                is_init_cond_frame=True,
                current_vision_feats=vision_feats[-1:],
                current_vision_pos_embeds=vision_pos,
                feat_sizes=features.feat_sizes[-1:],
                output_dict={"cond_frame_outputs": {}, "non_cond_frame_outputs": {}},
                num_frames=STREAM_NUM_FRAMES,
            )
        else:
            current = CurrentFrame(
                frame.index, vision_feats[-1:], vision_pos, features.feat_sizes[-1:]
            )
            pix_feat = self.selection.condition(sam, current, self._bank, [object_id])
        inputs = DecoderInputs(
            pix_feat,
            point_inputs,
            previous_logits,
            self._high_res_features(vision_feats, features, 1),
            sam._use_multimask(is_initial, point_inputs),
        )
        heads = self.selection.heads(sam, inputs, [None])  # a prompt restarts its motion
        (output,) = self._outputs_of(heads, 1)
        self._pending[object_id] = PendingPrompt(output, point_inputs, is_initial)
        self._outputs[object_id] = output
        return output

    def _repropagate(self, entry: HistoryFrame, object_id: int, prompt: Prompt) -> ObjectOutput:
        """Apply ``prompt`` on an older frame and track its object alone from there to the newest
        frame, replaying the prompts it got on each frame; its answer on the prompted frame.

        Every step is the one the object would have gone through had the prompt arrived right
        after that frame was tracked, so its outputs, memory bank and history end up the same.
        On failure the object is put back as it was.
        """
        order = list(self._outputs)
        live = (
            self._bank.snapshot(object_id),
            self._outputs.get(object_id),
            self._pending.get(object_id),
            [
                (e, e.states.get(object_id), e.answers.get(object_id))
                for e in self._history.after(entry.frame.index)
            ],
        )
        try:
            return self._replay(entry, object_id, prompt)
        except Exception:
            memory, output, pending, states = live
            self._bank.restore(object_id, memory)
            self._restore(self._outputs, object_id, output)
            self._restore(self._pending, object_id, pending)
            for later, state, answer in states:
                self._restore(later.states, object_id, state)
                self._restore(later.answers, object_id, answer)
            raise
        finally:  # objects keep the order they were added in
            order += [i for i in self._outputs if i not in order]
            self._outputs = {i: self._outputs[i] for i in order if i in self._outputs}

    def _replay(self, entry: HistoryFrame, object_id: int, prompt: Prompt) -> ObjectOutput:
        state = entry.states.get(object_id)
        self._bank.restore(object_id, None if state is None else state.memory)
        self._restore(self._outputs, object_id, None if state is None else state.output)
        self._pending.pop(object_id, None)
        for earlier in entry.prompts.get(object_id, []):
            self._apply_prompt(entry.frame, object_id, earlier)
        answer = self._apply_prompt(entry.frame, object_id, prompt)
        previous = entry.frame
        for later in self._history.after(entry.frame.index):
            self._commit_pending(previous, [object_id])
            tracked = self._track_objects(later.frame, [object_id])
            self._outputs[object_id] = tracked[object_id]
            self._bank.release_unreachable(later.frame.index, [object_id])
            later.states[object_id] = self._state(object_id)
            for earlier in later.prompts.get(object_id, []):
                later.answers[object_id] = self._apply_prompt(later.frame, object_id, earlier)
            previous = later.frame
        return answer

    @staticmethod
    def _restore(values: dict, key: int, value: object | None) -> None:
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value

    def _commit_pending(self, frame: Frame | None, object_ids: list[int]) -> None:
        """Encode prompted outputs on ``frame`` into memory (SAM 2's propagation preflight: the
        upsampled, binarized prompted mask goes through the memory encoder)."""
        pending = [(i, self._pending.pop(i)) for i in object_ids if i in self._pending]
        if not pending:
            return
        sam = self.model.sam
        ids = [object_id for object_id, _ in pending]
        batch = self._batch_size(len(ids))
        pred_masks = _pad_rows(torch.cat([p.output.pred_masks for _, p in pending]), batch)
        high_res_masks = F.interpolate(
            pred_masks,
            size=(self.model.image_size, self.model.image_size),
            mode="bilinear",
            align_corners=False,
        )
        features = self._encode(frame)
        vision_feats, _ = features.expand(batch, self.bucketed)
        maskmem_features, pos_enc = sam._encode_new_memory(
            current_vision_feats=vision_feats,
            feat_sizes=features.feat_sizes,
            pred_masks_high_res=high_res_masks,
            object_score_logits=_pad_rows(
                torch.cat([p.output.object_score_logits for _, p in pending]), batch
            ),
            is_mask_from_pts=True,
        )
        self._store_memories(
            frame.index,
            ids,
            maskmem_features[: len(ids)],
            pos_enc,
            torch.cat([p.output.obj_ptr for _, p in pending]),
            [p.is_initial or self.corrections_as_conditioning for _, p in pending],
            [p.output.memory_scores for _, p in pending],
        )

    def _track_objects(self, frame: Frame, object_ids: list[int]) -> dict[int, ObjectOutput]:
        """SAM 2's ``track_step`` for the given objects: memory attention per memory layout,
        then the mask decoder and memory encoder batched over them."""
        sam = self.model.sam
        features = self._encode(frame)
        order: list[int] = []
        conditioned: list[torch.Tensor] = []
        for group in self.selection.groups(sam, frame.index, self._bank, object_ids):
            padded = group + group[:1] * (self._batch_size(len(group)) - len(group))
            vision_feats, vision_pos = features.expand(len(padded), self.bucketed)
            current = CurrentFrame(
                frame.index, vision_feats[-1:], vision_pos[-1:], features.feat_sizes[-1:]
            )
            pix_feat = self.selection.condition(sam, current, self._bank, padded)
            conditioned.append(pix_feat[: len(group)])
            order.extend(group)
        count = len(order)
        batch = self._batch_size(count)
        vision_feats, _ = features.expand(batch, self.bucketed)
        motions = [self._outputs[object_id].motion for object_id in order]
        inputs = DecoderInputs(
            self._compiled_layout(_pad_rows(torch.cat(conditioned), batch)),
            None,
            None,
            self._high_res_features(vision_feats, features, batch),
            sam._use_multimask(is_init_cond_frame=False, point_inputs=None),
        )
        heads = self.selection.heads(sam, inputs, motions + motions[:1] * (batch - count))
        maskmem_features, maskmem_pos_enc = sam._encode_new_memory(
            current_vision_feats=vision_feats,
            feat_sizes=features.feat_sizes,
            pred_masks_high_res=heads.high_res_masks,
            object_score_logits=heads.object_score_logits,
            is_mask_from_pts=False,
        )
        outputs = dict(zip(order, self._outputs_of(heads, count), strict=True))
        self._store_memories(
            frame.index,
            order,
            maskmem_features[:count],
            maskmem_pos_enc,
            heads.obj_ptr[:count],
            [False] * count,
            [outputs[object_id].memory_scores for object_id in order],
        )
        return {object_id: outputs[object_id] for object_id in object_ids}

    def _outputs_of(self, heads: Heads, count: int) -> list[ObjectOutput]:
        """Each object's output from the first ``count`` rows of the heads' answer (the rest are
        a bucket's padding); holes filled once for the batch."""
        pred_masks = self._fill_holes(heads.low_res_masks[:count])
        return [
            ObjectOutput(
                pred_masks=pred_masks[row : row + 1],
                score=heads.scores[row : row + 1],
                object_score_logits=heads.object_score_logits[row : row + 1],
                obj_ptr=heads.obj_ptr[row : row + 1],
                motion=heads.motions[row],
                memory_scores=heads.memory_scores[row],
            )
            for row in range(count)
        ]

    @staticmethod
    def _high_res_features(
        vision_feats: list[torch.Tensor], features: FrameFeatures, batch: int
    ) -> list[torch.Tensor]:
        """The higher-resolution levels as the mask decoder reads them, ``(B, C, H, W)``."""
        return [
            x.permute(1, 2, 0).view(batch, x.size(2), *size)
            for x, size in zip(vision_feats[:-1], features.feat_sizes[:-1], strict=True)
        ]

    def _compiled_layout(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` contiguous when bucketed: graphs are specialised on their inputs' strides."""
        return x.contiguous() if self.bucketed else x

    def _batch_size(self, count: int) -> int:
        """Rows to run ``count`` objects in: their bucket when bucketed (static shapes)."""
        return bucket(count) if self.bucketed else count

    def _store_memories(
        self,
        frame_index: int,
        object_ids: list[int],
        maskmem_features: torch.Tensor,
        maskmem_pos_enc: list[torch.Tensor],
        obj_ptrs: torch.Tensor,
        conditioning: list[bool],
        scores: list[MemoryScores | None],
    ) -> None:
        """Put a batch of freshly encoded memories (row i = object_ids[i]) into the bank."""
        self._bank.set_maskmem_pos_enc(maskmem_pos_enc)
        maskmem_features = maskmem_features.to(torch.bfloat16)  # SAM 2 stores memories in bf16
        for row, (object_id, is_conditioning, score) in enumerate(
            zip(object_ids, conditioning, scores, strict=True)
        ):
            rows = slice(row, row + 1)
            memory = FrameMemory(maskmem_features[rows], obj_ptrs[rows], score)
            self._bank.store(object_id, frame_index, memory, conditioning=is_conditioning)

    def _fill_holes(self, pred_masks: torch.Tensor) -> torch.Tensor:
        """The video predictor's small-hole filling (only where SAM 2's CUDA kernel exists)."""
        if HAS_FILL_HOLES_KERNEL and pred_masks.is_cuda:
            return fill_holes_in_mask_scores(pred_masks, FILL_HOLE_AREA)
        return pred_masks

    @staticmethod
    def _masks_at_input_resolution(pred_masks: torch.Tensor, frame: Frame) -> torch.Tensor:
        """Binary ``(N, H, W)`` masks, upsampled as the video predictor does for its output."""
        logits = F.interpolate(
            pred_masks.float(),
            size=(frame.height, frame.width),
            mode="bilinear",
            align_corners=False,
        )
        return logits[:, 0] > 0

    def result(self, frame_index: int | None = None) -> TrackResult:
        """All objects on the last tracked frame, or on an earlier one still in the history, as
        they stand now: including prompts applied to it since, and an object's re-tracking
        after a prompt on an earlier frame. :class:`PromptError` for a frame not held."""
        frame = self._frame
        if frame is None:
            raise RuntimeError("no frame tracked yet")
        if frame_index is None or frame_index == frame.index:
            return self._result(frame, self._outputs)
        entry = self._history[frame_index]
        held = {i: entry.output(i) for i in self._outputs}
        return self._result(entry.frame, {i: o for i, o in held.items() if o is not None})

    def _result(self, frame: Frame, by_object: dict[int, ObjectOutput]) -> TrackResult:
        """The objects' outputs on ``frame`` at the frame's resolution."""
        if not by_object:
            return TrackResult.empty(frame.index, frame.height, frame.width, self.pointer_dim)
        outputs = list(by_object.values())
        with torch.inference_mode():
            pred_masks = torch.cat([o.pred_masks for o in outputs])
            masks, scores, occlusion, pointers, logits = _to_host(
                self._masks_at_input_resolution(pred_masks, frame),
                torch.cat([o.score for o in outputs]),
                _occlusion_scores(torch.cat([o.object_score_logits for o in outputs])),
                torch.cat([o.obj_ptr for o in outputs]).float(),
                pred_masks[:, 0].float(),
            )
        return TrackResult(
            frame_index=frame.index,
            object_ids=list(by_object),
            masks=masks,
            scores=scores,
            occlusion_scores=occlusion,
            object_pointers=pointers,
            mask_logits=logits,
        )
