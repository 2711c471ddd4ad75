"""Reference outputs of SAMURAI's own code (SAM 2 with motion-aware memory) on seeded weights.

Run as a script to regenerate ``data/samurai/reference.npz``, ``reference.json`` and
``kalman.json`` (``--kalman-only``: just the last, in seconds)::

    .venv/bin/python -m pip install --no-deps --target /tmp/samurai/deps loguru
    PYTHONPATH=. .venv/bin/python test/engine/memory/samurai_reference.py

``kalman.json`` is the trajectory of SAMURAI's own ``KalmanFilter`` through the scripted
operations of :data:`KALMAN_STEPS` (with random weights SAMURAI's motion weighting never changes a
choice, so the filter needs a reference of its own).

SAMURAI's package is also named ``sam2`` and would shadow Meta's, so it only ever runs in a
subprocess with its source folder first on ``PYTHONPATH`` and a working directory outside this
checkout; nothing of it is copied here. Importing this module does no work: a test imports
:func:`prepare_frames` to rebuild the very frames the references were made from.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[3]
BEDROOM_DIR = REPO_ROOT.parent / "shared" / "data" / "bedroom"
DEFAULT_SAMURAI = Path("/tmp/samurai/absolutely_not_samurai-1.0.0")
DEFAULT_DEPS = Path("/tmp/samurai/deps")
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "samurai"

SAMURAI_CONFIG = "configs/samurai/sam2.1_hiera_t.yaml"
META_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
IMAGE_SIZE = 256
FRAME_COUNT = 30
JPEG_QUALITY = 95
WEIGHTS_SEED = 0

SETTING_NAMES = (
    "stable_frames_threshold",
    "stable_ious_threshold",
    "min_obj_score_logits",
    "kf_score_weight",
    "memory_bank_iou_threshold",
    "memory_bank_obj_score_threshold",
    "memory_bank_kf_score_threshold",
)
DEPARTING = {
    "memory_bank_iou_threshold": 0.9,
    "kf_score_weight": 0.9,
    "stable_frames_threshold": 3,
}
# Boxes [x0, y0, x1, y1] in pixels of the 256 x 256 frames; they do not overlap.
OBJECTS = {
    "a": {"box": [0.0, 185.0, 195.0, 256.0], "description": "the bed (lower left)"},
    "b": {"box": [218.0, 160.0, 256.0, 250.0], "description": "the white dresser (right edge)"},
}
RUNS = {
    "default_a": {"overrides": {}, "object": "a"},
    "departing_a": {"overrides": DEPARTING, "object": "a"},
    "departing_b": {"overrides": DEPARTING, "object": "b"},
}

# The Kalman filter's scripted run, in the order SAMURAI's _forward_sam_heads uses it:
# "initiate" a track from the first box, then per frame "predict", "iou" of the prediction with
# the (three) candidate masks' boxes, and "update" with the chosen box. Boxes are inclusive
# [x_min, y_min, x_max, y_max] pixel indices of the masks at the 256 px model resolution,
# integers as SAMURAI's `.item()` gives them; [0, 0, 0, 0] is SAMURAI's box of an empty mask.
# The object moves 8 px right and 5 px down a frame, growing 2 px wide and 3 px high: frame t is
# [40 + 8t, 60 + 5t, 100 + 10t, 120 + 8t]. Frame 3 updates with an empty mask's box, frame 5 with
# a one-row (zero-height) mask's box; each is followed by a frame with the true box.
# A step whose operation is expected to raise would carry "expect_raises": "<exception type>" (the
# filter then keeps the previous state); none does.
KALMAN_STEPS: tuple[dict, ...] = (
    {"op": "initiate", "box": [40, 60, 100, 120]},
    # frame 1: the true box, an empty mask, a disjoint box
    {"op": "predict"},
    {"op": "iou", "candidates": [[48, 65, 110, 128], [0, 0, 0, 0], [180, 10, 230, 40]]},
    {"op": "update", "box": [48, 65, 110, 128]},
    # frame 2: the true box, a smaller box inside it (partial overlap), an empty mask
    {"op": "predict"},
    {"op": "iou", "candidates": [[56, 70, 120, 136], [70, 90, 110, 130], [0, 0, 0, 0]]},
    {"op": "update", "box": [56, 70, 120, 136]},
    # frame 3: the empty mask is chosen
    {"op": "predict"},
    {"op": "iou", "candidates": [[0, 0, 0, 0], [64, 75, 130, 144], [140, 20, 200, 60]]},
    {"op": "update", "box": [0, 0, 0, 0]},
    # frame 4: back to the true box
    {"op": "predict"},
    {"op": "iou", "candidates": [[72, 80, 140, 152], [0, 0, 0, 0], [200, 180, 250, 230]]},
    {"op": "update", "box": [72, 80, 140, 152]},
    # frame 5: a one-row mask across the object (zero height) is chosen
    {"op": "predict"},
    {"op": "iou", "candidates": [[80, 85, 150, 160], [80, 120, 150, 120], [100, 100, 170, 175]]},
    {"op": "update", "box": [80, 120, 150, 120]},
    # frame 6: back to the true box
    {"op": "predict"},
    {"op": "iou", "candidates": [[88, 90, 160, 168], [60, 60, 120, 120], [0, 0, 0, 0]]},
    {"op": "update", "box": [88, 90, 160, 168]},
    # frame 7: prediction only
    {"op": "predict"},
    {"op": "iou", "candidates": [[96, 95, 170, 176], [0, 0, 0, 0], [10, 200, 40, 250]]},
)

# Runs in the subprocess, under whichever `sam2` is first on its path: builds the video
# predictor, tracks one box from frame 0 to the end, and saves each frame's stored output.
DRIVER = r"""
import json, math, sys, time
import numpy as np
import torch
import sam2
from sam2.build_sam import build_sam2_video_predictor

