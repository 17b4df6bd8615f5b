"""ovconvert's mo arguments mean the same as Open Model Zoo's for the models both registries hold."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from ovconvert.stages.convert import mo_ext_dir
from ovconvert.recipes.loader import load_recipe

OMZ = Path(importlib.util.find_spec("omz_tools").submodule_search_locations[0]) / "models" / "public"
PAIRS = {"googlenet-v1-tf": "inception_v1", "googlenet-v2-tf": "inception_v2", "googlenet-v4-tf": "inception_v4",
         "mobilenet-v1-0.25-128": "mobilenet_v1_0.25_128", "mobilenet-v1-1.0-224-tf": "mobilenet_v1_1.0_224"}
# slim.softmax reshapes logits to 2-D, applies Softmax, then reshapes back (Reshape_1): for [1, classes]
# logits both are the same tensor values, so OMZ's `…/Softmax` and the guide's `…/Reshape_1` agree.
SAME_TENSOR = {"InceptionV1/Logits/Predictions/Softmax": "InceptionV1/Logits/Predictions/Reshape_1",
               "InceptionV2/Predictions/Softmax": "InceptionV2/Predictions/Reshape_1"}


def omz_arguments(model: str) -> dict:
    args = yaml.safe_load((OMZ / model / "model.yml").read_text())["model_optimizer_args"]
    parsed = {}
    for arg in args:
        key, _, value = arg.lstrip("-").partition("=")
        parsed[key] = value or True
    return parsed


def numbers(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split("[", 1)[1].rstrip("]").split(","))


@pytest.mark.parametrize("omz_name, recipe_name", PAIRS.items())
def test_same_preprocessing_input_and_output(omz_name, recipe_name):
    omz = omz_arguments(omz_name)
    recipe = load_recipe(recipe_name)
    convert = recipe.convert
    assert bool(omz.get("reverse_input_channels")) == convert.reverse_input_channels
    assert numbers(omz["mean_values"]) == convert.mean_values
    omz_scale = numbers(omz["scale_values"])
    assert omz_scale == (convert.scale,) or omz_scale == convert.scale_values
    assert recipe.cut.inputs[0].split(":")[0] == omz.get("input", "input")
    recipe_output = (recipe.cut.outputs or recipe.freeze.outputs)[0]
    assert SAME_TENSOR.get(omz["output"], omz["output"]) == recipe_output


def test_omz_archive_checksums_are_the_recipes():
    for omz_name, recipe_name in PAIRS.items():
        files = yaml.safe_load((OMZ / omz_name / "model.yml").read_text())["files"]
        recipe = load_recipe(recipe_name)
        archive = next(f for f in files if f["name"].endswith((".tar.gz", ".tgz")))
        assert (archive["size"], archive["checksum"]) == (recipe.source.size, recipe.source.sha384), recipe_name


# ------------------------------------------------------------------------- Object Detection API models

ODAPI_PAIRS = {"ssd_mobilenet_v1_coco": "ssd_mobilenet_v1_coco", "ssd_mobilenet_v1_fpn_coco": "ssd_mobilenet_v1_fpn_coco",
               "ssdlite_mobilenet_v2": "ssdlite_mobilenet_v2_coco", "faster_rcnn_resnet50_coco": "faster_rcnn_resnet50_coco",
               "faster_rcnn_inception_resnet_v2_atrous_coco": "faster_rcnn_inception_resnet_v2_atrous_coco",
               "mask_rcnn_inception_resnet_v2_atrous_coco": "mask_rcnn_inception_resnet_v2_atrous_coco",
               "mask_rcnn_resnet50_atrous_coco": "mask_rcnn_resnet50_atrous_coco",
               "rfcn-resnet101-coco-tf": "rfcn_resnet101_coco"}
# ovconvert also asks for detection_classes: the detection metric reads TensorFlow's classes from it (in
# the IR, DetectionOutput carries the class of each box either way).
METRIC_OUTPUTS = {"detection_classes"}


def generated_mo_arguments(cli, recipe_name: str) -> dict:
    """The main conversion's mo command as `ovconvert run --dry-run` prints it, parsed into {option: value}."""
    import shlex

    code, stdout, err = cli("run", f"odapi/{recipe_name}", "--no-variants", "--dry-run", "-o", "out")
    assert code == 0, err
    words = shlex.split(next(line[2:] for line in stdout.splitlines() if line.startswith("$ mo ")))[1:]
    parsed = {}
    for index, word in enumerate(words):
        if word.startswith("--"):
            key, _, value = word[2:].partition("=")
            following = words[index + 1] if index + 1 < len(words) else "--"
            parsed[key] = value or (following if not following.startswith("--") else True)
    return parsed


@pytest.mark.parametrize("omz_name, recipe_name", ODAPI_PAIRS.items())
def test_detection_models_get_the_same_mo_arguments_as_open_model_zoo(cli, omz_name, recipe_name):
    model = yaml.safe_load((OMZ / omz_name / "model.yml").read_text())
    omz = omz_arguments(omz_name)
    ours = generated_mo_arguments(cli, recipe_name)
    # The transformations config is the same file of the installed mo.
    assert Path(ours["transformations_config"]) == Path(omz["transformations_config"].replace(
        "$mo_ext_dir", str(mo_ext_dir())))
    assert Path(ours["transformations_config"]).is_file()
    # The archive's own pipeline.config and frozen graph, at the same place in the unpacked archive.
    assert ours["tensorflow_object_detection_api_pipeline_config"].replace("${download_dir}", "$dl_dir") \
        == omz["tensorflow_object_detection_api_pipeline_config"]
    recipe = load_recipe(recipe_name)
    assert recipe.freeze.graph.replace("${download_dir}", "$dl_dir") == omz["input_model"]
    assert bool(ours.get("reverse_input_channels")) == bool(omz.get("reverse_input_channels"))
    # Open Model Zoo's converter adds --input/--input_shape from input_info.
    (info,) = model["input_info"]
    assert ours["input"] == info["name"] and numbers(ours["input_shape"]) == tuple(info["shape"])
    if "output" in omz:
        assert set(omz["output"].split(",")) <= set(ours["output"].split(","))
        assert set(ours["output"].split(",")) - set(omz["output"].split(",")) <= METRIC_OUTPUTS
    else:
        assert "output" not in ours
    archive = next(f for f in model["files"] if f["name"].endswith(".tar.gz"))
    assert (archive["size"], archive["checksum"]) == (recipe.source.size, recipe.source.sha384)
    # The same file: Open Model Zoo lists it over http://, the recipes fetch it over https:// (issue 14).
    assert recipe.source.url == archive["original_source"].replace("http://", "https://", 1)


def test_every_row_of_the_guides_detection_table_has_a_recipe_with_both_paths():
    rows = [p for p in (REPO / "recipes" / "odapi").glob("*.yaml") if not p.stem.startswith("aiy_")]
    assert len(rows) == 26
    for path in rows:
        recipe = load_recipe(str(path))
        assert recipe.convert.transformations_config and recipe.convert.pipeline_config, path.stem
        assert Path(recipe.convert.transformations_config.replace("${mo_ext_dir}", str(mo_ext_dir()))).is_file(), \
            path.stem
        assert "tf_postprocessing" in recipe.variants
        variant = load_recipe(f"{path}@tf_postprocessing")
        assert variant.convert.transformations_config is None and variant.convert.pipeline_config is None
