"""Quantized TFLite family: .tflite models against the TFLite interpreter, their .pb twins against
TensorFlow, the TF2 int8 trap, and the inputs that must fail cleanly."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import fixture_path, sha384

TINY = "recipes/tflite_quant/tiny_photo_classifier_quant.yaml"
GUIDE_ROWS = 21  # OpenVINO's "Supported Frozen Quantized Topologies" table


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One cache for the session, so the offline classifier archive is trained and built once."""
    return tmp_path_factory.mktemp("tflite-cache")


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_offline_archive_converts_the_tflite_and_its_frozen_pb(cli, tmp_path, shared_cache):
    out = tmp_path / "tiny"
    code, stdout, err = cli("run", TINY, "-o", out, "--cache-dir", shared_cache)
    assert code == 0, err
    tflite, pb = _report(out), _report(tmp_path / "tiny@pb")  # a variant goes beside, into <dir>@<variant>
    # The .tflite: uint8 in and out, no cut, no preprocessing in the IR; checked against the interpreter.
    assert "--input" not in tflite["command"] and "--mean_values" not in tflite["command"]
    assert tflite["command"][tflite["command"].index("--input_model") + 1].endswith(".tflite")
    metrics = tflite["validation"]["metrics"]
    assert metrics["images"] == 26 and metrics["top1_agreement"] >= 0.9 and metrics["max_abs_diff"] <= 32
    tops = {sample["tf_top1"] for sample in tflite["validation"]["samples"]}
    assert len(tops) >= 20, "the classifier must tell the photos apart, or top-1 agreement proves nothing"
    # The .pb twin: the guide's --input/--input_shape, and float FakeQuantize matching TensorFlow closely.
    command = " ".join(pb["command"])
    assert "--input input --input_shape [1,64,64,3]" in command and "--mean_values [127.5,127.5,127.5]" in command
    assert pb["validation"]["metrics"]["top1_agreement"] == 1.0 and pb["validation"]["metrics"]["max_abs_diff"] < 1e-3
    assert "2 of 2 recipes converted" in stdout
    # Each finished run validates again on its own (the variant's IR is named tiny_…-pb).
    for name, run_dir in ((TINY, out), (f"{TINY}@pb", tmp_path / "tiny@pb")):
        code, stdout, err = cli("validate", name, "--run-dir", run_dir, "--set", "validate.count=4")
        assert code == 0 and stdout.startswith("PASSED"), err


def test_tf2_full_integer_int8_model_fails_validation_and_names_the_cause(cli, tmp_path, shared_cache):
    """OpenVINO 2024.6 converts TF2's full-integer int8 TFLite models wrongly: validation must catch it."""
    from ovconvert.families.quantized_classifier import tf2_int8_tflite

    model = tf2_int8_tflite(tmp_path / "int8.tflite", size=64, seed=3)
    out = tmp_path / "int8"
    code, _, err = cli("run", TINY, "--source", model, "-o", out, "--cache-dir", shared_cache)
    assert code == 1, err
    assert "openvinotoolkit/openvino#24045" in err and "convert the float SavedModel/.pb instead" in err
    assert len(err.strip().splitlines()) == 1
    metrics = _report(out)["validation"]["metrics"]
    assert metrics["top1_agreement"] < 0.3  # chance level, not a near miss
    assert (out / "ir-rejected").is_dir() and not (out / "ir").exists()


