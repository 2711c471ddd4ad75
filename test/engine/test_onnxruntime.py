"""The engine on ONNX Runtime (CPU) against the torch engine in fp32: the same masks, scores,
pointers and ids on real footage through SAM 2's full memory window, late prompts, saved objects
both ways; and exports that do not fit refused with the reason."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator

import numpy as np
import onnx
import pytest
from conftest import IMAGE_SIZE, bedroom_frames

from sam2_ros.engine import (
    ModelConfigError,
    OnnxExportError,
    StreamingPredictor,
    load_model,
)
from sam2_ros.engine.onnx_graphs import GRAPHS, MANIFEST, ExportManifest
from sam2_ros.engine.onnx_runtime import choose_providers

FRAMES = 40
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def ort_model(onnx_dir, checkpoint_path):
    return load_model(
        checkpoint=checkpoint_path,
        image_size=IMAGE_SIZE,
        device="cpu",
        backend="onnxruntime",
        onnx_dir=onnx_dir,
    )


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return bedroom_frames(tmp_path_factory, FRAMES)[1]


def _assert_equal(ours, theirs, where: str) -> None:
    assert ours.object_ids == theirs.object_ids, where
    if not ours.object_ids:
        return
    assert np.abs(ours.mask_logits - theirs.mask_logits).mean() <= TOLERANCE, where
    assert np.abs(ours.scores - theirs.scores).max() <= TOLERANCE, where
    assert np.abs(ours.occlusion_scores - theirs.occlusion_scores).max() <= TOLERANCE, where
    assert np.abs(ours.object_pointers - theirs.object_pointers).max() <= TOLERANCE, where


@contextlib.contextmanager
def _memory_fed(model) -> Iterator[list[tuple[int, int]]]:
    """The (spatial, pointer) memory tokens of each memory-attention call on ``model`` meanwhile."""
    fed = []
    attention = model.sam.memory_attention
    run = attention.forward

    def recording(*args, **kwargs):
        memory, pointers = kwargs["memory"], kwargs.get("num_obj_ptr_tokens", 0)
        fed.append((memory.shape[0] - pointers, pointers))
        return run(*args, **kwargs)

    attention.forward = recording
    try:
        yield fed
    finally:
        attention.forward = run


def test_export_manifest_and_graphs(onnx_dir, sam_model):
    manifest = ExportManifest.read(onnx_dir)
    assert manifest.weights_fingerprint == sam_model.weights_fingerprint()
    assert (manifest.model_cfg, manifest.image_size, manifest.opset) == (
        sam_model.model_cfg,
        IMAGE_SIZE,
        17,
    )
    assert list(manifest.graphs) == list(GRAPHS)
    attention = manifest.graphs["memory_attention"]
    assert attention.inputs["memory"][:2] == ["memory_tokens", "objects"]
    assert attention.inputs["pointers"][:2] == ["pointer_tokens", "objects"]
    assert manifest.memory_layout["num_maskmem"] == 7
    assert manifest.memory_layout["max_object_pointers"] == 16
    for spec in manifest.graphs.values():
        onnx.checker.check_model(str(onnx_dir / spec.file))


@pytest.mark.parametrize("objects", [1, pytest.param(4, marks=pytest.mark.slow)])
def test_onnxruntime_equals_torch_on_footage(sam_model, ort_model, footage, objects):
    torch_side = StreamingPredictor(model=sam_model, max_objects=8)
    ort_side = StreamingPredictor(model=ort_model, max_objects=8)
    height, width = footage[0].shape[:2]
    clicks = [(width * (k + 1) / (objects + 1), height * 0.55) for k in range(objects)]
    extra = None
    tokens_per_frame = (IMAGE_SIZE // 16) ** 2
    with _memory_fed(ort_model) as fed:
        for index, frame in enumerate(footage):
            results = []
            for predictor in (torch_side, ort_side):
                fed.clear()
                predictor.track(frame)
                if index == 0:
                    for click in clicks:
                        predictor.add_prompt(points=[click], labels=[1])
                elif index == 7:  # a box refines the first object
                    predictor.add_prompt(1, box=(width * 0.1, height * 0.2, width * 0.6, height))
                elif index == 19:  # a new object by two clicks
                    answer = predictor.add_prompt(
                        points=[(width * 0.8, height * 0.3), (width * 0.5, height * 0.5)],
                        labels=[1, 0],
                    )
                    extra = answer.object_id
                elif index == 25:
                    predictor.remove_object(extra)
                results.append(predictor.result())
            _assert_equal(*results, f"frame {index}")
            if index > 16:  # SAM 2's window is full: the memories of every conditioning frame
                # (0 and 7) and of the 6 most recent frames, and the pointers of the conditioning
                # frames and of the other frames among the 15 most recent (4 tokens each) went in
                conditioning = ort_side.conditioning_frames(1)
                assert conditioning == [0, 7]
                recent = [t for t in range(index - 15, index) if t not in conditioning]
                window = (8 * tokens_per_frame, (2 + len(recent)) * 4)
                assert window in fed, (index, fed)
    assert ort_side.object_ids == list(range(1, objects + 1))


def test_late_prompt_gives_the_same_on_both_backends(sam_model, ort_model, footage):
    sides = [StreamingPredictor(model=m) for m in (sam_model, ort_model)]
    for predictor in sides:
        predictor.track(footage[0])
        predictor.add_prompt(points=[(480, 300)], labels=[1])
        for frame in footage[1:10]:
            predictor.track(frame)
    answers = [p.add_prompt(1, points=[(200, 200)], labels=[0], frame_index=4) for p in sides]
    assert np.array_equal(answers[0].mask, answers[1].mask)
    assert abs(answers[0].score - answers[1].score) <= TOLERANCE
    for index in range(4, 10):
        _assert_equal(*(p.result(index) for p in sides), f"frame {index} after the late prompt")
    _assert_equal(*(p.track(footage[10]) for p in sides), "frame 10")


@pytest.mark.parametrize("direction", ["torch_to_onnxruntime", "onnxruntime_to_torch"])
def test_saved_objects_continue_equal_on_the_other_backend(
    sam_model, ort_model, footage, tmp_path, direction
):
    first, second = (sam_model, ort_model)
    if direction == "onnxruntime_to_torch":
        first, second = second, first
    saver = StreamingPredictor(model=first)
    for index, frame in enumerate(footage[:6]):
        saver.track(frame)
        if index == 0:
            saver.add_prompt(points=[(480, 300)], labels=[1])
            saver.add_prompt(box=(100, 100, 400, 500))
    saver.save_objects(tmp_path / "objects.safetensors")
    loader = StreamingPredictor(model=second)
    assert loader.load_objects(tmp_path / "objects.safetensors") == {1: "", 2: ""}
    for index, frame in enumerate(footage[6:10], start=6):
        _assert_equal(loader.track(frame), saver.track(frame), f"frame {index}")


def _copy(onnx_dir, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(onnx_dir, copy)
    return copy


@pytest.mark.parametrize(
    ("export", "model", "message"),
    [
        ("small_onnx_dir", {"seed": 1}, "weights fingerprint"),
        ("onnx_dir", {}, r"image size 256 px \(this model: 128 px\)"),
        (
            "small_onnx_dir",
            {"model_cfg": "configs/sam2/sam2_hiera_t.yaml"},
            r"model config configs/sam2\.1/sam2\.1_hiera_t\.yaml",
        ),
    ],
    ids=["weights", "image_size", "config"],
)
def test_refuses_an_export_of_another_model(request, export, model, message):
    with pytest.raises(OnnxExportError, match=message):
        load_model(
            image_size=128,
            allow_random_weights=True,
            device="cpu",
            backend="onnxruntime",
            onnx_dir=request.getfixturevalue(export),
            **model,
        )


def test_refuses_truncated_graph_and_broken_manifest(small_onnx_dir, tmp_path):
    copy = _copy(small_onnx_dir, tmp_path)
    graph = copy / "memory_encoder.onnx"
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    options = dict(image_size=128, allow_random_weights=True, device="cpu")
    with pytest.raises(OnnxExportError, match=r"memory_encoder\.onnx is not the file exported"):
        load_model(**options, backend="onnxruntime", onnx_dir=copy)
    graph.unlink()
    with pytest.raises(OnnxExportError, match=r"memory_encoder\.onnx is missing"):
        load_model(**options, backend="onnxruntime", onnx_dir=copy)
    (copy / MANIFEST).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(OnnxExportError, match="not a sam2_ros export manifest"):
        load_model(**options, backend="onnxruntime", onnx_dir=copy)
    with pytest.raises(OnnxExportError, match=r"no export\.json"):
        load_model(**options, backend="onnxruntime", onnx_dir=tmp_path / "nothing")


def test_refuses_compile_bf16_and_missing_dir(small_onnx_dir):
    options = dict(image_size=128, allow_random_weights=True, device="cpu")
    model = load_model(**options, backend="onnxruntime", onnx_dir=small_onnx_dir)
    assert model.backend == "onnxruntime" and model.precision == "fp32"
    with pytest.raises(ModelConfigError, match="compile default applies to the torch backend"):
        model.compile("default")
    with pytest.raises(ModelConfigError, match="precision bf16 applies to the torch backend"):
        load_model(**options, precision="bf16", backend="onnxruntime", onnx_dir=small_onnx_dir)
    with pytest.raises(ModelConfigError, match="needs onnx_dir"):
        load_model(**options, backend="onnxruntime")
    with pytest.raises(OnnxExportError, match="cuda not offered by this onnxruntime"):
        load_model(
            **options,
            backend="onnxruntime",
            onnx_dir=small_onnx_dir,
            onnx_providers="cuda,cpu",
        )


@pytest.mark.parametrize(
    ("requested", "available", "chosen", "reason"),
    [
        ("auto", ["CPUExecutionProvider"], ["CPUExecutionProvider"], "tensorrt, cuda not offered"),
        (
            "auto",
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            "all offered",
        ),
        (
            "auto",
            ["CPUExecutionProvider", "CUDAExecutionProvider"],
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            "tensorrt not offered",
        ),
        (" CUDA, cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"], None, "requested"),
    ],
)
def test_providers_are_chosen_best_first(requested, available, chosen, reason):
    providers, why = choose_providers(requested, available)
    assert providers == (chosen or ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert reason in why


@pytest.mark.parametrize("requested", ["", "gpu", "cpu,npu"])
def test_unknown_providers_are_refused(requested):
    with pytest.raises(OnnxExportError, match="use auto or a comma-separated list"):
        choose_providers(requested, ["CPUExecutionProvider"])
