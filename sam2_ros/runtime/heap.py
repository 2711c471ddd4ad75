"""glibc heap settings for a process that tracks frame after frame (no ROS imports).

Every frame allocates and frees the same working set: activations, the features that enter the
prompt history and those that leave it. glibc's defaults keep adapting to it: the mmap threshold
starts at 128 KiB and rises whenever a larger mapped block is freed, and the top of the heap is
handed back to the system whenever more than twice that threshold is free there. The heap's
layout therefore keeps changing long after the working set has stopped changing, and resident
memory creeps and jumps by megabytes that hold nothing (doc/performance.md, "The steady heap").

:func:`steady_heap` fixes the threshold at 32 MiB, the ceiling glibc's own adaptation moves
towards, and stops trimming: every frame then reuses the same heap, and resident memory stays at
the high-water mark it reaches in the first frames. Freed memory is handed back explicitly with
:func:`release_free_memory` when the model is released. Settings made with glibc's environment
variables (``MALLOC_*_``, ``GLIBC_TUNABLES``) take precedence: the heap is then left as they say.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: glibc's ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks from this size up are mapped on their own (and unmapped when freed).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: glibc's environment settings of the heap: a user who sets one has chosen.
ENVIRONMENT = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "MALLOC_ARENA_MAX",
)

_settings = "glibc heap defaults"


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL("libc.so.6")


def steady_heap() -> str:
    """Fix glibc's heap for steady tracking, unless the environment configures it; a line that
    says what the heap runs with (also :func:`heap_settings`)."""
    global _settings
    chosen = [name for name in ENVIRONMENT if name in os.environ]
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        chosen.append("GLIBC_TUNABLES")
    libc = _glibc()
    if chosen:
        _settings = f"glibc heap as set by {', '.join(chosen)}"
    elif libc is None:
        _settings = f"{platform.system()} allocator defaults (not glibc)"
    elif libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, -1):
        _settings = f"glibc heap: mmap threshold {MMAP_THRESHOLD >> 20} MiB, no trimming"
    else:
        _settings = "glibc heap defaults (mallopt refused the steady settings)"
    return _settings


def heap_settings() -> str:
    """What the heap runs with: glibc's defaults until :func:`steady_heap` has run."""
    return _settings


def release_free_memory() -> bool:
    """Hand the heap's free memory back to the system (glibc ``malloc_trim``); whether any was."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
