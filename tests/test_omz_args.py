"""ovconvert's mo arguments mean the same as Open Model Zoo's for the models both registries hold."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

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