spec = json.loads(open(sys.argv[1]).read())
assert sam2.__file__.startswith(spec["expect_sam2_under"]), sam2.__file__
overrides = [f"++model.image_size={spec['image_size']}"]
overrides += [f"++model.{k}={v}" for k, v in spec["overrides"].items()]
start = time.perf_counter()
p = build_sam2_video_predictor(
    spec["config"], spec["checkpoint"], device="cpu", hydra_overrides_extra=overrides
)
built = time.perf_counter()
state = p.init_state(spec["frames"])
p.add_new_points_or_box(
    state, frame_idx=0, obj_id=1, box=np.array(spec["box"], dtype=np.float32)
)
prompted = time.perf_counter()
for _ in p.propagate_in_video(state):
    pass
done = time.perf_counter()

def scalar(value):
    return math.nan if value is None else float(torch.as_tensor(value).float().reshape(-1)[0])

# SAMURAI (like SAM 2 before 2.1's per-object propagation) tracks in the consolidated
# state["output_dict"]; only those entries carry best_iou_score and kf_score. Its per-object
# slices hold pred_masks, obj_ptr and object_score_logits only. Meta's current predictor tracks
# each object in state["output_dict_per_obj"].
stores = [state["output_dict_per_obj"][0]]
if spec["store"] == "consolidated":
    stores.insert(0, state["output_dict"])
logits, best_iou, object_score, kf_score = [], [], [], []
for i in range(state["num_frames"]):
    entries = []
    for store in stores:
        cond = store["cond_frame_outputs"].get(i)
        entries.append(cond if cond is not None else store["non_cond_frame_outputs"][i])
    out = entries[0]
    for other in entries[1:]:  # one object: the slice is the consolidated entry's row
        assert torch.equal(other["pred_masks"], out["pred_masks"]), i
    logits.append(out["pred_masks"][0, 0].float().cpu().numpy())
    best_iou.append(scalar(out.get("best_iou_score")))
    object_score.append(scalar(out.get("object_score_logits")))
    kf_score.append(scalar(out.get("kf_score")))
