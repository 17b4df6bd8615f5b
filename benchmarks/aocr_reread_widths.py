"""How much reading a word at more widths could still gain: each word of labelled sets read with the IR
at every width scale of --scales (1.0: the width its aspect ratio gives), then ways of choosing among
those readings scored on the same readings, against reading once and the default re-reading
(aocr/reread.py). The last row is the ceiling: the words that some width reads right.

Each way reads a word at its own width first and stops there when that reading is sure (at least
--sure probable) and not narrow (as reread.py judges); otherwise it reads the word at all its widths
and keeps the most probable reading ("most probable"), or the reading whose probabilities, summed over
the widths that read it, are largest ("vote"). Each cell is the words read right and the rows read a
word (the time, about: aocr/reread.py). Every scale reads every word here, so the script costs about
len(--scales) times one `aocr test` of the sets. The readings are the model's own, without the spelling
prior (`aocr test --spelling-weight 0` gives the default row's figures; aocr/spelling.py).

Usage: python benchmarks/aocr_reread_widths.py SET.tfrecords [...] [--model-dir DIR]
       [--scales 0.6,0.7,0.8,0.9,1,1.1,1.25,1.5,1.75] [--max-images N]
"""

import argparse
import collections
import itertools
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The ways compared, as (name, scales read when the first reading is not enough, rule); None: every
# scale of --scales.
WAYS = (("most probable, 0.8/1/1.25", (0.8, 1.0, 1.25), "most probable"),
        ("vote, 0.8/1/1.25", (0.8, 1.0, 1.25), "vote"),
        ("most probable, 0.7…1.5", (0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5), "most probable"),
        ("vote, 0.7…1.5", (0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5), "vote"),
        ("most probable, every scale", None, "most probable"),
        ("vote, every scale", None, "vote"))


def read_at_scales(records: str, scales: list[float], model, reader, limit: int | None):
    """[(truth, {scale: (text, probability)}, width at scale 1)] of a set's words, read with `reader`."""
    import tensorflow as tf

    from ovconvert.aocr import data
    from ovconvert.aocr.records import parse_record
    from ovconvert.aocr.reread import content_widths

    serialized = itertools.islice(tf.data.TFRecordDataset([records]).as_numpy_iterator(), limit)
    words = [parse_record(record)[:2] for record in serialized]
    read = []
    for start in range(0, len(words), 64):
        batch = words[start:start + 64]
        encoded = [image for image, _ in batch]
        by_scale = {}
        for scale in scales:
            pixels = reader.preprocess(encoded, [scale] * len(encoded))
            if scale == 1.0:
                widths = content_widths(pixels)
            by_scale[scale] = reader.read_pixels(pixels)
        read += [(data.normalize_label(label, model.config), {scale: by_scale[scale][i] for scale in scales},
                  float(widths[i])) for i, (_, label) in enumerate(batch)]
    return read


def choose(readings: dict, width: float, scales, rule: str, sure: float) -> tuple[str, int]:
    """(the reading kept, the rows read) of one word by one way (WAYS)."""
    from ovconvert.aocr.reread import scales_to_read_again

    text, probability = readings[1.0]
    if not scales_to_read_again(text, probability, width, sure):
        return text, 1
    if rule == "most probable":
        return max((readings[scale] for scale in scales), key=lambda reading: reading[1])[0], len(scales)
    tally = collections.defaultdict(float)
    for scale in scales:
        tally[readings[scale][0]] += readings[scale][1]
    return max(tally, key=tally.get), len(scales)


def default_rereading(readings: dict, width: float, below: float) -> tuple[str, int]:
    """What `aocr test` keeps by default: reread.read_again itself, its images and network swapped for a
    look-up of the readings already made at each scale."""
    from ovconvert.aocr.reread import read_again

    looked_up = []

    def look_up(per_word: list[dict], scales: list[float]) -> list[tuple[str, float]]:
        looked_up.extend(scales)
        return [word[scale] for word, scale in zip(per_word, scales)]

    [(text, _)] = read_again([readings[1.0]], [readings], [width], lambda rows: rows, look_up, below)
    return text, 1 + len(looked_up)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+")
    parser.add_argument("--model-dir", default="pretrained")
    parser.add_argument("--scales", default="0.6,0.7,0.8,0.9,1,1.1,1.25,1.5,1.75")
    parser.add_argument("--sure", type=float, default=None, help="(default: --reread-below's default, 0.5)")
    parser.add_argument("--max-images", type=int, default=None, help="the first N records of each set")
    args = parser.parse_args()

    from ovconvert import environment
    from ovconvert.aocr import trained
    from ovconvert.aocr.config import REREAD_BELOW
    from ovconvert.aocr.openvino_engine import OpenVinoReader
    from ovconvert.aocr.reread import STRETCH_SCALES, WIDTH_SCALES
    from ovconvert.families.aocr import PRETRAINED_DIR

    # the default re-reading's and the ways' scales are always read: its row is what `aocr test` reports
    ways_scales = {scale for _, way_scales, _ in WAYS for scale in way_scales or ()}
    scales = sorted({float(scale) for scale in args.scales.split(",")} | {1.0, *WIDTH_SCALES, *STRETCH_SCALES}
                    | ways_scales)
    sure = REREAD_BELOW if args.sure is None else args.sure
    model_dir = str(PRETRAINED_DIR) if args.model_dir == "pretrained" else args.model_dir
    model = trained.load(model_dir)
    work = Path(tempfile.mkdtemp(prefix="aocr-reread-"))
    # the model's own readings, as the rules it compares were measured: `aocr test --spelling-weight 0`
    reader = OpenVinoReader(model, model_dir, work / "cache", reread_below=0, spelling_weight=0.0)
    print(f"ran on {environment.one_line(environment.describe())}; {model_dir} (step {model.step}); "
          f"scales {', '.join(f'{scale:g}' for scale in scales)}")
    sets = {Path(records).name: read_at_scales(records, scales, model, reader, args.max_images)
            for records in args.records}
    shutil.rmtree(work, ignore_errors=True)

    ways = [("read once", lambda r, w: (r[1.0][0], 1)),
            ("default re-reading", lambda r, w: default_rereading(r, w, REREAD_BELOW))]
    ways += [(name, lambda r, w, s=way_scales or scales, rule=rule: choose(r, w, s, rule, sure))
             for name, way_scales, rule in WAYS]
    print("| way | " + " | ".join(f"{name} ({len(words)})" for name, words in sets.items()) + " |")
    print("|---|" + "---|" * len(sets))
    for name, way in ways:
        cells = []
        for words in sets.values():
            kept = [way(readings, width) for _, readings, width in words]
            right = sum(text == truth for (text, _), (truth, _, _) in zip(kept, words))
            cells.append(f"{100 * right / len(words):.2f}% ({sum(rows for _, rows in kept) / len(words):.2f} rows)")
        print(f"| {name} | " + " | ".join(cells) + " |")
    ceiling = [sum(any(text == truth for text, _ in readings.values()) for truth, readings, _ in words) / len(words)
               for words in sets.values()]
    print("| some width reads it right | " + " | ".join(f"{100 * share:.2f}%" for share in ceiling) + " |")


if __name__ == "__main__":
    main()
