"""Object Detection API: the AIY Vision Kit detector cut and converted as its documentation compiles it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

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


# ----------------------------------------------------------- a user's own export, through a zoo recipe


@pytest.fixture
def user_export(tmp_path):
    """What the ODAPI exporter leaves for a fine-tuned model: frozen_inference_graph.pb and the
    pipeline.config it was trained with (here the AIY detector, 3 classes, 256×256 — not the zoo
    recipe's 90 classes and 300×300)."""
    directory = tmp_path / "my-export"
    directory.mkdir()
    shutil.copy(fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb"),
                directory / "frozen_inference_graph.pb")
    shutil.copy(REPO / "recipes/odapi/aiy_person_cat_dog/pipeline.config", directory / "pipeline.config")
    return directory


def test_a_user_export_dir_converts_through_the_zoo_recipe_with_what_its_pipeline_config_says(cli, tmp_path,
                                                                                            user_export):
    out = tmp_path / "mine"
    code, _, err = cli("run", "ssd_mobilenet_v1_coco@tf_postprocessing", "--source", user_export, "-o", out,
                       "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["cut"]["inputs"] == ["image_tensor:0[1,256,256,3]{u8}"]
    assert report["discovered"][:3] == [f"pipeline.config found beside the graph ({user_export / 'pipeline.config'})",
                                        "3 classes (num_classes in pipeline.config)",
                                        "input 256×256 from fixed_shape_resizer (the recipe says 300×300)"]
    metrics = report["validation"]["metrics"]
    assert metrics["detections"] >= 5 and metrics["matched"] == metrics["detections"]


@pytest.mark.slow
def test_a_value_set_by_the_user_wins_over_what_the_export_says(cli, tmp_path, user_export):
    cli("run", "ssd_mobilenet_v1_coco@tf_postprocessing", "--source", user_export, "-o", tmp_path / "set",
        "--set", "cut.inputs=['image_tensor:0[1,300,300,3]{u8}']", "--cache-dir", tmp_path / "cache")
    report = json.loads((tmp_path / "set" / "report.json").read_text())
    assert report["cut"]["inputs"] == ["image_tensor:0[1,300,300,3]{u8}"]
    assert not any("fixed_shape_resizer" in note for note in report.get("discovered", []))


def test_a_user_export_without_pipeline_config_says_where_to_put_it(cli, tmp_path, user_export):
    (user_export / "pipeline.config").unlink()
    code, _, err = cli("run", "ssd_mobilenet_v1_coco", "--source", user_export, "-o", tmp_path / "none",
                       "--cache-dir", tmp_path / "cache")
    assert code == 2 and "no pipeline.config beside" in err and "--set convert.pipeline_config=PATH" in err, err


def test_transformations_candidates_follow_odapi_releases(tmp_path):
    from ovconvert.families.odapi import describe_candidate, transformations_candidates
    from ovconvert.recipes.loader import load_recipe

    names = [describe_candidate(c) for c in transformations_candidates(
        _expanded(load_recipe("ssd_mobilenet_v1_coco", source_path=str(tmp_path))))]
    assert names[0] == "ssd_v2_support.json"
    assert names.index("ssd_support_api_v1.14.json") < names.index("ssd_support_api_v1.15.json") \
        < names.index("ssd_support_api_v2.0.json")
    assert names[-1] == "mo's new TensorFlow frontend on the whole graph"
    faster = [describe_candidate(c) for c in transformations_candidates(
        _expanded(load_recipe("faster_rcnn_inception_v2_coco")))][:-1]
    assert all(name.startswith("faster_rcnn_support") for name in faster) and len(faster) >= 8
    chosen = load_recipe("ssd_mobilenet_v1_coco", ("convert.transformations_config=${mo_ext_dir}/front/tf/ssd_support_api_v1.15.json",))
    assert [Path(c).name for c in transformations_candidates(_expanded(chosen))] == ["ssd_support_api_v1.15.json"]


def test_the_config_whose_nodes_the_graph_has_comes_first(tmp_path):
    """A graph of a newer ODAPI names its post-processor's cast Postprocessor/Cast_1 (ToFloat in the
    zoo's 2018 graphs): ssd_support_api_v1.15.json, whose named nodes are all there, is tried first."""
    import tensorflow as tf

    from ovconvert.families.odapi import describe_candidate, transformations_candidates
    from ovconvert.recipes.loader import load_recipe

    graph = tf.compat.v1.GraphDef()
    for name in ("Postprocessor/Shape", "Postprocessor/scale_logits", "Postprocessor/Tile", "Postprocessor/Reshape_1",
                 "Postprocessor/Cast_1", "detection_boxes", "detection_scores", "num_detections"):
        graph.node.add(name=name, op="NoOp")
    path = tmp_path / "cut.pb"
    path.write_bytes(graph.SerializeToString())
    names = [describe_candidate(c) for c in transformations_candidates(
        _expanded(load_recipe("ssd_mobilenet_v1_coco", source_path=str(tmp_path))), path)]
    assert names[0] == "ssd_support_api_v1.15.json", names
    assert names.index("ssd_v2_support.json") > names.index("ssd_support_api_v1.15.json")


def _expanded(recipe):
    from ovconvert.pipeline import expand_all, placeholder_values

    return expand_all(recipe, placeholder_values(recipe, Path("/tmp"), Path("/tmp")))


def test_an_ir_with_an_image_info_input_gets_the_images_size():
    """mo's Faster R-CNN/R-FCN/Mask R-CNN conversions add an image_info [1,3] input for the Proposal
    layer; validation, bench, quantize and predict feed it [[height, width, 1]] of the image they feed."""
    import numpy as np
    import openvino as ov
    from openvino.runtime import opset8 as ops

    from ovconvert.predict import complete_feed

    image = ops.parameter([1, 4, 6, 3], np.float32, name="image_tensor")
    info = ops.parameter([1, 3], np.float32, name="image_info")
    image.output(0).set_names({"image_tensor"})
    info.output(0).set_names({"image_info"})
    model = ov.Model([ops.add(ops.reduce_sum(image, [1, 2, 3], True), ops.reduce_sum(info, [1], True))], [image, info])
    feed = complete_feed(model, [np.ones((1, 4, 6, 3), np.float32)])
    assert feed[1].tolist() == [[4.0, 6.0, 1.0]]
    assert ov.Core().compile_model(model, "CPU").create_infer_request().infer(feed)[0].item() == 72 + 11
    single = [np.ones((1, 4, 6, 3), np.float32)]
    assert complete_feed(ov.Model([ops.reduce_sum(image, [1], True)], [image]), single) is single


@pytest.mark.slow
def test_aiy_int8_that_keeps_boxes_in_place_but_loses_their_scores_is_rejected(cli, tmp_path):
    """The AIY detector (depth multiplier 0.125) in plain INT8, with the full bias correction detection
    gets by default: every box stays in place (IoU ≥ 0.9; the fast correction loses 2 of 9), but some
    scores fall by more than the gate's 0.2 — a box at 0.85 becomes one at 0.25, lost at the deployment
    threshold — so the INT8 IR is kept out of use."""
    model = fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb")
    out = tmp_path / "int8"
    code, _, err = cli("run", "recipes/odapi/aiy_person_cat_dog.yaml", "--source", model, "-o", out,
                       "--cache-dir", tmp_path / "cache", "--quantize", "int8", "--set", "quantize.method=plain")
    assert code == 0, err
    int8 = json.loads((out / "report.json").read_text())["int8"]
    assert int8["status"] == "failed the gate", int8
    assert int8["metrics"]["matched"] == int8["metrics"]["detections"] >= 5
    assert int8["failures"] and all("max_score_diff" in failure for failure in int8["failures"])
    assert (out / "ir-int8-rejected").is_dir() and not (out / "ir-int8").exists()


@pytest.mark.slow
def test_aiy_int8_with_accuracy_control_keeps_every_box_and_its_score(cli, tmp_path):
    """The same detector with the recipe's defaults: plain INT8 fails as above, accuracy control keeps
    the layers that cost the scores most in f32, and the INT8 IR then finds every TensorFlow box in place
    (IoU ≥ 0.9) with its score within 0.2. Weights are 7-bit everywhere (quantize.overflow_fix: all), so
    CPUs without VNNI compute what VNNI CPUs do and the gate means the same on both."""
    model = fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb")
    out = tmp_path / "int8"
    code, _, err = cli("run", "recipes/odapi/aiy_person_cat_dog.yaml", "--source", model, "-o", out,
                       "--cache-dir", tmp_path / "cache", "--quantize", "int8", "--no-bench")
    assert code == 0, err
    int8 = json.loads((out / "report.json").read_text())["int8"]
    assert int8["status"] == "passed" and int8["method"] == "accuracy control", int8
    assert int8["metrics"]["detection_match"] >= 0.95 and int8["metrics"]["max_score_diff"] <= 0.2
    assert int8["fake_quantize_layers"] > 30  # most of the network is still int8
    assert len(list((out / "ir-int8").glob("*.xml"))) == 1 and not (out / "ir-int8-rejected").exists()