settings = {name: getattr(p, name, None) for name in spec["settings"]}
np.savez(
    spec["result"],
    logits=np.stack(logits).astype(np.float32),
    best_iou=np.array(best_iou, dtype=np.float64),
    object_score=np.array(object_score, dtype=np.float64),
    kf_score=np.array(kf_score, dtype=np.float64),
    seconds=np.array([built - start, prompted - built, done - prompted]),
    settings=json.dumps(settings),
    samurai_mode=json.dumps(getattr(p, "samurai_mode", None)),
    sam2_file=sam2.__file__,
)
"""


# Runs in the subprocess with SAMURAI's folder first on its path: replays the scripted steps on
# SAMURAI's KalmanFilter exactly as its _forward_sam_heads calls it, recording each resulting state.
KALMAN_DRIVER = r"""
import json, sys
import numpy as np
import scipy
import sam2.utils.kalman_filter as kalman_filter

spec = json.loads(open(sys.argv[1]).read())
assert kalman_filter.__file__.startswith(spec["expect_sam2_under"]), kalman_filter.__file__
kf = kalman_filter.KalmanFilter()
mean = covariance = None
records = []
for step in spec["steps"]:
    op = step["op"]
    record = {key: value for key, value in step.items() if key != "expect_raises"}
    if op not in ("initiate", "predict", "update", "iou"):
        raise ValueError(f"unknown op {op!r}")
    try:
        if op == "initiate":
            measurement = kf.xyxy_to_xyah(step["box"])
            record["measurement"] = [float(value) for value in measurement]
            mean, covariance = kf.initiate(measurement)
        elif op == "predict":
            mean, covariance = kf.predict(mean, covariance)
        elif op == "update":
            measurement = kf.xyxy_to_xyah(step["box"])
            record["measurement"] = [float(value) for value in measurement]
            mean, covariance = kf.update(mean, covariance, measurement)
        else:
            ious = kf.compute_iou(mean[:4], step["candidates"])
            record["ious"] = [float(value) for value in ious]
    except Exception as error:  # recorded; the state stays as it was
        record["raises"] = type(error).__name__
        record["message"] = str(error)
    if op != "iou" and mean is not None:
        assert mean.shape == (8,) and covariance.shape == (8, 8), (mean.shape, covariance.shape)
        record["mean"] = [float(value) for value in mean]
        record["covariance"] = [[float(value) for value in row] for row in covariance]
    if op == "predict" and mean is not None:
        record["predicted_box"] = [float(value) for value in kf.xyah_to_xyxy(mean[:4])]
    records.append(record)
with open(spec["result"], "w") as result:
    json.dump(
        {
            "steps": records,
            "kalman_filter_file": kalman_filter.__file__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        result,
    )
"""


def prepare_frames(
    folder: Path, count: int = FRAME_COUNT, size: int = IMAGE_SIZE
) -> list[np.ndarray]:
    """Save the first ``count`` bedroom frames, resized to ``size`` x ``size`` (PIL bilinear), as
    ``folder/{i:05d}.jpg`` (quality 95); return the decoded RGB uint8 arrays of those JPEGs."""
    sources = sorted(BEDROOM_DIR.glob("*.jpg"))[:count]
    if len(sources) < count:
        raise FileNotFoundError(f"{BEDROOM_DIR} holds {len(sources)} frames, not {count}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames: list[np.ndarray] = []
    for index, source in enumerate(sources):
        path = folder / f"{index:05d}.jpg"
        with Image.open(source) as image:
            image.convert("RGB").resize((size, size), Image.BILINEAR).save(path, quality=95)
        with Image.open(path) as saved:
            frames.append(np.array(saved.convert("RGB")))
    return frames


def pixels_sha256(frames: Sequence[np.ndarray]) -> str:
    """SHA-256 over the frames' pixel bytes, in order."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(np.ascontiguousarray(frame).tobytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or None when it is missing."""
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_checkpoint(path: Path) -> str:
    """Save the test suite's seeded random weights (256 px, seed 0) as an official-format
    checkpoint; return their fingerprint."""
    import torch

    from sam2_ros.engine import load_model

    model = load_model(
        image_size=IMAGE_SIZE,
        allow_random_weights=True,
        seed=WEIGHTS_SEED,
        device="cpu",
        precision="fp32",
    )
    torch.save({"model": model.sam.state_dict()}, path)
    return model.weights_fingerprint()


def subprocess_env(pythonpath: Sequence[Path]) -> dict[str, str]:
    """This process's environment with ``PYTHONPATH`` set to ``pythonpath`` only (or unset)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    return env


def run_predictor(
    work: Path,
    name: str,
    *,
    pythonpath: Sequence[Path],
    expect_sam2_under: Path,
    config: str,
    store: str,
    checkpoint: Path,
    frames: Path,
    box: Sequence[float],
    overrides: dict[str, float | int],
) -> tuple[dict[str, np.ndarray], float]:
    """Track ``box`` with a ``sam2`` video predictor in a fresh subprocess (its Kalman state
    lives on the model); return its per-frame outputs and the subprocess's wall seconds."""
    driver = work / "driver.py"
    driver.write_text(DRIVER)
    spec_path = work / f"{name}.json"
    result = work / f"{name}.npz"
    spec = {
        "config": config,
        "checkpoint": str(checkpoint),
        "frames": str(frames),
        "box": list(box),
        "overrides": overrides,
        "image_size": IMAGE_SIZE,
        "store": store,
        "settings": list(SETTING_NAMES),
        "result": str(result),
        "expect_sam2_under": str(expect_sam2_under),
    }
    spec_path.write_text(json.dumps(spec))
    env = subprocess_env(pythonpath)
    run_dir = work / "cwd"
    run_dir.mkdir(exist_ok=True)
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(driver), str(spec_path)],
        cwd=run_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{completed.stdout}\n{completed.stderr}")
    with np.load(result) as data:
        return {key: data[key] for key in data.files}, seconds