@pytest.mark.parametrize("model,size", [("mobilenet_v1_0.25_128", 128), ("mobilenet_v2_1.0_224", 224)])
def test_tf_hosted_quantized_models_agree_with_the_tflite_interpreter(cli, tmp_path, model, size):
    source = fixture_path(f"tflite-quant/{model}_quant.tflite")
    out = tmp_path / model
    code, _, err = cli("run", f"tflite_quant/{model}_quant", "--source", source, "-o", out,
                       "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    report = _report(out)
    metrics = report["validation"]["metrics"]
    assert metrics["images"] == 26 and metrics["top1_agreement"] >= 25 / 26
    assert report["cut"]["inputs"] == [f"input:0[1,{size},{size},3]{{u8}}"]
    import openvino as ov

    ir = ov.Core().read_model(next((out / "ir").glob("*.xml")))
    assert ir.inputs[0].get_element_type().get_type_name() == "u8"
    assert ir.outputs[0].get_element_type().get_type_name() == "u8"


def test_real_chelsea_is_a_cat_on_both_sides(cli, tmp_path):
    source = fixture_path("tflite-quant/mobilenet_v1_0.25_128_quant.tflite")
    code, _, err = cli("run", "tflite_quant/mobilenet_v1_0.25_128_quant", "--source", source, "-o", tmp_path / "r",
                       "--cache-dir", tmp_path / "cache", "--set", "validate.images=[skimage:chelsea]")
    assert code == 0, err
    sample = _report(tmp_path / "r")["validation"]["samples"][0]
    cats = range(282, 287)  # ImageNet 281-285 (tabby … Egyptian cat), +1 for the background class
    assert sample["tf_top1"] in cats and sample["ir_top1"] in cats


def _serve_fixture_in_archive(loopback, archive_name: str, member: str) -> Path:
    """The real TF-hosted MobileNet v1 0.25/128 .tflite packed as `member` of a .tgz the server serves."""
    source = fixture_path("tflite-quant/mobilenet_v1_0.25_128_quant.tflite")
    archive = loopback.root / archive_name
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=member)
    return archive


def test_recipe_downloads_the_archive_over_loopback(cli, loopback, tmp_path):
    """The real .tflite packed as the TF-hosted archive is: download, checksum, unpack, convert, validate."""
    archive = _serve_fixture_in_archive(loopback, "mobilenet_v1_0.25_128_quant.tgz",
                                        "./mobilenet_v1_0.25_128_quant.tflite")
    out = tmp_path / "dl"
    code, _, err = cli("run", "tflite_quant/mobilenet_v1_0.25_128_quant", "--no-variants", "-o", out,
                       "--cache-dir", tmp_path / "cache", "--set", f"source.url={loopback.url(archive.name)}",
                       "--set", f"source.sha384={sha384(archive)}", "--set", f"source.size={archive.stat().st_size}",
                       "--set", "source.members=[mobilenet_v1_0.25_128_quant.tflite]", "--set", "validate.count=4")
    assert code == 0, err
    assert loopback.requests[0]["path"] == "/mobilenet_v1_0.25_128_quant.tgz"
    assert not (tmp_path / "dl@pb").exists()


# ---------------------------------------------------------------------------------------------- registry


def test_every_row_of_the_guide_has_a_recipe_that_dry_runs_to_the_guide_command(cli):
    rows = sorted(p for p in Path("recipes/tflite_quant").glob("*.yaml") if not p.stem.startswith("tiny_"))
    assert len(rows) == GUIDE_ROWS
    for path in rows:
        code, stdout, err = cli("run", path, "--dry-run", "-o", "out")
        assert code == 0, err
        commands = [line[2:] for line in stdout.splitlines() if line.startswith("$ mo ")]
        assert len(commands) == 2, stdout
        size = int(re.search(r"_(\d{3})_quant|v[34]_(?:299_)?quant", path.stem).group(1) or 299)
        assert f"--input_model '${{download_dir}}/{path.stem}.tflite'" in commands[0]
        assert "--input " not in commands[0] and "--input_shape" not in commands[0]
        assert f"--input input --input_shape '[1,{size},{size},3]'" in commands[1], commands[1]


def test_unknown_variant_and_a_cut_on_a_tflite_are_recipe_errors(cli, tmp_path):
    code, _, err = cli("run", "tflite_quant/mobilenet_v1_0.25_128_quant@onnx", "--dry-run")
    assert code == 2 and "no variant 'onnx' (this recipe has: pb)" in err
    code, _, err = cli("show", TINY, "--set", "cut.outputs=[x]")
    assert code == 2 and "a .tflite model is converted whole" in err


# --------------------------------------------------------------------------------------------- bad input


