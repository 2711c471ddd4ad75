"""QoS of the node's input subscriptions: matching a camera's reliability, explaining mismatches.

Camera drivers differ: many publish images best effort, others reliably. Under default DDS
settings a best-effort subscription loses camera-sized images that a reliable one receives, and a
reliable subscription never connects to a best-effort publisher. These pure functions decide the
subscription QoS from the publishers discovered on a topic and word the problems for users.
"""

from __future__ import annotations

from collections.abc import Sequence

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSCompatibility,
    QoSProfile,
    ReliabilityPolicy,
    qos_check_compatible,
)

#: Seconds a subscription may be matched to a publisher without receiving anything before the
#: node warns that the messages are being lost on the way.
NO_FRAMES_WARNING_S = 5.0

_RELIABILITY_NAMES = {
    ReliabilityPolicy.RELIABLE: "reliable",
    ReliabilityPolicy.BEST_EFFORT: "best effort",
}
_DURABILITY_NAMES = {
    DurabilityPolicy.VOLATILE: "volatile",
    DurabilityPolicy.TRANSIENT_LOCAL: "transient local",
}


def image_qos(
    reliability: str, drop_frames: bool, queue_size: int, offered: Sequence[QoSProfile]
) -> QoSProfile:
    """The QoS to subscribe a camera's images with.

    ``drop_frames`` false: reliable, keep the last ``queue_size`` (every frame, in order).
    Otherwise keep only the newest frame, with ``reliability`` ``"reliable"``, ``"best_effort"``,
    or ``"auto"``: reliable when every publisher in ``offered`` offers reliable (so large images
    are repaired rather than lost), best effort when any does not or none is known yet (best
    effort connects to every publisher).
    """
    if not drop_frames:
        return QoSProfile(
            depth=queue_size,
            history=HistoryPolicy.KEEP_LAST,
            reliability=ReliabilityPolicy.RELIABLE,
        )
    if reliability == "auto":
        all_reliable = bool(offered) and all(
            p.reliability == ReliabilityPolicy.RELIABLE for p in offered
        )
        reliability = "reliable" if all_reliable else "best_effort"
    policy = (
        ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    )
    return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=policy)


def describe(profile: QoSProfile) -> str:
    """``reliability <r>, durability <d>`` of a profile, in words."""
    reliability = _RELIABILITY_NAMES.get(profile.reliability, profile.reliability.name.lower())
    durability = _DURABILITY_NAMES.get(profile.durability, profile.durability.name.lower())
    return f"reliability {reliability}, durability {durability}"


def incompatible_publishers(
    requested: QoSProfile, offered: Sequence[QoSProfile]
) -> list[QoSProfile]:
    """The offered profiles that cannot connect to a subscription with ``requested``."""
    return [
        profile
        for profile in offered
        if qos_check_compatible(profile, requested)[0] == QoSCompatibility.ERROR
    ]


def mismatch_message(
    topic: str, requested: QoSProfile, incompatible: Sequence[QoSProfile], fix: str
) -> str:
    """One line naming the topic, what its publishers offer, what is requested, and the fix."""
    offers = sorted({describe(p) for p in incompatible})
    return (
        f"QoS mismatch on {topic}: {len(incompatible)} publisher(s) offer "
        f"{' / '.join(offers)} but this node requests {describe(requested)}, so nothing is "
        f"received; {fix}"
    )


def image_mismatch_fix(drop_frames: bool) -> str:
    """How to fix an image subscription that no publisher can connect to."""
    if not drop_frames:
        return (
            "set drop_frames: true (its image_reliability auto follows the camera) or make the "
            "camera publish reliably"
        )
    return "set image_reliability: auto (or best_effort) or make the camera publish reliably"


def no_frames_message(topic: str, requested: QoSProfile, publishers: int, seconds: float) -> str:
    """Why a matched image subscription may receive nothing, and what to do about it."""
    return (
        f"no frame on {topic} for {seconds:.0f} s although {publishers} publisher(s) are "
        f"connected ({describe(requested)}): DDS is most likely dropping camera-sized images "
        "(best-effort samples larger than Fast DDS's 512 KiB shared-memory segment go over UDP "
        "and are lost when fragments overflow). Fixes: start the camera driver with "
        "FASTDDS_DEFAULT_PROFILES_FILE=<sam2_ros share>/config/fastdds_large_images.xml, or "
        "export FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA for the camera and this node, or make the "
        "camera publish reliably (image_reliability: auto then subscribes reliably)"
    )
