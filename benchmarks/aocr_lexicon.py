"""What a word list would add to a model's readings, measured before building it into `aocr predict`.

For each image of a labelled set the model reads the word once (greedy decoding, TensorFlow). Where the
reading is letters only and not a word of the list, the list's words within `--max-edits` edits of it
are scored by the model itself: teacher forcing gives the probability of reading exactly that word
(each character and the EOS after it) from the same encoded image. The most probable replaces the
reading when it is at least ALPHA times as probable as the reading itself (a prior: how much more
likely a word of the list is than any other string). Prints word accuracy read as is and with the list
at several ALPHAs, and how many readings each fixed and broke.

The held-out sets draw their dictionary words from Debian's wamerican, so a list made from it flatters
them; judge a list on a set made with another dictionary (trdg's, `benchmarks/trdg_words.sh`).

Usage: python benchmarks/aocr_lexicon.py SET.tfrecords --model-dir DIR \
           --words /usr/share/dict/american-english /usr/share/dict/british-english
Needs rapidfuzz (`pip install rapidfuzz`) for the edit-distance search over the list.
"""

from __future__ import annotations

import argparse
import collections
import math
import sys
from pathlib import Path

import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ovconvert.aocr import data, records, trained  # noqa: E402
from ovconvert.aocr.charset import EOS, PAD  # noqa: E402
from ovconvert.aocr.synth import load_words  # noqa: E402

ALPHAS = (1e-3, 1e-2, 5e-2, 0.2)
BATCH = 32


def load_list(paths: list[str], charset: str, max_length: int) -> dict[int, list[str]]:
    """The lists' words that the model can read (synth's own filter), upper-cased, by length."""
    words = {word.upper() for path in paths for word in load_words(path, charset, max_length, True)}
    by_length = collections.defaultdict(list)
    for word in sorted(words):
        by_length[len(word)].append(word)
    return by_length


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--model-dir", default="ovconvert/aocr/pretrained")
    parser.add_argument("--words", nargs="+", default=["/usr/share/dict/american-english"])
    parser.add_argument("--max-edits", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=30, help="the list's nearest words scored per reading")
    args = parser.parse_args()
    try:
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein
    except ImportError:
        sys.exit("this script needs rapidfuzz: pip install rapidfuzz")

    model = trained.load(args.model_dir)
    config, charset = model.config, model.config.charset_object
    by_length = load_list(args.words, charset.characters, config.max_prediction)
    in_list = {word for words in by_length.values() for word in words}
    steps = config.decode_steps

    encode = tf.function(model.model.encode, reduce_retracing=True)
    greedy = tf.function(lambda encoded: model.model.decode(encoded)[0], reduce_retracing=True)
    forced = tf.function(lambda encoded, targets: model.model.decode(encoded, targets)[0], reduce_retracing=True)

    def log_probability(log_softmax, ids) -> float:
        """log P of reading `ids` (characters then EOS) from one row of per-step log-probabilities."""
        return float(sum(log_softmax[step, token] for step, token in enumerate(ids)))

    examples = [records.parse_record(r) for r in records.read_records([args.dataset])]
    rows = []  # (truth, reading, its log P, [(candidate, its log P)])
    for start in range(0, len(examples), BATCH):
        chunk = examples[start:start + BATCH]
        encoded = encode(tf.stack([data.preprocess(image, config) for image, _, _ in chunk]))
        greedy_log_softmax = tf.nn.log_softmax(greedy(encoded)).numpy()
        for row, (_, label, _) in enumerate(chunk):
            ids = greedy_log_softmax[row].argmax(-1)
            reading = charset.decode(ids)
            reading_ids = charset.encode(reading) + [EOS]
            scored = []
            if reading.isalpha() and reading not in in_list:
                pool = [w for n in range(len(reading) - args.max_edits, len(reading) + args.max_edits + 1)
                        for w in by_length.get(n, ())]
                nearest = [w for w, _, _ in process.extract(reading, pool, scorer=Levenshtein.distance,
                                                           score_cutoff=args.max_edits, limit=args.candidates)]
                if nearest:
                    targets = [charset.encode(w) + [EOS] for w in nearest]
                    padded = tf.constant([t + [PAD] * (steps - len(t)) for t in targets], tf.int32)
                    repeated = tf.repeat(encoded[row:row + 1], len(nearest), axis=0)
                    forced_log_softmax = tf.nn.log_softmax(forced(repeated, padded)).numpy()
                    scored = [(w, log_probability(f, t)) for w, f, t in zip(nearest, forced_log_softmax, targets)]
            rows.append((data.normalize_label(label, config), reading,
                         log_probability(greedy_log_softmax[row], reading_ids[:steps]), scored))

    right = sum(truth == reading for truth, reading, _, _ in rows)
    print(f"{args.dataset}: {len(rows)} images; {sum(bool(s) for *_, s in rows)} readings outside the list "
          f"with a word of it within {args.max_edits} edits")
    print(f"read as is        {100 * right / len(rows):6.2f}% words")
    for alpha in ALPHAS:
        fixed = broken = correct = 0
        for truth, reading, reading_log_p, scored in rows:
            chosen = reading
            if scored:
                word, word_log_p = max(scored, key=lambda pair: pair[1])
                if word_log_p - reading_log_p > math.log(alpha):
                    chosen = word
            correct += chosen == truth
            fixed += chosen == truth != reading
            broken += reading == truth != chosen
        print(f"list, alpha {alpha:<6g} {100 * correct / len(rows):6.2f}% words  (fixed {fixed}, broke {broken})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
