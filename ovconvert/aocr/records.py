"""aocr's TFRecord files: reading them record by record, checking every record once before training
(`scan`: a corrupt image, a label longer than --max-prediction or with characters outside the charset is
reported with its record number and left out, so training never stops on an assertion midway: aocr #49,
#61, #150, #151), and writing them whole or not at all.

Records are `tf.train.Example`s with `image` (the encoded file's bytes), `label` (UTF-8 bytes) and an
optional `comment`, exactly as aocr writes them (data.FEATURES reads them into tf.data).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import tensorflow as tf

from ovconvert.aocr.config import ModelConfig
from ovconvert.aocr.data import image_is_readable, label_problem
from ovconvert.errors import UserError

log = logging.getLogger("ovconvert.aocr")

# ---------------------------------------------------------------------------------------------- reading

def parse_record(record: bytes) -> tuple[bytes, str, str]:
    """(image bytes, label, comment) of one serialized Example, in plain Python (fast for one record)."""
    features = tf.train.Example.FromString(record).features.feature

    def first(key: str) -> bytes:
        values = features[key].bytes_list.value if key in features else []
        return values[0] if values else b""

    return first("image"), first("label").decode("utf-8", errors="replace"), \
        first("comment").decode("utf-8", errors="replace")


def read_records(paths: list[str]):
    """Every record of the files in order; a truncated or corrupt file is a one-line error that names it
    and the record where it breaks (TensorFlow's DataLossError otherwise surfaces mid-training)."""
    for path in paths:
        count = 0
        try:
            for record in tf.data.TFRecordDataset([path]).as_numpy_iterator():
                count += 1
                yield record
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            import re

            if count == 0 and _is_text(path):  # the annotation file itself, given where its dataset goes
                raise UserError(f"{path} is a text file, not TFRecords: an annotation file ('IMAGE-PATH LABEL' "
                                f"lines)? make its dataset first: `ovconvert aocr dataset {path} "
                                f"{Path(path).stem}.tfrecords`") from None
            reason = re.sub(r"\{\{.*?\}\}\s*", "", error.message.splitlines()[0])[:120]  # TF's op-name prefix
            raise UserError(f"{path}: record {count + 1} is truncated or corrupt ({reason}); "
                            "rebuild the file with `ovconvert aocr dataset` or `synth`, or leave it out") from None


def _is_text(path: str) -> bool:
    """Whether a file begins as UTF-8 text does (a TFRecord begins with a binary length and checksum)."""
    with tf.io.gfile.GFile(path, "rb") as handle:
        head = handle.read(4096)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut at the end of the 4096 bytes
            return False
    return b"\0" not in head


# ---------------------------------------------------------------------------------------------- checking

@dataclass
class ScanReport:
    total: int = 0
    usable: list = field(default_factory=list)  # one bool per record
    problems: dict = field(default_factory=dict)  # reason → record numbers
    corrupt: list = field(default_factory=list)  # (record number, comment)
    per_file: list = field(default_factory=list)  # records in each file, in order (empty: not known)

    @property
    def skipped(self) -> int:
        return self.usable.count(False)

    def extend(self, other: "ScanReport") -> None:
        """Append the scan of the next file(s): its record numbers continue from this report's."""
        offset = self.total
        self.usable += other.usable
        for reason, numbers in other.problems.items():
            self.problems.setdefault(reason, []).extend(number + offset for number in numbers)
        self.corrupt += [(number + offset, comment) for number, comment in other.corrupt]
        self.per_file += other.per_file or [other.total]
        self.total += other.total

    def as_json(self) -> dict:
        """The report of one file, small: the unusable records by number (usually none), not a flag each."""
        return {"records": self.total, "unusable": [n for n, ok in enumerate(self.usable, start=1) if not ok],
                "problems": self.problems, "corrupt": self.corrupt}

    @classmethod
    def from_json(cls, saved: dict) -> "ScanReport":
        unusable = set(saved["unusable"])
        return cls(saved["records"], [n not in unusable for n in range(1, saved["records"] + 1)],
                   saved["problems"], [tuple(item) for item in saved["corrupt"]], [saved["records"]])

    def log(self, what: str) -> None:
        log.info("%s: %d records, %d usable", what, self.total, self.total - self.skipped)
        for reason, numbers in sorted(self.problems.items()):
            shown = ", ".join(str(n) for n in numbers[:10]) + (", …" if len(numbers) > 10 else "")
            log.warning("  %d labels left out (%s): records %s", len(numbers), reason, shown)
        for number, comment in self.corrupt[:20]:
            log.warning("  unreadable image left out: record %d%s", number, f" ({comment})" if comment else "")
        if len(self.corrupt) > 20:
            log.warning("  … and %d more unreadable images", len(self.corrupt) - 20)


def scan(paths: list[str], config: ModelConfig) -> ScanReport:
    """Check every record once (labels and images); see the module docstring."""
    report = ScanReport()
    number = 0
    for path in paths:
        before = number
        for record in read_records([path]):
            number += 1
            report.usable.append(_usable(number, record, config, report))
        report.per_file.append(number - before)
    report.total = len(report.usable)
    return report


def _usable(number: int, record: bytes, config: ModelConfig, report: ScanReport) -> bool:
    """Whether record `number` can be trained on; what is wrong with it goes into `report`."""
    from google.protobuf.message import DecodeError

    try:
        image, label, comment = parse_record(record)
    except DecodeError:  # a record that is not a tf.train.Example: unusable, reported as unreadable
        report.corrupt.append((number, "not a tf.train.Example"))
        return False
    reason = label_problem(label, config)
    readable = image_is_readable(image)
    if reason:
        report.problems.setdefault(reason if not reason.startswith("characters") else "characters outside the charset",
                                   []).append(number)
    if not readable:
        report.corrupt.append((number, comment))
    return reason is None and readable


SCAN_CACHE = "scan-cache.json"


def scan_cached(paths: list[str], config: ModelConfig, cache_dir: str) -> ScanReport:
    """scan(), remembered file by file in `cache_dir` (the model directory, SCAN_CACHE) for the same file
    (name, size, change time) and label rules: resuming a long training run does not re-read every image,
    and a shard added to the set is the only one read (the scan is about 3,500 records a second, so a
    million-record set would otherwise wait five minutes before each new stage's first step)."""
    import hashlib
    import json

    cache = f"{cache_dir.rstrip('/')}/{SCAN_CACHE}"
    saved = {}
    if tf.io.gfile.exists(cache):
        try:
            with tf.io.gfile.GFile(cache, "r") as handle:
                saved = json.loads(handle.read())
        except ValueError:  # written whole or not at all, but a hand edit can break it: scan again
            log.warning("%s is not JSON; scanning every file again", cache)
    rules = [config.charset, config.max_prediction, config.force_uppercase]
    report, scanned = ScanReport(), False
    for path in paths:
        stat = tf.io.gfile.stat(path)
        key = hashlib.sha256(json.dumps([path, stat.length, stat.mtime_nsec, rules]).encode()).hexdigest()[:16]
        if key not in saved:
            saved[key] = scan([path], config).as_json()
            scanned = True
        report.extend(ScanReport.from_json(saved[key]))
    if scanned:
        tf.io.gfile.makedirs(cache_dir)
        with tf.io.gfile.GFile(cache + ".tmp", "w") as handle:
            handle.write(json.dumps(saved))
        tf.io.gfile.rename(cache + ".tmp", cache, overwrite=True)
    return report


# ---------------------------------------------------------------------------------------------- writing

def example_bytes(image: bytes, label: str, comment: str = "") -> bytes:
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
        "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode("utf-8")])),
    }
    if comment:
        feature["comment"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[comment.encode("utf-8")]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class AtomicRecordWriter:
    """A TFRecord writer that leaves nothing behind unless closed normally: records go to
    `OUT.partial`, renamed to OUT at the end."""

    def __init__(self, path: str):
        self.path = path
        self.partial = path + ".partial"
        self.writer = tf.io.TFRecordWriter(self.partial)
        self.count = 0

    def write(self, record: bytes) -> None:
        self.writer.write(record)
        self.count += 1

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.writer.close()
        if kind is None:
            tf.io.gfile.rename(self.partial, self.path, overwrite=True)
        else:
            tf.io.gfile.remove(self.partial)
        return False


def copy_records(paths: list[str], numbers: set[int], target: str) -> int:
    """Write the records numbered `numbers` (1-based through the files in order, as `scan` and `dataset`
    number them) to `target` byte for byte, whole or not at all; returns how many were written."""
    with AtomicRecordWriter(target) as writer:
        for number, record in enumerate(read_records(paths), start=1):
            if number in numbers:
                writer.write(record)
    return writer.count
