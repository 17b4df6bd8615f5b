"""The recipe registry: every recipe loads, the Slim table is complete, and bad recipes fail clearly."""

from __future__ import annotations

import textwrap

import pytest

from conftest import REPO
from ovconvert.errors import UserError
from ovconvert.graph.tensor_spec import parse_shape, parse_tensor_spec
from ovconvert.recipes.loader import all_recipe_paths, load_recipe

# The TF-Slim table of OpenVINO's "Converting a TensorFlow Model" guide: row → (recipe, mean, scale).
INCEPTION_NORMALIZATION = ((127.5, 127.5, 127.5), 127.5)
SLIM_TABLE = {
    "Inception v1": "inception_v1", "Inception v2": "inception_v2", "Inception v3": "inception_v3",
    "Inception V4": "inception_v4", "Inception ResNet v2": "inception_resnet_v2",
    "MobileNet v1 128": "mobilenet_v1_0.25_128", "MobileNet v1 160": "mobilenet_v1_0.5_160",
    "MobileNet v1 224": "mobilenet_v1_1.0_224", "NasNet Large": "nasnet_large", "NasNet Mobile": "nasnet_mobile",
    "ResNet v1 50": "resnet_v1_50", "ResNet v1 101": "resnet_v1_101", "ResNet v1 152": "resnet_v1_152",
    "ResNet v2 50": "resnet_v2_50", "ResNet v2 101": "resnet_v2_101", "ResNet v2 152": "resnet_v2_152",
    "VGG 16": "vgg_16", "VGG 19": "vgg_19",
}


def test_every_recipe_loads():
    paths = all_recipe_paths()
    assert len(paths) >= 20
    for path in paths:
        recipe = load_recipe(str(path))
        assert recipe.name == path.stem


def test_slim_table_is_complete_with_its_normalization():
    for row, name in SLIM_TABLE.items():
        recipe = load_recipe(name)
        assert recipe.family == "slim" and recipe.task == "classification", row
        convert = recipe.convert
        if name.startswith(("resnet_v1", "vgg")):
            # The table's values in the network's RGB order, because mo reverses channels first.
            assert convert.mean_values == (123.68, 116.78, 103.94) and convert.scale is None, row
            assert recipe.validate.preprocessing == "vgg"
        else:
            assert (convert.mean_values, convert.scale) == INCEPTION_NORMALIZATION, row
            assert recipe.validate.preprocessing == "inception"
        assert convert.reverse_input_channels and recipe.validate.ir_channel_order == "BGR"
        assert recipe.source.url.startswith("https://download.tensorflow.org/models/")


def test_recipes_are_addressable_by_name_family_path():
    assert load_recipe("inception_v1").name == "inception_v1"
    assert load_recipe("slim/inception_v1").name == "inception_v1"
    assert load_recipe(str(REPO / "recipes/slim/inception_v1.yaml")).name == "inception_v1"


