"""Export (SavedModel for TF Serving, frozen graph for OpenVINO), test --visualize, predict, and the
aocr recipe on a freshly trained model."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np

from conftest import REPO, aocr_cli


def _word_png(text: str) -> bytes:
    from ovconvert.families import words

    return words.png_bytes(words.render(text))


def _loops(xml) -> list[str]:
    """Loop ops in an IR: the encoder's recurrence as OpenVINO runs it step by step (slowly), unless the
    export unrolled it."""
    import openvino as ov

    return [op.get_friendly_name() for op in ov.Core().read_model(xml).get_ops()
            if op.get_type_name() in ("Loop", "TensorIterator")]


def test_saved_model_serves_rest_style_b64_requests(tiny_aocr, tmp_path, capsys):
    import tensorflow as tf

    _, model_dir = tiny_aocr
    assert aocr_cli("aocr", "export", tmp_path / "exported", "--model-dir", model_dir, "--log-path", "") == 0
    assert aocr_cli("aocr", "export", tmp_path / "exported", "--model-dir", model_dir, "--log-path", "") == 0
    assert sorted(p.name for p in (tmp_path / "exported").iterdir()) == ["1", "2"]  # TF Serving versions

    loaded = tf.saved_model.load(str(tmp_path / "exported" / "1"), tags=["serve"])
    serve = loaded.signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["input"]
    # The body TensorFlow Serving's REST API takes: {"instances": [{"b64": ...}, ...]}
    body = json.dumps({"signature_name": "serving_default",
                       "instances": [{"b64": base64.b64encode(_word_png(w)).decode()} for w in ("AB", "CD")]})
    request = json.loads(body)
    images = tf.constant([base64.b64decode(item["b64"]) for item in request["instances"]])
    batch = serve(input=images)
    assert batch["output"].shape == (2,) and batch["probability"].shape == (2,)
    assert batch["char_probabilities"].shape == (2, 6)
    single = serve(input=images[0])  # a scalar string gives scalar outputs
    assert single["output"].shape == () and single["output"].numpy() == batch["output"].numpy()[0]
    probabilities = batch["probability"].numpy()
    assert np.all((probabilities > 0) & (probabilities <= 1))


def test_frozen_graph_names_its_cut_points(tiny_aocr, tmp_path):
    from ovconvert.graph.proto import read_graph_def

    _, model_dir = tiny_aocr
    assert aocr_cli("aocr", "export", tmp_path / "frozen", "--format", "frozengraph", "--model-dir", model_dir,
                    "--log-path", "") == 0
    nodes = {node.name: node for node in read_graph_def(tmp_path / "frozen" / "frozen_graph.pb").node}
    for name in ("input", "preprocessed_image", "step_ids", "step_probabilities", "output", "probability"):
        assert name in nodes, name
    assert not any(node.op == "VariableV2" or node.op == "VarHandleOp" for node in nodes.values())
    assert json.loads((tmp_path / "frozen" / "config.json").read_text())["max_prediction"] == 4


def test_predict_reads_paths_from_stdin(tiny_aocr, tmp_path):
    _, model_dir = tiny_aocr
    (tmp_path / "a.png").write_bytes(_word_png("AB"))
    (tmp_path / "bad.png").write_bytes(b"junk")
    result = subprocess.run([sys.executable, "-m", "ovconvert", "aocr", "predict", "--model-dir", str(model_dir),
                             "--log-path", ""], input=f"{tmp_path / 'a.png'}\n{tmp_path / 'bad.png'}\n",
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    # Every input is read; one could not be, so the exit code says so (2) after both lines.
    assert result.returncode == 2 and "1 of 2 inputs could not be read" in result.stderr, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    path, text, probability = lines[0].split("\t")
    assert path.endswith("a.png") and 0 < float(probability) <= 1 and len(text) <= 6  # max_prediction + 2 steps
    assert lines[1].endswith("<error: not a readable image>")


def test_predict_reads_the_images_and_directories_given(tiny_aocr, tmp_path, capsys):
    """`aocr predict IMAGE…`: files as given, a directory as its images by name, stdin left alone; the same
    readings as the same paths on stdin."""
    _, model_dir = tiny_aocr
    words = tmp_path / "words"
    words.mkdir()
    for name, text in (("2.png", "CD"), ("1.png", "AB")):
        (words / name).write_bytes(_word_png(text))
    (words / "notes.txt").write_text("not an image, and not looked at")
    (tmp_path / "bad.png").write_bytes(b"junk")
    (tmp_path / "empty").mkdir()
    code = aocr_cli("aocr", "predict", tmp_path / "bad.png", words, "--model-dir", model_dir, "--log-path", "")
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert code == 2  # one input could not be read: said after every line, as for stdin
    assert [line[0] for line in lines] == [str(tmp_path / "bad.png"), str(words / "1.png"), str(words / "2.png")]
    assert lines[0][1] == "<error: not a readable image>"
    from_stdin = subprocess.run([sys.executable, "-m", "ovconvert", "aocr", "predict", "--model-dir", str(model_dir),
                                 "--log-path", ""], input=f"{words / '1.png'}\n{words / '2.png'}\n",
                                capture_output=True, text=True, cwd=REPO, timeout=300)
    assert [line.split("\t") for line in from_stdin.stdout.splitlines()] == lines[1:]
    code = aocr_cli("aocr", "predict", tmp_path / "empty", "--model-dir", model_dir, "--log-path", "")
    assert code == 2 and "a directory with no image files" in capsys.readouterr().err


def test_visualize_writes_gifs_strips_and_an_index(tiny_aocr, tmp_path, capsys):
    from PIL import Image

    records, model_dir = tiny_aocr
    out = tmp_path / "results"
    assert aocr_cli("aocr", "test", records, "--model-dir", model_dir, "--visualize", "--output-dir", out,
                    "--max-images", "3", "--log-path", "") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 3 and 0 <= result["word_accuracy"] <= 1
    gifs = sorted(out.glob("*.gif"))
    assert len(gifs) == 3 and len(list(out.glob("*.png"))) == 3
    with Image.open(gifs[0]) as gif:
        assert gif.n_frames >= 1 and gif.width == 86 * 3
    index = (out / "index.html").read_text()
    assert index.count("<tr class=") == 3 and "probability" in index


def test_aocr_recipe_converts_a_trained_model_and_reads_the_same(tiny_aocr, cli, tmp_path):
    _, model_dir = tiny_aocr
    out = tmp_path / "run"
    code, _, err = cli("run", "recipes/aocr.yaml", "--set", f"source.builder_args={{model_dir: '{model_dir}'}}",
                       "-o", out, "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["cut"]["inputs"] == ["preprocessed_image:0[1,32,86,1]{f32}"]
    metrics = report["validation"]["metrics"]
    assert metrics["string_match"] == 1.0 and metrics["images"] == 12 and metrics["max_abs_diff"] < 1e-4
    assert _loops(out / "ir" / "aocr.xml") == []  # the export unrolled the encoder


def test_an_export_with_other_flags_converts_through_the_recipe_with_no_set(cli, tmp_path, caplog):
    """The third case of issue 11: a model trained with RGB input (--color), a GRU decoder, an 84-symbol
    charset, max width 300 / height 40 and 15 characters, exported to a frozen graph. `--source` alone
    converts it: the cut's width and 3 channels come from the graph, the charset from its config.json."""
    import logging
    import string

    caplog.set_level(logging.INFO, logger="ovconvert")
    symbols = (string.digits + string.ascii_letters + string.punctuation)[:84]
    assert len(set(symbols)) == 84
    charset = tmp_path / "charset.txt"
    charset.write_text(symbols + "\n")
    records, model, export = tmp_path / "words.tfrecords", tmp_path / "model", tmp_path / "export"
    flags = ("--color", "--use-gru", "--charset", charset, "--max-width", "300", "--max-height", "40",
             "--max-prediction", "15", "--no-force-uppercase", "--cnn-scale", "0.125", "--attn-num-hidden", "16",
             "--attn-num-layers", "1")
    assert aocr_cli("aocr", "synth", "16", records, "--all-fonts", "--fonts", "DejaVu*", "--max-prediction", "6",
                    "--seed", "3", "--log-path", "") == 0
    assert aocr_cli("aocr", "train", records, "--model-dir", model, "--num-steps", "2", "--batch-size", "8",
                    "--steps-per-checkpoint", "2", "--log-path", "", *flags) == 0
    assert aocr_cli("aocr", "export", export, "--format", "frozengraph", "--model-dir", model, "--log-path", "") == 0
    config = json.loads((export / "config.json").read_text())
    assert config["channels"] == 3 and config["use_gru"] and len(config["charset"]) == 84

    out = tmp_path / "run"
    code, _, err = cli("run", "recipes/aocr.yaml", "--source", export, "-o", out, "--cache-dir", tmp_path / "cache")
    assert code == 0, err[-3000:]
    report = json.loads((out / "report.json").read_text())
    width = -(-300 * 32 // 40)  # ceil(max_width / max_height × 32)
    assert report["cut"]["inputs"] == [f"preprocessed_image:0[1,32,{width},3]{{f32}}"], report["cut"]
    assert report["validation"]["metrics"]["string_match"] == 1.0
    assert report["metadata"]["input"]["channels"] == 3
    assert _loops(out / "ir" / "aocr.xml") == []  # a GRU encoder is unrolled too
    import openvino as ov  # the IR carries the model's own 84-symbol charset for its clients

    embedded = ov.Core().read_model(out / "ir" / "aocr.xml").get_rt_info(["ovconvert", "metadata"]).astype(str)
    assert json.loads(embedded)["charset"] == symbols
