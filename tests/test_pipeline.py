"""Cut and convert on small real graphs, the ovc backend, and failures that leave nothing half-written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ovconvert.errors import ToolError, UserError
from ovconvert.recipes.schema import Convert
from ovconvert.stages.convert import convert
from ovconvert.stages.cut import cut


@pytest.fixture(scope="module")
def small_graph(tmp_path_factory):
    """A frozen graph with a string-free preprocessing branch before the cut point: x → (x - 3) * 2 →
    conv → relu → mean; plus an Assert on the raw input that a naive cut would drag along."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    kernel = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 16, 16, 3], tf.float32, name="raw")])
    def model(raw):
        check = tf.debugging.assert_greater_equal(raw, -1e9)
        scaled = tf.identity((raw - 3.0) * 2.0, name="scaled")
        with tf.control_dependencies([check]):
            features = tf.nn.relu(tf.nn.conv2d(scaled, kernel, 1, "SAME"), name="features")
        return tf.reduce_mean(features, axis=[1, 2], name="pooled")

    frozen = convert_variables_to_constants_v2(model.get_concrete_function())
    path = tmp_path_factory.mktemp("small") / "small.pb"
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return path


def _run_tf(path, feeds, fetch):
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run(fetch, feeds)


def test_cut_then_mo_matches_tensorflow(small_graph, tmp_path):
    result = cut(small_graph, ("scaled:0[1,16,16,3]{f32}",), ("pooled",), tmp_path)
    assert [str(s) for s in result.inputs] == ["scaled:0[1,16,16,3]{f32}"]
    assert result.dropped_control_edges >= 1, "the Assert's control edge must not drag the raw input in"
    ir = convert(Convert(), result.path, result.inputs, result.outputs, tmp_path, "small")
    import openvino as ov

    # f32 pinned: on CPUs with native bf16 the default would be bf16, and this compares at f32 tolerances.
    compiled = ov.Core().compile_model(str(ir.xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert [p.get_friendly_name() for p in ov.Core().read_model(ir.xml).get_parameters()] == ["scaled"]
    x = np.random.default_rng(1).normal(size=(1, 16, 16, 3)).astype(np.float32)
    expected = _run_tf(small_graph, {"raw:0": x / 2.0 + 3.0}, "pooled:0")  # so that scaled == x
    np.testing.assert_allclose(compiled([x])[0], expected, rtol=1e-5, atol=1e-5)


def test_cut_reads_unknown_dimensions_from_the_graph(small_graph, tmp_path):
    result = cut(small_graph, ("features:0[1,-1,-1,4]",), ("pooled",), tmp_path)
    assert result.inputs[0].shape == (1, 16, 16, 4) and result.inputs[0].dtype == "float32"


def test_cut_node_not_in_graph(small_graph, tmp_path):
    with pytest.raises(UserError, match="cut node 'nope' is not in the graph"):
        cut(small_graph, ("nope:0[1,2]",), ("pooled",), tmp_path)


def test_mo_failure_is_one_line_with_log_tail_and_no_ir(small_graph, tmp_path):
    spec = Convert(extra_args=("--no_such_mo_flag",))
    with pytest.raises(ToolError) as error:
        convert(spec, small_graph, (), ("pooled",), tmp_path, "small")
    assert "mo failed" in error.value.one_line() and "log tail" in error.value.one_line()
    assert not (tmp_path / "ir").exists() and not list(tmp_path.glob(".convert-*"))


def test_mo_timeout_leaves_no_ir(small_graph, tmp_path):
    with pytest.raises(ToolError, match="timed out after 1 s"):
        convert(Convert(timeout_s=1), small_graph, (), ("pooled",), tmp_path, "small")
    assert not (tmp_path / "ir").exists() and not list(tmp_path.glob(".convert-*"))


def test_mo_runs_with_telemetry_off(small_graph, tmp_path, monkeypatch):
    import subprocess

    seen = {}
    real_popen = subprocess.Popen

    def spy(command, **kwargs):
        seen["CI"] = kwargs["env"].get("CI")
        return real_popen(command, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    convert(Convert(), small_graph, (), ("pooled",), tmp_path, "small")
    assert seen["CI"] == "true"


def test_ovc_backend_embeds_preprocessing_and_validates(cli, tmp_path):
    code, out, err = cli("run", "inception_v1_untrained", "--backend", "ovc", "-o", tmp_path / "ovc",
                         "--cache-dir", tmp_path / "cache", "--set", "validate.count=4")
    assert code == 0, err
    report = json.loads((tmp_path / "ovc" / "report.json").read_text())
    assert report["validation"]["passed"] and report["command"][:3] == ["python", "-m", "ovconvert.stages.ovc_backend"]


def test_corrupt_frozen_source_is_a_user_error(cli, tmp_path):
    bad = tmp_path / "mobilenet_v1_0.25_128_frozen.pb"
    bad.write_bytes(b"\xff" * 1000)
    code, _, err = cli("run", "mobilenet_v1_0.25_128", "--source", bad, "-o", tmp_path / "out")
    assert code == 2 and "not a valid binary TensorFlow GraphDef" in err
    assert not (tmp_path / "out" / "ir").exists()
