"""Stage 7, quantize: an INT8 IR through NNCF, kept only when it passes the recipe's accuracy gate.

NNCF's post-training quantization (the maintained successor of OpenVINO's POT and Open Model Zoo's
omz_quantizer) inserts FakeQuantize layers into the validated FP32 IR, calibrated on inputs of the
model's own kind that are kept apart from the validation inputs: crops of the sample photos at other
places and scales, words that are not validation words, or the user's own data (quantize.calibration).

The INT8 IR is then validated against the framework like any IR, on the validation inputs, with
quantize.tolerance (the allowed drop) instead of validate.tolerance. It lands in ir-int8/ only when it
passes; otherwise in ir-int8-rejected/ with the reason in the report, and the run still delivers the
FP32 IR. Models that are quantized already (FakeQuantize in the IR, the TFLite-quantized family) are
not quantized again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ovconvert import families
from ovconvert.errors import ToolError, UserError
from ovconvert.predict import complete_feed
from ovconvert.recipes.schema import Tolerance

log = logging.getLogger(__name__)

# The drop an INT8 IR may show against the framework when the recipe sets no quantize.tolerance: about
# what post-training INT8 costs a healthy model. A model that loses more needs quantize.keep_f32 or
# more representative calibration data, and the run says so.
INT8_TOLERANCE = {
    "classification": {"min_top1_agreement": 0.9},
    "ocr": {"min_string_match": 0.95},
    # A box matched in place but with its score fallen from 0.85 to 0.25 is lost at the deployment
    # threshold: the scores must stay within 0.2 too.
    "detection": {"min_detection_match": 0.9, "max_score_diff": 0.2},
    "tensors": {"max_rel_diff": 0.1},
}


# NNCF's accuracy control first ranks every group of quantizers by what reverting it to f32 gains,
# compiling the model once per group. On the AIY detector that is minutes; a 24-character aocr model
# quantized whole (its recurrence unrolled over 80 + 26 steps: the 8-character one has 724 quantizers)
# had not finished ranking after 25 minutes.
ACCURACY_CONTROL_MAX_QUANTIZERS = 300


@dataclass
class Quantized:
    status: str  # "passed", "failed the gate", "already int8"
    xml: Optional[Path] = None
    model: object = field(default=None, repr=False)
    metrics: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    calibration: str = ""
    seconds: float = 0.0
    fake_quantize: int = 0
    method: str = ""  # "post-training", or "accuracy control" when the plain one failed the gate

    def to_json(self) -> dict:
        return {"status": self.status, "ir": str(self.xml) if self.xml else None, "metrics": self.metrics,
                "failures": self.failures, "calibration": self.calibration, "seconds": round(self.seconds, 2),
                "fake_quantize_layers": self.fake_quantize,
                "method": self.method}


def gate_tolerance(recipe) -> Tolerance:
    """quantize.tolerance where the recipe sets it, else the family's allowed drop for the metric."""
    chosen = {k: v for k, v in dataclasses.asdict(recipe.quantize.tolerance).items() if v is not None}
    return Tolerance(**(chosen or INT8_TOLERANCE[recipe.validate.metric]))


def quantize(recipe, frozen, cut, ir, validation, out_dir: Path, device: str) -> Quantized:
    """Quantize `ir` (validated at f32) to INT8 and gate it on the validation inputs. When the plain
    quantization fails the gate and quantize.method allows, NNCF's accuracy control quantizes again,
    keeping in f32 the layers that cost the most, until the calibration inputs agree with the FP32 IR
    within the gate's drop; the gate then judges that IR on the validation inputs as before."""
    import openvino as ov

    from ovconvert.precision import REFERENCE, Target
    from ovconvert.stages.validate import METRICS, run_ir

    if validation.quantized_layers:
        return Quantized("already int8", ir.xml, fake_quantize=validation.quantized_layers,
                         calibration="none: the model is quantized already (its FakeQuantize layers run in int8)")
    family = families.get(recipe.family)
    calibration, described = calibration_samples(recipe, frozen, cut)
    log.info("      calibrating on %d input(s): %s", len(calibration), described)
    core = ov.Core()
    fp32 = core.read_model(str(ir.xml))
    _report_unmatched_keep_f32(fp32, recipe.quantize)
    compare, tolerance = METRICS[recipe.validate.metric], gate_tolerance(recipe)

    def gate(model):
        outputs, _ = run_ir(core, model, validation.samples, cut.outputs, Target(device, REFERENCE))
        return compare(recipe, family, validation.samples, validation.framework_outputs, outputs, tolerance)

    started = time.monotonic()
    method = "post-training"
    model = _nncf_quantize(fp32, calibration, recipe)
    judged = gate(model)
    if not judged.passed and recipe.quantize.method == "auto" and _agreement_drop(recipe, tolerance) is not None:
        quantizers = _fake_quantize_count(model)
        if quantizers > ACCURACY_CONTROL_MAX_QUANTIZERS:
            log.warning("      plain INT8 failed the gate (%s); accuracy control skipped: it would rank %d "
                        "quantizers, compiling the model once for each; "
                        "quantize fewer layers with quantize.keep_f32_types (e.g. [MatMul, Multiply, Add]) or "
                        "quantize.keep_f32", "; ".join(judged.failures), quantizers)
        else:
            log.info("      plain INT8 failed the gate (%s); quantizing again with accuracy control",
                     "; ".join(judged.failures))
            model = _accuracy_controlled(core, fp32, calibration, recipe, family, cut, device, tolerance)
            judged, method = gate(model), "accuracy control"
    seconds = time.monotonic() - started
    fake_quantize = _fake_quantize_count(model)
    status = "passed" if judged.passed else "failed the gate"
    xml = _save(model, out_dir / ("ir-int8" if judged.passed else "ir-int8-rejected"), ir.xml.name)
    return Quantized(status, xml, model, judged.metrics, list(judged.failures), described, seconds, fake_quantize,
                     method)


