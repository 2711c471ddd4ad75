"""A bag annotated: its cameras' messages read in bag order, each camera tracked by its own
predictor over one loaded model, the results bag written with the record of the run in its
metadata. ``sam2-ros bag`` annotates one bag; ``sam2-ros bags``' workers annotate many with one
model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sam2_ros.commands.bag.bag_io import (
    CAMERA_INFO_TYPE,
    DETECTIONS_TYPE,
    IMAGE_TYPES,
    BagError,
    open_reader,
    open_writer,
    sam2_ros_typestore,
)
from sam2_ros.commands.bag.camera_run import CameraRun
from sam2_ros.commands.bag.cameras import BagCamera
from sam2_ros.commands.bag.options import BagSettings
from sam2_ros.commands.bag.output_record import output_custom_data
from sam2_ros.commands.bag.prompts import BagPrompt, load_prompts, prompts_for
from sam2_ros.engine import Sam2Model, StreamingPredictor, load_model


def load_bag_model(settings: BagSettings) -> Sam2Model:
    """The model of the settings, loaded once for every camera (and, in ``bags``, every bag)."""
    return load_model(settings.engine)


def annotate(
    settings: BagSettings, model: Sam2Model, source: Path, output: Path, digest: str
) -> dict:
    """Track every frame of each camera of ``source`` in order, each camera by its own
    predictor over ``model``, and write the results bag ``output``; its metadata records the
    run and its settings hash ``digest``
    (:func:`~sam2_ros.commands.bag.output_record.read_output_record`)."""
    started = time.perf_counter()
    names = [camera.name for camera in settings.cameras]
    prompts = load_prompts(settings.prompts) if settings.prompts else []
    typestore = sam2_ros_typestore()
    reader = open_reader(source, typestore)
    try:
        routes = {c.name: _camera_connections(source, reader, c) for c in settings.cameras}
        with open_writer(output, settings.storage) as writer:
            runs = [
                CameraRun(
                    settings,
                    camera,
                    StreamingPredictor(settings.engine, model=model),
                    prompts_for(prompts, camera.name, names),
                    writer,
                    typestore,
                )
                for camera in settings.cameras
            ]
            _read(source, reader, _handlers(runs, routes))
            counts = {camera_run.camera.name: camera_run.finish() for camera_run in runs}
            record = _record(source, digest, model, prompts, counts)
            for key, value in output_custom_data(record).items():
                writer.set_custom_data(key, value)
            topics = [c.topic for camera_run in runs for c in camera_run.outputs.values()]
    finally:
        reader.close()
    return {
        "cameras": counts,
        "topics": topics,
        "record": record,
        "seconds": time.perf_counter() - started,
    }


def _read(source: Path, reader: Any, handlers: dict[int, list[tuple[CameraRun, str]]]) -> None:
    """Every message the cameras take, in bag order, to each camera that takes it."""
    connections = [c for c in reader.connections if c.id in handlers]
    for connection, timestamp, rawdata in tqdm(
        reader.messages(connections=connections),
        total=sum(c.msgcount for c in connections),
        desc=f"sam2-ros bag {source.name}",
        unit="msg",
        disable=None,
        leave=False,
    ):
        for camera_run, kind in handlers[connection.id]:
            camera_run.message(kind, reader, connection, timestamp, rawdata)


def _record(
    source: Path, digest: str, model: Sam2Model, prompts: list[BagPrompt], counts: dict
) -> dict[str, Any]:
    """What the output bag records of the run (BagError when a prompt never applied)."""
    missing = [p.entry for p in prompts if not p.applied]
    if missing:
        raise BagError(f"prompts file entries {missing} name frames or times not in the bag")
    return {
        "input": str(source.resolve()),
        "settings_hash": digest,
        "weights_fingerprint": model.weights_fingerprint(),
        "frames": {name: count["frames"] for name, count in counts.items()},
        "objects": {name: count["objects"] for name, count in counts.items()},
    }


def _handlers(
    runs: list[CameraRun], routes: dict[str, dict[str, list]]
) -> dict[int, list[tuple[CameraRun, str]]]:
    """Which cameras take each connection's messages, and as what (a topic may serve several
    cameras, e.g. a shared CameraInfo)."""
    handlers: dict[int, list[tuple[CameraRun, str]]] = {}
    for camera_run in runs:
        for kind, connections in routes[camera_run.camera.name].items():
            for connection in connections:
                handlers.setdefault(connection.id, []).append((camera_run, kind))
    return handlers


def _connections(source: Path, reader: Any, topic: str, msgtypes: tuple) -> list:
    """The bag's connections of ``topic`` with one of ``msgtypes`` (BagError naming the topics of
    those types there)."""
    found = [c for c in reader.connections if c.topic == topic and c.msgtype in msgtypes]
    if not found:
        there = sorted({c.topic for c in reader.connections if c.msgtype in msgtypes})
        kinds = " or ".join(t.rsplit("/", 1)[-1] for t in msgtypes)
        raise BagError(
            f"topic {topic} with {kinds} messages is not in {source}; "
            f"{kinds} topics there: {there or 'none'}"
        )
    return found


def _camera_connections(source: Path, reader: Any, camera: BagCamera) -> dict[str, list]:
    """A camera's connections by what they carry: ``image``, ``depth``, ``detections``."""
    routes = {"image": _connections(source, reader, camera.image_topic, IMAGE_TYPES)}
    if camera.depth_topic:
        routes["depth"] = _connections(
            source, reader, camera.depth_topic, IMAGE_TYPES[:1]
        ) + _connections(source, reader, camera.info_topic, (CAMERA_INFO_TYPE,))
    if camera.detections_topic:
        routes["detections"] = _connections(
            source, reader, camera.detections_topic, (DETECTIONS_TYPE,)
        )
    return routes
