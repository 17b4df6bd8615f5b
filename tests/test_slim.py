"""The Slim family end to end: real archive layout over loopback, real mo, validation against TF."""

from __future__ import annotations

import json

import pytest

from conftest import fixture_path, sha384
from ovconvert.families.slim import NETWORKS, build_untrained_archive, tf_slim_has
from ovconvert.recipes.loader import load_recipe

# ImageNet domestic cats (tabby, tiger, Persian, Siamese, Egyptian) in the 1001-class (background first) indexing.
CAT_CLASSES_1001 = range(282, 287)


def serve_untrained(loopback, recipe_name: str, tmp_path) -> list[str]:
    """Build the recipe's network untrained in its real archive layout, serve it, and return the
    --set overrides that point the recipe at it (URL, size, SHA-384)."""
    recipe = load_recipe(recipe_name)
    archive_name = recipe.source.url.rsplit("/", 1)[1]
    args = {"network": recipe.freeze.network.name, "archive": archive_name, "seed": 3,
            "checkpoint": recipe.source.members[0], **dict(recipe.freeze.network.args)}
    work = tmp_path / "build"
    work.mkdir()
    archive = build_untrained_archive(args, work)
    archive.replace(loopback.root / archive_name)
    served = loopback.root / archive_name
    return ["--set", f"source.url={loopback.url(archive_name)}", "--set", f"source.size={served.stat().st_size}",
            "--set", f"source.sha384={sha384(served)}"]


def run_recipe(cli, name, tmp_path, *extra):
    out = tmp_path / "out"
    code, stdout, stderr = cli("run", name, "-o", out, "--cache-dir", tmp_path / "cache", *extra)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    return code, stderr, report, out


def test_inception_v1_recipe_downloads_unpacks_freezes_converts_validates(cli, loopback, tmp_path):
    overrides = serve_untrained(loopback, "inception_v1", tmp_path)
    code, err, report, out = run_recipe(cli, "inception_v1", tmp_path, *overrides, "--set", "validate.count=6")
    assert code == 0, err
    assert report["status"] == "converted" and report["validation"]["passed"]
    assert loopback.requests[0]["path"] == "/inception_v1_2016_08_28.tar.gz"
    metrics = report["validation"]["metrics"]
    assert metrics["top1_agreement"] == 1.0 and metrics["max_rel_diff"] < 1e-3
    assert len({s["tf_top1"] for s in report["validation"]["samples"]}) > 1, "photos must not all look alike"
    assert (out / "ir" / "inception_v1.xml").is_file() and "--reverse_input_channels" in report["command"]


@pytest.mark.parametrize("override", [
    pytest.param("convert.mean_values=[120,120,120]", marks=pytest.mark.slow),  # the same check as the one below
    "convert.reverse_input_channels=false",
    pytest.param("convert.scale=1", marks=pytest.mark.slow)])
def test_a_wrong_mean_scale_or_channel_order_fails_validation(cli, tmp_path, override):
    code, err, report, out = run_recipe(cli, "inception_v1_untrained", tmp_path, "--set", override,
                                        "--set", "validate.count=6")
    assert code == 1, err
    assert "disagrees with TensorFlow" in err and report["status"] == "validation failed"
    assert not (out / "ir").exists() and (out / "ir-rejected").is_dir()


def test_real_mobilenet_reads_chelsea_as_a_cat(cli, tmp_path):
    model = fixture_path("slim/mobilenet_v1_0.25_128_frozen.pb")
    code, err, report, _ = run_recipe(cli, "mobilenet_v1_0.25_128", tmp_path, "--source", model,
                                      "--set", "validate.count=26")
    assert code == 0, err
    chelsea = next(s for s in report["validation"]["samples"] if s["name"] == "chelsea")
    assert chelsea["tf_top1"] in CAT_CLASSES_1001 and chelsea["ir_top1"] in CAT_CLASSES_1001
    assert report["validation"]["metrics"]["top1_agreement"] == 1.0


