"""Where a model's misreads on a labelled set come from: what kind of label, what the image was drawn
with, and how many differ from the truth only in look-alike characters.

Reads `aocr test --misreads FILE`'s rows (record number, truth, reading, probability) beside the set
they came from, and prints word accuracy
- by kind of label: a word of the list synth draws words from (Debian's wamerican), other letters
  (words run together, random letters, words of another list), or a label with a digit (codes);
- by each `key=value` field of the records' `comment` (synth writes font=, background=, photo=; the font
  is shown by family: a Google Fonts file by its slug, any other up to its first '-' or '_'), where the
  set has comments;
and counts the misreads that are right but for look-alikes (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B), which in a
random code no reader can tell apart in many fonts.

Usage: ovconvert aocr test SET.tfrecords --engine openvino --misreads /tmp/misreads.tsv
       python benchmarks/aocr_misreads.py SET.tfrecords /tmp/misreads.tsv
"""

import argparse
import collections
import re
import string
import sys
from pathlib import Path

import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ovconvert.aocr.records import parse_record  # noqa: E402
from ovconvert.aocr.synth import load_words  # noqa: E402

LOOK_ALIKES = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8"})


def records(path: str) -> list[tuple[str, str]]:
    """(label, comment) of each record, in order (record numbers count from 1)."""
    return [parse_record(serialized)[1:] for serialized in tf.data.TFRecordDataset([path]).as_numpy_iterator()]


def label_kind(label: str, dictionary: set[str]) -> str:
    if label.upper() in dictionary:
        return "in the word list"
    if re.search(r"\d", label):
        return "with a digit"
    return "letters, not in the word list"


def comment_fields(comment: str) -> dict[str, str]:
    fields = dict(re.findall(r"(\w+)=(\S+)", comment))
    fields.pop("seed", None)
    fields.pop("index", None)
    if "font" in fields:
        fields["font"] = font_family(fields["font"])
    return fields


def font_family(file_name: str) -> str:
    """A font file's family: a Google Fonts file (aocr/google_fonts.py names them SLUG-WEIGHT-STYLE.ttf)
    by its slug, whose words are joined by '-' too; any other by its name up to the first '-' or '_'."""
    google = re.fullmatch(r"(.+)-\d{3}-(normal|italic)\.ttf", file_name)
    return google.group(1) if google else re.split(r"[-_.]", file_name)[0]


def table(title: str, groups: dict[str, list[bool]]) -> None:
    print(f"\n{title:34s} {'images':>7s} {'misread':>8s} {'words':>7s}")
    for name, wrong in sorted(groups.items(), key=lambda item: -len(item[1])):
        print(f"{name[:34]:34s} {len(wrong):7d} {sum(wrong):8d} {100 * (1 - sum(wrong) / len(wrong)):6.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records")
    parser.add_argument("misreads", help="the file `aocr test --misreads` wrote for these records")
    args = parser.parse_args()

    rows = records(args.records)
    misread = {}
    with open(args.misreads) as lines:
        next(lines)  # the header
        for line in lines:
            number, truth, reading, _ = line.rstrip("\n").split("\t")
            misread[int(number)] = (truth, reading)
            if rows[int(number) - 1][0].upper() != truth.upper():
                raise SystemExit(f"record {number} is {rows[int(number) - 1][0]!r} in {args.records}, "
                                 f"{truth!r} in {args.misreads}: they belong to different sets")

    # the words synth draws from, as the bundled model's labels are: upper case, at most 24 characters
    dictionary = {word.upper() for word in load_words(None, string.digits + string.ascii_uppercase, 24, True)}
    by_kind, by_field = collections.defaultdict(list), collections.defaultdict(lambda: collections.defaultdict(list))
    for number, (label, comment) in enumerate(rows, start=1):
        wrong = number in misread
        by_kind[label_kind(label, dictionary)].append(wrong)
        for key, value in comment_fields(comment).items():
            by_field[key][value].append(wrong)

    print(f"{len(rows)} images, {len(misread)} misread: {100 * (1 - len(misread) / len(rows)):.2f}% words")
    table("kind of label", by_kind)
    for key, groups in by_field.items():
        table(key, groups)
    look_alike = [(truth, reading) for truth, reading in misread.values()
                  if truth.upper().translate(LOOK_ALIKES) == reading.upper().translate(LOOK_ALIKES)]
    in_codes = sum(bool(re.search(r"\d", truth)) for truth, _ in look_alike)
    print(f"\n{len(look_alike)} of {len(misread)} misreads are right but for look-alikes "
          f"(0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B), {in_codes} of them in labels with a digit; counted right, "
          f"{100 * (1 - (len(misread) - len(look_alike)) / len(rows)):.2f}% words")


if __name__ == "__main__":
    main()