def run_kalman(
    work: Path, *, samurai: Path, deps: Path, steps: Sequence[dict]
) -> tuple[list[dict], dict]:
    """Replay ``steps`` on SAMURAI's own ``KalmanFilter`` in a fresh subprocess (SAMURAI's folder
    first on its path, working directory outside this checkout); return the recorded steps and
    where they ran (the filter's file, numpy's and scipy's versions)."""
    driver = work / "kalman_driver.py"
    driver.write_text(KALMAN_DRIVER)
    spec_path = work / "kalman.json"
    result = work / "kalman_result.json"
    spec = {"steps": list(steps), "result": str(result), "expect_sam2_under": str(samurai)}
    spec_path.write_text(json.dumps(spec))
    run_dir = work / "cwd"
    run_dir.mkdir(exist_ok=True)
    completed = subprocess.run(
        [sys.executable, str(driver), str(spec_path)],
        cwd=run_dir,
        env=subprocess_env([samurai, deps]),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"Kalman filter run failed:\n{completed.stdout}\n{completed.stderr}")
    out = json.loads(result.read_text())
    records = out.pop("steps")
    for index, (step, record) in enumerate(zip(steps, records, strict=True)):
        expected, raised = step.get("expect_raises"), record.get("raises")
        if raised != expected:
            raise RuntimeError(
                f"Kalman step {index} ({step}): raised {raised!r} "
                f"({record.get('message')}), expected {expected!r}"
            )
        if raised is not None:
            record["expect_raises"] = expected
    return records, out


