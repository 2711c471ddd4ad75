"""SAMURAI's motion-aware memory (Yang et al. 2024, github:yangchris11/samurai), per object.

Two steps of SAM 2's tracking change, nothing is retrained:

* **The mask.** Each object's box is followed by a Kalman filter
  (:mod:`sam2_ros.engine.memory.motion`). Once ``stable_frames_threshold`` consecutive steps had a
  confident mask (predicted IoU above ``stable_ious_threshold``), the decoder's candidates are
  ranked by ``kf_score_weight`` x their box IoU with the filter's prediction + (1 -
  ``kf_score_weight``) x their predicted IoU, instead of the predicted IoU alone; until then the
  filter only learns. An object counts as present when its score logit is above
  ``min_obj_score_logits`` (SAM 2: 0), for its mask and its pointer.
* **The memory.** Instead of the last ``num_maskmem - 1`` frames, the spatial memories come from
  the latest past frames whose chosen mask had a predicted IoU above
  ``memory_bank_iou_threshold``, an object score logit above ``memory_bank_obj_score_threshold``
  and, once the filter ranks masks, a motion IoU above ``memory_bank_kf_score_threshold``; the
  previous frame always counts. They keep their temporal encodings by rank; object pointers still
  come from the last frames, as in SAM 2.

As SAMURAI: frames are scanned back to the object's first frame + 2 (SAMURAI's ``range(t - 1,
1, -1)`` from a prompt on frame 0), the filter runs in float64 on boxes of positive pixels at the
model's resolution, and it starts on the first step with several candidate masks. Bounded unlike
SAMURAI: only the last ``candidate_frames`` frames are scanned (their memories stay in the bank);
SAMURAI gathers up to 15 valid frames and attends to the latest 6, which are the same 6.

Ours, where SAMURAI (one object, prompted once on frame 0) defines nothing: every prompt restarts
its object's filter (a one-click prompt, whose decoder gives several candidates, starts it from the
chosen mask; a box or several clicks leave it to the next step), since the user has just said
where the object is; a late prompt re-tracks the object from the filter it had on that frame;
conditioning frames (prompts) and frames without a kept memory are never candidates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from sam2.modeling.sam2_base import NO_OBJ_SCORE
from sam2.modeling.sam2_utils import get_1d_sine_pe, select_closest_cond_frames
from torch import nn

from sam2_ros.engine.memory.bank import FrameMemory, MemoryBank, MemoryScores, ObjectMemory
from sam2_ros.engine.memory.motion import MotionState, box_iou, mask_boxes
from sam2_ros.engine.memory.selection import CurrentFrame, DecoderInputs, Heads, MemorySelection


class SamuraiSettingsError(ValueError):
    """An unknown or out-of-range SAMURAI setting."""


@dataclass(frozen=True)
class SamuraiSettings:
    """SAMURAI's settings, named as in its configs (``configs/samurai/sam2.1_hiera_*.yaml``,
    whose values are the defaults), and the bound of the memory scan."""

    #: Consecutive confident steps before the filter ranks the candidate masks.
    stable_frames_threshold: int = 15
    #: Predicted IoU a chosen mask needs to feed the filter (below it, the count restarts).
    stable_ious_threshold: float = 0.3
    #: Object score logit above which an object counts as present (SAM 2 hard-codes 0).
    min_obj_score_logits: float = -1.0
    #: Weight of the motion IoU against the predicted IoU when ranking candidates (hiera_l: 0.15).
    kf_score_weight: float = 0.25
    #: Predicted IoU a past frame's mask needs to be a memory.
    memory_bank_iou_threshold: float = 0.5
    #: Object score logit a past frame needs to be a memory.
    memory_bank_obj_score_threshold: float = 0.0
    #: Motion IoU a past frame needs to be a memory (once the filter ranked its candidates).
    memory_bank_kf_score_threshold: float = 0.0
    #: How many past frames are scanned for memories (ours: SAMURAI scans the whole video).
    candidate_frames: int = 30

    @classmethod
    def for_model(
        cls, model_cfg: str, values: Mapping[str, float] | None = None
    ) -> SamuraiSettings:
        """SAMURAI's defaults for ``model_cfg`` with ``values`` over them, checked."""
        defaults = asdict(cls())
        if "hiera_l" in model_cfg:
            defaults["kf_score_weight"] = 0.15  # SAMURAI's large config
        values = dict(values or {})
        unknown = sorted(set(values) - set(defaults))
        if unknown:
            raise SamuraiSettingsError(
                f"unknown SAMURAI setting(s) {unknown}; known: {sorted(defaults)}"
            )
        settings = {**defaults, **values}
        for spec in fields(cls):
            value = settings[spec.name]
            if spec.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise SamuraiSettingsError(
                        f"{spec.name} must be an integer >= 1, got {value!r}"
                    )
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise SamuraiSettingsError(f"{spec.name} must be a finite number, got {value!r}")
        if not 0.0 <= settings["kf_score_weight"] <= 1.0:
            raise SamuraiSettingsError(
                f"kf_score_weight must be in [0, 1], got {settings['kf_score_weight']!r}"
            )
        return cls(
            **{
                s.name: float(settings[s.name]) if s.type == "float" else settings[s.name]
                for s in fields(cls)
            }
        )

    def keeps(self, scores: MemoryScores | None) -> bool:
        """Whether a past frame with these scores may be a memory."""
        return scores is not None and (
            scores.iou > self.memory_bank_iou_threshold
            and scores.object_score > self.memory_bank_obj_score_threshold
            and (scores.motion is None or scores.motion > self.memory_bank_kf_score_threshold)
        )


