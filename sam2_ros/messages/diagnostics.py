"""``/diagnostics``: a camera's statistics, and where the node process spends its CPU, as
``diagnostic_msgs/DiagnosticStatus`` entries."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from sam2_ros.runtime.statistics import CameraSnapshot


def camera_status(
    node_name: str,
    camera: str,
    device: str,
    precision: str,
    snap: CameraSnapshot,
    backend: str = "torch",
) -> DiagnosticStatus:
    """A DiagnosticStatus for one camera (WARN while no frames arrive); ``backend``: what runs
    SAM 2 (for ONNX Runtime its providers)."""
    values = {
        "fps": f"{snap.fps:.2f}",
        "received_fps": f"{snap.received_fps:.2f}",
        "latency_p50_ms": f"{snap.latency_p50_ms:.1f}",
        "latency_p95_ms": f"{snap.latency_p95_ms:.1f}",
        "engine_p50_ms": f"{snap.engine_p50_ms:.1f}",
        "events": str(snap.events),
        "events_ms_per_frame": f"{snap.events_ms_per_frame:.4f}",
        "engine_fps": f"{1000.0 / snap.engine_p50_ms if snap.engine_p50_ms else 0.0:.2f}",
        "frames_processed": str(snap.frames),
        "frames_skipped": str(snap.skipped),
        "bad_frames": str(snap.bad_frames),
        "objects": str(snap.objects),
        "memory_bank_bytes": str(snap.memory_bytes),
        "frames_without_depth": str(snap.frames_without_depth),
        "time_jumps": str(snap.time_jumps),
        "clicks_dropped": str(snap.clicks_dropped),
        "detection_messages": str(snap.detections.messages),
        "detection_messages_applied": str(snap.detections.applied),
        "detections_matched": str(snap.detections.matched),
        "detections_started": str(snap.detections.started),
        "detections_reconditioned": str(snap.detections.reconditioned),
        "objects_forgotten": str(snap.detections.forgotten),
        "objects_confirmed": str(snap.detections.confirmed),
        "objects_unconfirmed_removed": str(snap.detections.unconfirmed),
        "duplicates_removed": str(snap.detections.duplicates),
        "detections_dropped": str(snap.detections.dropped.total()),
        "detections_dropped_by_reason": "; ".join(
            f"{reason}: {count}" for reason, count in sorted(snap.detections.dropped.items())
        ),
        "device": device,
        "precision": precision,
        "backend": backend,
    }
    healthy = snap.fps > 0.0 and not snap.input_problem
    if snap.input_problem:
        message = snap.input_problem
    else:
        message = "tracking" if healthy else "no frames processed in the last 5 s"
    return DiagnosticStatus(
        level=DiagnosticStatus.OK if healthy else DiagnosticStatus.WARN,
        name=f"{node_name}: {camera}",
        message=message,
        hardware_id=device,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )


def process_status(node_name: str, cores_by_role: dict[str, float], rss: int) -> DiagnosticStatus:
    """A DiagnosticStatus for the node process: CPU used per thread role since the last report
    (cores: 1.0 is one core busy), in total, and resident memory."""
    values = {f"cpu_{role}": f"{cores:.3f}" for role, cores in sorted(cores_by_role.items())}
    values["cpu_total"] = f"{sum(cores_by_role.values()):.3f}"
    values["rss_bytes"] = str(rss)
    return DiagnosticStatus(
        level=DiagnosticStatus.OK,
        name=f"{node_name}: process",
        message="CPU by thread role, in cores",
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
