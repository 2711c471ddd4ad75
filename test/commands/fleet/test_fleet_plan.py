"""Planning a fleet run: which inputs are bags, output names, what is done, atomic outputs."""

from __future__ import annotations

from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer

from sam2_ros.commands.bag.output_record import output_custom_data, read_output_record
from sam2_ros.commands.fleet.plan import (
    PARTIAL_PREFIX,
    BagJob,
    find_bags,
    plan,
    publish,
    remove_partials,
)


def _bag(path: Path, custom: dict | None = None) -> Path:
    """An empty rosbag2 folder, carrying ``custom`` as this tool's record."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for key, value in output_custom_data(custom or {}).items():
            writer.set_custom_data(key, value)
    return path


def test_inputs_are_bags_or_folders_searched_for_them(tmp_path):
    folder_bag = _bag(tmp_path / "fleet" / "run_1")
    (tmp_path / "fleet" / "day2").mkdir()
    bare = tmp_path / "fleet" / "day2" / "run_2.mcap"
    bare.write_bytes(next(folder_bag.glob("*.mcap")).read_bytes())
    db3 = tmp_path / "fleet" / "run_3.db3"
    db3.write_bytes(b"")
    (tmp_path / "fleet" / "notes.txt").write_text("not a bag")
    (tmp_path / "empty").mkdir()
    _bag(tmp_path / "fleet" / "annotated" / "run_1_sam2")  # an earlier run's output folder
    bags, unusable = find_bags(
        [tmp_path / "fleet", folder_bag, tmp_path / "missing", tmp_path / "empty"],
        outputs=tmp_path / "fleet" / "annotated",
    )
    assert bags == [tmp_path / "fleet" / "day2" / "run_2.mcap", folder_bag, db3]
    assert [(path.name, why.split()[0]) for path, why in unusable] == [
        ("missing", "does"),
        ("empty", "holds"),
    ]


def test_outputs_are_named_after_inputs_and_collisions_numbered(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    a, b, c = tmp_path / "a" / "run.mcap", tmp_path / "b" / "run.mcap", tmp_path / "x.db3"
    jobs, skipped = plan([a, b, c], out, "hash", redo=False)
    assert [job.output.name for job in jobs] == ["run_sam2", "run_2_sam2", "x_sam2"]
    assert not skipped and not any(job.replace for job in jobs)


def test_done_outputs_are_skipped_and_others_redone(tmp_path):
    out = tmp_path / "out"
    a, b = tmp_path / "a" / "run.mcap", tmp_path / "b" / "run.mcap"
    _bag(out / "run_sam2", {"input": str(b), "settings_hash": "old", "frames": {"camera": 3}})
    _bag(out / "run_2_sam2", {"input": str(a), "settings_hash": "new"})
    (out / "x_sam2").mkdir()  # not a bag of this tool: never overwritten
    x = tmp_path / "x.mcap"
    jobs, skipped = plan([a, b, x], out, "new", redo=False)
    assert [(job.input, job.output.name) for job, _ in skipped] == [(a, "run_2_sam2")]
    assert [(job.input, job.output.name, job.replace) for job in jobs] == [
        (b, "run_sam2", True),
        (x, "x_2_sam2", False),
    ]
    assert read_output_record(out / "run_sam2")["frames"] == {"camera": 3}
    jobs, skipped = plan([a], out, "new", redo=True)
    assert not skipped and jobs == [BagJob(a, out / "run_2_sam2", replace=True)]


def test_publishing_renames_a_complete_bag_into_place(tmp_path):
    attempt = tmp_path / f"{PARTIAL_PREFIX}host-1-abc"
    attempt.mkdir()
    old = _bag(tmp_path / "run_sam2", {"input": "i", "settings_hash": "old"})
    written = _bag(attempt / "run_sam2", {"input": "i", "settings_hash": "new"})
    publish(written, old)
    assert read_output_record(tmp_path / "run_sam2")["settings_hash"] == "new"
    (tmp_path / f"{PARTIAL_PREFIX}host-2-def").mkdir()
    assert [p.name for p in remove_partials(tmp_path)] == [
        f"{PARTIAL_PREFIX}host-1-abc",
        f"{PARTIAL_PREFIX}host-2-def",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_sam2"]