@dataclass(frozen=True)
class MemoryPick:
    """The memories one object attends to on a frame, as ``(position, frame, memory)``: its
    conditioning frames (position 0), spatial memories by temporal position, pointers by
    distance."""

    conditioning: tuple[tuple[int, int, FrameMemory], ...]
    spatial: tuple[tuple[int, int, FrameMemory], ...]
    pointers: tuple[tuple[int, int, FrameMemory], ...]

    def layout(self) -> tuple:
        """What must be equal for objects to attend in one batch: the positions."""
        return tuple(tuple(p for p, _, _ in kind) for kind in self.kinds())

    def kinds(self) -> tuple[tuple[tuple[int, int, FrameMemory], ...], ...]:
        """Conditioning, spatial and pointer entries, in the order memory attention reads them."""
        return self.conditioning, self.spatial, self.pointers


class SamuraiSelection(MemorySelection):
    """SAMURAI's motion-weighted mask choice and score-gated memory, per object."""

    name = "samurai"

    def __init__(self, settings: SamuraiSettings) -> None:
        self.settings = settings
        self.maskmem_window = settings.candidate_frames

    def __str__(self) -> str:
        values = ", ".join(f"{k}={v}" for k, v in asdict(self.settings).items())
        return f"{self.name} ({values})"

    def pick(self, sam: nn.Module, frame_index: int, memory: ObjectMemory) -> MemoryPick:
        """What an object attends to on ``frame_index``."""
        selected, unselected = select_closest_cond_frames(
            frame_index, memory.conditioning, sam.max_cond_frames_in_attn
        )

        def found(t: int) -> FrameMemory | None:  # a recent frame, or a conditioning frame
            return memory.recent.get(t) or unselected.get(t)  # left out of attention

        wanted = sam.num_maskmem - 1
        valid: list[int] = []
        first = min(memory.conditioning, default=frame_index)
        oldest = max(first + 2, frame_index - self.settings.candidate_frames)
        for t in range(frame_index - 1, oldest - 1, -1):
            kept = memory.recent.get(t)
            if (
                kept is not None
                and kept.maskmem_features is not None
                and self.settings.keeps(kept.scores)
            ):
                valid.insert(0, t)
                if len(valid) == wanted:
                    break
        if frame_index - 1 not in valid:
            valid.append(frame_index - 1)
        latest = valid[-wanted:]
        spatial = [
            (t_pos, t, found(t))
            for t_pos, t in enumerate(latest, start=sam.num_maskmem - len(latest))
        ]
        pointers = []
        if sam.use_obj_ptrs_in_encoder:
            pointers = [(frame_index - t, t, m) for t, m in selected.items() if t <= frame_index]
            distances = range(1, sam.max_obj_ptrs_in_encoder)
            pointers += [(d, frame_index - d, found(frame_index - d)) for d in distances]
        return MemoryPick(
            tuple((0, t, m) for t, m in selected.items()),
            tuple(entry for entry in spatial if entry[2] is not None),
            tuple(entry for entry in pointers if entry[2] is not None),
        )

    def groups(
        self, sam: nn.Module, frame_index: int, bank: MemoryBank, object_ids: list[int]
    ) -> list[list[int]]:
        """Objects whose picks have the same layout."""
        by_layout: dict[tuple, list[int]] = {}
        for object_id in object_ids:
            layout = self.pick(sam, frame_index, bank.memory(object_id)).layout()
            by_layout.setdefault(layout, []).append(object_id)
        return list(by_layout.values())

    def condition(
        self, sam: nn.Module, frame: CurrentFrame, bank: MemoryBank, object_ids: list[int]
    ) -> torch.Tensor:
        """SAM 2's memory attention over each object's pick (as SAM 2 assembles memories)."""
        picks = [self.pick(sam, frame.index, bank.memory(i)) for i in object_ids]
        batch, channels = frame.vision_feats[-1].size(1), sam.hidden_dim
        height, width = frame.feat_sizes[-1]
        device = frame.vision_feats[-1].device
        conditioning, spatial, pointer_entries = (
            list(zip(*kind, strict=True)) for kind in zip(*(p.kinds() for p in picks), strict=True)
        )
        pos_enc = bank.maskmem_pos_enc[-1].flatten(2).permute(2, 0, 1).expand(-1, batch, -1)
        memory, memory_pos = [], []
        for entries in (*conditioning, *spatial):
            features = torch.cat([m.maskmem_features for _, _, m in entries]).to(device)
            memory.append(features.flatten(2).permute(2, 0, 1))
            t_pos = entries[0][0]
            memory_pos.append(pos_enc + sam.maskmem_tpos_enc[sam.num_maskmem - t_pos - 1])
        pointer_tokens = 0
        if pointer_entries:
            pointers = torch.stack(
                [torch.cat([m.obj_ptr for _, _, m in entries]) for entries in pointer_entries]
            )
            distances = [entries[0][0] for entries in pointer_entries]
            if sam.add_tpos_enc_to_obj_ptrs:
                max_distance = sam.max_obj_ptrs_in_encoder - 1
                dim = channels if sam.proj_tpos_enc_in_obj_ptrs else sam.mem_dim
                positions = torch.tensor(distances, device=device) / max_distance
                pointer_pos = sam.obj_ptr_tpos_proj(get_1d_sine_pe(positions, dim=dim))
                pointer_pos = pointer_pos.unsqueeze(1).expand(-1, batch, sam.mem_dim)
            else:
                pointer_pos = pointers.new_zeros(len(distances), batch, sam.mem_dim)
            if sam.mem_dim < channels:  # a pointer becomes channels / mem_dim tokens
                split = channels // sam.mem_dim
                pointers = pointers.reshape(-1, batch, split, sam.mem_dim)
                pointers = pointers.permute(0, 2, 1, 3).flatten(0, 1)
                pointer_pos = pointer_pos.repeat_interleave(split, dim=0)
            memory.append(pointers)
            memory_pos.append(pointer_pos)
            pointer_tokens = pointers.shape[0]
        conditioned = sam.memory_attention(
            curr=frame.vision_feats,
            curr_pos=frame.vision_pos,
            memory=torch.cat(memory, dim=0),
            memory_pos=torch.cat(memory_pos, dim=0),
            num_obj_ptr_tokens=pointer_tokens,
        )
        return conditioned.permute(1, 2, 0).view(batch, channels, height, width)

    def heads(
        self, sam: nn.Module, inputs: DecoderInputs, motions: list[MotionState | None]
    ) -> Heads:
        """SAM 2's decoder, SAMURAI's presence gate and motion-weighted choice."""
        low_res, ious, tokens, object_score_logits = _decode(sam, inputs)
        multimask = inputs.multimask
        present = object_score_logits > self.settings.min_obj_score_logits
        if sam.pred_obj_scores:
            low_res = torch.where(present[:, None, None], low_res, NO_OBJ_SCORE)
        low_res = low_res.float()
        size = sam.image_size
        high_res = F.interpolate(low_res, size=(size, size), mode="bilinear", align_corners=False)
        batch = low_res.size(0)
        host_ious = ious.float().cpu()
        if multimask:
            choices, motions, motion_ious = self._choose(host_ious, high_res, motions)
        else:
            choices, motion_ious = [0] * batch, [None] * batch
        rows = torch.arange(batch, device=low_res.device)
        chosen = torch.tensor(choices, device=low_res.device)
        token = tokens[rows, chosen] if multimask and tokens.size(1) > 1 else tokens[:, 0]
        obj_ptr = sam.obj_ptr_proj(token)
        if sam.pred_obj_scores:
            weight = object_score_logits.sigmoid() if sam.soft_no_obj_ptr else present.float()
            if sam.fixed_no_obj_ptr:
                obj_ptr = weight * obj_ptr
            obj_ptr = obj_ptr + (1 - weight) * sam.no_obj_ptr
        object_scores = object_score_logits.float().view(-1).cpu().tolist()
        memory_scores = [
            MemoryScores(float(host_ious[row, choice]), object_scores[row], motion_ious[row])
            for row, choice in enumerate(choices)
        ]
        return Heads(
            low_res[rows, chosen].unsqueeze(1),
            high_res[rows, chosen].unsqueeze(1),
            obj_ptr,
            object_score_logits,
            ious[rows, chosen].float(),
            list(motions),
            memory_scores,
        )

    def _choose(
        self,
        ious: torch.Tensor,
        high_res: torch.Tensor,
        motions: list[MotionState | None],
    ) -> tuple[list[int], list[MotionState | None], list[float | None]]:
        """Per object: the chosen candidate, its motion after this step, the chosen mask's
        motion IoU (None until the filter ranks candidates)."""
        settings = self.settings
        boxes = mask_boxes(high_res)
        choices, after, motion_ious = [], [], []
        for row, (motion, candidates) in enumerate(zip(motions, boxes, strict=True)):
            predicted = ious[row]
            motion_iou = None
            if motion is None or motion.stable_frames == 0:
                choice = int(torch.argmax(predicted))
                motion = MotionState.start(candidates[choice])
            elif motion.stable_frames < settings.stable_frames_threshold:
                motion = motion.predicted()
                choice = int(torch.argmax(predicted))
                if predicted[choice] > settings.stable_ious_threshold:
                    motion = motion.corrected(candidates[choice])
                    motion = motion.counted(motion.stable_frames + 1)
                else:
                    motion = motion.counted(0)
            else:
                motion = motion.predicted()
                estimate = motion.box()
                motion_scores = torch.tensor(
                    [box_iou(estimate, box) for box in candidates], dtype=torch.float64
                )
                weight = settings.kf_score_weight
                choice = int(torch.argmax(weight * motion_scores + (1 - weight) * predicted))
                motion_iou = float(motion_scores[choice])
                if predicted[choice] < settings.stable_ious_threshold:
                    motion = motion.counted(0)
                else:
                    motion = motion.corrected(candidates[choice])
            choices.append(choice)
            after.append(motion)
            motion_ious.append(motion_iou)
        return choices, after, motion_ious