def write_kalman_reference(samurai: Path, deps: Path, out: Path) -> Path:
    """Run SAMURAI's Kalman filter through :data:`KALMAN_STEPS` and write ``out/kalman.json``."""
    with tempfile.TemporaryDirectory(prefix="samurai_kalman_") as tmp:
        records, ran = run_kalman(Path(tmp), samurai=samurai, deps=deps, steps=KALMAN_STEPS)
    filter_file = Path(ran["kalman_filter_file"])
    record = {
        "samurai": samurai_provenance(samurai),
        "description": "SAMURAI's sam2.utils.kalman_filter.KalmanFilter replayed through scripted "
        "initiate/predict/iou/update steps as _forward_sam_heads calls them, boxes as inclusive "
        "[x_min, y_min, x_max, y_max] pixels at 256 px; each step's resulting state",
        "kalman_filter": {
            "file": str(filter_file.relative_to(samurai)),
            "sha256": file_sha256(filter_file),
            "numpy": ran["numpy"],
            "scipy": ran["scipy"],
        },
        "image_size": IMAGE_SIZE,
        "fields": {
            "initiate": "box; measurement = kf.xyxy_to_xyah(box); mean, covariance = "
            "kf.initiate(measurement)",
            "predict": "mean, covariance = kf.predict(mean, covariance); predicted_box = "
            "kf.xyah_to_xyxy(mean[:4])",
            "iou": "candidates; ious = kf.compute_iou(mean[:4], candidates) (state unchanged)",
            "update": "box; measurement = kf.xyxy_to_xyah(box); mean, covariance = "
            "kf.update(mean, covariance, measurement)",
            "mean": "8 floats (x_center, y_center, aspect w/h, height and their velocities)",
            "covariance": "8x8 floats, row-major",
            "raises": "exception type of a step that raised (then expect_raises too); mean and "
            "covariance are the previous step's",
        },
        "sam2_ros_commit": git_commit(),
        "steps": records,
    }
    path = out / "kalman.json"
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, allow_nan=False)
    # each innermost list of numbers on one line: a mean, a covariance row, a box, the IoUs
    text = re.sub(r"\[\s+([-+.\deE]+(?:,\s+[-+.\deE]+)*)\s+\]", _one_line, text)
    path.write_text(text + "\n")
    return path


def _one_line(match: re.Match[str]) -> str:
    return "[" + ", ".join(number.strip() for number in match.group(1).split(",")) + "]"


def samurai_provenance(samurai: Path) -> dict[str, str | None]:
    """Where the SAMURAI code that made a reference came from."""
    tarball = samurai.parent / f"{samurai.name}.tar.gz"
    return {
        "package": "absolutely-not-samurai==1.0.0",
        "sdist_sha256": file_sha256(tarball),
        "upstream": "github:yangchris11/samurai@76ba195",
        "note": "the package's sam2_base.py, sam2_video_predictor.py, kalman_filter.py, "
        "misc.py and configs/samurai equal upstream at 76ba195 (shared/ENVIRONMENT.md)",
    }


