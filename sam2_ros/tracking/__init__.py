"""The node's tracking decisions, without ROS: which tracked frame a stamp names
(``frame_stamps``), detections against tracked objects (``association``, ``mask_overlap``,
``detections``), two objects on one region (``duplicates``), which depth image pairs with a frame
(``depth_pairing``), where saved objects live (``object_store``) and one camera's session
(``camera_session``). Everything here is tested without a ROS graph."""
