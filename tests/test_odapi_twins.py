"""The Object Detection zoo's architectures, offline: twins built untrained by the Object Detection API
from PyPI, exported by its own exporter.py, converted through the zoo recipes' path and validated box for
box against TensorFlow (recipes/odapi/twins/). Slow (the API's environment is fetched once, each export
takes minutes): `make test-slow`."""

from __future__ import annotations

import json

import pytest

from conftest import REPO

TWINS = sorted(path.stem for path in (REPO / "recipes" / "odapi" / "twins").glob("*_twin.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("name", TWINS)
def test_twin_exported_by_the_odapi_converts_and_matches_tensorflow(cli, tmp_path, name):
    out = tmp_path / "out"
    code, _, err = cli("run", REPO / "recipes" / "odapi" / "twins" / f"{name}.yaml", "-o", out)
    report = json.loads((out / "report.json").read_text())
    assert code == 0, err[-3000:]
    validation = report["validation"]
    assert validation["passed"] and validation["metrics"]["detection_match"] >= 0.95, validation["metrics"]
    # Untrained, yet answering: boxes above the threshold on most photos, not one answer for all.
    boxed = [s for s in validation["samples"] if s["framework_boxes"]]
    assert len(boxed) >= len(validation["samples"]) // 2, validation["samples"][:3]
    assert not validation.get("degenerate")


def test_every_twin_names_an_architecture_config_of_its_own():
    for name in TWINS:
        text = (REPO / "recipes" / "odapi" / "twins" / f"{name}.yaml").read_text()
        config = name.removesuffix("_twin") + ".config"
        assert f"${{recipe_dir}}/{config}" in text and (REPO / "recipes" / "odapi" / "twins" / config).is_file()


@pytest.mark.slow
def test_init_writes_a_working_recipe_for_a_twin_export(cli, tmp_path):
    """`ovconvert init` on the export directory the API's exporter wrote (frozen graph, pipeline.config,
    checkpoint, saved_model/): the recipe it writes converts and validates as written."""
    from ovconvert.pipeline import expand_all, placeholder_values
    from ovconvert.recipes.loader import load_recipe
    from ovconvert.stages.acquire import acquire

    cache = tmp_path / "cache"
    twin = load_recipe(str(REPO / "recipes" / "odapi" / "twins" / "ssd_mobilenet_v1_twin.yaml"))
    twin = expand_all(twin, placeholder_values(twin, cache, tmp_path / "twin"))
    export = acquire(twin.source, twin.family, cache).directory / "ssd_mobilenet_v1"
    recipe = tmp_path / "mine.yaml"
    code, out, err = cli("init", export, "-o", recipe)
    assert code == 0 and "like odapi/ssd_mobilenet_v1_coco" in out + err, out + err
    code, _, err = cli("run", recipe, "-o", tmp_path / "out", "--cache-dir", cache)
    assert code == 0, err[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["validation"]["passed"]
    assert any("ssd_support_api_v1.15.json fits this graph" in note for note in report["discovered"])