def _detection_postprocess_tflite(path: Path) -> Path:
    """A real .tflite holding TFLite_Detection_PostProcess (the SSD post-processing custom op that the
    Object Detection API's TFLite export appends), made with TensorFlow's converter."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.placeholder(tf.float32, [1, 10, 4], name="raw_outputs/box_encodings")
        tf.compat.v1.placeholder(tf.float32, [1, 10, 4], name="raw_outputs/class_predictions")
        tf.constant(np.random.default_rng(0).random((10, 4), dtype=np.float32), name="anchors")
    graph_def = graph.as_graph_def()
    node = graph_def.node.add(name="TFLite_Detection_PostProcess", op="TFLite_Detection_PostProcess",
                              input=["raw_outputs/box_encodings", "raw_outputs/class_predictions", "anchors"])
    for key, value in dict(max_detections=10, max_classes_per_detection=1, num_classes=3).items():
        node.attr[key].i = value
    for key, value in dict(nms_score_threshold=1e-8, nms_iou_threshold=0.6, y_scale=10.0, x_scale=10.0,
                           h_scale=5.0, w_scale=5.0).items():
        node.attr[key].f = value
    frozen = path.with_suffix(".pb")
    frozen.write_bytes(graph_def.SerializeToString())
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(frozen), ["raw_outputs/box_encodings", "raw_outputs/class_predictions"],
        [f"TFLite_Detection_PostProcess{suffix}" for suffix in ("", ":1", ":2", ":3")],
        input_shapes={"raw_outputs/box_encodings": [1, 10, 4], "raw_outputs/class_predictions": [1, 10, 4]})
    converter.allow_custom_ops = True
    path.write_bytes(converter.convert())
    return path


def test_tflite_with_an_op_openvino_cannot_convert_is_a_one_line_error(cli, tmp_path, shared_cache):
    model = _detection_postprocess_tflite(tmp_path / "ssd_postprocess.tflite")
    out = tmp_path / "pp"
    code, _, err = cli("run", TINY, "--source", model, "-o", out, "--cache-dir", shared_cache)
    assert code == 2, err
    assert "ops OpenVINO cannot convert: TFLite_Detection_PostProcess ×1" in err and len(err.strip().splitlines()) == 1
    assert not (out / "ir").exists() and not (out / "ir-rejected").exists()


def test_corrupt_tflite_is_a_one_line_error(cli, tmp_path, shared_cache):
    model = tmp_path / "broken.tflite"
    model.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 40)
    code, _, err = cli("run", TINY, "--source", model, "-o", tmp_path / "bad", "--cache-dir", shared_cache)
    assert code in (2, 3), err
    assert "broken.tflite" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_summarize_reports_a_tflite_models_tensors_and_unconvertible_ops(cli, tmp_path):
    model = _detection_postprocess_tflite(tmp_path / "ssd_postprocess.tflite")
    code, out, err = cli("summarize", model, "--unsupported")
    assert code == 0, err
    assert out.startswith("2 input(s) detected:\nName: raw_outputs/box_encodings, type: float32, shape: [1,10,4]\n")
    assert "ops OpenVINO cannot convert: TFLite_Detection_PostProcess ×1" in out
    code, out, _ = cli("summarize", model, "--json")
    summary = json.loads(out)
    assert summary["op_histogram"] == {"TFLite_Detection_PostProcess": 1} and not summary["per_channel_int8"]


def test_files_nested_in_an_archive_folder_are_found(cli, loopback, tmp_path):
    """An archive that keeps its files in a folder (as some TF-hosted ones do): the recipe's member
    globs match, and the run finds the .tflite the recipe names at the archive's top level."""
    archive = _serve_fixture_in_archive(loopback, "inception_v1_224_quant_20181026.tgz",
                                        "inception_v1_224_quant_20181026/inception_v1_224_quant.tflite")
    out = tmp_path / "nested"
    code, _, err = cli("run", "tflite_quant/inception_v1_224_quant", "--no-variants", "-o", out,
                       "--cache-dir", tmp_path / "cache", "--set", f"source.url={loopback.url(archive.name)}",
                       "--set", "source.members=['*inception_v1_224_quant.tflite']", "--set", "validate.count=2")
    assert code == 0, err
    assert _report(out)["source"].endswith(".tgz")
    assert (out / "ir" / "inception_v1_224_quant.xml").is_file()