def _fake_quantize_count(model) -> int:
    return sum(1 for op in model.get_ops() if op.get_type_name() == "FakeQuantize")


def fast_bias_correction(recipe) -> bool:
    """Whether NNCF corrects biases the fast way (quantize.bias_correction; "auto": full for detection,
    whose box and score heads sit at the end of a long chain of int8 layers whose errors add up)."""
    chosen = recipe.quantize.bias_correction
    if chosen == "auto":
        chosen = "full" if recipe.validate.metric == "detection" else "fast"
    return chosen == "fast"


def _agreement_drop(recipe, tolerance: Tolerance) -> Optional[float]:
    """The drop in the task's agreement the gate allows (1 − its minimum), or None for raw tensors,
    whose gate is a difference and has no agreement to control."""
    from ovconvert.precision import table_keys

    key = table_keys(recipe.validate.metric)[0]
    minimum = getattr(tolerance, f"min_{key}", None)
    return None if minimum is None else max(0.0, 1.0 - minimum)


def _accuracy_controlled(core, fp32, calibration, recipe, family, cut, device, tolerance):
    """nncf.quantize_with_accuracy_control, its metric the task's agreement with the FP32 IR on the
    calibration inputs (labels the FP32 IR gives them: the validation inputs stay unseen)."""
    from ovconvert.precision import REFERENCE, Target, table_keys
    from ovconvert.stages.validate import METRICS, run_ir

    nncf = _import_nncf()
    reference, _ = run_ir(core, fp32, calibration, cut.outputs, Target(device, REFERENCE))
    key, limits = table_keys(recipe.validate.metric)[0], Tolerance()
    if recipe.validate.metric == "detection":
        # A box kept in place whose score falls below the deployment threshold is lost all the same:
        # the agreement NNCF keeps up counts a box only when its score stays within the gate's bound.
        key, limits = "score_match", Tolerance(max_score_diff=tolerance.max_score_diff)
    order = _output_order(fp32, cut.outputs)

    def agreement(compiled, items) -> float:
        request = compiled.create_infer_request()
        outputs = []
        for sample, _ in items:
            request.infer(complete_feed(compiled, sample.ir_feed))
            outputs.append([request.get_output_tensor(i).data.copy() for i in order])
        samples = [sample for sample, _ in items]
        return float(METRICS[recipe.validate.metric](recipe, family, samples, [ref for _, ref in items], outputs,
                                                     limits).metrics[key])

    items = list(zip(calibration, reference))
    options = _nncf_options(nncf, recipe, fp32)
    options["advanced_quantization_parameters"] = options.pop("advanced_parameters")  # its name there
    dataset = nncf.Dataset(items, lambda item: complete_feed(fp32, item[0].ir_feed))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return nncf.quantize_with_accuracy_control(
                fp32, dataset, dataset, agreement, max_drop=_agreement_drop(recipe, tolerance),
                drop_type=nncf.DropType.ABSOLUTE, subset_size=len(calibration), **options)
    except Exception as error:  # noqa: BLE001 — as in _nncf_quantize
        raise ToolError(f"NNCF's accuracy control failed: {str(error).splitlines()[0] if str(error) else error!r}") \
            from None


def _output_order(model, names) -> list[int]:
    order = []
    for index, name in enumerate(names):
        found = [i for i, port in enumerate(model.outputs) if name in port.get_names() or f"{name}:0" in port.get_names()]
        order.append(found[0] if found else index)
    return order if len(model.outputs) >= len(names) else list(range(len(model.outputs)))


def _nncf_quantize(model, calibration: list, recipe):
    nncf = _import_nncf()
    dataset = nncf.Dataset(calibration, lambda sample: complete_feed(model, sample.ir_feed))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # NNCF's progress bars write to stdout
            return nncf.quantize(model, dataset, subset_size=len(calibration), **_nncf_options(nncf, recipe, model))
    except Exception as error:  # NNCF raises many kinds; each is a failure of the tool, not of the input
        raise ToolError(f"NNCF could not quantize the IR: {str(error).splitlines()[0] if str(error) else error!r}"
                        " (try quantize.preset: performance, or quantize.keep_f32 for the layer it names)") from None


