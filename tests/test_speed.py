"""The stages after validation that make a conversion fast: IRs that take any batch, INT8 through NNCF
behind its accuracy gate, and the bench stage with its recommendation (issue 12)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import REPO, fixture_path
from ovconvert.recipes.schema import Convert
from ovconvert.stages.convert import convert

HELD_OUT_WORDS = REPO / "tests" / "data" / "aocr-heldout-200.tfrecords"


def _frozen(tmp_path, name, target_shape):
    """x [1,2,3] → Reshape(target_shape) → ×2: a frozen graph whose Reshape target is a constant."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    @tf.function(input_signature=[tf.TensorSpec([1, 2, 3], tf.float32, name="x")])
    def model(x):
        return tf.identity(tf.reshape(x, target_shape) * 2.0, name="y")

    path = tmp_path / f"{name}.pb"
    path.write_bytes(convert_variables_to_constants_v2(model.get_concrete_function()).graph.as_graph_def()
                     .SerializeToString())
    return path


def _ir_at_batch(tmp_path, name, target_shape, batch):
    import openvino as ov

    from ovconvert.graph.tensor_spec import parse_tensor_spec

    graph = _frozen(tmp_path, name, target_shape)
    ir = convert(Convert(dynamic_batch=True), graph, (parse_tensor_spec("x:0[1,2,3]{f32}"),), ("y",),
                 tmp_path / name, name)
    x = np.arange(batch * 6, dtype=np.float32).reshape(batch, 2, 3)
    return ov.Core().compile_model(str(ir.xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})([x])[0], x


def test_a_reshape_with_the_frozen_batch_baked_in_takes_any_batch(tmp_path):
    # Slim's Predictions/Reshape_1 is frozen as [1, 1001]; this one as [1, 6].
    y, x = _ir_at_batch(tmp_path, "flat", [1, 6], batch=3)
    np.testing.assert_allclose(y, x.reshape(3, 6) * 2.0)


def test_a_reshape_that_mixes_the_batch_is_left_alone(tmp_path):
    # [1, -1] flattens the whole batch into one row: not a batch dimension, so not rewritten (and
    # validation's batch check is what rejects such an IR for any batch).
    y, x = _ir_at_batch(tmp_path, "mixed", [1, -1], batch=3)
    assert y.shape == (1, 18)


def _run(cli, tmp_path, name, *args, cache=None):
    out = tmp_path / name
    code, stdout, err = cli("run", "recipes/aocr.yaml", "-o", out, "--cache-dir", cache or tmp_path / "cache", *args)
    return code, stdout, err, json.loads((out / "report.json").read_text()), out


def _ops_fed_by_fake_quantize(xml) -> set:
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    return {target.get_node().get_type_name() for op in model.get_ops() if op.get_type_name() == "FakeQuantize"
            for target in op.output(0).get_target_inputs()}


