"""Object Detection API: the AIY Vision Kit detector cut and converted as its documentation compiles it."""

from __future__ import annotations

import json

from conftest import REPO, fixture_path

RECIPE = "recipes/odapi/aiy_person_cat_dog_cut.yaml"


def _run(cli, tmp_path, name, *overrides):
    model = fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb")
    out = tmp_path / name
    code, _, err = cli("run", RECIPE, "--source", model, "-o", out, "--cache-dir", tmp_path / "cache", *overrides)
    report = json.loads((out / "report.json").read_text())
    return code, err, report


def test_aiy_cut_converts_with_its_documented_mean_and_scale(cli, tmp_path):
    code, err, report = _run(cli, tmp_path, "aiy")
    assert code == 0, err
    assert "--input Preprocessor/sub" in " ".join(report["command"])
    metrics = report["validation"]["metrics"]
    # mean/std 128 approximates the graph's own x·2/255 − 1: close, and measurably not exact.
    assert 0.005 < metrics["max_rel_diff"] < 0.03 and metrics["inputs"] == 8


def test_aiy_cut_with_the_graphs_exact_normalization_matches_tightly(cli, tmp_path):
    code, err, report = _run(cli, tmp_path, "exact", "--set", "convert.mean_values=[127.5,127.5,127.5]",
                             "--set", "convert.scale=127.5")
    assert code == 0, err
    assert report["validation"]["metrics"]["max_abs_diff"] < 1e-3


def test_aiy_cut_with_a_wrong_scale_is_rejected(cli, tmp_path):
    code, err, report = _run(cli, tmp_path, "wrong", "--set", "convert.scale=1")
    assert code == 1 and "max_rel_diff" in err
    assert (tmp_path / "wrong" / "ir-rejected").is_dir() and not (tmp_path / "wrong" / "ir").exists()


def test_aiy_whole_graph_through_the_new_frontend_matches_box_by_box(cli, tmp_path):
    model = fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb")
    out = tmp_path / "whole"
    code, _, err = cli("run", "recipes/odapi/aiy_person_cat_dog.yaml", "--source", model, "-o", out,
                       "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    metrics = json.loads((out / "report.json").read_text())["validation"]["metrics"]
    assert metrics["detections"] >= 5 and metrics["matched"] == metrics["detections"]
    assert metrics["missed"] == 0 and metrics["extra"] == 0 and metrics["max_score_diff"] < 1e-3
    import openvino as ov

    model = ov.Core().read_model(out / "ir" / "aiy_person_cat_dog.xml")
    assert len(model.outputs) == 4  # TensorFlow's own post-processing is in the IR
    assert model.inputs[0].get_element_type().get_type_name() == "u8"


def test_detection_metric_catches_swapped_channels(cli, tmp_path):
    """The IR fed BGR while TensorFlow gets RGB: boxes go missing or change, and validation says so."""
    model = fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb")
    out = tmp_path / "bgr"
    code, _, err = cli("run", "recipes/odapi/aiy_person_cat_dog.yaml", "--source", model, "-o", out,
                       "--cache-dir", tmp_path / "cache", "--set", "validate.ir_channel_order=BGR")
    assert code == 1 and ("detection_match" in err or "box(es) TensorFlow did not" in err), err


# ------------------------------------------------------------------ path (b): transformations config


DETECTION_OUTPUT = "recipes/odapi/aiy_person_cat_dog_detection_output.yaml"


def _run_detection_output(cli, tmp_path, name, *overrides):
    model = fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb")
    out = tmp_path / name
    code, stdout, err = cli("run", DETECTION_OUTPUT, "--source", model, "-o", out, "--cache-dir", tmp_path / "cache",
                            *overrides)
    return code, err, out, stdout


def test_aiy_through_the_transformations_config_gives_detection_output_matching_tensorflow(cli, tmp_path):
    code, err, out, stdout = _run_detection_output(cli, tmp_path, "do")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    metrics = report["validation"]["metrics"]
    assert metrics["detections"] >= 5 and metrics["matched"] == metrics["detections"]
    assert metrics["extra"] == 0 and metrics["max_score_diff"] < 0.02
    command = " ".join(report["command"])
    assert "--transformations_config" in command and "--tensorflow_object_detection_api_pipeline_config" in command
    assert "legacy TensorFlow frontend" in (out / "mo.log").read_text()
    import openvino as ov

    model = ov.Core().read_model(out / "ir" / "aiy_person_cat_dog_detection_output.xml")
    assert "DetectionOutput" in {op.get_type_name() for op in model.get_ops()}
    assert [list(o.get_partial_shape().to_shape()) for o in model.outputs] == [[1, 1, 100, 7]]


def test_pipeline_config_that_does_not_match_the_graph_fails_cleanly(cli, tmp_path):
    """90 classes (a COCO config) for a 3-class graph: mo cannot reshape the scores; one line, exit 3."""
    config = (REPO / "recipes/odapi/aiy_person_cat_dog/pipeline.config").read_text()
    wrong = tmp_path / "coco.config"
    wrong.write_text(config.replace("num_classes: 3", "num_classes: 90"))
    code, err, out, _ = _run_detection_output(cli, tmp_path, "wrong", "--set", f"convert.pipeline_config={wrong}")
    assert code == 3 and "mo failed" in err and len(err.strip().splitlines()) == 1, err
    assert not (out / "ir").exists() and not list(out.glob(".convert-*"))


def test_missing_pipeline_config_and_unknown_transformations_config_are_user_errors(cli, tmp_path):
    code, err, out, _ = _run_detection_output(cli, tmp_path, "none", "--set",
                                           f"convert.pipeline_config={tmp_path / 'pipeline.config'}")
    assert code == 2 and "convert.pipeline_config" in err and "add it to source.members" in err, err
    code, err, out, _ = _run_detection_output(cli, tmp_path, "unknown", "--set",
                                           "convert.transformations_config=${mo_ext_dir}/front/tf/ssd_v9_support.json")
    assert code == 2 and "ssd_v9_support.json not found" in err and "ssd_v2_support.json" in err, err
    assert not (out / "ir").exists()
