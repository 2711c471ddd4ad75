"""Turning camera frames into SAM 2 input tensors, exactly as SAM 2's video loader does."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# SAM 2's `load_video_frames` normalises with the ImageNet statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FrameError(ValueError):
    """A frame that cannot be tracked (wrong type, shape or size)."""


def check_frame(rgb: object) -> tuple[int, int]:
    """Validate an ``HxWx3`` uint8 RGB frame and return its ``(height, width)``."""
    if not isinstance(rgb, np.ndarray):
        raise FrameError(f"frame must be a numpy array, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise FrameError(f"frame must be uint8 RGB, got dtype {rgb.dtype}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise FrameError(f"frame must have shape (H, W, 3), got {rgb.shape}")
    height, width = rgb.shape[:2]
    if height < 2 or width < 2:
        raise FrameError(f"frame is empty or degenerate: {width}x{height} pixels")
    return height, width


def to_model_input(rgb: np.ndarray, image_size: int, device: torch.device) -> torch.Tensor:
    """Resize to the square model resolution and normalise: ``(1, 3, S, S)`` float32.

    Matches ``sam2.utils.misc.load_video_frames`` (PIL bicubic resize without keeping the aspect
    ratio, 8-bit result, ImageNet normalisation) to within one grey level, and runs on the model's
    device so only the 8-bit frame crosses to a GPU.
    """
    if not rgb.flags.writeable:  # e.g. decoded straight from a message buffer; torch needs it
        rgb = rgb.copy()
    image = torch.from_numpy(np.ascontiguousarray(rgb)).to(device, non_blocking=True)
    image = image.permute(2, 0, 1).unsqueeze(0)
    if device.type == "cpu":  # the uint8 kernel rounds like PIL does
        resized = F.interpolate(
            image,
            size=(image_size, image_size),
            mode="bicubic",
            align_corners=False,
            antialias=True,
        ).float()
    else:
        resized = (
            F.interpolate(
                image.float(), size=(image_size, image_size), mode="bicubic", antialias=True
            )
            .round_()
            .clamp_(0.0, 255.0)
        )
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (resized / 255.0 - mean) / std
