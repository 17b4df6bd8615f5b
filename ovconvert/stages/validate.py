"""Stage 6, validate: run TensorFlow and the IR on the same real inputs and compare them.

TensorFlow runs the *frozen* graph, fed at the cut tensors, so the comparison covers the cut as well as
the conversion; a .tflite model runs in the TFLite interpreter instead. The family decides what each side
gets (for images: the IR gets raw 0-255 pixels in the recipe's channel order, TensorFlow gets them through
the family's own preprocessing), and the metric compares: classification (top-1 agreement, top-5 overlap,
differences), ocr (decoded strings), detection (boxes), tensors.

The IR is compiled once per precision target (ovconvert.precision): first pinned to f32, which alone
decides whether the conversion is correct, then as the device will run it (its default, each precision
it runs natively), each judged by whether the answers stay the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ovconvert import families
from ovconvert.predict import complete_feed, detections
from ovconvert.errors import ToolError, UserError
from ovconvert.precision import (REFERENCE, DeviceInfo, PrecisionRow, Target, deployment_targets,
                                 deployment_tolerance, describe_change, probe_device, resolved_precision)
from ovconvert.recipes.schema import Tolerance
from ovconvert.graph.tf_graph import import_graph
from ovconvert.graph.tflite import is_tflite

log = logging.getLogger(__name__)


@dataclass
class Sample:
    name: str
    tf_feed: dict  # tensor name in the frozen graph → array (or bytes)
    ir_feed: list  # one array per IR input, in the cut's input order
    label: Optional[str] = None


@dataclass
class ValidationResult:
    metric: str
    passed: bool
    metrics: dict[str, float]
    failures: list[str] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    # Why TensorFlow's own answers look untrained or degenerate (every word the same, one class for every
    # image, no box): agreement then proves less, and the run says so.
    degenerate: str = ""
    # Why an IR that declares any batch does not answer a batch as it answers one input at a time.
    batch_failure: str = ""

    def reading_lines(self) -> list[str]:
        """For OCR: what each image reads on both sides, and its label."""
        if self.metric != "ocr":
            return []
        width = max((len(s["name"]) for s in self.samples), default=0)
        return [f"{s['name']:<{width}}  TensorFlow {s['tf_text']!r:<12} IR {s['ir_text']!r:<12}"
                + (f" label {s['label']!r}" if s.get("label") else "") for s in self.samples]

    def summary(self) -> str:
        numbers = ", ".join(f"{k}={_fmt(v)}" for k, v in self.metrics.items())
        return f"{'PASSED' if self.passed else 'FAILED'} ({self.metric}: {numbers})"


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass
class Validation:
    """The answer to both questions: `reference` (the IR at f32 against the framework) decides whether the
    conversion is correct; `precisions` has one row per compile, the reference first."""

    reference: ValidationResult
    precisions: list[PrecisionRow]
    device: DeviceInfo
    quantized_layers: int = 0  # FakeQuantize layers: int8 on devices that have it, whatever the hint
    # The inputs and the framework's answers, for the stages after this one (quantize, bench).
    samples: list = field(default_factory=list, repr=False)
    framework_outputs: list = field(default_factory=list, repr=False)


def validate(recipe, frozen, cut, ir, device: str = "CPU",
             precisions: Optional[tuple[str, ...]] = None) -> Validation:
    """Compare the IR with the framework at f32, then judge each deployment precision (`precisions`:
    names as ovconvert.precision.deployment_targets takes them; None for the device's own)."""
    import openvino as ov

    family = families.get(recipe.family)
    samples = family.validation_samples(recipe, frozen, cut)
    if not samples:
        raise UserError("validation has no inputs; set validate.images and validate.count")
    if is_tflite(frozen.path):
        tf_outputs = run_tflite(frozen.path, samples, cut.outputs)
    else:
        tf_outputs = run_tensorflow(frozen.path, samples, [f"{name}:0" for name in cut.outputs])
    core = ov.Core()
    info = probe_device(core, device)
    model = _read_ir(core, ir.xml)
    compare = METRICS[recipe.validate.metric]

    ir_outputs, ran_at = run_ir(core, model, samples, cut.outputs, Target(device, REFERENCE))
    result = compare(recipe, family, samples, tf_outputs, ir_outputs, recipe.validate.tolerance)
    if result.passed and takes_any_batch(model) and len(samples) > 1:
        _check_one_batch(core, model, samples, cut.outputs, device, ir_outputs, result)
    rows = [PrecisionRow(ran_at, REFERENCE, default=info.default_precision == ran_at, reference=True,
                         status="reference", metrics=result.metrics, failures=list(result.failures))]
    if result.passed:  # a deployment precision is worth judging only once the conversion is right
        for target in deployment_targets(info, precisions):
            rows.append(_judge_target(core, model, target, info, recipe, family, samples, tf_outputs, cut))
    quantized = sum(1 for op in model.get_ops() if op.get_type_name() == "FakeQuantize")
    return Validation(result, rows, info, quantized, samples, tf_outputs)


def takes_any_batch(model) -> bool:
    return all(port.get_partial_shape().rank.is_static and port.get_partial_shape().rank.get_length() > 0
               and port.get_partial_shape()[0].is_dynamic for port in model.inputs)


# Batched and one-at-a-time f32 inference differ only by summation order: far below any task's margin.
BATCH_TOLERANCE = 1e-4


def _check_one_batch(core, model, samples, output_names, device, single_outputs, result) -> None:
    """An IR that takes any batch must answer a batch of all inputs as it answers each alone: run them as
    one batch at f32 and compare with the batch-1 outputs (a decoder that baked the batch in, or a
    reshape that mixes images, shows here)."""
    shapes = {tuple(np.shape(value) for value in sample.ir_feed) for sample in samples}
    if len(shapes) != 1:
        return  # inputs of different sizes cannot be stacked into one batch
    stacked = [np.concatenate([sample.ir_feed[i] for sample in samples]) for i in range(len(samples[0].ir_feed))]
    batch = Sample(f"batch of {len(samples)}", {}, stacked)
    try:
        (batched,), _ = run_ir(core, model, [batch], output_names, Target(device, REFERENCE))
    except ToolError as error:
        result.batch_failure = f"it fails on a batch of {len(samples)} ({error})"
        result.failures.append(f"the IR declares any batch but {result.batch_failure}; "
                               "convert with convert.dynamic_batch: false")
        result.passed = False
        return
    worst = 0.0
    for index, single in enumerate(single_outputs):
        for output, value in zip(single, batched):
            part = np.asarray(value)[index:index + 1].astype(np.float64)
            worst = max(worst, float(np.max(np.abs(part - np.asarray(output, dtype=np.float64).reshape(part.shape))))
                        if part.size else 0.0)
    result.metrics["batch"] = len(samples)
    result.metrics["batch_max_abs_diff"] = worst
    if worst > BATCH_TOLERANCE:
        result.batch_failure = f"a batch answers differently from one input at a time ({worst:.3g})"
        result.failures.append(f"a batch of {len(samples)} answers differently from one input at a time "
                               f"(max difference {worst:.3g} > {BATCH_TOLERANCE:g})")
        result.passed = False


def _judge_target(core, model, target, info, recipe, family, samples, tf_outputs, cut) -> PrecisionRow:
    outputs, ran_at = run_ir(core, model, samples, cut.outputs, target)
    default = target.precision is None or target.precision == info.default_precision
    if ran_at == REFERENCE:  # the device has no such precision and runs the hint as f32
        return PrecisionRow(ran_at, target.label, default, status="same as f32")
    metric = recipe.validate.metric
    tolerance = Tolerance(**deployment_tolerance(metric, ran_at, recipe.validate.precision_tolerance))
    judged = METRICS[metric](recipe, family, samples, tf_outputs, outputs, tolerance)
    change = "" if judged.passed else describe_change(metric, judged.metrics, judged.samples, judged.failures)
    return PrecisionRow(ran_at, target.label, default, status="agrees" if judged.passed else "changes answers",
                        metrics=judged.metrics, failures=list(judged.failures), change=change)


def run_tensorflow(graph_path: Path, samples: list[Sample], fetches: list[str]) -> list[list[np.ndarray]]:
    import tensorflow as tf

    graph = import_graph(graph_path)
    results = []
    with tf.compat.v1.Session(graph=graph) as session:
        for sample in samples:
            try:
                results.append(session.run(fetches, feed_dict=sample.tf_feed))
            except tf.errors.OpError as error:
                raise ToolError(f"TensorFlow failed on validation input {sample.name}: {error.message}") from None
    return results


def run_tflite(model_path: Path, samples: list[Sample], output_names: tuple[str, ...]) -> list[list[np.ndarray]]:
    """The TFLite interpreter on each sample; Sample.tf_feed is keyed by the model's input tensor names."""
    import tensorflow as tf

    try:
        interpreter = tf.lite.Interpreter(model_path=str(model_path), num_threads=2)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        raise ToolError(f"the TFLite interpreter cannot load {model_path.name}: {str(error).splitlines()[0]}") from None
    inputs = {detail["name"]: detail["index"] for detail in interpreter.get_input_details()}
    outputs = {detail["name"]: detail["index"] for detail in interpreter.get_output_details()}
    results = []
    for sample in samples:
        for name, value in sample.tf_feed.items():
            interpreter.set_tensor(inputs[name], value)
        interpreter.invoke()
        results.append([interpreter.get_tensor(outputs[name]).copy() for name in output_names])
    return results


def _read_ir(core, xml: Path):
    try:
        return core.read_model(str(xml))
    except RuntimeError as error:
        raise ToolError(f"OpenVINO cannot read the IR {xml.name}: {str(error).splitlines()[0]}") from None


def run_ir(core, model, samples: list[Sample], output_names: tuple[str, ...],
           target: Target) -> tuple[list[list[np.ndarray]], str]:
    """The IR on each sample, compiled for `target`; returns the outputs and the precision it ran at."""
    try:
        compiled = core.compile_model(model, target.device, target.config())
    except RuntimeError as error:
        raise ToolError(f"OpenVINO cannot compile the IR for {target.device} at {target.label}: "
                        f"{str(error).splitlines()[0]}") from None
    ran_at = resolved_precision(compiled, target)
    order = [_output_index(compiled, name, index) for index, name in enumerate(output_names)]
    if len(compiled.outputs) < len(output_names):
        # mo's object detection replacements turn the framework's outputs into one DetectionOutput
        # tensor: take what the IR has, and let the metric read it in its own format.
        order = list(range(len(compiled.outputs)))
    request = compiled.create_infer_request()
    results = []
    for sample in samples:
        try:
            request.infer(complete_feed(compiled, sample.ir_feed))
        except RuntimeError as error:  # the CPU plugin's message: its last non-empty line names the node
            lines = [line for line in str(error).splitlines() if line.strip()]
            raise ToolError(f"OpenVINO failed on input {sample.name}: {lines[-1] if lines else error}") from None
        results.append([request.get_output_tensor(i).data.copy() for i in order])
    return results, ran_at


def _output_index(compiled, name: str, fallback: int) -> int:
    for index, output in enumerate(compiled.outputs):
        names = output.get_names()
        if name in names or f"{name}:0" in names:
            return index
    return fallback


# ----------------------------------------------------------------------------------------------- metrics


def _differences(tf_outputs, ir_outputs) -> tuple[float, float]:
    max_abs, max_rel = 0.0, 0.0
    for tf_values, ir_values in zip(tf_outputs, ir_outputs):
        for expected, actual in zip(tf_values, ir_values):
            expected = np.asarray(expected, dtype=np.float64)
            actual = np.asarray(actual, dtype=np.float64).reshape(expected.shape)
            diff = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
            scale = float(np.max(np.abs(expected))) if expected.size else 0.0
            max_abs = max(max_abs, diff)
            max_rel = max(max_rel, diff / scale if scale > 0 else diff)
    return max_abs, max_rel


def _check(result: ValidationResult, tolerance) -> ValidationResult:
    checks = [("top1_agreement", tolerance.min_top1_agreement, "min"),
              ("top5_overlap", tolerance.min_top5_overlap, "min"),
              ("string_match", tolerance.min_string_match, "min"),
              ("max_abs_diff", tolerance.max_abs_diff, "max"),
              ("max_rel_diff", tolerance.max_rel_diff, "max"),
              ("detection_match", tolerance.min_detection_match, "min"),
              ("max_score_diff", tolerance.max_score_diff, "max")]
    for name, limit, kind in checks:
        if limit is None or name not in result.metrics:
            continue
        value = result.metrics[name]
        if (kind == "min" and value < limit) or (kind == "max" and value > limit):
            result.failures.append(f"{name} {_fmt(value)} {'<' if kind == 'min' else '>'} {_fmt(limit)}")
    result.passed = not result.failures
    return result


def compare_classification(recipe, family, samples, tf_outputs, ir_outputs, tolerance) -> ValidationResult:
    top1, top5, details = [], [], []
    for sample, tf_values, ir_values in zip(samples, tf_outputs, ir_outputs):
        # As floats: quantized models give uint8 scores, and negating a uint8 wraps around.
        expected = np.asarray(tf_values[0], dtype=np.float64).reshape(-1)
        actual = np.asarray(ir_values[0], dtype=np.float64).reshape(-1)
        tf_top5, ir_top5 = np.argsort(-expected)[:5], np.argsort(-actual)[:5]
        top1.append(tf_top5[0] == ir_top5[0])
        top5.append(len(set(tf_top5) & set(ir_top5)) / 5)
        details.append({"name": sample.name, "tf_top1": int(tf_top5[0]), "ir_top1": int(ir_top5[0]),
                        "tf_top1_score": float(expected[tf_top5[0]]), "ir_top1_score": float(actual[ir_top5[0]])})
    max_abs, max_rel = _differences(tf_outputs, ir_outputs)
    metrics = {"images": len(samples), "top1_agreement": float(np.mean(top1)), "top5_overlap": float(np.mean(top5)),
               "max_abs_diff": max_abs, "max_rel_diff": max_rel}
    result = _check(ValidationResult("classification", True, metrics, samples=details), tolerance)
    result.degenerate = degenerate_answers("classification", details)
    return result


def compare_ocr(recipe, family, samples, tf_outputs, ir_outputs, tolerance) -> ValidationResult:
    matches, details = [], []
    for sample, tf_values, ir_values in zip(samples, tf_outputs, ir_outputs):
        tf_text = family.decode(tf_values, recipe)
        ir_text = family.decode(ir_values, recipe)
        matches.append(tf_text == ir_text)
        details.append({"name": sample.name, "label": sample.label, "tf_text": tf_text, "ir_text": ir_text})
    max_abs, max_rel = _differences(tf_outputs, ir_outputs)
    metrics = {"images": len(samples), "string_match": float(np.mean(matches)),
               "max_abs_diff": max_abs, "max_rel_diff": max_rel}
    result = _check(ValidationResult("ocr", True, metrics, samples=details), tolerance)
    result.degenerate = degenerate_answers("ocr", details)
    return result


def compare_tensors(recipe, family, samples, tf_outputs, ir_outputs, tolerance) -> ValidationResult:
    max_abs, max_rel = _differences(tf_outputs, ir_outputs)
    metrics = {"inputs": len(samples), "max_abs_diff": max_abs, "max_rel_diff": max_rel}
    return _check(ValidationResult("tensors", True, metrics), tolerance)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Boxes as [ymin, xmin, ymax, xmax] (the Object Detection API's order)."""
    top, left = max(a[0], b[0]), max(a[1], b[1])
    bottom, right = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, bottom - top) * max(0.0, right - left)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def compare_detection(recipe, family, samples, tf_outputs, ir_outputs, tolerance) -> ValidationResult:
    """Each framework box above the score threshold must have an IR box of the same class with IoU ≥
    min_iou (greedy, best IoU first); counts matched, missed (framework only) and extra (IR only).
    Symmetric near the threshold: an IR box a little below it may match, and an IR box just above it is
    not extra when the framework has the same box a little below it."""
    threshold = float(recipe.validate.args.get("score_threshold", 0.3))
    min_iou = float(recipe.validate.args.get("min_iou", 0.9))
    score_limit = tolerance.max_score_diff
    matched = missed = extra = in_score = 0
    score_diff, details = 0.0, []
    for sample, tf_values, ir_values in zip(samples, tf_outputs, ir_outputs):
        expected = detections(tf_values, threshold)
        # The IR's boxes a little below the threshold may still match a framework box just above it.
        found = detections(ir_values, threshold * 0.5)
        used = set()
        sample_matched = 0
        for cls, score, box in expected:
            best, best_iou = None, min_iou
            for index, (ir_cls, ir_score, ir_box) in enumerate(found):
                iou = _iou(box, ir_box)
                if index not in used and ir_cls == cls and iou >= best_iou:
                    best, best_iou = index, iou
            if best is None:
                missed += 1
                continue
            used.add(best)
            sample_matched += 1
            score_diff = max(score_diff, abs(score - found[best][1]))
            in_score += score_limit is None or abs(score - found[best][1]) <= score_limit
        matched += sample_matched
        near = detections(tf_values, threshold * 0.5)
        extra += sum(1 for i, (cls, s, box) in enumerate(found) if i not in used and s >= threshold
                     and not any(c == cls and _iou(box, b) >= min_iou for c, _, b in near))
        details.append({"name": sample.name, "framework_boxes": len(expected), "matched": sample_matched,
                        # For the HTML report's pictures: (class, score, [ymin, xmin, ymax, xmax]) on each side.
                        "boxes": {"framework": [[c, round(sc, 4), [round(float(v), 4) for v in b]] for c, sc, b in expected],
                                  "ir": [[c, round(sc, 4), [round(float(v), 4) for v in b]]
                                         for c, sc, b in detections(ir_values, threshold)]}})
    total = matched + missed
    metrics = {"images": len(samples), "detections": total, "matched": matched, "missed": missed, "extra": extra,
               "detection_match": matched / total if total else 1.0, "max_score_diff": score_diff,
               # The boxes found in place whose score also stays within max_score_diff: what NNCF's
               # accuracy control keeps up (quantize.py), where the gate bounds the worst box.
               "score_match": in_score / total if total else 1.0}
    result = _check(ValidationResult("detection", True, metrics, samples=details), tolerance)
    if total == 0:  # nothing above the threshold (an untrained or unsuitable detector): compare the top k
        _compare_top_detections(recipe, tf_outputs, ir_outputs, result, min_iou, threshold)
    if extra:
        result.passed = False
        result.failures.append(f"the IR found {extra} box(es) TensorFlow did not")
    return result


def _compare_top_detections(recipe, tf_outputs, ir_outputs, result, min_iou: float, threshold: float) -> None:
    """Zero boxes on both sides proves nothing: match each image's k best raw detections of TensorFlow
    (whatever their score) with the IR's 2k best, by class and IoU, and report the model as degenerate."""
    k = int(recipe.validate.args.get("top_k", 5))
    matched = total = 0
    top_score = 0.0
    for tf_values, ir_values in zip(tf_outputs, ir_outputs):
        expected = sorted(detections(tf_values, 0.0), key=lambda d: -d[1])[:k]
        found = sorted(detections(ir_values, 0.0), key=lambda d: -d[1])[:2 * k]
        top_score = max([top_score] + [score for _, score, _ in expected])
        for cls, score, box in expected:
            total += 1
            matched += any(c == cls and _iou(box, b) >= min_iou and abs(s - score) < 0.05 for c, s, b in found)
    share = matched / total if total else 0.0
    result.metrics.update({"top_k": k, "top_k_detections": total, "top_k_match": share})
    result.degenerate = (f"TensorFlow found no box above score {threshold} on any image (its best score is "
                         f"{top_score:.3g}); the top {k} raw detections per image were compared instead")
    if total == 0 or share < 1.0:
        result.passed = False
        result.failures.append(f"TensorFlow found no box above score {threshold}, and the IR matches "
                               f"{matched} of its {total} top-{k} raw detections; lower "
                               "validate.args.score_threshold or use other images")


def degenerate_answers(metric: str, samples: list[dict]) -> str:
    """Why the framework's answers look untrained, or '' (at least three inputs are needed to say)."""
    if len(samples) < 3:
        return ""
    if metric == "ocr":
        texts = {s["tf_text"] for s in samples}
        if len(texts) == 1:
            return f"every word reads {next(iter(texts))!r}"
        labelled = [s for s in samples if s.get("label")]
        if len(labelled) >= 3 and not any(s["tf_text"].upper() == s["label"].upper() for s in labelled):
            example = labelled[0]
            return (f"TensorFlow reads none of the {len(labelled)} labelled words right (e.g. "
                    f"{example['tf_text']!r} for {example['label']!r})")
    if metric == "classification":
        classes = {s["tf_top1"] for s in samples}
        if len(classes) == 1:
            return f"every image gets class {next(iter(classes))}"
    return ""


METRICS = {"classification": compare_classification, "ocr": compare_ocr, "tensors": compare_tensors,
           "detection": compare_detection}
