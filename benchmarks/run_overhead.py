"""`ovconvert run` on a recipe whose source is already a frozen graph, against the bare work it wraps:
the mo command plus one TensorFlow and one IR inference (each in a fresh process, as a user would run
them). Prints both times and the ratio. Usage: python benchmarks/run_overhead.py [RUNS]"""

import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO.parent / "shared" / "fixtures" / "slim" / "mobilenet_v1_0.25_128_frozen.pb"
ENV = dict(os.environ, CI="true", TF_CPP_MIN_LOG_LEVEL="3")
INFERENCE = """
import sys, numpy as np, tensorflow as tf, openvino as ov
x = np.random.default_rng(0).uniform(0, 255, (1, 128, 128, 3)).astype(np.float32)
g = tf.compat.v1.GraphDef(); g.ParseFromString(open(sys.argv[1], 'rb').read())
graph = tf.Graph()
with graph.as_default(): tf.compat.v1.import_graph_def(g, name='')
with tf.compat.v1.Session(graph=graph) as s: s.run('MobilenetV1/Predictions/Reshape_1:0', {'input:0': x / 127.5 - 1})
ov.Core().compile_model(sys.argv[2], 'CPU')([x[..., ::-1]])
"""


def timed(command):
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - started


def main(runs: int = 3) -> None:
    if not MODEL.exists():
        sys.exit(f"needs {MODEL}")
    work = Path(tempfile.mkdtemp())
    mo = [sys.executable, "-m", "openvino.tools.mo", "--input_model", str(MODEL), "--input", "input",
          "--input_shape", "[1,128,128,3]", "--output", "MobilenetV1/Predictions/Reshape_1",
          "--mean_values", "[127.5,127.5,127.5]", "--scale", "127.5", "--reverse_input_channels",
          "--compress_to_fp16=False", "--output_dir", str(work / "bare"), "--model_name", "bare"]
    infer = [sys.executable, "-c", INFERENCE, str(MODEL), str(work / "bare" / "bare.xml")]
    ours = [sys.executable, "-m", "ovconvert", "run", "mobilenet_v1_0.25_128", "--source", str(MODEL),
            "-o", str(work / "ours"), "--set", "validate.count=1", "--no-bench"]
    bare_times, our_times = [], []
    for _ in range(runs):
        bare_times.append(timed(mo) + timed(infer))
        our_times.append(timed(ours))
    bare, our = statistics.median(bare_times), statistics.median(our_times)
    print(f"bare: {shlex.join(['mo'] + mo[3:6])} … + one TF and one IR inference: {bare:.2f} s")
    print(f"ovconvert run (acquire, summarize, cut, mo, validate on 1 photo, report): {our:.2f} s")
    print(f"ratio: {our / bare:.2f}x   (median of {runs} runs each)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
