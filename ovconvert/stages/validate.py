"""Stage 6, validate: run TensorFlow and the IR on the same real inputs and compare them.

TensorFlow runs the *frozen* graph, fed at the cut tensors, so the comparison covers the cut as well as
the conversion; a .tflite model runs in the TFLite interpreter instead. The family decides what each side gets (for images: the IR gets raw 0-255 pixels in the
recipe's channel order, TensorFlow gets them through the family's own preprocessing), and the metric
compares: classification (top-1 agreement, top-5 overlap, differences), ocr (decoded strings), tensors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ovconvert import families
from ovconvert.errors import ToolError, UserError
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


def validate(recipe, frozen, cut, ir) -> ValidationResult:
    family = families.get(recipe.family)
    samples = family.validation_samples(recipe, frozen, cut)
    if not samples:
        raise UserError("validation has no inputs; set validate.images and validate.count")
    if is_tflite(frozen.path):
        tf_outputs = run_tflite(frozen.path, samples, cut.outputs)
    else:
        tf_outputs = run_tensorflow(frozen.path, samples, [f"{name}:0" for name in cut.outputs])
    ir_outputs = run_ir(ir.xml, samples, cut.outputs)
    compare = METRICS[recipe.validate.metric]
    return compare(recipe, family, samples, tf_outputs, ir_outputs)


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


def run_ir(xml: Path, samples: list[Sample], output_names: tuple[str, ...]) -> list[list[np.ndarray]]:
    import openvino as ov

    core = ov.Core()
    try:
        compiled = core.compile_model(str(xml), "CPU")
    except RuntimeError as error:
        raise ToolError(f"OpenVINO cannot compile the IR {xml.name}: {str(error).splitlines()[0]}") from None
    order = [_output_index(compiled, name, index) for index, name in enumerate(output_names)]
    if len(compiled.outputs) < len(output_names):
        # mo's object detection replacements turn the framework's outputs into one DetectionOutput
        # tensor: take what the IR has, and let the metric read it in its own format.
        order = list(range(len(compiled.outputs)))
    request = compiled.create_infer_request()
    results = []
    for sample in samples:
        request.infer(sample.ir_feed)
        results.append([request.get_output_tensor(i).data.copy() for i in order])
    return results


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


def compare_classification(recipe, family, samples, tf_outputs, ir_outputs) -> ValidationResult:
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
    return _check(ValidationResult("classification", True, metrics, samples=details), recipe.validate.tolerance)


def compare_ocr(recipe, family, samples, tf_outputs, ir_outputs) -> ValidationResult:
    matches, details = [], []
    for sample, tf_values, ir_values in zip(samples, tf_outputs, ir_outputs):
        tf_text = family.decode(tf_values, recipe)
        ir_text = family.decode(ir_values, recipe)
        matches.append(tf_text == ir_text)
        details.append({"name": sample.name, "label": sample.label, "tf_text": tf_text, "ir_text": ir_text})
    max_abs, max_rel = _differences(tf_outputs, ir_outputs)
    metrics = {"images": len(samples), "string_match": float(np.mean(matches)),
               "max_abs_diff": max_abs, "max_rel_diff": max_rel}
    return _check(ValidationResult("ocr", True, metrics, samples=details), recipe.validate.tolerance)


def compare_tensors(recipe, family, samples, tf_outputs, ir_outputs) -> ValidationResult:
    max_abs, max_rel = _differences(tf_outputs, ir_outputs)
    metrics = {"inputs": len(samples), "max_abs_diff": max_abs, "max_rel_diff": max_rel}
    return _check(ValidationResult("tensors", True, metrics), recipe.validate.tolerance)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Boxes as [ymin, xmin, ymax, xmax] (the Object Detection API's order)."""
    top, left = max(a[0], b[0]), max(a[1], b[1])
    bottom, right = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, bottom - top) * max(0.0, right - left)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _detections(values, threshold: float) -> list[tuple[int, float, np.ndarray]]:
    """(class, score, box) above the threshold, boxes as [ymin, xmin, ymax, xmax]. Two formats: the Object
    Detection API's outputs in the cut's output order (boxes [1,N,4], scores [1,N], classes [1,N],
    num_detections [1]); or OpenVINO's DetectionOutput [1,1,N,7] rows of (image, label, score, xmin,
    ymin, xmax, ymax), ended by an image id of -1 — its labels count the background as 0, as the
    Object Detection API's classes do (they start at 1)."""
    detection_output = next((np.asarray(v) for v in values if np.ndim(v) == 4 and np.shape(v)[-1] == 7), None)
    if detection_output is not None:  # (Mask R-CNN's IR gives the masks besides)
        rows = detection_output.reshape(-1, 7)
        rows = rows[:np.argmax(rows[:, 0] < 0)] if (rows[:, 0] < 0).any() else rows
        return [(int(row[1]), float(row[2]), row[[4, 3, 6, 5]]) for row in rows if row[2] >= threshold]
    boxes, scores, classes, count = (np.asarray(v) for v in values[:4])
    count = int(np.asarray(count).reshape(-1)[0])
    return [(int(classes.reshape(-1)[i]), float(scores.reshape(-1)[i]), boxes.reshape(-1, 4)[i])
            for i in range(count) if scores.reshape(-1)[i] >= threshold]


def compare_detection(recipe, family, samples, tf_outputs, ir_outputs) -> ValidationResult:
    """Each framework box above the score threshold must have an IR box of the same class with IoU ≥
    min_iou (greedy, best IoU first); counts matched, missed (framework only) and extra (IR only).
    Symmetric near the threshold: an IR box a little below it may match, and an IR box just above it is
    not extra when the framework has the same box a little below it."""
    threshold = float(recipe.validate.args.get("score_threshold", 0.3))
    min_iou = float(recipe.validate.args.get("min_iou", 0.9))
    matched = missed = extra = 0
    score_diff, details = 0.0, []
    for sample, tf_values, ir_values in zip(samples, tf_outputs, ir_outputs):
        expected = _detections(tf_values, threshold)
        # The IR's boxes a little below the threshold may still match a framework box just above it.
        found = _detections(ir_values, threshold * 0.5)
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
        matched += sample_matched
        near = _detections(tf_values, threshold * 0.5)
        extra += sum(1 for i, (cls, s, box) in enumerate(found) if i not in used and s >= threshold
                     and not any(c == cls and _iou(box, b) >= min_iou for c, _, b in near))
        details.append({"name": sample.name, "framework_boxes": len(expected), "matched": sample_matched})
    total = matched + missed
    metrics = {"images": len(samples), "detections": total, "matched": matched, "missed": missed, "extra": extra,
               "detection_match": matched / total if total else 1.0, "max_score_diff": score_diff}
    result = _check(ValidationResult("detection", True, metrics, samples=details), recipe.validate.tolerance)
    if total == 0:
        result.passed = False
        result.failures.append(f"TensorFlow found no box above score {threshold} on any image; "
                               "lower validate.args.score_threshold or use other images")
    if extra:
        result.passed = False
        result.failures.append(f"the IR found {extra} box(es) TensorFlow did not")
    return result


METRICS = {"classification": compare_classification, "ocr": compare_ocr, "tensors": compare_tensors,
           "detection": compare_detection}
