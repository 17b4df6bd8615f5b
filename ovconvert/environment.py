"""Where a run happened: the CPU (its model and the instruction-set flags that decide which precisions
OpenVINO runs natively) and the versions of everything that shaped the IR.

The flags matter because OpenVINO's CPU plugin picks its default inference precision from them: bf16 on
CPUs with avx512_bf16 or AMX, f32 elsewhere. A report that does not say which CPU it ran on cannot be
compared with one from another machine.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from importlib import metadata
from pathlib import Path

# The flags that change what OpenVINO's CPU plugin does: vector width, int8 dot products (VNNI),
# native bf16 (avx512_bf16, AMX) and native f16 (AMX-FP16, avx512_fp16).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")
# oneDNN's cap on the instruction sets it uses (OpenVINO's CPU plugin and TensorFlow both honour it):
# ONEDNN_MAX_CPU_ISA=AVX2 on an AMX Xeon gives AVX2 kernels and an f32 default, which is how CI checks
# the AVX2 behaviour on a bf16 machine (docs/ci.md). The flags alone would then tell the wrong story.
ISA_LIMIT_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
PACKAGES = ("ovconvert", "openvino", "openvino-dev", "tensorflow", "numpy", "nncf")


@lru_cache(maxsize=1)
def cpu() -> dict:
    """{"name": "Intel(R) Xeon(R) …", "flags": ["avx2", …]} from /proc/cpuinfo (Linux); elsewhere the
    platform's processor name and no flags. With "isa_limit": "AVX2" when oneDNN is capped below what
    the flags say."""
    name, flags = "", set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    found = {"name": name or platform.processor() or platform.machine(),
             "flags": [flag for flag in ISA_FLAGS if flag in flags]}
    limit = isa_limit()
    if limit:
        found["isa_limit"] = limit
    return found


def isa_limit() -> str:
    """The instruction-set cap set through ONEDNN_MAX_CPU_ISA (or its older name), '' when none."""
    for variable in ISA_LIMIT_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value and value.upper() != "ALL":
            return value.upper()
    return ""


def versions() -> dict[str, str]:
    """Installed versions of the packages that shape a conversion (absent ones are left out)."""
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = platform.python_version()
    return found


def describe(device_info: dict | None = None) -> dict:
    """Everything report.json records about where it ran."""
    return {"cpu": cpu(), "device": device_info or {}, "versions": versions()}


def one_line(environment: dict) -> str:
    """`AMD EPYC (avx2) · CPU defaults to f32 · OpenVINO 2024.6.0, TensorFlow 2.17.1, ovconvert 0.1.0`"""
    processor = environment.get("cpu", {})
    device = environment.get("device", {})
    flags = ", ".join(processor.get("flags", [])) or "no flags known"
    if processor.get("isa_limit"):
        flags += f"; limited to {processor['isa_limit']} by ONEDNN_MAX_CPU_ISA"
    parts = [f"{processor.get('name', '?')} ({flags})"]
    if device.get("default_precision"):
        parts.append(f"{device.get('name', 'CPU')} defaults to {device['default_precision']}")
    found = environment.get("versions", {})
    parts.append(", ".join(f"{label} {found[key]}" for key, label in
                           (("openvino", "OpenVINO"), ("tensorflow", "TensorFlow"), ("ovconvert", "ovconvert"))
                           if key in found))
    return " · ".join(parts)
