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