def _decode(sam: nn.Module, inputs: DecoderInputs) -> tuple[torch.Tensor, ...]:
    """SAM 2's prompt encoder and mask decoder, as ``SAM2Base._forward_sam_heads`` calls them:
    candidate logits, predicted IoUs, output tokens, object score logits."""
    pix_feat, point_inputs, mask_inputs = inputs.pix_feat, inputs.point_inputs, inputs.mask_inputs
    batch = pix_feat.size(0)
    if point_inputs is None:
        coords = torch.zeros(batch, 1, 2, device=pix_feat.device)
        labels = -torch.ones(batch, 1, dtype=torch.int32, device=pix_feat.device)
    else:
        coords, labels = point_inputs["point_coords"], point_inputs["point_labels"]
    mask_prompt = mask_inputs
    encoder = sam.sam_prompt_encoder
    if mask_inputs is not None and mask_inputs.shape[-2:] != encoder.mask_input_size:
        mask_prompt = F.interpolate(
            mask_inputs.float(),
            size=encoder.mask_input_size,
            align_corners=False,
            mode="bilinear",
            antialias=True,
        )
    sparse, dense = encoder(points=(coords, labels), boxes=None, masks=mask_prompt)
    return sam.sam_mask_decoder(
        image_embeddings=pix_feat,
        image_pe=encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=inputs.multimask,
        repeat_image=False,
        high_res_features=inputs.high_res_features,
    )
