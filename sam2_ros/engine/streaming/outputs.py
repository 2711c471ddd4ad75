"""Objects' SAM 2 outputs as the engine answers them: masks at the frame's resolution, scores,
occlusion and pointers, copied to host memory (:class:`TrackResult`, :class:`PromptResult`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sam2_ros.engine.streaming.records import Frame, ObjectOutput
from sam2_ros.engine.streaming.results import PromptResult, TrackResult


def track_result(frame: Frame, by_object: dict[int, ObjectOutput], pointer_dim: int) -> TrackResult:
    """The objects' outputs on ``frame`` at the frame's resolution."""
    if not by_object:
        return TrackResult.empty(frame.index, frame.height, frame.width, pointer_dim)
    outputs = list(by_object.values())
    with torch.inference_mode():
        pred_masks = torch.cat([o.pred_masks for o in outputs])
        masks, scores, occlusion, pointers, logits = _to_host(
            _masks_at_input_resolution(pred_masks, frame),
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


def prompt_result(object_id: int, frame: Frame, output: ObjectOutput) -> PromptResult:
    """A prompted object's output on ``frame``: its mask, score and occlusion score."""
    mask, score, occlusion = _to_host(
        _masks_at_input_resolution(output.pred_masks, frame)[0],
        output.score,
        _occlusion_scores(output.object_score_logits),
    )
    return PromptResult(object_id, frame.index, mask, float(score[0]), float(occlusion[0]))


def _occlusion_scores(object_score_logits: torch.Tensor) -> torch.Tensor:
    """Probability that each object is not visible: 1 - sigmoid(object score logit)."""
    return 1.0 - torch.sigmoid(object_score_logits.float().view(-1))


def _to_host(*tensors: torch.Tensor) -> list[np.ndarray]:
    """Copy tensors to host memory, waiting for the device once rather than once per tensor."""
    host = [t.to("cpu", non_blocking=True) for t in tensors]
    if any(t.is_cuda for t in tensors):
        torch.cuda.current_stream(tensors[0].device).synchronize()
    return [h.numpy() for h in host]


def _masks_at_input_resolution(pred_masks: torch.Tensor, frame: Frame) -> torch.Tensor:
    """Binary ``(N, H, W)`` masks, upsampled as the video predictor does for its output."""
    logits = F.interpolate(
        pred_masks.float(),
        size=(frame.height, frame.width),
        mode="bilinear",
        align_corners=False,
    )
    return logits[:, 0] > 0
