"""summarize: the same report as OpenVINO's summarize_graph.py, and the diagnostics it lacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, fixture_path


def reference_summary(model) -> str:
    """OpenVINO's own summarize_graph.py, run as its users run it."""
    env = dict(os.environ, CI="true", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-m", "openvino.tools.mo.utils.summarize_graph", "--input_model",
                           str(model)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="session")
def aocr_frozen(tmp_path_factory):
    from ovconvert.cli import main

    saved_model = fixture_path("aocr-tf1.15")
    target = tmp_path_factory.mktemp("aocr") / "frozen.pb"
    assert main(["freeze", str(saved_model), "-o", str(target), "--weights", "initializers"]) == 0
    return target


@pytest.mark.parametrize("relative", ["slim/mobilenet_v1_0.25_128_frozen.pb",
                                      "odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb"])
def test_same_text_as_openvino(cli, relative):
    model = fixture_path(relative)
    code, out, _ = cli("summarize", model)
    assert code == 0
    assert out == reference_summary(model)


def test_same_text_as_openvino_on_aocr(cli, aocr_frozen):
    code, out, _ = cli("summarize", aocr_frozen)
    assert out == reference_summary(aocr_frozen)


def test_aocr_noise_is_explained_and_the_tutorial_cut_suggested(cli, aocr_frozen):
    code, out, _ = cli("summarize", aocr_frozen, "--json")
    summary = json.loads(out)
    assert "cond/switch_t" in summary["outputs"] and "cond/switch_t" in summary["noisy_outputs"]
    inserts = [name for name in summary["noisy_outputs"] if "LookupTableInsert" in name]
    assert inserts and "hash-table" in summary["noisy_outputs"][inserts[0]]
    assert summary["suggested_inputs"] == ["map/TensorArrayStack/TensorArrayGatherV3:0"]
    assert summary["suggested_outputs"] == ["transpose_1", "transpose_2"]
    assert summary["op_histogram"]["Conv2D"] >= 7


def test_unsupported_ops_asks_openvino(cli, aocr_frozen):
    code, out, _ = cli("summarize", fixture_path("slim/mobilenet_v1_0.25_128_frozen.pb"), "--unsupported", "--json")
    assert code == 0 and json.loads(out)["unsupported_ops"] == {}
    # The string side of the aocr graph (string TensorArrays) makes OpenVINO's frontend fail outright;
    # summarize reports the frontend's own words instead of crashing.
    code, out, _ = cli("summarize", aocr_frozen, "--unsupported", "--json")
    summary = json.loads(out)
    assert code == 0 and "string" in (summary["unsupported_error"] or "") + str(summary["unsupported_ops"])


def test_drop_in_script_has_openvinos_flags(aocr_frozen):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    script = REPO / ".venv" / "bin" / "summarize_graph"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ovconvert.cli.summarize_graph"]
    done = subprocess.run(command + ["--input_model", str(aocr_frozen)], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout == reference_summary(aocr_frozen)


def test_saved_model_with_missing_weights_is_summarized_with_initializers(cli):
    code, out, _ = cli("summarize", fixture_path("aocr-tf1.15"), "--weights", "initializers")
    assert code == 0 and "Name: input_image_as_bytes, type: string, shape: <unknown>" in out


def test_corrupt_pb_is_a_user_error(cli, tmp_path):
    bad = tmp_path / "model.pb"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    code, _, err = cli("summarize", bad)
    assert code == 2 and "not a valid binary TensorFlow GraphDef" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_tf2_saved_model_is_summarized_as_openvino_does_and_the_same_every_run(tmp_path):
    """The project's own aocr SavedModel: OpenVINO's summarize_graph.py (mo's loader: the signature's
    function, frozen) finds 1 input and 9 outputs, in an order that changes between its runs; the
    drop-in gives the same input and outputs, and the same text on every run."""
    from ovconvert.cli import main

    exported = tmp_path / "exported"
    assert main(["aocr", "export", str(exported), "--model-dir", str(REPO / "ovconvert" / "aocr" / "pretrained"),
                 "--log-path", ""]) == 0
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CI="true")
    script = REPO / ".venv" / "bin" / "summarize_graph"
    ours = [str(script)] if script.exists() else [sys.executable, "-m", "ovconvert.cli.summarize_graph"]
    runs = [subprocess.run(ours + ["--saved_model_dir", str(exported / "1")], capture_output=True, text=True,
                           env=env).stdout for _ in range(3)]
    assert runs[0] == runs[1] == runs[2] and runs[0].startswith("1 input(s) detected:\nName: input, type: string")
    theirs = subprocess.run([sys.executable, "-m", "openvino.tools.mo.utils.summarize_graph", "--saved_model_dir",
                             str(exported / "1"), "--saved_model_tags", "serve"], capture_output=True, text=True,
                            env=env).stdout
    assert theirs.splitlines()[:3] == runs[0].splitlines()[:3]  # inputs and the output count
    assert sorted(theirs.splitlines()[3:]) == sorted(runs[0].splitlines()[3:])  # the same outputs


def test_a_text_graph_error_names_the_flag_of_the_command_that_was_run(cli, tmp_path, capsys):
    """Each command's hint names its own flag (ovconvert summarize: --text; summarize_graph:
    --input_model_is_text; a recipe run: the .pbtxt file name)."""
    from ovconvert.cli.summarize_graph import main as summarize_graph

    text = tmp_path / "model.pb"
    text.write_text('node { name: "x" op: "Placeholder" }\n')
    code, _, err = cli("summarize", text)
    assert code == 2 and "pass --text if it is a text GraphDef" in err and "input_model_is_text" not in err
    assert summarize_graph(["--input_model", str(text)]) == 2
    assert "pass --input_model_is_text if it is a text GraphDef" in capsys.readouterr().err
    code, _, err = cli("run", "mobilenet_v1_0.25_128", "--source", text, "-o", tmp_path / "run")
    assert code == 2 and "name it .pbtxt" in err and "--text" not in err
