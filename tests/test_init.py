"""`ovconvert init`: a model nobody wrote a recipe for — matched to its family by what the graph says,
written out as a recipe, and converted by `ovconvert run` with that recipe alone (issue 11)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from conftest import REPO, fixture_path


def _init_and_run(cli, tmp_path, model, *run_args):
    recipe = tmp_path / "mine.yaml"
    code, out, err = cli("init", model, "-o", recipe)
    assert code == 0, err
    code, _, err = cli("run", f"{recipe}{run_args[0] if run_args else ''}", "-o", tmp_path / "run",
                       "--cache-dir", tmp_path / "cache", *run_args[1:])
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    return code, err, out, yaml.safe_load(recipe.read_text()), report


def test_a_retrained_classifier_gets_a_recipe_with_its_own_output(cli, tmp_path):
    code, err, said, recipe, report = _init_and_run(cli, tmp_path, fixture_path("slim/retrained_mobilenet_0.25_128.pb"))
    assert code == 0, err
    assert "slim family, like slim/mobilenet_v1_0.25_128" in said and "final_result" in said
    assert recipe["freeze"]["outputs"] == ["final_result"] and recipe["cut"]["inputs"] == ["input:0[1,128,128,3]{f32}"]
    assert report["status"] == "converted" and report["validation"]["metrics"]["top1_agreement"] == 1.0


def test_a_detector_without_pipeline_config_converts_whole(cli, tmp_path):
    code, err, said, recipe, report = _init_and_run(
        cli, tmp_path, fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb"))
    assert code == 0, err
    assert "input 256×256 from image_tensor's shape" in said and "variants" not in recipe
    metrics = report["validation"]["metrics"]
    assert metrics["detections"] >= 5 and metrics["matched"] == metrics["detections"]


@pytest.mark.slow
def test_an_export_dir_with_pipeline_config_is_read(cli, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    shutil.copy(fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb"), export / "frozen_inference_graph.pb")
    shutil.copy(REPO / "recipes/odapi/aiy_person_cat_dog/pipeline.config", export / "pipeline.config")
    # The graph-with-TF-post-processing variant: the main conversion needs the AIY detector's own
    # transformations config, which none of mo's fits (recipes/odapi/aiy_person_cat_dog_detection_output.yaml).
    code, err, said, recipe, report = _init_and_run(cli, tmp_path, export, "@tf_postprocessing")
    assert code == 0, err
    assert recipe["convert"]["pipeline_config"] == str((export / "pipeline.config").resolve())
    assert recipe["cut"]["inputs"] == ["image_tensor:0[1,256,256,3]{u8}"] and "3 classes" in said
    assert report["cut"]["inputs"] == ["image_tensor:0[1,256,256,3]{u8}"]


@pytest.mark.slow
def test_an_original_aocr_saved_model_and_a_quantized_tflite(cli, tmp_path):
    code, err, said, recipe, report = _init_and_run(cli, tmp_path / "aocr", fixture_path("aocr-tf1.15"))
    assert code == 0, err
    assert "aocr_legacy family" in said and "weight shard" in said and recipe["freeze"]["weights"] == "initializers"
    assert report["validation"]["metrics"]["string_match"] == 1.0 and report["validation"]["degenerate"]
    code, err, said, recipe, report = _init_and_run(cli, tmp_path / "tflite",
                                                    fixture_path("tflite-quant/mobilenet_v1_0.25_128_quant.tflite"))
    assert code == 0, err
    assert "tflite_quant family" in said and "variants" not in recipe and report["status"] == "converted"


def test_what_init_cannot_match_is_a_one_line_error(cli, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    code, _, err = cli("init", text)
    assert code == 2 and "not a model ovconvert recognizes" in err
    import keras

    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(tmp_path / "mine.keras")
    code, _, err = cli("init", tmp_path / "mine.keras")
    assert code == 2 and "a Keras model file; freeze it first (`ovconvert freeze" in err
    code, _, err = cli("init", tmp_path / "nothing.pb")
    assert code == 2 and "no such file or directory" in err
    code, _, err = cli("init", fixture_path("slim/mobilenet_v1_0.50_128_quantized_graph.pb"))
    assert code == 2 and "weight-quantized (Dequantize ops" in err
    (tmp_path / "mine.yaml").write_text("")
    code, _, err = cli("init", fixture_path("slim/mobilenet_v1_0.25_128_frozen.pb"), "-o", tmp_path / "mine.yaml")
    assert code == 2 and "exists" in err and (tmp_path / "mine.yaml").read_text() == ""


@pytest.mark.slow
def test_every_fixture_gets_a_working_recipe(cli, tmp_path):
    for relative in ("slim/mobilenet_v1_0.25_128_frozen.pb", "tflite-quant/mobilenet_v2_1.0_224_quant.tflite"):
        code, err, _, _, report = _init_and_run(cli, tmp_path / relative.replace("/", "_"), fixture_path(relative))
        assert code == 0 and report["status"] == "converted", (relative, err)