def _write(tmp_path, text: str, name: str = "broken.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


BASE = """
family: slim
task: classification
source: {path: model.pb}
freeze: {format: frozen, graph: model.pb, outputs: [out]}
"""


@pytest.mark.parametrize("body, expected", [
    (BASE + "convert: {mean_value: [1, 2, 3]}\n", "convert.mean_value: unknown key; expected one of"),
    (BASE + "convert: {reverse_input_channels: 'yes'}\n", "convert.reverse_input_channels: expected true or false, got the string 'yes'"),
    (BASE + "convert: {timeout_s: 1.5}\n", "convert.timeout_s: expected a whole number, got the number 1.5"),
    (BASE + "cut: {inputs: ['input:0[1,2,x,3]']}\n", "cut.inputs[0]: shape [1,2,x,3] does not parse"),
    (BASE + "convert: {backend: onnx}\n", "convert.backend: expected one of mo, ovc, got 'onnx'"),
    (BASE.replace("source: {path: model.pb}", "source: {}"), "source: expected exactly one of url, path, builder"),
    (BASE + "convert: {transformations_config: '${mo_dir}/x.json'}\n", "unknown placeholder ${mo_dir}"),
    (BASE.replace("format: frozen, graph: model.pb", "format: frozen"), "freeze.graph: required when freeze.format is frozen"),
    ("family: slim\ntask: [classification]\n", "task: expected a string, got a list of 1"),
    ("- a list\n", "expected a mapping of recipe keys"),
    ("family: slim\n  bad: indentation\n", "not valid YAML at line"),
])
def test_bad_recipe_names_file_key_and_problem(tmp_path, body, expected):
    path = _write(tmp_path, body)
    with pytest.raises(UserError) as error:
        load_recipe(path)
    message = str(error.value)
    assert message.startswith(str(path)) or message.startswith("broken.yaml") or "broken.yaml" in message
    assert expected in message


def test_mean_values_count_error_reads_like_the_issue(cli):
    code, out, err = cli("show", "recipes/slim/vgg_16.yaml", "--set", "convert.mean_values=[1,2]")
    assert code == 2
    # The mistake is in the --set value, so the flag is named (issue 13), and the recipe it applies to.
    assert err.strip() == ("ovconvert: error: --set convert.mean_values=…: expected 3 numbers, got 2 "
                           "(recipe recipes/slim/vgg_16.yaml)")


def test_recipe_not_found_is_a_one_line_user_error(cli):
    code, out, err = cli("run", "no_such_recipe")
    assert code == 2
    assert "recipe 'no_such_recipe' not found" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_set_override_changes_one_run_only():
    recipe = load_recipe("inception_v1", ("cut.inputs=['input:0[1,160,160,3]']", "validate.count=3"))
    assert recipe.cut.inputs == ("input:0[1,160,160,3]",) and recipe.validate.count == 3
    assert load_recipe("inception_v1").cut.inputs == ("input:0[1,224,224,3]{f32}",)


def test_bad_set_syntax(cli):
    code, _, err = cli("show", "inception_v1", "--set", "convert.scale")
    assert code == 2 and "expected KEY=VALUE" in err


def test_dry_run_prints_mo_command_and_writes_nothing(cli, tmp_path):
    code, out, _ = cli("run", "vgg_16", "--dry-run", "-o", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    assert code == 0
    assert "$ mo --input_model" in out and "--mean_values '[123.68,116.78,103.94]'" in out
    assert "--reverse_input_channels" in out and "--compress_to_fp16=False" in out
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_every_recipe_dry_runs(cli, tmp_path):
    names = [path.stem for path in all_recipe_paths()]
    code, out, err = cli("run", *names, "--dry-run", "-o", tmp_path)
    assert code == 0, err
    variants = sum(len(load_recipe(name).variants) for name in names)
    assert out.count("$ mo ") == len(names) + variants


@pytest.mark.parametrize("text, node, port, shape, dtype", [
    ("input", "input", 0, None, None),
    ("input:0[1,224,224,3]", "input", 0, (1, 224, 224, 3), None),
    ("map/TensorArrayStack/TensorArrayGatherV3:0[1 32 86 1]{f32}", "map/TensorArrayStack/TensorArrayGatherV3", 0,
     (1, 32, 86, 1), "float32"),
    ("a/b:2[?,3]{u8}", "a/b", 2, (-1, 3), "uint8"),
])
def test_tensor_spec_parsing(text, node, port, shape, dtype):
    spec = parse_tensor_spec(text)
    assert (spec.node, spec.port, spec.shape, spec.dtype) == (node, port, shape, dtype)
    assert parse_tensor_spec(str(spec)) == spec


@pytest.mark.parametrize("text", ["[1,2,three]", "[1.5]", "1;2"])
def test_bad_shapes_say_how_to_write_one(text):
    with pytest.raises(UserError, match="does not parse"):
        parse_shape(text)


def test_show_prints_every_recipe_as_json(cli, tmp_path):
    import json

    for path in all_recipe_paths():
        code, out, err = cli("show", path, "-o", tmp_path)
        assert code == 0, f"{path.stem}: {err}"
        shown = json.loads(out[:out.index("\n}\n") + 2])
        assert shown["name"] == path.stem and isinstance(shown["variants"], dict)


def test_every_recipe_key_is_documented():
    """docs/recipes.md documents each field of the schema (a key added without docs fails here)."""
    import dataclasses

    from ovconvert.recipes import schema

    import re

    spans = re.findall(r"`([^`]*)`", (REPO / "docs" / "recipes.md").read_text())
    documented = {word for span in spans for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}
    for cls in (schema.Recipe, schema.Source, schema.Freeze, schema.Network, schema.Cut, schema.Convert,
                schema.Validate, schema.Tolerance, schema.Download):
        for field in dataclasses.fields(cls):
            if field.metadata.get("internal"):
                continue
            assert field.name in documented, f"docs/recipes.md does not document {cls.__name__}.{field.name}"


def test_every_download_is_https():
    """download.tensorflow.org and github.com serve https; a plain http:// URL can be altered in transit
    (the SHA-384 catches it only where the recipe has one)."""
    for path in all_recipe_paths():
        recipe = load_recipe(str(path))
        urls = [recipe.source.url] + [item.url for item in (recipe.freeze.network.definition
                                                            if recipe.freeze.network else ())]
        assert all(url.startswith("https://") for url in urls if url), path


def test_list_json_is_for_scripts(cli):
    import json

    code, out, _ = cli("list", "--json")
    assert code == 0
    entries = {entry["name"]: entry for entry in json.loads(out)}
    assert entries["aocr"]["offline"] is True and entries["aocr"]["task"] == "ocr"
    assert entries["slim/inception_v1"]["offline"] is False


def test_run_json_prints_one_array_of_results(cli, tmp_path):
    import json

    code, out, err = cli("run", "recipes/aocr.yaml", "no_such_recipe", "-o", tmp_path / "runs", "--json",
                         "--cache-dir", tmp_path / "cache")
    assert code == 2, err
    results = json.loads(out)  # nothing but the JSON on stdout
    assert [(r["recipe"], r["status"], r["exit_code"]) for r in results] == [("aocr", "converted", 0),
                                                                            ("no_such_recipe", "error", 2)]
    assert json.loads(open(results[0]["report"]).read())["status"] == "converted"
