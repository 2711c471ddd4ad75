"""The compiled engine: buckets, equivalence with the eager engine, no recompilation in steady
state, and a warm on-disk cache."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import Camera, add_prompt, assert_live, start_node, wait_log

from sam2_ros.engine import ModelConfigError, StreamingPredictor, load_model
from sam2_ros.engine.model.compiled import bucket, compiled_graphs
from sam2_ros.engine.streaming.warm_up import warm_up

SIZE = 128
OBJECTS = 1  # one bucket: compiling more costs CI minutes (the bench measures 4 objects)
STEADY_FRAMES = 300


def test_object_counts_round_up_to_buckets():
    assert [bucket(n) for n in (1, 2, 3, 4, 5, 8, 9, 16, 17)] == [1, 2, 4, 4, 8, 8, 16, 16, 17]


def test_unknown_compile_modes_are_refused():
    model = load_model(image_size=SIZE, allow_random_weights=True, device="cpu", precision="fp32")
    with pytest.raises(ModelConfigError, match="not one of none, default, max"):
        model.compile("fast")
    model.compile("none")
    assert not model.compiled


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory):
    """A kernel cache, empty when the module starts."""
    return tmp_path_factory.mktemp("compile_cache")


@pytest.mark.slow
def test_a_second_start_compiles_from_the_cache_3x_faster(
    client, rosout, scene, tmp_path_factory, compile_cache
):
    """The node compiles and warms up in configure; a restarted node finds the kernels on disk."""
    seconds = []
    for start in ("cold", "warm"):
        name = f"sam2_compiled_{start}"
        node = start_node(
            tmp_path_factory,
            name,
            compile="default",
            compile_cache_dir=str(compile_cache),
            max_objects=OBJECTS,
        )
        try:
            started = time.perf_counter()
            assert client.transition(name, "configure", timeout=1200), node.log()[-3000:]
            seconds.append(time.perf_counter() - started)
            warmed = rf"compiled \(default\) and warmed up for up to {OBJECTS} objects"
            wait_log(rosout, name, warmed)
            if start == "warm":
                camera = Camera(client, name, "camera", "/camera/image_raw")
                assert client.transition(name, "activate")
                camera.step(scene.frame(0))
                ball = scene.center("ball", 0)
                assert add_prompt(client, name, points=[ball], labels=[1]).success
                assert [o.object_id for o in camera.step(scene.frame(1)).objects] == [1]
        finally:
            node.stop()
    cold, warm = seconds
    assert cold >= 3.0 * warm, f"configure took {cold:.0f} s cold and {warm:.0f} s warm"


@pytest.fixture(scope="module")
def compiled_pair(compile_cache):
    """The same seeded weights eager and compiled (default mode), warmed up from the cache the
    node test filled."""
    eager = load_model(
        image_size=SIZE, allow_random_weights=True, seed=0, device="cpu", precision="fp32"
    )
    compiled = load_model(
        image_size=SIZE, allow_random_weights=True, seed=0, device="cpu", precision="fp32"
    )
    compiled.compile("default", compile_cache)
    warm_up(compiled, OBJECTS, 320, 240)
    return eager, compiled


@pytest.mark.slow
def test_compiled_engine_matches_eager_and_never_recompiles(compiled_pair, scene):
    """Mask logits within 1e-3 and pointers within 1e-4 (relative) of the eager engine on every
    frame; then 300 frames compile nothing."""
    eager, compiled = (StreamingPredictor(model=m) for m in compiled_pair)
    for index in range(8):
        frame = scene.frame(index)
        results = [p.track(frame) for p in (eager, compiled)]
        if index == 0:
            results = [_prompt(p, scene, "ball", 0) for p in (eager, compiled)]
        expected, actual = results
        assert actual.object_ids == expected.object_ids == [1]
        _assert_close(actual, expected, logits=1e-3, pointers=1e-4)
    graphs = compiled_graphs()
    for index in range(8, 8 + STEADY_FRAMES):
        compiled.track(scene.frame(index % 40))
    assert compiled_graphs() == graphs


def test_replacing_an_object_in_a_warmed_bucket_compiles_nothing(compiled_pair, scene):
    predictor = StreamingPredictor(model=compiled_pair[1])
    predictor.track(scene.frame(0))
    _prompt(predictor, scene, "ball", 0)
    predictor.track(scene.frame(1))
    graphs = compiled_graphs()
    predictor.remove_object(1)
    _prompt(predictor, scene, "crate", 1)
    for index in range(2, 6):
        assert predictor.track(scene.frame(index)).object_ids == [2]
    assert compiled_graphs() == graphs


def test_batches_padded_to_buckets_give_the_same_results(small_model, scene):
    """Three objects prompted together (their memories encoded and attended as 3 rows padded to
    4) and a fourth later (layouts of 3 and 1, decoded as 4): the same as unpadded."""
    plain, padded = (StreamingPredictor(model=small_model, bucketed=b) for b in (False, True))
    assert padded.bucketed and not plain.bucketed
    for index in range(10):
        frame = scene.frame(index)
        results = [p.track(frame) for p in (plain, padded)]
        if index in (0, 3):
            names = ("ball", "pillar", "crate") if index == 0 else ("ball",)
            for name in names:
                results = [_prompt(p, scene, name, index) for p in (plain, padded)]
        expected, actual = results
        assert actual.object_ids == expected.object_ids
        _assert_close(actual, expected, logits=1e-4, pointers=1e-5)


def _prompt(predictor: StreamingPredictor, scene, name: str, index: int):
    """Start an object at the centre of one of the scene's objects; the frame's result."""
    predictor.add_prompt(points=[scene.center(name, index)], labels=[1])
    return predictor.result()


def _assert_close(actual, expected, logits: float, pointers: float) -> None:
    assert_live(expected)
    np.testing.assert_allclose(actual.mask_logits, expected.mask_logits, atol=logits)
    scale = np.abs(expected.object_pointers).max(initial=1.0)
    np.testing.assert_allclose(
        actual.object_pointers, expected.object_pointers, atol=pointers * scale
    )
