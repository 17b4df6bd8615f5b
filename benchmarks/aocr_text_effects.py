"""What text effects cost an attention-OCR model: held-out words drawn outlined, shadowed, underlined or
struck through against the same words, fonts and backgrounds drawn plainly (`heldout-effects` and
`heldout-effects-none` of benchmarks/aocr_heldout_sets.sh: one seed, with and without synth's
--text-effects), read by each model with its IR as `aocr test --engine openvino` reads them (words read
again where doubtful, the spelling prior on).

One Markdown row per effect and one for all: the words, then for each model its accuracy on the plain
words and on the same words with the effect. The pairs make the difference the effect's, not the
sample's.

Usage: python benchmarks/aocr_text_effects.py EFFECTS.tfrecords PLAIN.tfrecords [--model-dir DIR ...]
       (`pretrained`, the bundled model, is the default and the only one without --model-dir)
"""

import argparse
import collections
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def effects_of(path: str) -> list[str]:
    """Each record's effect, in order, from the `effect=` field synth writes in its comment ("none")."""
    from ovconvert.aocr import records

    effects = []
    for serialized in records.read_records([path]):
        comment = records.parse_record(serialized)[2]
        fields = dict(part.split("=", 1) for part in comment.split() if "=" in part)
        effects.append(fields.get("effect", "none"))
    return effects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("effects_records")
    parser.add_argument("plain_records")
    parser.add_argument("--model-dir", action="append", default=None,
                        help="a model to read with, once per model (`pretrained`: the bundled one, the default)")
    args = parser.parse_args()

    from ovconvert import environment
    from ovconvert.aocr import evaluate, trained
    from ovconvert.aocr.config import REREAD_BELOW
    from ovconvert.aocr.openvino_engine import OpenVinoReader
    from ovconvert.families.aocr import PRETRAINED_DIR

    effects = effects_of(args.effects_records)
    if len(effects) != len(effects_of(args.plain_records)):
        sys.exit(f"{args.effects_records} and {args.plain_records} hold different numbers of records: draw both "
                 "with the same synth command, one with --text-effects and one without")
    model_dirs = [str(PRETRAINED_DIR) if model_dir == "pretrained" else model_dir
                  for model_dir in args.model_dir or ["pretrained"]]
    work = Path(tempfile.mkdtemp(prefix="aocr-effects-"))
    columns = []  # per model: {effect: [plain right, effect right]}
    for number, model_dir in enumerate(model_dirs):
        model = trained.load(model_dir)
        reader = OpenVinoReader(model, model_dir, work / f"cache-{number}")
        right = collections.defaultdict(lambda: [0, 0])
        for column, path in enumerate((args.plain_records, args.effects_records)):
            score = evaluate.test(model, [path], batch_size=32, reader=reader, reread_below=REREAD_BELOW)
            for reading in score.readings:
                effect = effects[reading.record - 1]  # records count from 1
                right[effect][column] += reading.correct
                right["all"][column] += reading.correct
        columns.append((model_dir, model.step, right))
    shutil.rmtree(work, ignore_errors=True)

    counts = collections.Counter(effects)
    counts["all"] = len(effects)
    print(f"ran on {environment.one_line(environment.describe())}")
    print("| effect | words | " + " | ".join(f"{d} (step {step}): plain → effect" for d, step, _ in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for effect in sorted(counts, key=lambda e: (e == "all", -counts[e])):
        cells = [f"{100 * right[effect][0] / counts[effect]:.1f}% → {100 * right[effect][1] / counts[effect]:.1f}%"
                 for _, _, right in columns]
        print(f"| {effect} | {counts[effect]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
