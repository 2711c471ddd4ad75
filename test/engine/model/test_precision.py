"""Precision: the probe that picks bf16 or fp32, and the engine's modules in bf16 on the CPU
against Meta's under the same autocast (real SAM 2 modules, seeded random weights; the engine's
bf16 tracking against Meta's predictor is in ``test_engine_equivalence.py``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import IMAGE_SIZE, assert_live, mask_iou

from sam2_ros.engine import ModelConfigError, StreamingPredictor, load_model
from sam2_ros.engine.model.compiled import compiled_graphs
from sam2_ros.engine.model.precision import choose_precision, cpu_bf16_flags, read_cpuinfo
from sam2_ros.engine.model.speedups import (
    _attention_skipping_padding,
    _linear_skipping_zero_rows,
    _padded_window_blocks,
)
from sam2_ros.engine.streaming.warm_up import warm_up

CPU = torch.device("cpu")
NO_BF16 = (
    "fp32: CPU has no native bf16 matrix instructions "
    "(avx512_bf16/amx_bf16/bf16 not in /proc/cpuinfo)"
)


def bf16_autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16)


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        ("flags\t\t: fpu sse avx2 avx512f avx512_bf16\n", ("bf16", "bf16: CPU has avx512_bf16")),
        (
            "flags\t\t: avx512_bf16 amx_tile amx_bf16\nflags\t\t: avx512_bf16 amx_bf16\n",
            ("bf16", "bf16: CPU has avx512_bf16, amx_bf16"),
        ),
        ("Features\t: fp asimd sve bf16 i8mm\n", ("bf16", "bf16: CPU has bf16")),
        ("flags\t\t: fpu sse avx2 avx512f avx512_vnni\n", ("fp32", NO_BF16)),
        ("", ("fp32", NO_BF16)),
    ],
)
def test_auto_picks_bf16_only_where_the_cpu_multiplies_bf16_natively(cpuinfo, expected):
    assert choose_precision("auto", CPU, cpuinfo) == expected


def test_requested_precisions_and_cuda():
    plain = "flags\t\t: fpu avx2\n"
    assert choose_precision("fp32", CPU, "flags : avx512_bf16") == ("fp32", "fp32: requested")
    precision, reason = choose_precision("bf16", CPU, plain)
    assert precision == "bf16" and reason.startswith("bf16: requested although the CPU has no")
    assert choose_precision("auto", torch.device("cuda"), plain) == ("bf16", "bf16: CUDA")
    assert choose_precision("fp32", torch.device("cuda"), plain) == ("fp32", "fp32: requested")


def test_auto_follows_this_machines_cpu_and_invalid_precisions_are_refused():
    model = load_model(image_size=128, allow_random_weights=True, device="cpu")
    flags = cpu_bf16_flags(read_cpuinfo())
    assert model.precision == ("bf16" if flags else "fp32")
    assert model.precision_reason == (f"bf16: CPU has {', '.join(flags)}" if flags else NO_BF16)
    assert model.autocast_dtype == (torch.bfloat16 if flags else None)
    for bad in ("fp16", "BF16"):
        with pytest.raises(
            ModelConfigError, match=rf"precision '{bad}' is not one of auto, fp32, bf16"
        ):
            StreamingPredictor(
                image_size=128, allow_random_weights=True, device="cpu", precision=bad
            )


@pytest.fixture(scope="module")
def bf16_model(checkpoint_path):
    """The session's checkpoint in bf16 (CPU, 256 px)."""
    return load_model(
        checkpoint=checkpoint_path, image_size=IMAGE_SIZE, device="cpu", precision="bf16"
    )


def assert_close_in_bf16(actual: torch.Tensor, expected: torch.Tensor, tolerance=2e-2) -> None:
    """Within what two orders of bf16 rounding differ by: relative to the expected's norm."""
    error = (actual.float() - expected.float()).norm() / expected.float().norm()
    assert error <= tolerance, error


@pytest.mark.parametrize("weights", [torch.float32, torch.bfloat16])
def test_zero_row_skipping_works_under_bf16_autocast(weights):
    torch.manual_seed(0)
    linear = torch.nn.Linear(24, 40).to(weights)
    x = torch.randn(3, 5, 5, 24)
    x[:, 3:] = 0.0
    with torch.inference_mode(), bf16_autocast():
        got = _linear_skipping_zero_rows(linear, x)
        expected = F.linear(x, linear.weight, linear.bias)
    assert got.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(got, expected)
    assert torch.equal(got[:, 3:], linear.bias.to(torch.bfloat16).expand_as(got[:, 3:]))


