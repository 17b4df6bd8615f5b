"""Attention-OCR models side by side on the same labelled word sets: the table docs/aocr.md shows
before a new stage's model replaces the bundled one.

Each model reads each set with its OpenVINO IR, as `aocr test --engine openvino` does, twice: once
per word (aocr's way) and with re-reading (the default of `aocr test` and `predict`). One Markdown row
per set: word accuracy read once / with re-reading, and with re-reading by label length (1–4, 5–8,
9–12, 13–16, 17–20, 21–24). Both models read the same records, so their difference is the models',
not the sample's; the sample's own noise is about ±1 point at 2000 images and ±2 at 500.

Usage: python benchmarks/aocr_compare_models.py SET.tfrecords [...] [--model-dir NEW --model-dir pretrained]
       [--max-images N]
       (one column per --model-dir, in order; `pretrained` is the bundled model, as for `aocr test`, and
       the only one without --model-dir)
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+")
    parser.add_argument("--model-dir", action="append", default=None,
                        help="a model to read with, once per model (`pretrained`: the bundled one, the default)")
    parser.add_argument("--max-images", type=int, default=None, help="the first N records of each set")
    args = parser.parse_args()

    from ovconvert import environment
    from ovconvert.aocr import evaluate, trained
    from ovconvert.aocr.config import REREAD_BELOW
    from ovconvert.aocr.openvino_engine import OpenVinoReader
    from ovconvert.families.aocr import PRETRAINED_DIR

    model_dirs = [str(PRETRAINED_DIR) if model_dir == "pretrained" else model_dir
                  for model_dir in args.model_dir or ["pretrained"]]
    work = Path(tempfile.mkdtemp(prefix="aocr-compare-"))
    readers = []
    for number, model_dir in enumerate(model_dirs):
        model = trained.load(model_dir)
        # One IR cache per model: the cache is keyed by the model's files, but a fresh one also keeps
        # this script from filling the user's.
        readers.append((model, OpenVinoReader(model, model_dir, work / f"cache-{number}")))
    print(f"ran on {environment.one_line(environment.describe())}")
    print("| set | " + " | ".join(f"{d} (step {m.step})" for d, (m, _) in zip(model_dirs, readers)) + " |")
    print("|---|" + "---|" * len(readers))
    for records in args.records:
        cells = []
        for model, reader in readers:
            once, again = (evaluate.test(model, [records], batch_size=32, limit=args.max_images, reader=reader,
                                         reread_below=reread_below) for reread_below in (0.0, REREAD_BELOW))
            buckets = ", ".join(f"{100 * bucket['word_accuracy']:.0f}" for bucket in again.by_length().values())
            cells.append(f"{100 * once.word_accuracy:.2f} / {100 * again.word_accuracy:.2f} ({buckets})")
        print(f"| {Path(records).name} ({once.count}) | " + " | ".join(cells) + " |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
