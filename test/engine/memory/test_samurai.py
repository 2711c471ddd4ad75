"""SAMURAI's motion-aware memory in the streaming engine equals SAMURAI's own code.

The references (``data/samurai``) are SAMURAI's low-resolution mask logits on the bedroom clip
resized to the model's 256 px and saved as JPEG, from the session's seeded weights, one box on
frame 0, produced by running SAMURAI's code (``samurai_reference.py`` says how and records the
source, settings and inputs). Runs ``departing_*`` use settings under which SAMURAI departs from
SAM 2; our ``sam2`` selection is shown to be far from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import IMAGE_SIZE, assert_live, footage_paths
from samurai_reference import pixels_sha256, prepare_frames

from sam2_ros.engine import StreamingPredictor, load_model
from sam2_ros.engine.memory.bank import FrameMemory, MemoryScores, ObjectMemory
from sam2_ros.engine.memory.samurai import SamuraiSelection, SamuraiSettings, SamuraiSettingsError

DATA = Path(__file__).parent / "data" / "samurai"
REFERENCE = json.loads((DATA / "reference.json").read_text())
TOLERANCE = 1e-4  # mean absolute difference of mask logits, per frame


@pytest.fixture(scope="module")
def logits() -> dict[str, np.ndarray]:
    with np.load(DATA / "reference.npz") as data:
        return {name: data[f"{name}/logits"] for name in REFERENCE["runs"]}


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> list[np.ndarray]:
    """The clip as SAMURAI read it (the same pixels, checked)."""
    count = REFERENCE["frames"]["count"]
    footage_paths(count)
    decoded = prepare_frames(tmp_path_factory.mktemp("samurai"), count, IMAGE_SIZE)
    assert pixels_sha256(decoded) == REFERENCE["frames"]["pixels_sha256"], (
        "the resized JPEG frames differ from those the references were made from: regenerate "
        "them with test/engine/memory/samurai_reference.py"
    )
    return decoded


@pytest.fixture(scope="module")
def model(sam_model):
    assert sam_model.weights_fingerprint() == REFERENCE["weights"]["fingerprint"], (
        "the session's seeded weights differ from the references': regenerate them"
    )
    return sam_model


def _samurai(model, run: str, **options) -> StreamingPredictor:
    settings = REFERENCE["runs"][run]["settings"]
    return StreamingPredictor(model=model, memory_selection="samurai", samurai=settings, **options)


def _track(predictor, frames, boxes: list[list[float]], remove: dict[int, int] | None = None):
    """Track ``frames`` with one object per box from frame 0; ``remove`` maps a frame to the
    object removed after it. Every frame's result."""
    results = []
    for index, rgb in enumerate(frames):
        predictor.track(rgb)
        if index == 0:
            for box in boxes:
                predictor.add_prompt(box=box)
        if remove and index in remove:
            predictor.remove_object(remove[index])
        results.append(predictor.result())
    return results


def _distances(results, reference: np.ndarray, object_id: int = 1) -> list[float]:
    distances = []
    for result in results:
        assert_live(result, f"on frame {result.frame_index}")
        row = result.object_ids.index(object_id)
        difference = result.mask_logits[row] - reference[result.frame_index]
        distances.append(float(np.abs(difference).mean()))
    return distances


@pytest.mark.slow
@pytest.mark.parametrize("run", list(REFERENCE["runs"]))
def test_equals_samurais_own_code(model, frames, logits, run):
    box = REFERENCE["runs"][run]["box"]
    ours = _distances(_track(_samurai(model, run), frames, [box]), logits[run])
    assert max(ours) <= TOLERANCE, ours
    if run.startswith("departing"):  # SAM 2's own selection is not SAMURAI under these settings
        sam2 = _distances(_track(StreamingPredictor(model=model), frames, [box]), logits[run])
        assert max(sam2) > 10 * TOLERANCE, sam2


@pytest.mark.slow
def test_each_of_two_objects_equals_its_own_run_and_a_removal_leaves_the_other(
    model, frames, logits
):
    boxes = [REFERENCE["runs"][run]["box"] for run in ("departing_a", "departing_b")]
    both = _track(_samurai(model, "departing_a"), frames, boxes)
    assert max(_distances(both, logits["departing_a"], 1)) <= TOLERANCE
    assert max(_distances(both, logits["departing_b"], 2)) <= TOLERANCE
    removed = _track(_samurai(model, "departing_a"), frames[:16], boxes, remove={8: 2})
    assert [r.object_ids for r in removed[8:10]] == [[1], [1]]
    assert max(_distances(removed, logits["departing_a"], 1)) <= TOLERANCE


@pytest.mark.slow
def test_late_prompt_restores_the_motion_it_had_on_that_frame(model, frames):
    """A box prompt on frame 6 arriving after frame 10 gives what it gives on time (objects'
    filters included), with filters running from frame 4 on (stable_frames_threshold 3)."""
    boxes = [REFERENCE["runs"]["departing_a"]["box"]]
    late_box = REFERENCE["runs"]["departing_b"]["box"]
    on_time, late = (_samurai(model, "departing_a", history_frames=8) for _ in range(2))
    for predictor, arrives_after in ((on_time, 6), (late, 10)):
        _track(predictor, frames[:1], boxes)
        for index in range(1, 14):
            predictor.track(frames[index])
            if index == arrives_after:
                predictor.add_prompt(box=late_box, frame_index=6)
    a, b = on_time.result(), late.result()
    assert_live(b)
    assert a.object_ids == b.object_ids == [1, 2]
    np.testing.assert_allclose(a.mask_logits, b.mask_logits, atol=1e-5, rtol=0)
    for object_id in (1, 2):
        motions = [p._state.outputs[object_id].motion for p in (on_time, late)]
        assert motions[0] is not None and motions[0].stable_frames > 0
        np.testing.assert_allclose(motions[0].mean, motions[1].mean, rtol=1e-9)
        assert motions[0].stable_frames == motions[1].stable_frames


