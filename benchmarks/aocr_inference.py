"""Reading words: the OpenVINO IR against the TensorFlow SavedModel, in one run on the same images.

Converts the model with `ovconvert run recipes/aocr.yaml` (the bundled pretrained model unless
--model-dir is given), exports the SavedModel, and times, at batch 1 (one word per call, median) and
batch 32 (images/s):
  end to end   image bytes → text: the SavedModel's serving signature, against TensorFlow's own
               decode+preprocess followed by the IR and the id → text step in NumPy
  network      the preprocessed tensor → step ids: the Keras model in a tf.function, against the IR
Prints the times and the IR/TF speed-up ratios.

Usage: python benchmarks/aocr_inference.py [--model-dir DIR] [--repeats N]
"""

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from timing import median_seconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    import openvino as ov
    import tensorflow as tf

    from ovconvert.aocr import data, export, trained
    from ovconvert.aocr.charset import Charset
    from ovconvert.cli import main as ovconvert
    from ovconvert.families import aocr as family
    from ovconvert.families import words

    model_dir = args.model_dir or str(family.PRETRAINED_DIR)
    work = Path(tempfile.mkdtemp(prefix="aocr-bench-"))
    overrides = ["--set", f"source.builder_args={{model_dir: '{model_dir}'}}"] if args.model_dir else []
    if ovconvert(["run", "recipes/aocr.yaml", "-o", str(work / "run"), "--cache-dir", str(work / "cache"),
                  *overrides]) != 0:
        sys.exit("the conversion failed; see above")
    model = trained.load(model_dir)
    saved_model_dir = export.export_saved_model(model, str(work / "exported"))
    serve = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
    config, charset = model.config, Charset(model.config.charset)

    texts = [w for w in (list(words.SAMPLE_WORDS) * 4)][:32]
    encoded = [words.png_bytes(words.render(t)) for t in texts]
    preprocess = tf.function(lambda b: tf.map_fn(lambda e: data.preprocess(e, config), b,
                                                 fn_output_signature=tf.TensorSpec([32, config.image_width,
                                                                                    config.channels])))
    pixels = preprocess(tf.constant(encoded)).numpy()

    core = ov.Core()

    def compiled_at_batch(batch: int):
        # The run's IR takes any batch; reshaped to a static one it runs 1.3-2.7x faster than dynamic
        # (the CPU plugin's static kernels), which is how `aocr predict --engine openvino` runs it too.
        ir = core.read_model(work / "run" / "ir" / "aocr.xml")
        ir.reshape({ir.inputs[0].get_any_name(): [batch, 32, config.image_width, config.channels]})
        return core.compile_model(ir, "CPU")

    single, batched = compiled_at_batch(1), compiled_at_batch(32)
    keras_step = tf.function(lambda x: tf.argmax(model.model(x, training=False)[0], axis=-1))

    def ir_read(compiled, batch_bytes):
        ids = compiled([preprocess(tf.constant(batch_bytes)).numpy()])[0]
        return [charset.decode(row) for row in ids]

    # The two sides must read the same before their speed means anything.
    tf_text = [t.decode() for t in serve(input=tf.constant(encoded))["output"].numpy()]
    assert tf_text == ir_read(batched, encoded), "TF and the IR read differently"

    rows = {
        "end to end, batch 1 (s/word)": (
            median_seconds(lambda: serve(input=tf.constant(encoded[:1])), args.repeats),
            median_seconds(lambda: ir_read(single, encoded[:1]), args.repeats)),
        "network, batch 1 (s/word)": (
            median_seconds(lambda: keras_step(pixels[:1]), args.repeats),
            median_seconds(lambda: single([pixels[:1]]), args.repeats)),
        "end to end, batch 32 (s/batch)": (
            median_seconds(lambda: serve(input=tf.constant(encoded)), max(5, args.repeats // 3)),
            median_seconds(lambda: ir_read(batched, encoded), max(5, args.repeats // 3))),
        "network, batch 32 (s/batch)": (
            median_seconds(lambda: keras_step(pixels), max(5, args.repeats // 3)),
            median_seconds(lambda: batched([pixels]), max(5, args.repeats // 3))),
    }
    from ovconvert import environment
    from ovconvert.precision import precision_name

    # The device's default precision is what an application gets: bf16 on CPUs with avx512_bf16/AMX.
    print(f"ran on {environment.one_line(environment.describe())}; the IR ran at the device's default, "
          f"{precision_name(single.get_property('INFERENCE_PRECISION_HINT'))}")
    print(f"model {model_dir} (step {model.step}); {len(encoded)} word images; both sides read the same text")
    print(f"{'':34} {'TensorFlow':>12} {'OpenVINO IR':>12} {'IR speed-up':>12}")
    for name, (tf_seconds, ir_seconds) in rows.items():
        print(f"{name:34} {tf_seconds:12.5f} {ir_seconds:12.5f} {tf_seconds / ir_seconds:11.2f}×")
    for name in ("end to end, batch 32 (s/batch)", "network, batch 32 (s/batch)"):
        tf_seconds, ir_seconds = rows[name]
        print(f"{name.split(' (')[0]} throughput: TF {32 / tf_seconds:.0f} images/s, IR {32 / ir_seconds:.0f} images/s")


if __name__ == "__main__":
    main()