def liveness(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the fraction of logits above 0, and the logits' standard deviation."""
    flat = logits.reshape(len(logits), -1).astype(np.float64)
    return (flat > 0).mean(axis=1), flat.std(axis=1)


def samurai_defaults(samurai: Path) -> dict[str, float | int]:
    """SAMURAI's settings as its tiny config states them."""
    import yaml

    config = samurai / "sam2" / SAMURAI_CONFIG
    model = yaml.safe_load(config.read_text())["model"]
    return {name: model[name] for name in SETTING_NAMES}


def git_commit() -> str:
    """This checkout's HEAD commit."""
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def main(argv: Sequence[str] | None = None) -> None:
    """Regenerate the SAMURAI references (and report how far they are from Meta's SAM 2)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samurai", type=Path, default=DEFAULT_SAMURAI)
    parser.add_argument("--deps", type=Path, default=DEFAULT_DEPS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--no-meta", action="store_true", help="skip the comparison with Meta's predictor"
    )
    parser.add_argument(
        "--kalman-only", action="store_true", help="regenerate kalman.json only (seconds)"
    )
    args = parser.parse_args(argv)
    samurai = args.samurai.resolve()
    if not (samurai / "sam2" / SAMURAI_CONFIG).is_file():
        parser.error(f"no SAMURAI source at {samurai}")
    kalman = write_kalman_reference(samurai, args.deps.resolve(), args.out)
    print(f"wrote {kalman}")
    if args.kalman_only:
        return
    defaults = samurai_defaults(samurai)

    with tempfile.TemporaryDirectory(prefix="samurai_reference_") as tmp:
        work = Path(tmp)
        checkpoint = work / "sam2.1_hiera_tiny.pt"
        fingerprint = write_checkpoint(checkpoint)
        folder = work / "frames"
        frames = prepare_frames(folder)

        arrays: dict[str, np.ndarray] = {}
        runs: dict[str, dict] = {}
        outputs: dict[str, dict[str, np.ndarray]] = {}
        dead: list[str] = []
        for name, run in RUNS.items():
            obj = OBJECTS[run["object"]]
            out, seconds = run_predictor(
                work,
                name,
                pythonpath=[samurai, args.deps.resolve()],
                expect_sam2_under=samurai,
                config=SAMURAI_CONFIG,
                store="consolidated",
                checkpoint=checkpoint,
                frames=folder,
                box=obj["box"],
                overrides=run["overrides"],
            )
            settings = json.loads(str(out["settings"]))
            expected = {**defaults, **run["overrides"]}
            if settings != expected or json.loads(str(out["samurai_mode"])) is not True:
                raise RuntimeError(f"{name}: SAMURAI ran with {settings}, not {expected}")
            foreground, spread = liveness(out["logits"])
            live = (foreground > 0) & (foreground < 1) & (spread > 1e-3)
            print(
                f"{name}: box {obj['box']} ({obj['description']}); {seconds:.1f} s in all, "
                f"propagation {out['seconds'][2]:.1f} s; foreground "
                f"{foreground.min():.3f}-{foreground.max():.3f}, logit std "
                f"{spread.min():.4f}-{spread.max():.4f}, live on {live.sum()}/{len(live)} frames"
            )
            if not live.all():
                dead.append(f"{name}: frames {np.flatnonzero(~live).tolist()}")
            outputs[name] = out
            for key in ("logits", "best_iou", "object_score", "kf_score"):
                arrays[f"{name}/{key}"] = out[key]
            runs[name] = {
                "settings": settings,
                "overrides": run["overrides"],
                "box": obj["box"],
                "object": obj["description"],
                "foreground": [round(float(value), 6) for value in foreground],
            }
        if dead:
            raise SystemExit("dead outputs, choose other boxes:\n" + "\n".join(dead))

        if not args.no_meta:
            meta: dict[str, np.ndarray] = {}
            for key, obj in OBJECTS.items():
                out, seconds = run_predictor(
                    work,
                    f"meta_{key}",
                    pythonpath=[],
                    expect_sam2_under=Path(np.__file__).resolve().parents[1],
                    config=META_CONFIG,
                    store="per_object",
                    checkpoint=checkpoint,
                    frames=folder,
                    box=obj["box"],
                    overrides={},
                )
                meta[key] = out["logits"]
                print(f"Meta's SAM 2 on box {key}: {seconds:.1f} s")
            for name, run in RUNS.items():
                diff = np.abs(outputs[name]["logits"] - meta[run["object"]]).mean(axis=(1, 2))
                print(
                    f"{name} vs Meta: mean |logit difference| max {diff.max():.3g} "
                    f"(frame {int(diff.argmax())}), per frame "
                    + " ".join(f"{value:.1e}" for value in diff)
                )

    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "reference.npz", **arrays)
    record = {
        "samurai": samurai_provenance(samurai),
        "config": SAMURAI_CONFIG,
        "image_size": IMAGE_SIZE,
        "device": "cpu",
        "weights": {"seed": WEIGHTS_SEED, "fingerprint": fingerprint},
        "frames": {
            "source": "shared/data/bedroom",
            "count": FRAME_COUNT,
            "size": IMAGE_SIZE,
            "resize": "PIL Image.resize((size, size), Image.BILINEAR)",
            "jpeg_quality": JPEG_QUALITY,
            "pixels_sha256": pixels_sha256(frames),
        },
        "prompt": "box on frame 0 for obj_id 1, then propagate_in_video to the last frame",
        "outputs": "per frame, state['output_dict'] (SAMURAI's consolidated store, one object): "
        "pred_masks[0, 0] (64x64 low-resolution logits), best_iou_score, object_score_logits, "
        "kf_score; NaN where the entry has none (frame 0, the conditioning frame, and frames "
        "before the Kalman filter is stable)",
        "sam2_ros_commit": git_commit(),
        "runs": runs,
    }
    (args.out / "reference.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out / 'reference.npz'} and {args.out / 'reference.json'}")


if __name__ == "__main__":
    main()
