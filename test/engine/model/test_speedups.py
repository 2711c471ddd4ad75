"""Each speed-up computes what Meta's module computes: the sped-up engine model against a plain
``build_sam2`` model holding the same weights, module by module, on inputs built to exercise them
(zero-padded windows, memories with pointer tokens, a batch of identical objects)."""

from __future__ import annotations

import pytest
import torch
from conftest import IMAGE_SIZE

from sam2_ros.engine.model.speedups import _linear_skipping_zero_rows, _padded_window_blocks

TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def test_zero_rows_get_exactly_the_bias_and_other_rows_the_product():
    torch.manual_seed(0)
    linear = torch.nn.Linear(24, 40)
    x = torch.randn(3, 5, 5, 24)
    x[:, 3:] = 0.0
    x[1, 1, 1] = 0.0
    expected = linear(x)
    got = _linear_skipping_zero_rows(linear, x)
    torch.testing.assert_close(got, expected, **TOLERANCE)
    assert torch.equal(got[:, 3:], linear.bias.expand_as(got[:, 3:]))
    dense = torch.randn(7, 24)
    torch.testing.assert_close(_linear_skipping_zero_rows(linear, dense), linear(dense))


def test_only_blocks_whose_map_is_padded_are_changed(sam_model):
    trunk = sam_model.sam.image_encoder.trunk
    padded = _padded_window_blocks(trunk, IMAGE_SIZE)
    # hiera-tiny at 256 px: 64x64 tokens; the 16x16 stage (window 14) and the 8x8 stage (window 7)
    # are padded, except its global-attention blocks.
    assert [i for i, block in enumerate(trunk.blocks) if block in padded] == [4, 6, 8, 10, 11]
    for block in trunk.blocks:
        patched = "forward" in vars(block.attn) or "forward" in vars(block.attn.qkv)
        assert patched == (block in padded)


def test_high_resolution_projections_are_folded_into_the_neck(sam_model):
    sam = sam_model.sam
    neck = sam.image_encoder.neck
    for level, projection in ((0, sam.sam_mask_decoder.conv_s0), (1, sam.sam_mask_decoder.conv_s1)):
        lateral = neck.convs[len(neck.convs) - 1 - level].conv
        assert lateral.forward.keywords["weight"].shape[0] == projection.out_channels
        assert projection.forward(torch.ones(3)).equal(torch.ones(3))


def test_image_encoder_matches(sam_model, plain_sam):
    image = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ours = sam_model.sam.forward_image(image)
        theirs = plain_sam.forward_image(image)
    for level_ours, level_theirs in zip(ours["backbone_fpn"], theirs["backbone_fpn"], strict=True):
        torch.testing.assert_close(level_ours, level_theirs, **TOLERANCE)


@pytest.mark.parametrize("pointer_tokens", [0, 8])
def test_memory_attention_matches_for_identical_and_different_objects(
    sam_model, plain_sam, pointer_tokens
):
    generator = torch.Generator().manual_seed(2)
    tokens, memory_frames = (IMAGE_SIZE // 16) ** 2, 3
    memory_length = memory_frames * tokens + pointer_tokens

    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    for curr in (randn(tokens, 1, 256).expand(-1, 3, -1), randn(tokens, 3, 256)):
        inputs = {
            "curr": [curr],
            "curr_pos": [randn(tokens, 1, 256).expand(-1, 3, -1)],
            "memory": randn(memory_length, 3, 64),
            "memory_pos": randn(memory_length, 3, 64),
            "num_obj_ptr_tokens": pointer_tokens,
        }
        with torch.inference_mode():
            ours = sam_model.sam.memory_attention(**inputs)
            theirs = plain_sam.memory_attention(**inputs)
        torch.testing.assert_close(ours, theirs, **TOLERANCE)


def test_memory_encoder_matches_for_a_batch_sharing_one_frame(sam_model, plain_sam):
    generator = torch.Generator().manual_seed(3)
    size = IMAGE_SIZE // 16
    pix_feat = torch.randn(1, 256, size, size, generator=generator).expand(4, -1, -1, -1)
    masks = torch.randn(4, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    with torch.inference_mode():
        ours = sam_model.sam.memory_encoder(pix_feat, masks)
        theirs = plain_sam.memory_encoder(pix_feat, masks)
    torch.testing.assert_close(ours["vision_features"], theirs["vision_features"], **TOLERANCE)
