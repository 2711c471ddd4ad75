"""The glibc heap settings, observed through glibc's own statistics in a fresh process each."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the heap settings are glibc's"
)

#: Allocates eight 8 MiB blocks through malloc and reports glibc's statistics (mallinfo2) while
#: they are held, after they are freed, and after ``release_free_memory``.
PROBE = """
import ctypes, json, sys
from sam2_ros.runtime import heap

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
settings = heap.steady_heap() if sys.argv[1] == "steady" else heap.heap_settings()

def info():
    found = libc.mallinfo2()
    return {"heap": found.arena, "used": found.uordblks, "mapped": found.hblkhd}

before = info()
blocks = [libc.malloc(8 << 20) for _ in range(8)]
for block in blocks:
    ctypes.memset(block, 1, 8 << 20)
held = info()
for block in blocks:
    libc.free(block)
freed = info()
released = heap.release_free_memory()
print(json.dumps({"settings": settings, "before": before, "held": held, "freed": freed,
                  "released": released, "trimmed": info()}))
"""

MIB = 1 << 20


def _probe(mode: str, **environment: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env=env | environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_glibc_defaults_map_large_blocks_and_trim_the_heap():
    found = _probe("defaults")
    assert found["settings"] == "glibc heap defaults"
    assert found["held"]["mapped"] - found["before"]["mapped"] >= 64 * MIB


def test_steady_heap_keeps_blocks_in_the_heap_until_released():
    found = _probe("steady")
    assert found["settings"] == "glibc heap: mmap threshold 32 MiB, no trimming"
    assert found["held"]["mapped"] == found["before"]["mapped"]
    # in the heap: its blocks in use grew by all eight (its size by that less what was free)
    assert found["held"]["used"] - found["before"]["used"] >= 64 * MIB
    # freeing keeps the memory for the next frame; releasing hands it back
    assert found["freed"]["heap"] == found["held"]["heap"]
    assert found["released"]
    assert found["held"]["heap"] - found["trimmed"]["heap"] >= 64 * MIB


@pytest.mark.parametrize(
    "name, value",
    [
        ("MALLOC_TRIM_THRESHOLD_", "131072"),
        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072"),
    ],
)
def test_the_environment_takes_precedence(name, value):
    found = _probe("steady", **{name: value})
    assert found["settings"] == f"glibc heap as set by {name}"
    assert found["held"]["mapped"] - found["before"]["mapped"] >= 64 * MIB
