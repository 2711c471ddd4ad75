"""sam2_ros: streaming SAM 2 video segmentation for ROS 2.

The generated interfaces (``sam2_ros.msg``, ``sam2_ros.srv``) are installed by the CMake build,
possibly into a different directory than these modules (a source checkout on ``sys.path``, or a
separate install prefix); extending ``__path__`` lets both halves resolve as one package.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
