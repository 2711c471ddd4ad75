"""SAM 2's per-frame steps on a stream's state, as Meta's video predictor takes them.

Each step calls ``SAM2Base``'s own methods in the order and with the inputs
``SAM2VideoPredictor`` gives them when a video is propagated while prompts arrive: the image
encoder once per frame for all objects; a prompt's step on its frame (its output waits to become
memory until the next frame, so that clicks on one frame build on each other); the memory
encoder on waiting prompts (the propagation preflight); and tracking (memory attention batched
per memory layout, then the mask decoder and memory encoder batched over the objects).
"""

from __future__ import annotations

import importlib.util

import torch
import torch.nn.functional as F
from sam2.utils.misc import fill_holes_in_mask_scores

from sam2_ros.engine.memory.bank import FrameMemory, MemoryScores
from sam2_ros.engine.memory.selection import (
    STREAM_NUM_FRAMES,
    CurrentFrame,
    DecoderInputs,
    Heads,
    MemorySelection,
)
from sam2_ros.engine.model.build import Sam2Model
from sam2_ros.engine.model.compiled import bucket
from sam2_ros.engine.streaming.prompts import Prompt, to_point_inputs
from sam2_ros.engine.streaming.records import Frame, FrameFeatures, ObjectOutput, PendingPrompt
from sam2_ros.engine.streaming.state import StreamState

# `build_sam2_video_predictor` fills mask holes up to this area (needs SAM 2's CUDA extension).
FILL_HOLE_AREA = 8
HAS_FILL_HOLES_KERNEL = importlib.util.find_spec("sam2._C") is not None
# The video predictor clamps earlier mask logits before feeding them back with new clicks.
PREVIOUS_MASK_LOGIT_LIMIT = 32.0


def pad_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x`` with its first row repeated up to ``rows`` rows."""
    missing = rows - x.shape[0]
    return x if missing == 0 else torch.cat([x, x[:1].expand(missing, *x.shape[1:])])


class FrameSteps:
    """SAM 2's steps for one stream: they read and change ``state`` (outputs, waiting prompts,
    memory bank), run ``model`` and choose memories and masks with ``selection``.

    ``bucketed``: object batches run padded to a bucket with one memory layout (static shapes,
    for compiled graphs). ``corrections_as_conditioning``: a prompt on an already-tracked frame
    becomes a conditioning memory, as SAM 2's ``add_all_frames_to_correct_as_cond``.
    """

    def __init__(
        self,
        model: Sam2Model,
        selection: MemorySelection,
        state: StreamState,
        bucketed: bool,
        corrections_as_conditioning: bool,
    ) -> None:
        self.model = model
        self.selection = selection
        self.state = state
        self.bucketed = bucketed
        self.corrections_as_conditioning = corrections_as_conditioning

    def encode(self, frame: Frame) -> FrameFeatures:
        """Run the image encoder on a frame once, on first use (its input is then dropped)."""
        if frame.features is None:
            sam = self.model.sam
            _, feats, pos, sizes = sam._prepare_backbone_features(sam.forward_image(frame.image))
            frame.features = FrameFeatures(feats, pos[-1:], sizes)
            frame.image = None
        return frame.features

    def apply_prompt(self, frame: Frame, object_id: int, prompt: Prompt) -> ObjectOutput:
        """SAM 2's step for a prompt on ``frame``, the newest frame the object was tracked on:
        the output replaces the object's and waits to become memory until the next frame."""
        state = self.state
        pending = state.pending.get(object_id)
        previous = state.outputs.get(object_id)
        is_initial = previous is None or (pending is not None and pending.is_initial)
        earlier_points = pending.point_inputs if pending and prompt.box is None else None
        features = self.encode(frame)
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
            pix_feat = self.selection.condition(sam, current, state.bank, [object_id])
        inputs = DecoderInputs(
            pix_feat,
            point_inputs,
            previous_logits,
            self._high_res_features(vision_feats, features, 1),
            sam._use_multimask(is_initial, point_inputs),
        )
        heads = self.selection.heads(sam, inputs, [None])  # a prompt restarts its motion
        (output,) = self._outputs_of(heads, 1)
        state.pending[object_id] = PendingPrompt(output, point_inputs, is_initial)
        state.outputs[object_id] = output
        return output

    def commit_pending(self, frame: Frame | None, object_ids: list[int]) -> None:
        """Encode prompted outputs on ``frame`` into memory (SAM 2's propagation preflight: the
        upsampled, binarized prompted mask goes through the memory encoder)."""
        pending = [(i, self.state.pending.pop(i)) for i in object_ids if i in self.state.pending]
        if not pending:
            return
        sam = self.model.sam
        ids = [object_id for object_id, _ in pending]
        batch = self._batch_size(len(ids))
        pred_masks = pad_rows(torch.cat([p.output.pred_masks for _, p in pending]), batch)
        high_res_masks = F.interpolate(
            pred_masks,
            size=(self.model.image_size, self.model.image_size),
            mode="bilinear",
            align_corners=False,
        )
        features = self.encode(frame)
        vision_feats, _ = features.expand(batch, self.bucketed)
        maskmem_features, pos_enc = sam._encode_new_memory(
            current_vision_feats=vision_feats,
            feat_sizes=features.feat_sizes,
            pred_masks_high_res=high_res_masks,
            object_score_logits=pad_rows(
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

    def track_objects(self, frame: Frame, object_ids: list[int]) -> dict[int, ObjectOutput]:
        """SAM 2's ``track_step`` for the given objects: memory attention per memory layout,
        then the mask decoder and memory encoder batched over them."""
        sam, bank = self.model.sam, self.state.bank
        features = self.encode(frame)
        order: list[int] = []
        conditioned: list[torch.Tensor] = []
        for group in self.selection.groups(sam, frame.index, bank, object_ids):
            padded = group + group[:1] * (self._batch_size(len(group)) - len(group))
            vision_feats, vision_pos = features.expand(len(padded), self.bucketed)
            current = CurrentFrame(
                frame.index, vision_feats[-1:], vision_pos[-1:], features.feat_sizes[-1:]
            )
            pix_feat = self.selection.condition(sam, current, bank, padded)
            conditioned.append(pix_feat[: len(group)])
            order.extend(group)
        count = len(order)
        batch = self._batch_size(count)
        vision_feats, _ = features.expand(batch, self.bucketed)
        motions = [self.state.outputs[object_id].motion for object_id in order]
        inputs = DecoderInputs(
            self._compiled_layout(pad_rows(torch.cat(conditioned), batch)),
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
        bank = self.state.bank
        bank.set_maskmem_pos_enc(maskmem_pos_enc)
        maskmem_features = maskmem_features.to(torch.bfloat16)  # SAM 2 stores memories in bf16
        for row, (object_id, is_conditioning, score) in enumerate(
            zip(object_ids, conditioning, scores, strict=True)
        ):
            rows = slice(row, row + 1)
            memory = FrameMemory(maskmem_features[rows], obj_ptrs[rows], score)
            bank.store(object_id, frame_index, memory, conditioning=is_conditioning)

    @staticmethod
    def _fill_holes(pred_masks: torch.Tensor) -> torch.Tensor:
        """The video predictor's small-hole filling (only where SAM 2's CUDA kernel exists)."""
        if HAS_FILL_HOLES_KERNEL and pred_masks.is_cuda:
            return fill_holes_in_mask_scores(pred_masks, FILL_HOLE_AREA)
        return pred_masks