TF_SLIM_RECIPES = [name for name in ("inception_v2", "inception_v3", "resnet_v1_50", "resnet_v1_101",
                                     "resnet_v1_152", "resnet_v2_50", "resnet_v2_101", "resnet_v2_152",
                                     "vgg_16", "vgg_19")]


def test_every_tf_slim_network_has_a_recipe():
    assert {n for n in NETWORKS if tf_slim_has(n)} == set(TF_SLIM_RECIPES) | {"inception_v1"}


@pytest.mark.slow
@pytest.mark.parametrize("name", TF_SLIM_RECIPES)
def test_every_tf_slim_network_converts_over_loopback(cli, loopback, tmp_path, name):
    overrides = serve_untrained(loopback, name, tmp_path)
    code, err, report, _ = run_recipe(cli, name, tmp_path, *overrides, "--set", "validate.count=4")
    assert code == 0, err
    assert report["validation"]["passed"]


@pytest.mark.slow  # ResNet v1 at 224: the longest test; the wrong-order check above runs by default
def test_the_tables_bgr_mean_order_fails_on_resnet_v1_and_the_rgb_order_passes(cli, loopback, tmp_path):
    """OpenVINO's table gives ResNet v1's means "as if the image is read in BGR" ([103.94,116.78,123.68]);
    mo subtracts them after reversing the channels, so only the RGB order is right. An untrained ResNet
    saturates its softmax to one class for every photo, so this compares the logits, where it cannot hide."""
    overrides = serve_untrained(loopback, "resnet_v1_50", tmp_path)
    logits = ["--set", "freeze.outputs=[resnet_v1_50/logits/BiasAdd]", "--set", "validate.count=4"]
    code, err, report, _ = run_recipe(cli, "resnet_v1_50", tmp_path / "rgb", *overrides, *logits)
    assert code == 0, err
    assert report["validation"]["metrics"]["max_rel_diff"] < 1e-3
    code, err, report, _ = run_recipe(cli, "resnet_v1_50", tmp_path / "bgr", *overrides, *logits,
                                      "--set", "convert.mean_values=[103.94,116.78,123.68]")
    assert code == 1 and "max_rel_diff" in err, err
    assert report["validation"]["metrics"]["max_rel_diff"] > 1e-2


def test_a_user_retrained_mobilenet_converts_through_the_zoo_recipe_with_no_set(cli, tmp_path):
    """TF for Poets' retrain.py output (257 classes, `final_result`, a 128×128 input, a
    PlaceholderWithDefault bottleneck input) through the 224 zoo recipe: its own output and input size
    are read from the graph, said in the log and the report, and the IR agrees with TensorFlow."""
    model = fixture_path("slim/retrained_mobilenet_0.25_128.pb")
    code, err, report, out = run_recipe(cli, "mobilenet_v1_1.0_224", tmp_path, "--source", model)
    assert code == 0, err
    assert report["cut"]["inputs"] == ["input:0[1,128,128,3]{f32}"] and report["cut"]["outputs"] == ["final_result"]
    assert any("final_result" in note for note in report["discovered"])
    assert any("[1, 128, 128, 3] in the model" in note for note in report["discovered"])
    assert report["validation"]["metrics"]["top1_agreement"] == 1.0
    assert len({s["tf_top1"] for s in report["validation"]["samples"]}) > 1
    assert "Read from the model:" in (out / "report.md").read_text()
    # What the user sets still wins: an output named with --set is used as it is (and must exist).
    code, err, _, _ = run_recipe(cli, "mobilenet_v1_1.0_224", tmp_path / "set", "--source", model,
                                 "--set", "cut.outputs=[MobilenetV1/Predictions/Reshape_1]")
    assert code == 2 and "MobilenetV1/Predictions/Reshape_1' is not in the graph" in err
