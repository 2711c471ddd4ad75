"""Topic naming as camera drivers, image_transport and rqt_image_view use it."""

from __future__ import annotations

from sam2_ros.topics import camera_info_topic, image_topic_base, is_compressed, mouse_topics


def test_an_image_topics_transports_and_siblings():
    assert image_topic_base("/cam/color/image_raw/compressed/") == "/cam/color/image_raw"
    assert image_topic_base("/cam/color/image_raw") == "/cam/color/image_raw"
    assert is_compressed("/cam/image/compressed") and not is_compressed("/cam/compressed_image")
    assert camera_info_topic("/cam/color/image_raw/compressed") == "/cam/color/camera_info"
    assert mouse_topics("/cam/image") == (
        "/cam/image_mouse_left",
        "/cam/image/compressed_mouse_left",
    )
