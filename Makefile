# sam2_ros: the two commands are `make demo` and `make test`; both set themselves up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# ROS 2 distribution of the pip environment: kilted (default, .venv) or jazzy (.venv-jazzy).
ROS_DISTRO ?= kilted
ifeq ($(ROS_DISTRO),kilted)
VENV ?= .venv
ROS_REQUIREMENTS := requirements-ros-wheels.txt
else ifeq ($(ROS_DISTRO),jazzy)
VENV ?= .venv-jazzy
ROS_REQUIREMENTS := requirements-ros-wheels-jazzy.txt
else
$(error ROS_DISTRO=$(ROS_DISTRO): the pip environment exists for kilted (default) and jazzy; \
	on a ROS 2 install build with colcon instead (README, "Install on a robot"))
endif
PYTHON ?= python3
VPY := $(abspath $(VENV))/bin/python
BUILD_DIR := build/cmake-$(ROS_DISTRO)
DEPS_STAMP := $(VENV)/.sam2_ros-deps
PKG_STAMP := $(VENV)/.sam2_ros-package
VISION_MSGS_STAMP := $(VENV)/.sam2_ros-vision_msgs
VISION_MSGS_BUILD_DIR := build/vision_msgs-$(ROS_DISTRO)
VISION_MSGS_SOURCES := $(wildcard interfaces/vision_msgs/msg/*.msg) \
	interfaces/vision_msgs/CMakeLists.txt interfaces/vision_msgs/package.xml
PKG_SOURCES := $(shell find sam2_ros msg srv launch config model -type f \
	-not -name '*.pyc' -not -path '*/__pycache__/*' 2>/dev/null) CMakeLists.txt package.xml setup.py

# CPU torch unless a GPU is visible (the CUDA build comes from the package index, not the local file).
TORCH_SPEC ?= torch==2.13.0
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)

# Configure, build and install a CMake package with plain CMake, the venv being both the ROS prefix
# and the install prefix: $(call venv_cmake,<source dir>,<build dir>). One shell command (&&).
venv_cmake = CMAKE_PREFIX_PATH=$(abspath $(VENV)) AMENT_PREFIX_PATH=$(abspath $(VENV)) \
	cmake -S $(1) -B $(2) -DCMAKE_INSTALL_PREFIX=$(abspath $(VENV)) \
	-DPython3_EXECUTABLE=$(VPY) -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release --log-level=WARNING \
	&& cmake --build $(2) -j2 && cmake --install $(2) > /dev/null

.PHONY: help setup test demo bench lint docs clean

help:
	@echo "make demo   run sam2_ros on a generated camera stream (writes demo_output/)"
	@echo "make test   run the test suite"
	@echo "make setup  create $(VENV) and build/install the package into it (idempotent)"
	@echo "            ROS_DISTRO=jazzy: the same with ROS 2 Jazzy wheels in .venv-jazzy"
	@echo "make bench  benchmark the engine against the official SAM 2 predictor"
	@echo "make lint   ruff"
	@echo "make docs   build the documentation site with rosdoc2 (build/docs/site/sam2_ros/index.html)"

setup: $(PKG_STAMP)

$(DEPS_STAMP): requirements.txt $(ROS_REQUIREMENTS) tools/fix_ros_wheel_cmake.py
	@echo ">> creating $(VENV) (ROS 2 $(ROS_DISTRO)) and installing pinned dependencies"
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade "pip==25.3" "setuptools==80.9.0"
ifeq ($(HAS_GPU),yes)
	PIP_FIND_LINKS= $(VPY) -m pip install --quiet "$(TORCH_SPEC)"
else
	$(VPY) -m pip install --quiet "$(TORCH_SPEC)"
endif
	$(VPY) -m pip install --quiet -r $(ROS_REQUIREMENTS) -r requirements.txt
	SAM2_BUILD_CUDA=0 $(VPY) -m pip install --quiet --no-deps "sam2==1.1.0" "trackeval==1.3.0"
	$(VPY) tools/fix_ros_wheel_cmake.py
	touch $@

# vision_msgs has no wheel: build our field-for-field copy (interfaces/README.md) into the venv unless
# a vision_msgs that is not that copy is importable there; a copy installed earlier is rebuilt.
$(VISION_MSGS_STAMP): $(DEPS_STAMP) $(VISION_MSGS_SOURCES)
	if $(VPY) -c "from vision_msgs.msg import Detection2DArray" 2>/dev/null \
			&& ! grep -qs sam2_ros $(VENV)/share/vision_msgs/package.xml; then \
		echo ">> vision_msgs is importable in $(VENV): not building interfaces/vision_msgs"; \
	else \
		echo ">> building and installing interfaces/vision_msgs (vision_msgs 4.1.1 subset) into $(VENV)"; \
		$(call venv_cmake,interfaces/vision_msgs,$(VISION_MSGS_BUILD_DIR)) \
			&& $(VPY) -c "from vision_msgs.msg import Detection2DArray, Detection3DArray"; \
	fi
	touch $@

# vision_msgs is a run-time dependency only (order-only: rebuilding it does not rebuild the package).
$(PKG_STAMP): $(DEPS_STAMP) $(PKG_SOURCES) | $(VISION_MSGS_STAMP)
	@echo ">> building and installing sam2_ros (interfaces + Python package) into $(VENV)"
	$(call venv_cmake,.,$(BUILD_DIR))
	# --ignore-installed: rosidl registered the generated half of `sam2_ros` as an egg; pip must
	# not "upgrade" it away (that would delete msg/ and srv/), only add the modules and commands.
	# setuptools' build/lib would keep modules deleted or moved since the last build: start afresh.
	rm -rf build/lib build/bdist.*
	$(VPY) -m pip install --quiet --no-deps --no-build-isolation --no-index --ignore-installed .
	$(VPY) -c "from sam2_ros.msg import ObjectMasks; from sam2_ros.srv import AddPrompt; import sam2_ros.engine"
	touch $@

test: setup
	$(VENV)/bin/python -m pytest test/

demo: setup
	$(VENV)/bin/sam2-ros demo

bench: setup
	$(VENV)/bin/sam2-ros bench --compare-official

# The site as docs.ros.org builds it (rosdoc2), failing on any warning: tools/build_docs.py.
docs: setup
	$(VPY) tools/build_docs.py

lint: setup
	$(VENV)/bin/ruff check sam2_ros test tools launch setup.py
	$(VENV)/bin/ruff format --check sam2_ros test tools launch setup.py

clean:
	rm -rf build .venv .venv-jazzy demo_output *.egg-info
