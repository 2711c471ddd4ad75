"""A camera's detector: its ``vision_msgs/Detection2DArray`` messages, which start, confirm and
retire the camera's objects (:mod:`sam2_ros.tracking.detections`, driven by the camera's session),
converted and counted as they arrive, and what each did logged and counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sam2_ros.messages.detections import detection_message
from sam2_ros.runtime.statistics import CameraStatistics
from sam2_ros.tracking.association import (
    IGNORED_CLASS,
    IGNORED_LOW_SCORE,
    SKIPPED_MAX_OBJECTS,
    AssociationSettings,
)
from sam2_ros.tracking.detections import DetectionMessage, DetectionOutcome
from sam2_ros.tracking.duplicates import Duplicate, duplicate_text
from sam2_ros.tracking.frame_stamps import stamp_text

#: Seconds between two log lines saying that max_objects kept detections from starting objects.
FULL_LOG_PERIOD_S = 60.0
#: Reasons for not using a detection that are the detector's normal output, not a problem.
NOT_WORTH_A_WARNING = {IGNORED_CLASS, IGNORED_LOW_SCORE, SKIPPED_MAX_OBJECTS}


class CameraDetector:
    """The detection input of one camera."""

    def __init__(
        self,
        camera: str,
        stats: CameraStatistics,
        info: Callable[[str], None],
        log_problem: Callable[[str, bool], None],
        settings: AssociationSettings,
    ) -> None:
        self._camera, self._stats, self._info, self._log_problem = camera, stats, info, log_problem
        self._settings = settings
        self._full_logged = float("-inf")

    def on_message(self, msg: Any) -> DetectionMessage:
        """A detection message arrived (subscription callback): counted, converted."""
        self._stats.record_detection_message()
        return detection_message(msg)

    def duplicate(self, duplicate: Duplicate) -> None:
        """One of two objects on one region was removed (tracking thread): logged, counted."""
        self._stats.record_duplicate()
        self._info(f"camera {self._camera}: {duplicate_text(duplicate)}")

    def report(self, outcome: DetectionOutcome) -> None:
        """What a message did (or why it was dropped): logged, counted."""
        self._stats.record_detections(outcome)
        where = f"camera {self._camera}: detections stamped {stamp_text(outcome.stamp)}"
        if outcome.problem:
            self._log_problem(f"{where} dropped: {outcome.problem}", False)
            return
        for change in outcome.changes(self._settings):
            self._info(f"{where} {change}")
        problems = {r: n for r, n in outcome.dropped.items() if r not in NOT_WORTH_A_WARNING}
        if problems:
            reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(problems.items()))
            self._log_problem(f"{where}: detections not used ({reasons})", False)
        full = outcome.dropped.get(SKIPPED_MAX_OBJECTS, 0)
        if full and time.monotonic() - self._full_logged >= FULL_LOG_PERIOD_S:
            self._full_logged = time.monotonic()
            self._log_problem(
                f"camera {self._camera}: {full} detection(s) started no object: already tracking "
                f"max_objects={self._settings.max_objects} (said once a minute; counted "
                "on /diagnostics)",
                False,
            )
