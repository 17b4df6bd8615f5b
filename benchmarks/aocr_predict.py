"""`aocr predict` on a stream of word images: OpenVINO against TensorFlow (and Tesseract, if installed),
in one run on the same images.

Renders --count word images (held-out fonts, lengths up to the model's max_prediction) to PNG files,
then times reading all of them the way `aocr predict` does — file read, decode and preprocess, the
network, ids to text, the doubtful and narrow words read again at other widths (and, for comparison,
reading each word once) — in batches of --batch-size, in a second pass after a first one that traces
and compiles, the engines taking turns batch by batch; the IR is the cached, validated conversion
`--engine openvino` uses. Tesseract (`tesseract IMAGE stdout --psm 8`) runs a process per word, as
people script it, on the first --tesseract-count images. Prints ms per word, the ratios, and how many
words each engine read correctly. `--also bf16` (or f16, device, int8) times the IR at that precision too,
in the same interleaved pass, and counts the words it reads differently from the f32 IR (`aocr predict
--precision`); bf16 runs as f32 where the CPU has no native bf16, and int8 reads with the INT8 IR (made
once with NNCF, behind its accuracy gate). `--one-stream` also times the IR
compiled for latency, each batch one request, against the default split across the device's streams.
`--against DIR` also times another model's IR (the bundled model before a change; a model read on
canvases against one read at its full width, aocr/canvas.py) in the same pass. `--records FILE` reads
the first --count images of an aocr .tfrecords dataset instead (trdg's words: benchmarks/trdg_words.sh).
Every engine reads with the spelling prior (aocr/spelling.py), as `aocr predict` does by default;
`--unspelt` also times the IR without it (`--spelling-weight 0`), in the same pass.

Usage: python benchmarks/aocr_predict.py [--model-dir DIR] [--count 500] [--batch-size 32] [--also bf16]
       [--one-stream] [--against DIR] [--records FILE] [--unspelt]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tesseract-count", type=int, default=100)
    parser.add_argument("--also", action="append", default=[], choices=("bf16", "f16", "device", "int8"),
                        help="time the IR at this precision too (repeatable)")
    parser.add_argument("--one-stream", action="store_true",
                        help="also time the IR compiled for latency, one request a batch (no streams)")
    parser.add_argument("--against", metavar="DIR", help="also time this model's IR, in the same pass")
    parser.add_argument("--records", metavar="FILE", help="read this aocr .tfrecords dataset's images instead")
    parser.add_argument("--unspelt", action="store_true",
                        help="also time the IR without the spelling prior (--spelling-weight 0)")
    args = parser.parse_args()

    import tensorflow as tf

    from ovconvert import environment
    from ovconvert.aocr import data, dataset_builder, evaluate, trained
    from ovconvert.aocr.openvino_engine import OpenVinoReader
    from ovconvert.families.aocr import PRETRAINED_DIR

    model_dir = args.model_dir or str(PRETRAINED_DIR)
    model = trained.load(model_dir)
    work = Path(tempfile.mkdtemp(prefix="aocr-predict-bench-"))
    records = Path(args.records) if args.records else work / "words.tfrecords"
    if not args.records:
        dataset_builder.synthesize(args.count, str(records), model.config.charset, model.config.max_prediction,
                                   model.config.force_uppercase, seed=4242, held_out=True, jobs=2)
    paths, labels = [], []
    for index, record in enumerate(tf.data.TFRecordDataset([str(records)]).take(args.count).as_numpy_iterator()):
        example = tf.train.Example.FromString(record).features.feature
        path = work / f"{index:04d}.img"
        path.write_bytes(example["image"].bytes_list.value[0])
        paths.append(path)
        labels.append(data.normalize_label(example["label"].bytes_list.value[0].decode(), model.config))

    def stream(read) -> tuple[float, list[str]]:
        started = time.perf_counter()
        texts = []
        for start in range(0, len(paths), args.batch_size):
            texts += [text for text, _ in read([p.read_bytes() for p in paths[start:start + args.batch_size]])]
        return time.perf_counter() - started, texts

    def interleaved_streams(engines) -> tuple[dict, dict]:
        """Every engine reads each batch in turn, the order reversed from one batch to the next, so a
        noisy neighbour slows them all alike and the ratios hold within one run."""
        seconds, texts = {name: 0.0 for name in engines}, {name: [] for name in engines}
        for number, start in enumerate(range(0, len(paths), args.batch_size)):
            for name in (list(engines) if number % 2 == 0 else list(reversed(engines))):
                started = time.perf_counter()
                batch = [p.read_bytes() for p in paths[start:start + args.batch_size]]
                texts[name] += [text for text, _ in engines[name](batch)]
                seconds[name] += time.perf_counter() - started
        return seconds, texts

    reader = OpenVinoReader(model, model_dir, work / "cache")
    once = OpenVinoReader(model, model_dir, work / "cache", reread_below=0.0)
    engines = {"TensorFlow": evaluate.Predictor(model), "OpenVINO IR": reader.read_encoded,
               "TensorFlow, read once": evaluate.Predictor(model, reread_below=0.0),
               "OpenVINO IR, read once": once.read_encoded}
    if args.one_stream:  # how the IR read before a call's rows were split across the device's streams
        engines["IR, one stream"] = OpenVinoReader(model, model_dir, work / "cache",
                                                   hint="LATENCY").read_encoded
        engines["IR, one stream, once"] = OpenVinoReader(model, model_dir, work / "cache", reread_below=0.0,
                                                         hint="LATENCY").read_encoded
    if args.against:
        other = trained.load(args.against)
        engines["IR of --against"] = OpenVinoReader(other, args.against, work / "cache").read_encoded
        engines["IR of --against, once"] = OpenVinoReader(other, args.against, work / "cache",
                                                          reread_below=0.0).read_encoded
    if args.unspelt:
        engines["IR, no spelling prior"] = OpenVinoReader(model, model_dir, work / "cache",
                                                          spelling_weight=0.0).read_encoded
        engines["IR, no spelling prior, once"] = OpenVinoReader(model, model_dir, work / "cache", reread_below=0.0,
                                                                spelling_weight=0.0).read_encoded
    for precision in args.also:
        engines[f"OpenVINO IR {precision}"] = OpenVinoReader(model, model_dir, work / "cache",
                                                             precision=precision).read_encoded
        engines[f"OpenVINO IR {precision}, read once"] = OpenVinoReader(
            model, model_dir, work / "cache", reread_below=0.0, precision=precision).read_encoded
    # The first pass traces TensorFlow's functions and compiles the IR at each batch size the stream
    # needs (the words read again come in smaller batches); the second is what a long stream costs.
    cold = {name: stream(read)[0] for name, read in engines.items()}
    seconds, texts = interleaved_streams(engines)
    correct = {name: sum(t == label for t, label in zip(texts[name], labels)) for name in engines}

    tesseract = shutil.which("tesseract")
    if tesseract and args.tesseract_count > 0:  # 0: leave Tesseract out
        subset = paths[:args.tesseract_count]
        started = time.perf_counter()
        read = [subprocess.run([tesseract, str(p), "stdout", "--psm", "8"], capture_output=True, text=True)
                .stdout.strip() for p in subset]
        seconds["Tesseract --psm 8"] = (time.perf_counter() - started) * len(paths) / len(subset)
        correct["Tesseract --psm 8"] = sum("".join(t.split()).upper() == label
                                           for t, label in zip(read, labels[:len(subset)]))

    print(f"ran on {environment.one_line(environment.describe())}; IR at f32 unless named")
    print(f"model {model_dir}{f' (--against {args.against})' if args.against else ''}; {len(paths)} "
          f"{f'images of {args.records}' if args.records else 'held-out word images'} in a stream, "
          f"batches of {args.batch_size}")
    reference = seconds["TensorFlow"]
    name_width = max(len(name) for name in seconds)
    for name, total in seconds.items():
        words = len(paths) if not name.startswith("Tesseract") else args.tesseract_count
        first = f"  (first pass {cold[name]:.1f} s)" if name in cold else ""
        print(f"{name:{name_width}} {1000 * total / len(paths):8.2f} ms/word  {reference / total:6.2f}× TensorFlow  "
              f"read {correct[name]}/{words} correctly{first}")
    for suffix in ("", ", read once"):
        differ = sum(a != b for a, b in zip(texts[f"TensorFlow{suffix}"], texts[f"OpenVINO IR{suffix}"]))
        print(f"OpenVINO IR{suffix}: {differ}/{len(paths)} words read differently from TensorFlow")
    if args.unspelt:
        for ours, theirs in (("OpenVINO IR", "IR, no spelling prior"),
                             ("OpenVINO IR, read once", "IR, no spelling prior, once")):
            differ = sum(a != b for a, b in zip(texts[ours], texts[theirs]))
            print(f"{ours}: {seconds[theirs] / seconds[ours]:.2f}× as fast as {theirs}, {differ}/{len(paths)} "
                  "words read differently")
    for precision in args.also:
        for suffix in ("", ", read once"):
            pairs = zip(texts[f"OpenVINO IR{suffix}"], texts[f"OpenVINO IR {precision}{suffix}"])
            differ = sum(f32_text != other_text for f32_text, other_text in pairs)
            print(f"OpenVINO IR {precision}{suffix}: {differ}/{len(paths)} words read differently from f32")
    if args.one_stream:
        pairs = (("OpenVINO IR", "IR, one stream"), ("OpenVINO IR, read once", "IR, one stream, once"))
        for split, single in pairs:
            differ = sum(a != b for a, b in zip(texts[split], texts[single]))
            print(f"{split} split across streams: {seconds[single] / seconds[split]:.2f}× as fast as "
                  f"{single}, {differ}/{len(paths)} words read differently")
    if args.against:
        for ours, theirs in (("OpenVINO IR", "IR of --against"), ("OpenVINO IR, read once", "IR of --against, once")):
            differ = sum(a != b for a, b in zip(texts[ours], texts[theirs]))
            print(f"{ours}: {seconds[theirs] / seconds[ours]:.2f}× as fast as {theirs}, {differ}/{len(paths)} "
                  "words read differently")
    if "Tesseract --psm 8" in seconds:
        print(f"OpenVINO IR vs Tesseract (a process per word): "
              f"{seconds['Tesseract --psm 8'] / seconds['OpenVINO IR']:.1f}×")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