def test_zero_token_skipping_computes_hieras_attention_under_bf16_autocast(plain_sam):
    """The skipping of Hiera's padded window tokens (installed in fp32 only) gives Meta's
    attention and query-key-value projection under bf16 autocast too, on the inputs Hiera gives
    them."""
    trunk = plain_sam.image_encoder.trunk
    seen = []
    hooks = []
    for block in _padded_window_blocks(trunk, IMAGE_SIZE):
        module = block.attn if block.attn.q_pool is None else block.attn.qkv
        hook = module.register_forward_hook(lambda m, i, o: seen.append((m, i[0], o)))
        hooks.append(hook)
    image = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode(), bf16_autocast():
        trunk(image)
        for hook in hooks:
            hook.remove()
        assert len(seen) == len(hooks)
        for module, x, expected in seen:
            if isinstance(module, torch.nn.Linear):
                got = _linear_skipping_zero_rows(module, x)
            else:
                got = _attention_skipping_padding(module, x)
            assert got.dtype == expected.dtype == torch.bfloat16
            assert_close_in_bf16(got, expected)


@pytest.mark.parametrize("engine", ["bf16 model", "fp32 model under bf16 autocast"])
def test_sped_up_modules_match_metas_under_bf16_autocast(engine, bf16_model, sam_model, plain_sam):
    """The engine's modules against Meta's, both under bf16 autocast: the bf16 model (its own
    layers in bf16 and fp32, the speed-ups that pay in bf16) and the fp32 model (every CPU
    speed-up: zero rows, values projected after attention, ...) run under bf16 autocast; memory
    attention for three objects and for one."""
    model = bf16_model if engine == "bf16 model" else sam_model
    generator = torch.Generator().manual_seed(2)
    image = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    tokens, pointer_tokens = (IMAGE_SIZE // 16) ** 2, 8
    memory_length = 3 * tokens + pointer_tokens
    curr = torch.randn(tokens, 1, 256, generator=generator).expand(-1, 3, -1)
    attention_inputs = {
        "curr": [curr],
        "curr_pos": [torch.randn(tokens, 1, 256, generator=generator).expand(-1, 3, -1)],
        "memory": torch.randn(memory_length, 3, 64, generator=generator).bfloat16(),
        "memory_pos": torch.randn(memory_length, 3, 64, generator=generator),
        "num_obj_ptr_tokens": pointer_tokens,
    }
    size = IMAGE_SIZE // 16
    pix_feat = torch.randn(1, 256, size, size, generator=generator).expand(4, -1, -1, -1)
    masks = torch.randn(4, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    outputs = []
    for sam in (model.sam, plain_sam):
        with torch.inference_mode(), bf16_autocast():
            image_out = sam.forward_image(image)
            memory_out = sam.memory_attention(**attention_inputs)
            one_object = torch.utils._pytree.tree_map_only(
                torch.Tensor, lambda x: x[:, :1], attention_inputs
            )
            memory_one = sam.memory_attention(**one_object)
            encoded = sam.memory_encoder(pix_feat, masks)["vision_features"]
        outputs.append([*image_out["backbone_fpn"], image_out["vision_pos_enc"][-1]])
        outputs[-1] += [memory_out, memory_one, encoded]
    for ours, theirs in zip(*outputs, strict=True):
        assert ours.dtype == theirs.dtype
        assert_close_in_bf16(ours, theirs)


def test_bf16_tracking_state_is_no_larger_than_fp32s_and_weights_keep_their_identity(
    small_model, scene
):
    bf16 = load_model(image_size=128, allow_random_weights=True, device="cpu", precision="bf16")
    predictors = [StreamingPredictor(model=model) for model in (small_model, bf16)]
    for index in range(6):
        for predictor in predictors:
            predictor.track(scene.frame(index))
            if index == 0:
                for name in ("ball", "crate"):
                    predictor.add_prompt(points=[scene.center(name, 0)], labels=[1])
    fp32_bytes, bf16_bytes = (predictor.memory_bytes() for predictor in predictors)
    assert 0 < bf16_bytes <= fp32_bytes
    # the same weights: objects saved in one precision load in the other
    assert bf16.weights_fingerprint() == small_model.weights_fingerprint()


@pytest.mark.slow
def test_compiled_max_bf16_matches_eager_bf16(scene, tmp_path):
    """``compile: max`` on a bf16 model: the same results as the eager bf16 engine within bf16
    tolerance, and nothing compiled after the warm-up."""
    eager, compiled = (
        load_model(image_size=128, allow_random_weights=True, device="cpu", precision="bf16")
        for _ in range(2)
    )
    compiled.compile("max", tmp_path)
    warm_up(compiled, 1, 320, 240)
    predictors = [StreamingPredictor(model=model) for model in (eager, compiled)]
    graphs = compiled_graphs()
    for index in range(6):
        expected, actual = (p.track(scene.frame(index)) for p in predictors)
        if index == 0:
            for predictor in predictors:
                predictor.add_prompt(points=[scene.center("ball", 0)], labels=[1])
            expected, actual = (p.result() for p in predictors)
        assert actual.object_ids == expected.object_ids == [1]
        assert_live(expected, f"on frame {index}")
        assert mask_iou(actual.masks[0], expected.masks[0]) >= 0.98
        assert_close_in_bf16(
            torch.from_numpy(actual.mask_logits), torch.from_numpy(expected.mask_logits)
        )
        assert_close_in_bf16(
            torch.from_numpy(actual.object_pointers), torch.from_numpy(expected.object_pointers)
        )
    assert compiled_graphs() == graphs
