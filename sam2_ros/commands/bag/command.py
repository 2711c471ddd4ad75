"""``sam2-ros bag``: run the engine over every frame of a recorded bag and write a bag of results.

Reads ROS 2 bags (sqlite3 ``.db3`` or ``.mcap``) with ``rosbags``; writes ``/sam2/<camera>/masks``,
``/occlusion``, ``/object_pointers``, ``/label_image`` and ``/detections``, one message per input
frame, stamped with the input header and logged at the input's bag time. The messages are built
by the same conversions the node uses and serialised with rclpy, so a replay through the live node
and this tool produce the same bytes for the same frames. Prompts come from a prompts file, and a
recorded detector stream (``--detections-topic``) drives objects as it does in the node.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sam2_ros.commands.bag import replay
from sam2_ros.commands.bag.annotate import annotate, load_bag_model
from sam2_ros.commands.bag.bag_io import RUN_ERRORS
from sam2_ros.commands.bag.options import (
    ReplaySettings,
    add_options,
    add_replay_arguments,
    read_bag_settings,
    read_replay_settings,
)
from sam2_ros.commands.bag.output_record import settings_hash


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sam2-ros bag``."""
    parser.add_argument("input", type=Path, help="input ROS 2 bag (folder, .db3 or .mcap)")
    parser.add_argument("output", type=Path, help="output bag folder (must not exist)")
    add_options(parser, image_topic_required=False)
    add_replay_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Process the bag; 0 on success, 1 with a message on failure (and no partial output)."""
    if args.output.exists():
        print(f"sam2-ros bag: {args.output} exists already; choose a new output path")
        return 1
    if getattr(args, "replay", False):
        if args.image_topic:
            print("sam2-ros bag: --replay takes the cameras from the recording: no --image-topic")
            return 2
        return _replay(read_replay_settings(args), args.input, args.output)
    if not args.image_topic:
        print("sam2-ros bag: the following arguments are required: --image-topic")
        return 2
    try:
        settings = read_bag_settings(args)  # bad values stop the run before the model loads
        model = load_bag_model(settings)
        summary = annotate(settings, model, args.input, args.output, settings_hash(settings))
    except RUN_ERRORS as err:
        if args.output.exists():
            shutil.rmtree(args.output)
        print(f"sam2-ros bag: {err}\nno output written")
        return 1
    topics = ", ".join(summary["topics"])
    print(f"sam2-ros bag: {summary_text(summary)}; wrote {args.output} ({topics})")
    return 0


def _replay(settings: ReplaySettings, source: Path, output: Path) -> int:
    """``--replay``: the recorded session tracked again and compared (``replay.report``)."""
    try:
        comparisons = replay.replay(settings, source, output)
    except (*RUN_ERRORS, LookupError) as err:
        if output.exists():
            shutil.rmtree(output)
        print(f"sam2-ros bag: {err}\nno output written")
        return 1
    return replay.report(settings, comparisons)


def summary_text(summary: dict) -> str:
    """Frames, rate against the engine, skipped frames and objects of each camera of a run."""
    seconds = max(summary["seconds"], 1e-9)
    engine = sum(camera["engine_seconds"] for camera in summary["cameras"].values())
    return "; ".join(
        f"{c['frames']} frames of {c['image_topic']} in {seconds:.1f} s "
        f"({c['frames'] / seconds:.2f} fps; its engine: "
        f"{c['frames'] / max(c['engine_seconds'], 1e-9):.2f} fps, so the tool delivered "
        f"{engine / seconds:.2f} of it), {c['skipped']} corrupt frames skipped, "
        f"objects {c['objects']}{c['detections']}"
        for c in summary["cameras"].values()
    )