def _nncf_options(nncf, recipe, model) -> dict:
    """The recipe's quantize keys as the arguments nncf.quantize and its accuracy control both take."""
    spec = recipe.quantize
    options = {"preset": nncf.QuantizationPreset.MIXED if spec.preset == "mixed"
               else nncf.QuantizationPreset.PERFORMANCE,
               "fast_bias_correction": fast_bias_correction(recipe),
               "advanced_parameters": _advanced_parameters(nncf, spec)}
    first = first_weighted_layers(model, spec.keep_f32_first)
    if spec.keep_f32 or spec.keep_f32_types or first:
        options["ignored_scope"] = nncf.IgnoredScope(names=first, patterns=list(spec.keep_f32),
                                                     types=list(spec.keep_f32_types), validate=False)
    return options


def _advanced_parameters(nncf, spec):
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    overflow_fix = {"all": OverflowFix.ENABLE, "first": OverflowFix.FIRST_LAYER, "none": OverflowFix.DISABLE}
    return AdvancedQuantizationParameters(overflow_fix=overflow_fix[spec.overflow_fix])


# The layers NNCF gives int8 weights: what "the first layers" of quantize.keep_f32_first counts.
WEIGHTED_TYPES = {"Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul"}


def first_weighted_layers(model, count: int) -> list[str]:
    """The names of the first `count` convolutions and products met walking from the inputs (OpenVINO's
    topological order), for quantize.keep_f32_first: names, because the IR's own ones change with the
    frontend ("Convolution_89" in one conversion) and a recipe cannot know them."""
    if count <= 0:
        return []
    weighted = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() in WEIGHTED_TYPES]
    return weighted[:count]


def _report_unmatched_keep_f32(model, spec) -> None:
    """NNCF ignores a keep_f32 pattern that names no node; say so. IRs from OpenVINO's new TensorFlow
    frontend often call a layer "Convolution_1216", not by its TensorFlow name."""
    names = [op.get_friendly_name() for op in model.get_ops()]
    for pattern in spec.keep_f32:
        # re.match, as NNCF matches its ignored-scope patterns: from the start of the name.
        if not any(re.match(pattern, name) for name in names):
            log.warning("quantize.keep_f32 %r names no node of the IR, so it keeps nothing in f32 (use the "
                        "node names the IR's .xml has)", pattern)


def _import_nncf():
    """NNCF prints an INFO line to stdout when imported and logs through its own stdout handler; its
    warnings go through our logging instead, and the rest is not shown."""
    with contextlib.redirect_stdout(io.StringIO()):
        import nncf
    from nncf.common.logging.logger import nncf_logger

    nncf_logger.handlers = []
    nncf_logger.propagate = True
    nncf_logger.setLevel(logging.WARNING)
    return nncf


def _save(model, directory: Path, file_name: str) -> Path:
    """Write the IR into a temporary directory beside `directory`, then rename: never a half-written IR."""
    import openvino as ov

    directory.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory, ignore_errors=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        ov.save_model(model, str(partial / file_name), compress_to_fp16=False)
        partial.rename(directory)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return directory / file_name


def calibration_samples(recipe, frozen, cut) -> tuple[list, str]:
    """Inputs to calibrate on, made the way the family makes validation inputs (so the IR gets exactly
    what it will get in use), from quantize.calibration or the family's default set."""
    family = families.get(recipe.family)
    sources = recipe.quantize.calibration or getattr(family, "CALIBRATION", ("crops:skimage",))
    swapped = dataclasses.replace(recipe, validate=dataclasses.replace(
        recipe.validate, images=tuple(sources), count=recipe.quantize.count))
    maker = getattr(family, "calibration_samples", family.validation_samples)
    samples = maker(swapped, frozen, cut)
    if not samples:
        raise UserError(f"quantize.calibration {list(sources)} gave no inputs; give images or annotation files")
    return samples, ", ".join(sources)


def log_result(quantized: Quantized) -> None:
    if quantized.status == "already int8":
        log.info("      not quantized again: the IR has %d FakeQuantize layers already", quantized.fake_quantize)
        return
    numbers = ", ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                        for key, value in quantized.metrics.items())
    if quantized.status == "passed":
        log.info("      INT8 IR (%s, %d FakeQuantize layers) passed its gate (%s) in %.1f s: %s", quantized.method,
                 quantized.fake_quantize, numbers, quantized.seconds, quantized.xml)
    else:
        log.warning("INT8 IR failed its accuracy gate (%s); kept out of use in %s — the FP32 IR is the "
                    "result (set quantize.keep_f32, or calibrate on your own data: quantize.calibration)",
                    "; ".join(quantized.failures), quantized.xml.parent)
