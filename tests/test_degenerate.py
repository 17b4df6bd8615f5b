"""Degenerate validation is not a plain pass (issue 11): when TensorFlow's own answers look untrained —
every word alike, none right, one class for every image, no box above the threshold — the run says so,
and a detector with no box is compared on its top raw detections instead of passing on zero boxes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ovconvert.recipes.schema import Tolerance
from ovconvert.stages.validate import Sample, compare_detection, degenerate_answers


def test_answers_that_look_untrained_are_named():
    assert degenerate_answers("classification", [{"tf_top1": 5}] * 4) == "every image gets class 5"
    assert degenerate_answers("classification", [{"tf_top1": i} for i in range(4)]) == ""
    assert degenerate_answers("ocr", [{"tf_text": "III", "label": "CAT"}] * 3) == "every word reads 'III'"
    none_right = [{"tf_text": t, "label": label} for t, label in (("MMY", "CAT"), ("MMM", "DOG"), ("MYM", "OWL"))]
    assert degenerate_answers("ocr", none_right).startswith("TensorFlow reads none of the 3 labelled words right")
    some_right = none_right[:2] + [{"tf_text": "owl", "label": "OWL"}]
    assert degenerate_answers("ocr", some_right) == ""
    assert degenerate_answers("ocr", none_right[:2]) == ""  # two inputs are too few to say


def _detector_outputs(scores, shift=0.0):
    """The Object Detection API's four outputs for one image: boxes, scores, classes, count."""
    count = len(scores)
    boxes = np.array([[[0.1 + i * 0.1 + shift, 0.1, 0.3 + i * 0.1 + shift, 0.4] for i in range(count)]], np.float32)
    return [boxes, np.array([scores], np.float32), np.ones((1, count), np.float32), np.array([count], np.float32)]


def _compare(tf_scores, ir_scores, shift=0.0):
    recipe = SimpleNamespace(validate=SimpleNamespace(args={"score_threshold": 0.5}))
    samples = [Sample("photo", {}, [])]
    return compare_detection(recipe, None, samples, [_detector_outputs(tf_scores)],
                             [_detector_outputs(ir_scores, shift)], Tolerance(min_detection_match=1.0))


def test_a_detector_with_no_box_above_the_threshold_is_compared_on_its_top_raw_detections():
    agreeing = _compare([0.2, 0.1, 0.05], [0.2, 0.1, 0.05])
    assert agreeing.passed and agreeing.metrics["detections"] == 0
    assert agreeing.metrics["top_k_match"] == 1.0 and agreeing.metrics["top_k_detections"] == 3
    assert agreeing.degenerate.startswith("TensorFlow found no box above score 0.5 on any image (its best score "
                                          "is 0.2)")
    moved = _compare([0.2, 0.1, 0.05], [0.2, 0.1, 0.05], shift=0.05)  # the IR's boxes elsewhere
    assert not moved.passed and "top-5 raw detections" in moved.failures[-1]


def test_a_detector_with_boxes_is_not_degenerate():
    result = _compare([0.9, 0.8], [0.9, 0.8])
    assert result.passed and result.degenerate == "" and result.metrics["matched"] == 2


def test_a_box_kept_in_place_whose_score_falls_counts_against_score_match():
    """What NNCF's accuracy control keeps up for detectors (stages/quantize.py): a box found in place
    counts only when its score also stays within max_score_diff (0.85 → 0.55 is a fall of 0.3)."""
    recipe = SimpleNamespace(validate=SimpleNamespace(args={"score_threshold": 0.5}))
    result = compare_detection(recipe, None, [Sample("photo", {}, [])], [_detector_outputs([0.85, 0.8])],
                               [_detector_outputs([0.55, 0.79])], Tolerance(max_score_diff=0.2))
    assert result.metrics["detection_match"] == 1.0 and result.metrics["score_match"] == 0.5
    assert not result.passed and "max_score_diff" in result.failures[0]
    unbounded = _compare([0.85, 0.8], [0.55, 0.79])  # no score bound: every box in place counts
    assert unbounded.metrics["score_match"] == 1.0
