"""Inference precisions: the pinned f32 that decides whether a conversion is correct, and the precisions
a device will really run an IR at, each judged by what it does to the model's answers.

OpenVINO's CPU plugin runs an FP32 IR in bf16 by default on CPUs with native bf16 (avx512_bf16, AMX),
and in f32 elsewhere. So "does the IR agree with TensorFlow?" asked with the device's defaults has a
different answer on different machines. We ask two questions instead:

  1. Is the conversion correct? The IR compiled with INFERENCE_PRECISION_HINT=f32, on every machine,
     against the recipe's tolerance. Only this decides pass/fail of a conversion.
  2. How will it run where it is deployed? The IR compiled with the device's default and with each
     precision the device runs natively (bf16, f16), each against a per-precision tolerance that asks
     "are the answers the same?" (top-1 class, string, boxes). A precision that changes answers is a
     warning with a recommendation; with strict precision it fails the run.

A Target is one (device, precision) configuration; validation (and later the benchmark) iterate over a
list of them, each producing one row of one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

REFERENCE = "f32"
PRECISIONS = ("f32", "bf16", "f16")
# OpenVINO's OPTIMIZATION_CAPABILITIES names → INFERENCE_PRECISION_HINT values.
CAPABILITIES = {"FP32": "f32", "BF16": "bf16", "FP16": "f16"}
# OpenVINO element types (str(ov.Type)) → our names.
ELEMENT_TYPES = {"float32": "f32", "f32": "f32", "bfloat16": "bf16", "bf16": "bf16", "float16": "f16", "f16": "f16"}

# What "the same answers" means per metric when a recipe sets no validate.precision_tolerance: every
# task answer unchanged; raw tensors (no task answer to compare) within 5% of their largest value,
# about what bf16's 8-bit mantissa accumulates over a deep network.
DEPLOYMENT_TOLERANCE = {
    "classification": {"min_top1_agreement": 1.0},
    "ocr": {"min_string_match": 1.0},
    "detection": {"min_detection_match": 1.0},
    "tensors": {"max_rel_diff": 0.05},
}


@dataclass(frozen=True)
class Target:
    """One way to compile the IR: a device and an INFERENCE_PRECISION_HINT (None: the device's default)."""

    device: str = "CPU"
    precision: Optional[str] = None

    def config(self) -> dict[str, str]:
        return {"INFERENCE_PRECISION_HINT": self.precision} if self.precision else {}

    @property
    def label(self) -> str:
        return self.precision or "default"


@dataclass(frozen=True)
class DeviceInfo:
    """What a device does with an FP32 IR: the precision it picks by itself and those it runs natively."""

    name: str  # CPU, GPU, AUTO
    full_name: str = ""
    default_precision: Optional[str] = None  # None when the device does not say (AUTO)
    native: tuple[str, ...] = (REFERENCE,)
    int8: bool = False  # runs quantized (FakeQuantize) layers in int8

    def to_json(self) -> dict:
        return {"name": self.name, "full_name": self.full_name, "default_precision": self.default_precision,
                "native_precisions": list(self.native), "int8": self.int8}


@dataclass
class PrecisionRow:
    """One row of the precision table: how the IR answered when compiled one way."""

    precision: str  # what it ran at (resolved from the compiled model): f32, bf16, f16
    requested: str  # the hint asked for: f32, bf16, f16, or "default"
    default: bool  # the device runs this one when the application sets no hint
    reference: bool = False  # the pinned f32 compile that decides correctness
    status: str = "agrees"  # reference | agrees | changes answers | same as f32
    metrics: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    change: str = ""  # what changed, in words ("changes the top-1 class on 3 of 26 images")

    @property
    def name(self) -> str:
        if self.status == "same as f32":  # a hint the device does not have
            return f"{self.requested} (runs as {self.precision})"
        tags = ["reference"] if self.reference else []
        tags += ["device default"] if self.default else []
        return self.precision + (f" ({', '.join(tags)})" if tags else "")


def precision_name(element_type) -> str:
    """`<Type: 'bfloat16'>` (an ov.Type) or 'bf16' → 'bf16'."""
    text = str(element_type).removeprefix("<Type: '").removesuffix("'>")
    return ELEMENT_TYPES.get(text, text)


def resolved_precision(compiled, target: Target) -> str:
    """The precision a model compiled for `target` runs at, as the device resolved the hint ("default"
    where the device does not say: AUTO and some plugins)."""
    try:
        return precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    except RuntimeError:
        return target.precision or "default"


def native_precisions(capabilities: list[str]) -> tuple[str, ...]:
    """From OPTIMIZATION_CAPABILITIES (['FP32', 'BF16', 'INT8', …]): the floating-point precisions the
    device runs natively, f32 first."""
    found = [CAPABILITIES[c] for c in capabilities if c in CAPABILITIES]
    return tuple(sorted(set(found) | {REFERENCE}, key=PRECISIONS.index))


def probe_device(core, device: str = "CPU") -> DeviceInfo:
    """Ask OpenVINO what `device` does: its capabilities, and the precision it resolves to by default
    (compiling a one-layer model, because the device property alone is not resolved on every plugin)."""
    from ovconvert.errors import UserError

    virtual = device.split(":")[0] in ("AUTO", "MULTI", "HETERO", "BATCH")
    present = {d.split(".")[0] for d in core.available_devices} | set(core.available_devices)
    if not virtual and device not in present:
        raise UserError(f"--device {device}: OpenVINO sees no such device here (it has: "
                        f"{', '.join(core.available_devices)}); use one of those, or AUTO")
    capabilities = _property(core, device, "OPTIMIZATION_CAPABILITIES") or []
    full_name = str(_property(core, device, "FULL_DEVICE_NAME") or device)
    default = None
    try:
        compiled = core.compile_model(_probe_model(), device)
        default = precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    except RuntimeError:
        default = None
    return DeviceInfo(device, full_name, default, native_precisions(list(capabilities)),
                      "INT8" in capabilities)


def _property(core, device: str, name: str):
    try:
        return core.get_property(device, name)
    except (RuntimeError, TypeError):
        return None


def _probe_model():
    import numpy as np
    import openvino as ov
    import openvino.runtime.opset13 as ops

    x = ops.parameter([1, 8], np.float32)
    weights = ops.constant(np.ones((8, 8), dtype=np.float32))
    return ov.Model([ops.matmul(x, weights, False, False)], [x], "precision_probe")


def deployment_targets(info: DeviceInfo, requested: Optional[tuple[str, ...]] = None) -> list[Target]:
    """The compiles to judge besides the f32 reference. `requested` names them ("default", "bf16", "f16");
    None means the device's default and every precision it runs natively. Nothing is compiled twice: the
    default is not repeated when it is f32 (the reference row says so) or when it is a named precision."""
    wanted = tuple(requested) if requested is not None else ("default",) + info.native
    targets = []
    if "default" in wanted and info.default_precision != REFERENCE:
        targets.append(Target(info.name, None))
    for precision in wanted:
        if precision in ("default", REFERENCE):
            continue
        if precision == info.default_precision and "default" in wanted:
            continue
        targets.append(Target(info.name, precision))
    return targets


def deployment_tolerance(metric: str, precision: str, overrides) -> dict:
    """The tolerance a deployment precision is judged by: the recipe's validate.precision_tolerance for
    it, else the metric's default ("the same answers")."""
    from dataclasses import asdict

    if precision in overrides:
        return {k: v for k, v in asdict(overrides[precision]).items() if v is not None}
    return dict(DEPLOYMENT_TOLERANCE.get(metric, {}))


def describe_change(metric: str, metrics: dict, samples: list[dict], failures: list[str]) -> str:
    """What a lower precision did to the answers, in the task's words."""
    if metric == "classification":
        changed = sum(1 for s in samples if s.get("tf_top1") != s.get("ir_top1"))
        if changed:
            return f"changes the top-1 class on {changed} of {len(samples)} images"
    elif metric == "ocr":
        changed = sum(1 for s in samples if s.get("tf_text") != s.get("ir_text"))
        if changed:
            return f"reads {changed} of {len(samples)} words differently"
    elif metric == "detection":
        missed, extra = int(metrics.get("missed", 0)), int(metrics.get("extra", 0))
        if missed or extra:
            return (f"loses {missed} and adds {extra} of TensorFlow's {int(metrics.get('detections', 0))} boxes"
                    f" (scores move by up to {metrics.get('max_score_diff', 0):.2g})")
    return "exceeds its tolerance: " + "; ".join(failures)


@dataclass
class Verdict:
    warnings: list[str]
    failure: Optional[str]  # set when strict precision turns the warnings into a failure


def judge(rows: list[PrecisionRow], device: str, strict: bool) -> Verdict:
    """Warnings with a recommendation for each deployment precision that changes answers; with `strict`,
    one failure message naming them. Rows of the reference and of hints that ran as f32 are not judged."""
    warnings = []
    for row in rows:
        if row.reference or row.status != "changes answers":
            continue
        if row.default:
            warnings.append(f"on this {device} OpenVINO defaults to {row.precision}, which {row.change}; deploy "
                            f"with INFERENCE_PRECISION_HINT=f32 (benchmark_app -infer_precision f32)")
        else:
            warnings.append(f"INFERENCE_PRECISION_HINT={row.precision} {row.change}; do not deploy with "
                            f"{row.precision} on this {device}")
    failure = None
    if strict and warnings:
        failure = "the conversion is correct at f32, but " + "; ".join(warnings) + " (strict precision)"
    return Verdict(warnings, failure)


def table_lines(rows: list[PrecisionRow], metric: str) -> list[str]:
    """The precision table as aligned text lines, for the log."""
    key, difference = table_keys(metric)
    header = ["precision", "hint", key, difference.replace("_", " "), "status"]
    body = [[row.name, row.requested, _number(row.metrics.get(key)), _number(row.metrics.get(difference)),
             row.status + (f": {row.change}" if row.status == "changes answers" else "")] for row in rows]
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header) - 1)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in [header] + body]


def table_keys(metric: str) -> tuple[str, str]:
    """The precision table's two numbers for a metric: its task agreement and its numeric difference."""
    return {"classification": ("top1_agreement", "max_abs_diff"), "ocr": ("string_match", "max_abs_diff"),
            "detection": ("detection_match", "max_score_diff")}.get(metric, ("max_rel_diff", "max_abs_diff"))


def _number(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
