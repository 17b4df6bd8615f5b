"""Precision-aware validation: f32 decides correctness on every CPU; the device's own precisions are
judged by whether the answers change. The decision logic is tested on both outcomes with constructed
rows (no bf16 hardware needed); the pipeline tests run real conversions on whatever CPU this is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ovconvert import environment
from ovconvert.precision import (DeviceInfo, PrecisionRow, Target, deployment_targets, deployment_tolerance,
                                 describe_change, judge, native_precisions, precision_name)
from ovconvert.recipes.schema import Tolerance
from conftest import REPO, cpu_runs_bf16, fixture_path

AVX2 = DeviceInfo("CPU", "AMD EPYC", "f32", ("f32",), int8=True)
XEON_BF16 = DeviceInfo("CPU", "Intel Xeon", "bf16", ("f32", "bf16"), int8=True)
GRANITE_RAPIDS = DeviceInfo("CPU", "Intel Xeon 6", "bf16", ("f32", "bf16", "f16"), int8=True)


def reference_row(**metrics) -> PrecisionRow:
    return PrecisionRow("f32", "f32", default=False, reference=True, status="reference", metrics=metrics)


def bf16_row(status: str, default: bool = True, change: str = "") -> PrecisionRow:
    return PrecisionRow("bf16", "default" if default else "bf16", default, status=status, change=change)


def test_capabilities_name_the_native_precisions():
    assert native_precisions(["FP32", "INT8", "BIN", "EXPORT_IMPORT"]) == ("f32",)
    assert native_precisions(["FP32", "BF16", "INT8"]) == ("f32", "bf16")
    assert native_precisions(["FP16", "BF16", "FP32"]) == ("f32", "bf16", "f16")
    assert precision_name("<Type: 'bfloat16'>") == "bf16" and precision_name("<Type: 'float32'>") == "f32"


def test_an_avx2_cpu_has_nothing_to_judge_besides_f32():
    assert deployment_targets(AVX2) == []
    assert deployment_targets(AVX2, ()) == []


def test_a_bf16_cpu_judges_its_default_once():
    assert deployment_targets(XEON_BF16) == [Target("CPU", None)]  # the default *is* bf16: not twice
    assert deployment_targets(GRANITE_RAPIDS) == [Target("CPU", None), Target("CPU", "f16")]
    assert deployment_targets(XEON_BF16, ("bf16",)) == [Target("CPU", "bf16")]
    assert deployment_targets(XEON_BF16, ()) == []


def test_a_precision_asked_for_on_a_cpu_without_it_is_still_compiled():
    """--precision bf16 on AVX2: OpenVINO runs the hint as f32, and the row says so (not judged)."""
    assert deployment_targets(AVX2, ("bf16",)) == [Target("CPU", "bf16")]
    assert judge([reference_row(), PrecisionRow("f32", "bf16", False, status="same as f32")], "CPU", True) \
        .warnings == []


def test_f32_passes_and_the_bf16_default_changes_answers_is_a_warning_with_a_recommendation():
    change = "changes the top-1 class on 3 of 26 images"
    verdict = judge([reference_row(top1_agreement=1.0), bf16_row("changes answers", change=change)], "CPU",
                    strict=False)
    assert verdict.failure is None
    (warning,) = verdict.warnings
    assert "on this CPU OpenVINO defaults to bf16, which changes the top-1 class on 3 of 26 images" in warning
    assert "INFERENCE_PRECISION_HINT=f32" in warning
    assert "mean" not in warning and "channel" not in warning  # the cause is precision, not preprocessing


def test_strict_precision_turns_the_warning_into_a_failure_that_names_precision():
    verdict = judge([reference_row(), bf16_row("changes answers", change="reads 2 of 8 words differently")],
                    "CPU", strict=True)
    assert verdict.failure.startswith("the conversion is correct at f32, but on this CPU OpenVINO defaults "
                                      "to bf16, which reads 2 of 8 words differently")
    assert "strict precision" in verdict.failure


def test_a_non_default_precision_that_changes_answers_says_not_to_deploy_with_it():
    (warning,) = judge([reference_row(), bf16_row("agrees"),
                        PrecisionRow("f16", "f16", False, status="changes answers", change="reads 1 of 8 words "
                                     "differently")], "CPU", strict=False).warnings
    assert warning.startswith("INFERENCE_PRECISION_HINT=f16 reads 1 of 8 words differently; do not deploy")


@pytest.mark.parametrize("strict", [False, True])
def test_precisions_that_agree_give_no_warning_strict_or_not(strict):
    verdict = judge([reference_row(), bf16_row("agrees")], "CPU", strict)
    assert verdict.warnings == [] and verdict.failure is None


def test_default_deployment_tolerance_asks_for_the_same_answers_and_a_recipe_can_loosen_it():
    assert deployment_tolerance("classification", "bf16", {}) == {"min_top1_agreement": 1.0}
    assert deployment_tolerance("ocr", "bf16", {}) == {"min_string_match": 1.0}
    assert deployment_tolerance("detection", "f16", {}) == {"min_detection_match": 1.0}
    assert deployment_tolerance("tensors", "bf16", {}) == {"max_rel_diff": 0.05}
    loose = {"bf16": Tolerance(min_top1_agreement=0.8)}
    assert deployment_tolerance("classification", "bf16", loose) == {"min_top1_agreement": 0.8}
    assert deployment_tolerance("classification", "f16", loose) == {"min_top1_agreement": 1.0}


def test_changes_are_described_in_the_tasks_words():
    samples = [{"tf_top1": 1, "ir_top1": 1}, {"tf_top1": 2, "ir_top1": 5}, {"tf_top1": 3, "ir_top1": 4}]
    assert describe_change("classification", {}, samples, []) == "changes the top-1 class on 2 of 3 images"
    words = [{"tf_text": "CAT", "ir_text": "CAT"}, {"tf_text": "DOG", "ir_text": "D0G"}]
    assert describe_change("ocr", {}, words, []) == "reads 1 of 2 words differently"
    boxes = {"missed": 1, "extra": 2, "detections": 9, "max_score_diff": 0.13}
    assert describe_change("detection", boxes, [], []).startswith("loses 1 and adds 2 of TensorFlow's 9 boxes")
    assert describe_change("tensors", {}, [], ["max_rel_diff 0.09 > 0.05"]) == \
        "exceeds its tolerance: max_rel_diff 0.09 > 0.05"


def _bf16(values: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (8-bit mantissa), as a bf16 output would be."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.view(np.float32)


def test_the_classification_metric_judges_a_bf16_like_output_by_its_answers():
    """Scores whose top two classes are closer than bf16 can tell apart: rounding ties them, and the
    deployment tolerance (same top-1) flags it while a plain max-difference limit would not have."""
    from ovconvert.stages.validate import Sample, compare_classification

    tf_outputs = [[np.array([[0.1, 0.50001, 0.5, 0.2]], np.float32)], [np.array([[0.9, 0.05, 0.03, 0.02]], np.float32)]]
    ir_outputs = [[_bf16(o[0]) - np.array([[0, 1e-6, 0, 0]], np.float32)] for o in tf_outputs]
    samples = [Sample("close", {}, []), Sample("clear", {}, [])]
    tolerance = Tolerance(**deployment_tolerance("classification", "bf16", {}))
    judged = compare_classification(None, None, samples, tf_outputs, ir_outputs, tolerance)
    assert not judged.passed and judged.metrics["top1_agreement"] == 0.5
    assert describe_change("classification", judged.metrics, judged.samples, judged.failures) == \
        "changes the top-1 class on 1 of 2 images"


# ------------------------------------------------------------------------------- real runs, this CPU

def test_an_isa_cap_is_what_openvino_goes_by_and_the_report_says_so():
    """ONEDNN_MAX_CPU_ISA=AVX2, set before OpenVINO loads, gives AVX2's f32 default on any CPU; the
    environment line names the cap, so a report from a capped bf16 machine does not read as bf16."""
    probe = ("import json, openvino as ov; from ovconvert import environment; "
             "from ovconvert.precision import probe_device; info = probe_device(ov.Core()); "
             "print(json.dumps([info.default_precision, list(info.native), environment.cpu(), "
             "environment.one_line(environment.describe(info.to_json()))]))")
    capped = {key: value for key, value in os.environ.items() if key not in environment.ISA_LIMIT_VARIABLES}
    capped["ONEDNN_MAX_CPU_ISA"] = "avx2"
    done = subprocess.run([sys.executable, "-c", probe], env=capped, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    default, native, cpu, line = json.loads(done.stdout.splitlines()[-1])
    assert default == "f32" and native == ["f32"]
    assert cpu["isa_limit"] == "AVX2" and "limited to AVX2 by ONEDNN_MAX_CPU_ISA" in line


def test_a_run_records_where_it_ran_and_its_precision_table(cli, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli("run", "recipes/aocr.yaml", "-o", out, "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    env = report["environment"]
    assert env["versions"]["openvino"].startswith("2024.6") and env["versions"]["tensorflow"].startswith("2.17")
    assert "ovconvert" in env["versions"] and env["cpu"]["name"]
    assert env["device"]["name"] == "CPU" and env["device"]["default_precision"] in ("f32", "bf16", "f16")
    rows = report["precisions"]
    assert rows[0]["reference"] and rows[0]["precision"] == "f32" and rows[0]["metrics"]["string_match"] == 1.0
    if env["device"]["default_precision"] == "f32":
        assert len(rows) == 1 and rows[0]["default"]  # nothing else runs natively here
    else:
        default = next(row for row in rows if row["default"])
        assert default["precision"] == env["device"]["default_precision"] and not default["reference"]
    markdown = (out / "report.md").read_text()
    assert "## Precisions" in markdown and f"Ran on: {env['cpu']['name']}" in markdown


def test_asking_for_bf16_on_a_cpu_without_it_reports_that_it_runs_as_f32(cli, tmp_path):
    if cpu_runs_bf16():
        pytest.skip("this CPU runs bf16 natively; the row is judged instead (see the MobileNet test)")
    out = tmp_path / "run"
    code, _, err = cli("run", "recipes/aocr.yaml", "-o", out, "--cache-dir", tmp_path / "cache",
                       "--precision", "bf16", "--strict-precision")
    assert code == 0, err
    rows = json.loads((out / "report.json").read_text())["precisions"]
    assert [(row["requested"], row["precision"], row["status"]) for row in rows] == \
        [("f32", "f32", "reference"), ("bf16", "f32", "same as f32")]
    assert rows[1]["name"] == "bf16 (runs as f32)" and not rows[1]["default"]


def test_bad_precision_and_device_flags_are_one_line_user_errors(cli, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli("run", "aocr", "--precision", "int4")
    assert exit_info.value.code == 2
    code, _, err = cli("run", "recipes/aocr.yaml", "-o", tmp_path / "r", "--cache-dir", tmp_path / "cache",
                       "--device", "NPU")
    assert code == 2 and "--device NPU: OpenVINO sees no such device here" in err
    assert not (tmp_path / "r" / "ir").exists()


def test_real_mobilenet_bf16_answers_warn_on_bf16_cpus_and_strict_precision_fails_them(cli, tmp_path):
    """The fixture MobileNet on 26 photos. On an AVX2 CPU nothing but f32 runs, so no warning, even
    strict; on a bf16 CPU the bf16 default is judged: a top-1 change is a warning, and a failure (exit 1)
    with --strict-precision, naming precision as the cause."""
    model = fixture_path("slim/mobilenet_v1_0.25_128_frozen.pb")
    arguments = ("run", "mobilenet_v1_0.25_128", "--source", model, "--set", "validate.count=26",
                 "--cache-dir", tmp_path / "cache")
    code, _, err = cli(*arguments, "-o", tmp_path / "plain")
    assert code == 0, err
    report = json.loads((tmp_path / "plain" / "report.json").read_text())
    assert report["validation"]["metrics"]["top1_agreement"] == 1.0  # f32: the conversion is right
    strict_code, _, strict_err = cli(*arguments, "-o", tmp_path / "strict", "--strict-precision")
    if not cpu_runs_bf16():
        assert report["precision_warnings"] == [] and len(report["precisions"]) == 1
        assert strict_code == 0, strict_err
        return
    bf16 = next(row for row in report["precisions"] if row["precision"] == "bf16")
    if bf16["status"] == "changes answers":
        (warning,) = [w for w in report["precision_warnings"] if "bf16" in w]
        assert "changes the top-1 class on" in warning and "INFERENCE_PRECISION_HINT=f32" in warning
        assert strict_code == 1 and "correct at f32, but" in strict_err and "mean/scale" not in strict_err
        assert (tmp_path / "strict" / "ir-rejected").is_dir() and not (tmp_path / "strict" / "ir").exists()
    else:
        assert report["precision_warnings"] == [] and strict_code == 0


def test_check_reports_the_deployment_column_and_where_it_ran(tmp_path):
    from ovconvert.check import CheckResult, junit, markdown, precision_summary, text_table

    rows = [{"precision": "f32", "reference": True, "status": "reference", "metrics": {"top1_agreement": 1.0}},
            {"precision": "bf16", "default": True, "status": "changes answers",
             "metrics": {"top1_agreement": 0.885}}]
    assert precision_summary(rows, "classification") == "bf16 (default) 0.885 !"
    assert precision_summary(rows[:1], "classification") == "-"
    env = environment.describe({"name": "CPU", "default_precision": "bf16"})
    result = CheckResult("mobilenet", str(REPO / "recipes/slim/mobilenet_v1_0.25_128.yaml"), "passed", 0, 3.0,
                         metric="classification", agreement=1.0, precisions=precision_summary(rows, "classification"),
                         precision_warnings=["on this CPU OpenVINO defaults to bf16, which …"], environment=env)
    table = text_table([result])
    assert "deployment" in table.splitlines()[0] and "bf16 (default) 0.885 !" in table
    assert "mobilenet: warning: on this CPU OpenVINO defaults to bf16" in table
    text = markdown([result])
    assert "Ran on: " in text and "CPU defaults to bf16" in text and "## Precision warnings" in text
    assert 'name="environment"' in junit([result])