def _convolutions_with_int8_weights(xml) -> list[bool]:
    """For each convolution from the input on: whether NNCF made its weights int8 (stored as int8 and
    scaled back by a Multiply; f32 weights are a plain Constant)."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    return [op.input_value(1).get_node().get_type_name() != "Constant" for op in model.get_ordered_ops()
            if op.get_type_name() == "Convolution"]


def test_aocr_int8_passes_its_gate_and_the_bench_recommends_a_validated_configuration(bundled_aocr_run):
    # The shared run had --quantize int8 --bench --set bench.seconds=1 --set bench.batch=8 (conftest).
    report, out = bundled_aocr_run.report, bundled_aocr_run.out
    int8 = report["int8"]
    assert int8["status"] == "passed" and int8["fake_quantize_layers"] >= 4
    assert int8["metrics"]["string_match"] >= 0.95 and int8["calibration"] == "words"
    assert (out / "ir-int8" / "aocr.xml").is_file() and not (out / "ir-int8-rejected").exists()
    # recipes/aocr.yaml keeps MatMul, Multiply, Add and the attention's ReduceSum in f32
    # (quantize.keep_f32_types): the CNN alone is int8 ...
    quantized = _ops_fed_by_fake_quantize(out / "ir-int8" / "aocr.xml")
    assert "Convolution" in quantized and not quantized & {"MatMul", "Multiply", "Add", "ReduceSum"}, quantized
    # ... but its first two convolutions (quantize.keep_f32_first: 2).
    first, second, *rest = _convolutions_with_int8_weights(out / "ir-int8" / "aocr.xml")
    assert not first and not second and rest and all(rest), [first, second, *rest]
    rows = report["bench"]["rows"]
    assert {(r["engine"], r["precision"], r["hint"], r["batch"]) for r in rows} >= {
        ("TensorFlow", "", "", 1), ("TensorFlow", "", "", 8), ("OpenVINO", "f32", "LATENCY", 1),
        ("OpenVINO", "f32", "THROUGHPUT", 8), ("OpenVINO", "int8", "LATENCY", 1)}
    # The aocr IR takes any batch, so its batch-8 row is one batch, not 8 calls ...
    assert any(r["mode"] == "one batch of 8" for r in rows if r["engine"] == "OpenVINO")
    # ... and the batch of 8 is also timed split across the device's streams (2 cores: 2 requests of 4),
    # each request reshaped to its part, as benchmark_app and a deployment would be.
    split = [r for r in rows if r["engine"] == "OpenVINO" and r["hint"] == "THROUGHPUT" and r["request_batch"] > 1]
    assert split or (os.cpu_count() or 1) < 2
    for row in split:
        part = row["request_batch"]
        assert row["mode"] == f"{8 // part} requests of {part} in flight" and f"[{part}," in row["data_shape"]
        assert row["name"] == f"IR {row['precision']}, THROUGHPUT, batch 8 in requests of {part}"
    assert all(r["median_ms"] > 0 and r["rounds"] >= 5 for r in rows)
    best = report["bench"]["recommendation"]
    assert set(best) == {"latency", "throughput"}
    for goal in best.values():
        row = next(r for r in rows if r["name"] == goal["configuration"])
        assert row["validated"] and goal["speedup"] == pytest.approx(row["speedup"])
        assert goal["benchmark_app"].startswith(f"-m {row['ir']} -d CPU -hint ")
    markdown = (out / "report.md").read_text()
    assert "## Speed" in markdown and "## INT8 (NNCF): passed" in markdown and "Deploy for latency" in markdown
    assert "deploy for throughput:" in bundled_aocr_run.log


def test_aocr_int8_ir_reads_the_held_out_words_as_the_fp32_ir_does(bundled_aocr_run):
    """The gate reads the twelve sample words; this reads 200 more (issue 12's target: 99% the same).
    With the attention's ReduceSum in int8 the bundled model's INT8 IR read only 174 the same."""
    from ovconvert.families import aocr as family

    out = bundled_aocr_run.out
    labels, (fp32, int8) = family.read_records_with_irs(bundled_aocr_run.report, str(HELD_OUT_WORDS),
                                                        [out / "ir" / "aocr.xml", out / "ir-int8" / "aocr.xml"])
    assert len(labels) == 200
    same = sum(a == b for (a, _), (b, _) in zip(fp32, int8))
    # Measured: 200 with the step-289024 weights and 199 with the step-273532 ones (`aocr test --precision int8`
    # against f32, read once), 200 with
    # the step-258109 and step-229706 ones, 199 with the step-209337 and step-189388 ones,
    # 197 with the step-159815 ones, 198 with the step-119661 ones, 199 with the step-99138 ones, 197 with the
    # step-73924 ones, 199 with the step-61900 and step-45150 ones, 198 with step 24400; slack for another CPU
    assert same >= 196, same
    correct = [sum(text == label for (text, _), label in zip(readings, labels)) for readings in (fp32, int8)]
    assert correct[1] >= correct[0] - 4, correct
    # The words read otherwise are close calls for the FP32 IR too (step 73924: probabilities 0.00, 0.49
    # and 0.501, the last EXTRALERRESTRIAL, which INT8 reads right at 0.47): where it is sure of a word,
    # INT8 reads the same.
    confident = [(a, b) for (a, p), (b, _) in zip(fp32, int8) if p >= 0.6]
    assert len(confident) >= 160 and all(a == b for a, b in confident), [pair for pair in confident if pair[0] != pair[1]]


def _cache_holding(run_dir, cache, int8: bool):
    """A cache for `aocr predict --engine openvino` that holds `run_dir` (a run of recipes/aocr.yaml on the
    bundled model) where the reader looks for its conversion, as if the reader had made it."""
    import shutil

    from ovconvert.families import aocr as family
    from ovconvert.families.aocr import PRETRAINED_DIR

    key = family.source_fingerprint("frozen_graph", {"model_dir": str(PRETRAINED_DIR)})
    shutil.copytree(run_dir, cache / "aocr-ir" / (f"{key}-int8" if int8 else key))


def test_aocr_predict_at_int8_reads_with_the_gated_int8_ir(bundled_aocr_run, tmp_path, caplog):
    """`aocr predict --engine openvino --precision int8` reads with the INT8 IR the recipe's quantize stage
    made and passed (here the shared run's, found where the reader caches its own: converting it takes a
    minute), compiled with its f32 layers pinned to f32, and reads the words as the FP32 IR does. Long
    words: a model with canvas widths reads them at its full width too, so the shared run's IRs are all
    this needs (the narrower canvases' IRs would each be converted and quantized here)."""
    import logging

    from ovconvert.aocr import trained
    from ovconvert.aocr.openvino_engine import OpenVinoReader
    from ovconvert.families import words
    from ovconvert.families.aocr import PRETRAINED_DIR

    cache = tmp_path / "cache"
    _cache_holding(bundled_aocr_run.out, cache, int8=True)
    _cache_holding(bundled_aocr_run.out, cache, int8=False)
    model = trained.load(str(PRETRAINED_DIR))
    images = []
    long_words = ("COUNTERREVOLUTIONARIES", "INTERNATIONALIZATION", "ELECTROENCEPHALOGRAPH", "UNCHARACTERISTICALLY")
    for text in long_words:
        path = tmp_path / f"{text}.png"
        words.render(text).save(path)
        images.append(path.read_bytes())
    with caplog.at_level(logging.INFO, logger="ovconvert.aocr"):
        int8 = OpenVinoReader(model, str(PRETRAINED_DIR), cache, precision="int8")
        readings = {"int8": int8.read_encoded(images),
                    "f32": OpenVinoReader(model, str(PRETRAINED_DIR), cache).read_encoded(images)}
    assert "converting" not in caplog.text  # both found in the cache
    assert "reading with the INT8 IR on CPU" in caplog.text
    assert any(op.get_type_name() == "FakeQuantize" for op in int8.irs[model.config.image_width].get_ops())
    assert int8.runs_at == "f32"  # the layers NNCF left in f32 run at f32, as the gate judged them
    assert [text for text, _ in readings["int8"]] == [text for text, _ in readings["f32"]]
    assert [text for text, _ in readings["f32"]] == list(long_words)


def test_an_int8_ir_that_crosses_the_gate_is_kept_out_of_use(cli, tmp_path, caplog, bundled_aocr_run, monkeypatch):
    # No difference at all allowed: an INT8 IR always differs from TensorFlow somewhere. (The shared run's
    # cache holds the exported graph, so only the conversion and quantization run here.) Accuracy control
    # is allowed (quantize.method auto) but its ranking would take too long: 5 quantizers against 2 here.
    from ovconvert.stages import quantize

    monkeypatch.setattr(quantize, "ACCURACY_CONTROL_MAX_QUANTIZERS", 2)
    code, _, err, report, out = _run(cli, tmp_path, "gate", "--quantize", "int8", "--set",
                                     "quantize.tolerance.max_abs_diff=0", "--set",
                                     "quantize.tolerance.min_string_match=1.0",
                                     "--set", "quantize.count=20", "--set", "quantize.keep_f32=[no_such_layer]",
                                     cache=bundled_aocr_run.cache)
    assert code == 0, err  # the FP32 IR is validated and stays the result
    assert "quantize.keep_f32 'no_such_layer' names no node of the IR" in caplog.text
    assert report["status"] == "converted" and (out / "ir" / "aocr.xml").is_file()
    assert report["int8"]["status"] == "failed the gate"
    assert any("max_abs_diff" in failure for failure in report["int8"]["failures"]), report["int8"]["failures"]
    assert (out / "ir-int8-rejected" / "aocr.xml").is_file() and not (out / "ir-int8").exists()
    assert "INT8 IR failed its accuracy gate" in caplog.text
    quantizers = report["int8"]["fake_quantize_layers"]
    assert quantizers > 2 and f"accuracy control skipped: it would rank {quantizers} quantizers" in caplog.text
    assert report["int8"]["method"] == "post-training"
    assert "bench" not in report  # tests run without it unless asked (conftest)
    # ... and `aocr predict --precision int8` that finds this run cached refuses at once, saying why.
    from ovconvert.aocr import trained
    from ovconvert.aocr.openvino_engine import OpenVinoReader
    from ovconvert.errors import ToolError
    from ovconvert.families.aocr import PRETRAINED_DIR

    _cache_holding(out, tmp_path / "predict-cache", int8=True)
    with pytest.raises(ToolError, match="failed its accuracy gate against the FP32 IR .*max_abs_diff.*read with "
                                        "--precision f32") as refused:
        OpenVinoReader(trained.load(str(PRETRAINED_DIR)), str(PRETRAINED_DIR), tmp_path / "predict-cache",
                       precision="int8")
    assert "\n" not in str(refused.value)


def test_a_quantized_model_is_not_quantized_again(cli, tmp_path):
    model = fixture_path("tflite-quant/mobilenet_v1_0.25_128_quant.tflite")
    out = tmp_path / "tflite"
    code, _, err = cli("run", "mobilenet_v1_0.25_128_quant", "--source", model, "-o", out, "--quantize", "int8",
                       "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    int8 = json.loads((out / "report.json").read_text())["int8"]
    assert int8["status"] == "already int8" and int8["fake_quantize_layers"] > 0
    assert not (out / "ir-int8").exists()


def _mobilenet(cli, tmp_path, name, *args):
    model = fixture_path("slim/mobilenet_v1_0.25_128_frozen.pb")
    out = tmp_path / name
    code, _, err = cli("run", "mobilenet_v1_0.25_128", "--source", model, "-o", out, "--cache-dir",
                       tmp_path / "cache", "--set", "validate.count=26", *args)
    return code, err, json.loads((out / "report.json").read_text()), out


@pytest.mark.slow
def test_mobilenet_plain_int8_loses_photos_and_no_drop_allowed_rejects_it(cli, tmp_path):
    code, err, report, out = _mobilenet(cli, tmp_path, "strict", "--quantize", "int8", "--set",
                                        "quantize.method=plain", "--set", "quantize.tolerance.min_top1_agreement=1.0")
    assert code == 0, err
    assert report["int8"]["status"] == "failed the gate"
    assert report["int8"]["metrics"]["top1_agreement"] < 1.0
    assert (out / "ir-int8-rejected").is_dir() and not (out / "ir-int8").exists()


def test_slim_ir_takes_any_batch(cli, tmp_path):
    import openvino as ov

    code, err, report, out = _mobilenet(cli, tmp_path, "batch")
    assert code == 0, err
    assert report["validation"]["metrics"]["batch"] == 26 and report["validation"]["metrics"]["batch_max_abs_diff"] < 1e-4
    model = ov.Core().read_model(out / "ir" / "mobilenet_v1_0.25_128.xml")
    assert model.inputs[0].get_partial_shape()[0].is_dynamic


@pytest.mark.slow
def test_mobilenet_int8_with_accuracy_control_agrees_on_24_of_26_photos(cli, tmp_path):
    code, err, report, out = _mobilenet(cli, tmp_path, "int8", "--quantize", "int8", "--bench")
    assert code == 0, err
    int8 = report["int8"]
    assert int8["status"] == "passed" and int8["method"] == "accuracy control"
    assert int8["metrics"]["top1_agreement"] * 26 >= 24
    assert {r["batch"] for r in report["bench"]["rows"]} == {1, 32}


@pytest.mark.slow
def test_bench_command_times_a_finished_run_and_cross_checks_with_benchmark_app(cli, tmp_path):
    code, _, err, report, out = _run(cli, tmp_path, "plain")
    assert code == 0, err
    code, stdout, err = cli("bench", "recipes/aocr.yaml", "--run-dir", out, "--seconds", "1", "--batch", "4",
                            "--benchmark-app")
    assert code == 0, err
    bench = json.loads((out / "report.json").read_text())["bench"]
    # Which validated configuration is fastest at batch 1 depends on the CPU (bf16 on AMX, and under load
    # either), so the line is checked against the rows the command measured, not a fixed winner.
    fastest = max((row for row in bench["rows"] if row["engine"] == "OpenVINO" and row["validated"]
                   and row["batch"] == 1), key=lambda row: row["items_per_s"])
    assert f"deploy for latency: {fastest['name']} (" in stdout
    assert bench["batch"] == 4 and bench["benchmark_app"]["median_ms"] > 0
    assert bench["benchmark_app"]["command"][:3] == ["benchmark_app", "-m", str(out / "ir" / "aocr.xml")]
    assert "## Speed" in (out / "report.md").read_text()
    code, _, err = cli("bench", "recipes/aocr.yaml", "--run-dir", tmp_path / "nowhere")
    assert code == 2 and "has no report.json" in err
