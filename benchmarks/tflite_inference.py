"""Quantized classifiers: the OpenVINO IR against the TFLite interpreter, in one run on the same photo.

For each .tflite given (default: the TF-hosted MobileNets in ../shared/fixtures/tflite-quant), converts
it with mo as the tflite_quant recipes do, then times one inference (median of --repeats, after a
warm-up) with the TFLite interpreter (XNNPACK, 2 threads, as validation uses it) and with the IR on
CPU, both fed the same uint8 photo. Prints the times and the IR/TFLite speed-up.

Usage: python benchmarks/tflite_inference.py [MODEL.tflite …] [--repeats N]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from timing import median_seconds  # noqa: E402

FIXTURES = REPO.parent / "shared" / "fixtures" / "tflite-quant"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    models = args.models or sorted(FIXTURES.glob("*.tflite"))
    if not models:
        sys.exit(f"no models given and none in {FIXTURES}")

    import openvino as ov
    import tensorflow as tf

    from ovconvert.families import slim, tflite_quant
    from ovconvert.families.images import load_images
    from ovconvert.graph.tflite import summarize_tflite

    core = ov.Core()
    _, photo = load_images(("skimage:chelsea",), 1)[0]
    print(f"{'model':34s} {'TFLite ms':>10s} {'IR ms':>8s} {'IR speed-up':>12s}")
    with tempfile.TemporaryDirectory() as work:
        for model in models:
            summary = summarize_tflite(model, check_unsupported=False)
            first = summary.inputs[0]
            array = tflite_quant.model_input(slim.geometry(photo, "inception", first.shape[1:3]), first.dtype)[None]
            subprocess.run([sys.executable, "-m", "openvino.tools.mo", "--input_model", str(model), "--output_dir",
                            work, "--model_name", model.stem], check=True, capture_output=True,
                           env={"CI": "true", "PATH": "/usr/bin:/bin"})
            request = core.compile_model(str(Path(work) / f"{model.stem}.xml"), "CPU").create_infer_request()
            interpreter = tf.lite.Interpreter(model_path=str(model), num_threads=2)
            interpreter.allocate_tensors()
            index = interpreter.get_input_details()[0]["index"]

            def tflite_once():
                interpreter.set_tensor(index, array)
                interpreter.invoke()

            tflite_s = median_seconds(tflite_once, args.repeats)
            ir_s = median_seconds(lambda: request.infer([array]), args.repeats)
            print(f"{model.stem:34s} {tflite_s * 1e3:10.2f} {ir_s * 1e3:8.2f} {tflite_s / ir_s:11.2f}×")


if __name__ == "__main__":
    main()
