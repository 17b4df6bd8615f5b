"""Object Detection API: the AIY Vision Kit detector cut and converted as its documentation compiles it."""

from __future__ import annotations

import json

from conftest import fixture_path

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
