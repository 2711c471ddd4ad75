"""The compiled engine: buckets, equivalence with the eager engine, no recompilation in steady
state, and a warm on-disk cache."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import start_node, wait_log
from test_node import Camera, add_prompt

from sam2_ros.engine import ModelConfigError, StreamingPredictor, load_model
from sam2_ros.engine.compiled import bucket, compiled_graphs
from sam2_ros.engine.warm_up import warm_up

SIZE = 128
OBJECTS = 3
STEADY_FRAMES = 300


def test_object_counts_round_up_to_buckets():
    assert [bucket(n) for n in (1, 2, 3, 4, 5, 8, 9, 16, 17)] == [1, 2, 4, 4, 8, 8, 16, 16, 17]


def test_unknown_compile_modes_are_refused():
    model = load_model(image_size=SIZE, allow_random_weights=True, device="cpu")
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
    """The same seeded weights eager and compiled (default mode), warmed up for 3 objects
    (buckets 1, 2 and 4) from the cache the node test filled."""
    eager = load_model(image_size=SIZE, allow_random_weights=True, seed=0, device="cpu")
    compiled = load_model(image_size=SIZE, allow_random_weights=True, seed=0, device="cpu")
    compiled.compile("default", compile_cache)
    warm_up(compiled, OBJECTS, 320, 240)
    return eager, compiled


@pytest.mark.slow
def test_compiled_engine_matches_eager_and_never_recompiles(compiled_pair, scene):
    """Three objects (run padded to the 4-object bucket): mask logits within 1e-3 and pointers
    within 1e-4 (relative) of the eager engine on every frame; then 300 frames compile nothing."""
    eager, compiled = (StreamingPredictor(model=m, max_objects=OBJECTS) for m in compiled_pair)
    names = ("ball", "pillar", "crate")
    for index in range(8):
        frame = scene.frame(index)
        results = [p.track(frame) for p in (eager, compiled)]
        if index == 0:
            for predictor in (eager, compiled):
                for name in names:
                    predictor.add_prompt(points=[scene.center(name, 0)], labels=[1])
            results = [p.result() for p in (eager, compiled)]
        expected, actual = results
        assert actual.object_ids == expected.object_ids == [1, 2, 3]
        np.testing.assert_allclose(actual.mask_logits, expected.mask_logits, atol=1e-3)
        scale = np.abs(expected.object_pointers).max()
        np.testing.assert_allclose(
            actual.object_pointers, expected.object_pointers, atol=1e-4 * scale
        )
    graphs = compiled_graphs()
    for index in range(8, 8 + STEADY_FRAMES):
        compiled.track(scene.frame(index % 40))
    assert compiled_graphs() == graphs


def test_a_new_object_in_a_warmed_bucket_compiles_nothing(compiled_pair, scene):
    predictor = StreamingPredictor(model=compiled_pair[1], max_objects=OBJECTS)
    predictor.track(scene.frame(0))
    predictor.add_prompt(points=[scene.center("ball", 0)], labels=[1])
    predictor.track(scene.frame(1))
    graphs = compiled_graphs()
    predictor.add_prompt(points=[scene.center("crate", 1)], labels=[1])
    for index in range(2, 5):
        predictor.track(scene.frame(index))
    predictor.remove_object(1)
    predictor.track(scene.frame(5))
    assert compiled_graphs() == graphs
