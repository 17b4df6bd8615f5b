"""Word accuracy by label length: an aocr model (its OpenVINO IR, as `aocr test --engine openvino`)
against Tesseract on the same labelled word images.

For each TFRecords file (aocr's format: `image` bytes and `label`), reads the first --max-images
records with the model and with `tesseract IMAGE stdout --psm 8` (a single word, Tesseract's own
dictionary and language model, as people run it), and prints word accuracy overall and per length
bucket (1–4, 5–8, …) for both, and character accuracy (1 − edit distance / length). Tesseract's reading is compared as the model's is: spaces removed and
upper-cased when the model reports upper case. Accuracy only; `aocr_predict.py` measures speed.

Usage: python benchmarks/aocr_vs_tesseract.py SET.tfrecords [...] [--model-dir DIR] [--max-images 300]
       [--reread-below P]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def tesseract_reading(tesseract: str, encoded: bytes, work: Path, index: int) -> str:
    path = work / f"{index:05d}.img"
    path.write_bytes(encoded)
    result = subprocess.run([tesseract, str(path), "stdout", "--psm", "8"], capture_output=True, text=True,
                            env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    return "".join(result.stdout.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--max-images", type=int, default=300)
    parser.add_argument("--reread-below", type=float, default=None,
                        help="as aocr test's (default: its default; 0 reads each word once)")
    args = parser.parse_args()

    from ovconvert import environment
    from ovconvert.aocr import data, evaluate, records, trained
    from ovconvert.aocr.config import REREAD_BELOW
    from ovconvert.aocr.openvino_engine import OpenVinoReader
    from ovconvert.families.aocr import PRETRAINED_DIR

    tesseract = shutil.which("tesseract")
    if tesseract is None:
        sys.exit("tesseract not found: apt-get install tesseract-ocr")
    model_dir = args.model_dir or str(PRETRAINED_DIR)
    model = trained.load(model_dir)
    work = Path(tempfile.mkdtemp(prefix="aocr-vs-tesseract-"))
    reader = OpenVinoReader(model, model_dir, work / "cache")
    print(f"ran on {environment.one_line(environment.describe())}")
    print(f"model {model_dir} (max_prediction {model.config.max_prediction}); Tesseract "
          f"{subprocess.run([tesseract, '--version'], capture_output=True, text=True).stdout.split()[1]} --psm 8")
    for set_path in args.records:
        ours = evaluate.test(model, [set_path], batch_size=32, limit=args.max_images, reader=reader,
                             reread_below=REREAD_BELOW if args.reread_below is None else args.reread_below)
        wanted = {reading.record for reading in ours.readings}  # the records the model read, numbered from 1
        examples = [records.parse_record(record)  # (image bytes, label, comment)
                    for number, record in enumerate(records.read_records([set_path]), start=1) if number in wanted]
        truths = [data.normalize_label(label, model.config) for _, label, _ in examples]
        # Two Tesseract processes at a time: it is single-threaded per word (OMP_THREAD_LIMIT=1).
        with ThreadPoolExecutor(2) as pool:
            texts = list(pool.map(tesseract_reading, [tesseract] * len(examples), [image for image, _, _ in examples],
                                  [work] * len(examples), range(len(examples))))
        theirs = evaluate.Score([evaluate.Reading(i, truth, data.normalize_label(text, model.config), 0.0, [])
                                 for i, (truth, text) in enumerate(zip(truths, texts))])
        print(f"\n{set_path}: {ours.count} images")
        buckets = list(ours.by_length())
        print(f"{'reader':24} {'words':>7} {'chars':>7}  " + "  ".join(f"{b:>6}" for b in buckets))
        for name, score in (("aocr model, OpenVINO IR", ours), ("Tesseract --psm 8", theirs)):
            by_length = score.by_length()
            print(f"{name:24} {100 * score.word_accuracy:6.1f}% {100 * score.char_accuracy:6.1f}%  " +
                  "  ".join(f"{100 * by_length[b]['word_accuracy']:5.0f}%" if b in by_length else "     -"
                            for b in buckets))
        print(f"{'images per bucket':24} {'':15}  " + "  ".join(f"{ours.by_length()[b]['images']:>6}"
                                                             for b in buckets))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
