"""Which float precision the engine computes in.

``auto`` picks bf16 where bf16 matrix products are native: on CUDA (as Meta runs SAM 2) and on
CPUs whose ``/proc/cpuinfo`` lists ``avx512_bf16`` or ``amx_bf16`` (x86) or ``bf16`` (Arm);
elsewhere fp32, since emulated bf16 products are slower than fp32 ones.
"""

from __future__ import annotations

from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")

#: ``/proc/cpuinfo`` flags of native bf16 matrix instructions: x86 AVX-512 BF16 and AMX, Arm BF16.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")

CPUINFO = Path("/proc/cpuinfo")


def cpu_bf16_flags(cpuinfo: str) -> list[str]:
    """The native bf16 matrix-instruction flags a ``/proc/cpuinfo`` text lists (its ``flags``
    lines on x86, ``Features`` on Arm), in :data:`BF16_CPU_FLAGS` order."""
    listed: set[str] = set()
    for line in cpuinfo.splitlines():
        name, _, values = line.partition(":")
        if name.strip().lower() in ("flags", "features"):
            listed.update(values.split())
    return [flag for flag in BF16_CPU_FLAGS if flag in listed]


def read_cpuinfo() -> str:
    """This machine's ``/proc/cpuinfo`` ("" where there is none)."""
    try:
        return CPUINFO.read_text()
    except OSError:
        return ""


def choose_precision(
    requested: str, device: torch.device, cpuinfo: str | None = None
) -> tuple[str, str]:
    """The precision in effect (``"bf16"`` or ``"fp32"``) for ``requested`` (one of
    :data:`PRECISIONS`) on ``device``, and a one-line reason. ``cpuinfo`` is the text of
    ``/proc/cpuinfo`` (read from this machine when None)."""
    if requested == "fp32":
        return "fp32", "fp32: requested"
    if device.type == "cuda":
        return "bf16", "bf16: CUDA" if requested == "auto" else "bf16: requested"
    flags = cpu_bf16_flags(read_cpuinfo() if cpuinfo is None else cpuinfo)
    missing = (
        "CPU has no native bf16 matrix instructions "
        f"({'/'.join(BF16_CPU_FLAGS)} not in /proc/cpuinfo)"
    )
    if requested == "bf16":
        return "bf16", "bf16: requested" + ("" if flags else f" although the {missing}: slow")
    if flags:
        return "bf16", f"bf16: CPU has {', '.join(flags)}"
    return "fp32", f"fp32: {missing}"
