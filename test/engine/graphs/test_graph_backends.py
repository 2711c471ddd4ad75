"""The engine on the graph backends (ONNX Runtime and OpenVINO, CPU, fp32) against the torch
engine in fp32: the same masks, scores, pointers and ids on real footage through SAM 2's full
memory window, corrections, late prompts, saved objects both ways; OpenVINO in bf16 against
torch in bf16; and exports that do not fit refused with the reason, by both runtimes."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator

import numpy as np
import onnx
import pytest
from conftest import IMAGE_SIZE, assert_live, bedroom_frames, mask_iou

from sam2_ros.engine import (
    ModelConfigError,
    OnnxExportError,
    StreamingPredictor,
    load_model,
)
from sam2_ros.engine.graphs.components import NAMES
from sam2_ros.engine.graphs.onnx_graphs import MANIFEST, ExportManifest
from sam2_ros.engine.graphs.onnx_runtime import choose_providers
from sam2_ros.engine.graphs.openvino_runtime import choose_device, choose_precision

FRAMES = 40
TOLERANCE = 1e-3
GRAPH_BACKENDS = ["onnxruntime", "openvino"]


@pytest.fixture(scope="module", params=GRAPH_BACKENDS)
def graph_model(request, onnx_dir, checkpoint_path):
    """The checkpoint on each graph backend, in fp32."""
    return load_model(
        checkpoint=checkpoint_path,
        image_size=IMAGE_SIZE,
        device="cpu",
        precision="fp32",
        backend=request.param,
        onnx_dir=onnx_dir,
    )


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return bedroom_frames(tmp_path_factory, FRAMES)[1]


def _assert_equal(ours, theirs, where: str) -> None:
    assert ours.object_ids == theirs.object_ids, where
    if not ours.object_ids:
        return
    assert_live(theirs, where)
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
    assert list(manifest.graphs) == list(NAMES)
    attention = manifest.graphs["memory_attention"]
    assert attention.inputs["memory"][:2] == ["memory_tokens", "objects"]
    assert attention.inputs["pointers"][:2] == ["pointer_tokens", "objects"]
    assert manifest.memory_layout["num_maskmem"] == 7
    assert manifest.memory_layout["max_object_pointers"] == 16
    for spec in manifest.graphs.values():
        onnx.checker.check_model(str(onnx_dir / spec.file))


@pytest.mark.parametrize("objects", [1, pytest.param(4, marks=pytest.mark.slow)])
def test_graph_backend_equals_torch_on_footage(sam_model, graph_model, footage, objects):
    torch_side = StreamingPredictor(model=sam_model, max_objects=8)
    graph_side = StreamingPredictor(model=graph_model, max_objects=8)
    height, width = footage[0].shape[:2]
    clicks = [(width * (k + 1) / (objects + 1), height * 0.55) for k in range(objects)]
    extra = None
    tokens_per_frame = (IMAGE_SIZE // 16) ** 2
    with _memory_fed(graph_model) as fed:
        for index, frame in enumerate(footage):
            results = []
            for predictor in (torch_side, graph_side):
                fed.clear()
                predictor.track(frame)
                if index == 0:
                    for click in clicks:
                        predictor.add_prompt(points=[click], labels=[1])
                elif index == 7:  # a box refines the first object
                    predictor.add_prompt(1, box=(width * 0.1, height * 0.2, width * 0.6, height))
                elif index == 12:  # a correction: a negative click on the first object
                    predictor.add_prompt(1, points=[(width * 0.15, height * 0.9)], labels=[0])
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
                # (0, 7, 12) and of the other frames among the 6 most recent, and the pointers of
                # the conditioning frames and of the others among the 15 most recent (4 tokens
                # each) went in
                conditioning = graph_side.conditioning_frames(1)
                assert conditioning == [0, 7, 12]
                memories = [t for t in range(index - 6, index) if t not in conditioning]
                pointers = [t for t in range(index - 15, index) if t not in conditioning]
                window = (
                    (len(conditioning) + len(memories)) * tokens_per_frame,
                    (len(conditioning) + len(pointers)) * 4,
                )
                assert window in fed, (index, fed)
    assert graph_side.object_ids == list(range(1, objects + 1))


def test_late_prompt_gives_the_same_on_both_backends(sam_model, graph_model, footage):
    sides = [StreamingPredictor(model=m) for m in (sam_model, graph_model)]
    for predictor in sides:
        predictor.track(footage[0])
        predictor.add_prompt(points=[(480, 300)], labels=[1])
        for frame in footage[1:10]:
            predictor.track(frame)
    answers = [p.add_prompt(1, points=[(200, 200)], labels=[0], frame_index=4) for p in sides]
    assert 0.0 < answers[0].mask.mean() < 1.0
    # equal but for pixels on the threshold (torch's glue runs on one thread beside the graphs)
    assert (answers[0].mask != answers[1].mask).mean() <= 1e-4
    assert abs(answers[0].score - answers[1].score) <= TOLERANCE
    for index in range(4, 10):
        _assert_equal(*(p.result(index) for p in sides), f"frame {index} after the late prompt")
    _assert_equal(*(p.track(footage[10]) for p in sides), "frame 10")


@pytest.mark.parametrize("direction", ["torch_to_graphs", "graphs_to_torch"])
def test_saved_objects_continue_equal_on_the_other_backend(
    sam_model, graph_model, footage, tmp_path, direction
):
    first, second = (sam_model, graph_model)
    if direction == "graphs_to_torch":
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
@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
def test_refuses_an_export_of_another_model(request, export, model, message, backend):
    with pytest.raises(OnnxExportError, match=message):
        load_model(
            image_size=128,
            allow_random_weights=True,
            device="cpu",
            backend=backend,
            onnx_dir=request.getfixturevalue(export),
            **model,
        )


@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
def test_refuses_truncated_graph_and_broken_manifest(small_onnx_dir, tmp_path, backend):
    copy = _copy(small_onnx_dir, tmp_path)
    graph = copy / "memory_encoder.onnx"
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    options = dict(image_size=128, allow_random_weights=True, device="cpu", backend=backend)
    with pytest.raises(OnnxExportError, match=r"memory_encoder\.onnx is not the file exported"):
        load_model(**options, onnx_dir=copy)
    graph.unlink()
    with pytest.raises(OnnxExportError, match=r"memory_encoder\.onnx is missing"):
        load_model(**options, onnx_dir=copy)
    (copy / MANIFEST).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(OnnxExportError, match="not a sam2_ros export manifest"):
        load_model(**options, onnx_dir=copy)
    with pytest.raises(OnnxExportError, match=r"no export\.json"):
        load_model(**options, onnx_dir=tmp_path / "nothing")


def test_refuses_compile_bf16_and_missing_dir(small_onnx_dir):
    options = dict(image_size=128, allow_random_weights=True, device="cpu")
    model = load_model(**options, backend="onnxruntime", onnx_dir=small_onnx_dir)
    assert model.backend == "onnxruntime" and model.precision == "fp32"
    with pytest.raises(ModelConfigError, match="compile default applies to the torch backend"):
        model.compile("default")
    with pytest.raises(ModelConfigError, match="precision bf16 applies to the torch and openvino"):
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


def test_openvino_refuses_compile_an_unoffered_device_and_cuda(small_onnx_dir):
    options = dict(image_size=128, allow_random_weights=True, backend="openvino")
    model = load_model(**options, device="cpu", precision="fp32", onnx_dir=small_onnx_dir)
    assert (model.backend, model.precision, model.precision_reason) == (
        "openvino",
        "fp32",
        "fp32: requested",
    )
    assert model.describe_backend().startswith("openvino (CPU, f32; OpenVINO 20")
    assert "offers CPU" in model.describe_backend()
    with pytest.raises(ModelConfigError, match="compile max applies to the torch backend"):
        model.compile("max")
    with pytest.raises(OnnxExportError, match=r"openvino_device 'NPU' is not offered.*CPU"):
        load_model(**options, device="cpu", onnx_dir=small_onnx_dir, openvino_device="NPU")
    with pytest.raises(ModelConfigError, match="needs onnx_dir"):
        load_model(**options, device="cpu")
    with pytest.raises(ModelConfigError, match=r"CUDA is not available|use device cpu or auto"):
        load_model(**options, device="cuda", onnx_dir=small_onnx_dir)


def test_openvino_compiles_a_graph_exported_again_in_the_same_place(tmp_path, monkeypatch, footage):
    """OpenVINO keys what it compiles from a file by the file's path: a graph exported again into
    the same folder (other weights) must be compiled again, not served from the cache; and the
    same graphs at another path must not be compiled (and cached) again."""
    from sam2_ros.engine.model.onnx_export import export_onnx

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    directory = tmp_path / "export"
    options = dict(image_size=128, allow_random_weights=True, device="cpu", precision="fp32")
    for seed in (0, 5):
        export_onnx(directory, image_size=128, allow_random_weights=True, seed=seed)
        sides = [
            StreamingPredictor(model=load_model(**options, seed=seed)),
            StreamingPredictor(
                model=load_model(**options, seed=seed, backend="openvino", onnx_dir=directory)
            ),
        ]
        results = []
        for predictor in sides:
            predictor.track(footage[0])
            predictor.add_prompt(points=[(480, 300)], labels=[1])
            results.append(predictor.track(footage[1]))
        _assert_equal(*reversed(results), f"seed {seed}")
    cache = tmp_path / "cache" / "sam2_ros" / "openvino"
    assert len(list(cache.iterdir())) == 2 * len(NAMES)
    moved = tmp_path / "moved"
    shutil.copytree(directory, moved)
    load_model(**options, seed=5, backend="openvino", onnx_dir=moved)
    assert len(list(cache.iterdir())) == 2 * len(NAMES)


@pytest.mark.parametrize(
    ("requested", "available", "chosen"),
    [
        ("CPU", ["CPU"], "CPU"),
        ("gpu", ["CPU", "GPU.0", "GPU.1"], "GPU"),
        ("GPU.1", ["CPU", "GPU.0", "GPU.1"], "GPU.1"),
        ("AUTO", ["CPU"], "AUTO"),
        ("NPU", ["CPU", "NPU"], "NPU"),
    ],
)
def test_openvino_devices_are_taken_as_offered(requested, available, chosen):
    assert choose_device(requested, available) == chosen


@pytest.mark.parametrize(
    ("requested", "available"), [("GPU", ["CPU"]), ("GPU.2", ["GPU.0"]), ("TPU", ["CPU"])]
)
def test_openvino_devices_not_offered_are_refused(requested, available):
    with pytest.raises(OnnxExportError, match="is not offered by OpenVINO here"):
        choose_device(requested, available)


@pytest.mark.parametrize(
    ("requested", "capabilities", "chosen", "reason"),
    [
        ("auto", ["BF16", "FP32"], "bf16", "bf16: auto, OpenVINO's CPU has bf16 units"),
        ("auto", ["FP32", "INT8"], "fp32", "fp32: auto, OpenVINO's CPU has no bf16 units"),
        ("fp32", ["BF16", "FP32"], "fp32", "fp32: requested"),
        ("bf16", ["BF16", "FP32"], "bf16", "bf16: requested"),
    ],
)
def test_openvino_precision_follows_the_device(requested, capabilities, chosen, reason):
    assert choose_precision(requested, "CPU", capabilities) == (chosen, reason)


def test_openvino_bf16_is_refused_without_bf16_units():
    with pytest.raises(OnnxExportError, match="has no bf16 units"):
        choose_precision("bf16", "CPU", ["FP32", "INT8"])


def test_openvino_bf16_is_as_close_to_fp32_as_torch_bf16(onnx_dir, checkpoint_path, footage):
    """OpenVINO in bf16 at most twice as far from torch fp32 as torch bf16 is (mean absolute
    logit difference over the frames), its masks within IoU 0.98 of torch bf16's."""
    import openvino as ov

    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU has no bf16 units: OpenVINO runs bf16 only where it has them")
    options = dict(checkpoint=checkpoint_path, image_size=IMAGE_SIZE, device="cpu")
    sides = {
        "fp32": load_model(**options, precision="fp32"),
        "torch_bf16": load_model(**options, precision="bf16"),
        "openvino_bf16": load_model(
            **options, precision="bf16", backend="openvino", onnx_dir=onnx_dir
        ),
    }
    assert sides["openvino_bf16"].precision == "bf16"
    predictors = {side: StreamingPredictor(model=model) for side, model in sides.items()}
    height, width = footage[0].shape[:2]
    distance = {"torch_bf16": [], "openvino_bf16": []}
    for index, frame in enumerate(footage[:12]):
        results = {}
        for side, predictor in predictors.items():
            predictor.track(frame)
            if index == 0:
                predictor.add_prompt(points=[(width * 0.5, height * 0.55)], labels=[1])
                predictor.add_prompt(box=(width * 0.1, height * 0.2, width * 0.6, height))
            results[side] = predictor.result()
        assert_live(results["fp32"], f"frame {index}")
        for side in distance:
            assert results[side].object_ids == [1, 2]
            difference = results[side].mask_logits - results["fp32"].mask_logits
            distance[side].append(np.abs(difference).mean())
        for ours, theirs in zip(
            results["openvino_bf16"].masks, results["torch_bf16"].masks, strict=True
        ):
            assert mask_iou(ours, theirs) >= 0.98, f"frame {index}"
    torch_bf16, openvino_bf16 = np.mean(distance["torch_bf16"]), np.mean(distance["openvino_bf16"])
    assert 0.0 < openvino_bf16 <= 2 * torch_bf16, (openvino_bf16, torch_bf16)


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