@pytest.mark.slow
def test_saved_objects_continue_with_their_motion_and_scores(model, frames, logits, tmp_path):
    box = REFERENCE["runs"]["departing_a"]["box"]
    whole = _track(_samurai(model, "departing_a"), frames[:20], [box])
    first = _samurai(model, "departing_a")
    _track(first, frames[:12], [box])
    first.save_objects(tmp_path / "objects.safetensors")
    second = _samurai(model, "departing_a")
    second.load_objects(tmp_path / "objects.safetensors")
    saved, loaded = first._state.outputs[1].motion, second._state.outputs[1].motion
    np.testing.assert_array_equal(saved.covariance, loaded.covariance)
    assert saved.stable_frames == loaded.stable_frames > 0
    assert second.object_memory(1).recent[11].scores == first.object_memory(1).recent[11].scores
    continued = [second.track(rgb) for rgb in frames[12:20]]
    for result in continued:
        assert_live(result)
        np.testing.assert_allclose(
            result.mask_logits, whole[result.frame_index].mask_logits, atol=1e-6, rtol=0
        )
    assert max(_distances(continued, logits["departing_a"])) <= TOLERANCE


@pytest.mark.slow
def test_onnxruntime_backend_tracks_as_torch(onnx_dir, checkpoint_path, model, frames):
    graphs = load_model(
        checkpoint=checkpoint_path,
        image_size=IMAGE_SIZE,
        device="cpu",
        precision="fp32",
        backend="onnxruntime",
        onnx_dir=onnx_dir,
    )
    box = REFERENCE["runs"]["departing_a"]["box"]
    sides = [_track(_samurai(m, "departing_a"), frames[:8], [box]) for m in (model, graphs)]
    for torch_result, graph_result in zip(*sides, strict=True):
        assert_live(graph_result)
        assert np.abs(torch_result.mask_logits - graph_result.mask_logits).mean() <= TOLERANCE


def _memory(frames: dict[int, MemoryScores | None]) -> ObjectMemory:
    """An object prompted on frame 0 with recent memories on ``frames`` scored as given."""
    features = np.zeros(1)  # never read by the pick
    memory = ObjectMemory(conditioning={0: FrameMemory(features, features)})
    memory.recent = {t: FrameMemory(features, features, scores) for t, scores in frames.items()}
    return memory


GOOD = MemoryScores(iou=0.9, object_score=1.0, motion=None)
BAD = MemoryScores(iou=0.1, object_score=1.0, motion=None)


def test_pick_scans_back_to_frame_two_within_the_window_and_keeps_the_previous_frame(small_model):
    sam = small_model.sam
    selection = SamuraiSelection(SamuraiSettings(candidate_frames=10))
    scores = {t: GOOD for t in range(1, 20)} | {15: BAD, 19: BAD}
    pick = selection.pick(sam, 20, _memory(scores))
    # The latest six valid frames by rank, the previous frame (19) always last; 15 fails.
    assert [(p, t) for p, t, _ in pick.spatial] == [
        (1, 13),
        (2, 14),
        (3, 16),
        (4, 17),
        (5, 18),
        (6, 19),
    ]
    assert [t for _, t, _ in pick.conditioning] == [0]
    assert [d for d, _, _ in pick.pointers] == [20, *range(1, 16)]
    early = selection.pick(sam, 5, _memory({t: GOOD for t in range(1, 5)}))
    assert [t for _, t, _ in early.spatial] == [2, 3, 4]  # frames 0 and 1 are never scanned
    bounded = selection.pick(sam, 30, _memory({t: BAD for t in range(1, 30)} | {15: GOOD}))
    assert [t for _, t, _ in bounded.spatial] == [29]  # frame 15 is beyond the 10-frame window


def test_frames_pass_on_every_score_and_motion_only_once_known():
    settings = SamuraiSettings()
    assert settings.keeps(MemoryScores(0.6, 0.1, None))
    assert settings.keeps(MemoryScores(0.6, 0.1, 0.2))
    assert not settings.keeps(MemoryScores(0.6, 0.1, 0.0))
    assert not settings.keeps(MemoryScores(0.5, 0.1, None))
    assert not settings.keeps(MemoryScores(0.6, 0.0, None))
    assert not settings.keeps(None)


def test_settings_default_to_samurais_configs_and_are_checked():
    assert SamuraiSettings.for_model("configs/sam2.1/sam2.1_hiera_t.yaml").kf_score_weight == 0.25
    assert SamuraiSettings.for_model("configs/sam2.1/sam2.1_hiera_l.yaml").kf_score_weight == 0.15
    assert SamuraiSettings.for_model("x", {"kf_score_weight": 0}).kf_score_weight == 0.0
    for bad, message in (
        ({"kf_score_weigth": 0.2}, "unknown SAMURAI setting"),
        ({"kf_score_weight": 1.5}, r"kf_score_weight must be in \[0, 1\]"),
        ({"stable_frames_threshold": 0}, "stable_frames_threshold must be an integer >= 1"),
        ({"candidate_frames": 2.5}, "candidate_frames must be an integer"),
        ({"memory_bank_iou_threshold": float("nan")}, "must be a finite number"),
    ):
        with pytest.raises(SamuraiSettingsError, match=message):
            SamuraiSettings.for_model("x", bad)
    with pytest.raises(ValueError, match="memory_selection"):
        StreamingPredictor(model=None, memory_selection="sam3")
