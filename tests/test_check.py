"""`ovconvert check`: selection, parallel runs, JUnit/Markdown reports, baselines and regressions."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture
def recipe_dir(tmp_path, tiny_aocr, monkeypatch):
    """A recipes/ tree with two copies of the aocr recipe on the tiny model: one that passes and one
    whose tolerance no real conversion meets (max difference 0), so it fails validation."""
    from ovconvert import check
    from ovconvert.recipes import loader

    _, model_dir = tiny_aocr
    root = tmp_path / "repo" / "recipes"
    (root / "aocr").mkdir(parents=True)
    text = (REPO / "recipes" / "aocr.yaml").read_text()
    text = text.replace("  builder: frozen_graph\n", f"  builder: frozen_graph\n  builder_args: {{model_dir: '{model_dir}'}}\n")
    text = text.replace("${recipe_dir}/aocr-samples", str(REPO / "recipes" / "aocr-samples"))
    (root / "aocr" / "tiny_ok.yaml").write_text(text)
    (root / "aocr" / "tiny_strict.yaml").write_text(text.replace("max_abs_diff: 1.0e-4", "max_abs_diff: 0.0"))
    monkeypatch.setattr(loader, "RECIPES_DIR", root)
    monkeypatch.setattr(check, "RECIPES_DIR", root)
    return root


def test_check_runs_recipes_in_parallel_and_reports(recipe_dir, tmp_path, cli):
    junit, markdown = tmp_path / "junit.xml", tmp_path / "summary.md"
    code, out, err = cli("check", "aocr", "-j", "2", "-o", tmp_path / "runs", "--cache-dir", tmp_path / "cache",
                         "--junit", junit, "--markdown", markdown)
    assert code == 1, err  # one recipe failed validation
    lines = out.splitlines()
    assert lines[0].split() == ["recipe", "status", "metric", "agreement", "max", "diff", "deployment", "IR", "size",
                                "speed-up", "b1", "speed-up", "bN", "time"]
    assert "ran on: " in err and "OpenVINO 2024.6" in err  # where it ran: precision depends on the CPU
    row = {line.split()[0]: line.split() for line in lines[2:4]}
    assert row["tiny_ok"][1:4] == ["passed", "ocr", "1.000"] and row["tiny_strict"][1] == "failed"
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failed = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert [case.get("name") for case in failed] == ["tiny_strict"]
    assert "max_abs_diff" in failed[0].find("failure").get("message")
    assert "| tiny_ok | passed | ocr |" in markdown.read_text()


def test_baseline_catches_regressions(recipe_dir, tmp_path, cli):
    baseline = tmp_path / "baseline.json"
    args = ("check", "tiny_ok", "-o", tmp_path / "runs", "--cache-dir", tmp_path / "cache", "--baseline", baseline)
    code, _, err = cli(*args, "--update-baseline")
    assert code == 0, err
    stored = json.loads(baseline.read_text())["recipes"]["tiny_ok"]
    assert stored["agreement"] == 1.0 and stored["ir_bytes"] > 0 and stored["convert_seconds"] > 0
    code, _, _ = cli(*args)  # the same conversion again: no regression
    assert code == 0
    stored["ir_bytes"] = int(stored["ir_bytes"] * 0.8)  # as if the IR had grown by a quarter since
    stored["max_abs_diff"] = 1e-12
    baseline.write_text(json.dumps({"recipes": {"tiny_ok": stored}}))
    code, out, _ = cli(*args)
    assert code == 1
    assert out.splitlines()[2].split()[:2] == ["tiny_ok", "regressed"]
    assert "IR size" in out and "more than 2% apart" in out


@pytest.mark.slow
def test_bench_speedups_go_to_the_baseline_and_a_slower_ir_is_a_regression(recipe_dir, tmp_path, cli):
    baseline = tmp_path / "baseline.json"
    args = ("check", "tiny_ok", "--bench", "-o", tmp_path / "runs", "--cache-dir", tmp_path / "cache",
            "--baseline", baseline)
    code, out, err = cli(*args, "--update-baseline")
    assert code == 0, err
    stored = json.loads(baseline.read_text())["recipes"]["tiny_ok"]
    assert stored["latency_speedup"] > 0 and stored["throughput_speedup"] > 0
    assert out.splitlines()[2].split()[-3].endswith("×")  # the speed-up columns are filled
    report = json.loads((tmp_path / "runs" / "tiny_ok" / "report.json").read_text())
    assert {row["engine"] for row in report["bench"]["rows"]} == {"TensorFlow", "OpenVINO"}
    stored["throughput_speedup"] = 1000.0  # as if the IR had been a thousand times faster before
    baseline.write_text(json.dumps({"recipes": {"tiny_ok": stored}}))
    code, out, _ = cli(*args)
    assert code == 1 and "throughput speed-up" in out and "< baseline 1000.00×" in out


def test_changed_since_selects_recipes_whose_inputs_changed(recipe_dir, tmp_path, cli):
    repo = recipe_dir.parent
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "base")
    code, out, _ = cli("check", "aocr", "--changed-since", "HEAD", "--list")
    assert code == 0 and out.strip() == ""
    path = recipe_dir / "aocr" / "tiny_strict.yaml"
    path.write_text(path.read_text().replace("count: 12", "count: 4"))
    assert "count: 4" in path.read_text()  # the edit took: the recipe's inputs changed
    code, out, _ = cli("check", "aocr", "--changed-since", "HEAD", "--list")
    assert code == 0 and [Path(line).stem for line in out.split()] == ["tiny_strict"]
    code, _, err = cli("check", "--changed-since", "no-such-ref", "--list")
    assert code == 2 and "no-such-ref" in err


def test_bad_check_arguments_are_one_line_errors(recipe_dir, tmp_path, cli):
    code, _, err = cli("check", "no_such_recipe")
    assert code == 2 and "no recipe matches 'no_such_recipe'" in err
    code, _, err = cli("check", "tiny_ok", "--update-baseline")
    assert code == 2 and "--update-baseline needs --baseline" in err
    (tmp_path / "bad.json").write_text("[1, 2]")
    code, _, err = cli("check", "tiny_ok", "--baseline", tmp_path / "bad.json")
    assert code == 2 and "not an ovconvert baseline" in err


def test_check_fails_a_recipe_whose_mean_values_are_broken(tmp_path, cli, monkeypatch):
    """A real regression: the quantized classifier's .pb twin with wrong mean values. Its main .tflite
    conversion still passes; the broken variant fails validation, and check says so in every report."""
    from ovconvert import check
    from ovconvert.recipes import loader

    root = tmp_path / "repo" / "recipes"
    (root / "tflite_quant").mkdir(parents=True)
    text = (REPO / "recipes" / "tflite_quant" / "tiny_photo_classifier_quant.yaml").read_text()
    broken = text.replace("convert.mean_values: [127.5, 127.5, 127.5]", "convert.mean_values: [100, 100, 100]")
    assert broken != text
    (root / "tflite_quant" / "tiny_broken_mean.yaml").write_text(broken)
    monkeypatch.setattr(loader, "RECIPES_DIR", root)
    monkeypatch.setattr(check, "RECIPES_DIR", root)
    junit, markdown = tmp_path / "junit.xml", tmp_path / "summary.md"
    code, out, err = cli("check", "-o", tmp_path / "runs", "--cache-dir", tmp_path / "cache",
                         "--junit", junit, "--markdown", markdown)
    assert code == 1, out + err
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:4]}
    assert rows == {"tiny_broken_mean": "passed", "tiny_broken_mean@pb": "failed"}
    failed = [case.get("name") for case in ET.parse(junit).getroot().iter("testcase") if case.find("failure") is not None]
    assert failed == ["tiny_broken_mean@pb"]
    assert "| tiny_broken_mean@pb | failed |" in markdown.read_text()


def test_check_takes_a_recipe_file_outside_the_registry(tmp_path, cli):
    """A user's own recipe, kept in their project rather than under recipes/, is checked like any other."""
    import shutil

    own = tmp_path / "mine" / "aocr.yaml"
    own.parent.mkdir()
    shutil.copy(REPO / "recipes" / "aocr.yaml", own)
    (own.parent / "aocr-samples").symlink_to(REPO / "recipes" / "aocr-samples")
    code, out, err = cli("check", own, "-o", tmp_path / "runs", "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    assert "checking 1 conversion(s) of 1 recipe(s)" in err
    assert out.splitlines()[2].split()[:2] == ["aocr", "passed"]


def test_shards_cover_every_conversion_once_balanced_by_the_baseline():
    from ovconvert.check import Conversion, shard

    runs = [Conversion(Path(f"recipes/x/r{i}.yaml")) for i in range(7)] + [Conversion(Path("recipes/x/r0.yaml"), "v")]
    baseline = {"r0": {"seconds": 600.0}, "r1": {"seconds": 300.0}, "r2": {"seconds": 290.0}}
    shards = [shard(runs, k, 3, baseline) for k in (1, 2, 3)]
    names = [item.name for part in shards for item in part]
    assert sorted(names) == sorted(item.name for item in runs) and len(set(names)) == len(runs)
    assert [item.name for item in shards[0]] == ["r0"]  # the long one alone; the others share the rest
    assert shards == [shard(runs, k, 3, baseline) for k in (1, 2, 3)]  # the same split on every runner
    assert [item.name for item in shard(runs, 1, 1)] == [item.name for item in runs]


@pytest.mark.slow
def test_a_ci_matrix_runs_shards_and_merges_their_reports(recipe_dir, tmp_path, cli):
    code, out, _ = cli("check", "aocr", "--shard", "2/2", "--list-json")
    assert code == 0 and [entry["name"] for entry in json.loads(out)] == ["tiny_strict"]
    for k in (1, 2):
        cli("check", "aocr", "--shard", f"{k}/2", "-o", tmp_path / f"runs{k}", "--cache-dir", tmp_path / "cache",
            "--json", tmp_path / f"shard{k}.json")
    junit = tmp_path / "junit.xml"
    code, out, err = cli("check", "--merge", tmp_path / "shard1.json", tmp_path / "shard2.json", "--junit", junit)
    assert code == 1, err  # tiny_strict fails in its shard, and the merged report says so
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:4]}
    assert rows == {"tiny_ok": "passed", "tiny_strict": "failed"}
    assert ET.parse(junit).getroot().get("tests") == "2"
    with pytest.raises(SystemExit) as stopped:  # argparse: usage error, exit 2
        cli("check", "--shard", "3/2", "--list")
    assert stopped.value.code == 2
