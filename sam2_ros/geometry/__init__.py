"""3D geometry of tracked objects, numpy only (no ROS, no torch): masks and registered depth
lifted into the camera frame, points projected into the image."""
