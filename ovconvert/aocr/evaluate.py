"""`ovconvert aocr test` and `predict`: read images with a trained model and score the readings.

Word accuracy counts exact readings; character accuracy is 1 − edit distance / label length (aocr's
default scoring; `--no-distance` reports word accuracy only, as aocr does).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from ovconvert.aocr import canvas, data, inference, records, reread, spelling
from ovconvert.aocr.config import REREAD_BELOW, SPELLING_WEIGHT

log = logging.getLogger("ovconvert.aocr")


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@dataclass
class Reading:
    record: int
    truth: str
    text: str
    probability: float
    char_probabilities: list
    attention: np.ndarray | None = None  # [steps, T]
    image: np.ndarray | None = None  # the preprocessed image [32, W, C]

    @property
    def correct(self) -> bool:
        return self.text == self.truth


@dataclass
class Score:
    readings: list = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.readings)

    @property
    def word_accuracy(self) -> float:
        return sum(r.correct for r in self.readings) / max(self.count, 1)

    @property
    def char_accuracy(self) -> float:
        errors = sum(edit_distance(r.text, r.truth) for r in self.readings)
        return max(0.0, 1 - errors / max(sum(len(r.truth) for r in self.readings), 1))

    def by_length(self) -> dict[str, dict]:
        """Word accuracy per label-length bucket (1–4, 5–8, …): long words are where a model fails first."""
        buckets: dict[str, list] = {}
        for reading in self.readings:
            low = (max(len(reading.truth), 1) - 1) // 4 * 4 + 1
            buckets.setdefault(f"{low}-{low + 3}", []).append(reading.correct)
        return {name: {"images": len(hits), "word_accuracy": round(sum(hits) / len(hits), 4)}
                for name, hits in sorted(buckets.items(), key=lambda item: int(item[0].split("-")[0]))}

    def as_dict(self) -> dict:
        return {"images": self.count, "word_accuracy": round(self.word_accuracy, 4),
                "char_accuracy": round(self.char_accuracy, 4), "by_length": self.by_length()}

    @property
    def misreads(self) -> list:
        """The wrong readings, in reading order."""
        return [r for r in self.readings if not r.correct]

    def write_misreads(self, path: str) -> int:
        """Every wrong reading as tab-separated record number (1-based, as `aocr dataset` counts them),
        truth, reading and probability, for a look at the images; the file appears whole or not at all.
        Returns how many rows it holds."""
        wrong = self.misreads
        partial = path + ".partial"
        with open(partial, "w", encoding="utf-8") as out:
            out.write("record\ttruth\treading\tprobability\n")
            for reading in wrong:
                out.write(f"{reading.record}\t{reading.truth}\t{reading.text}\t{reading.probability:.4f}\n")
        os.replace(partial, path)
        return len(wrong)


def read_batches(trained, batches, keep_details: bool = False, reread_below: float = 0.0,
                 speller: spelling.Speller | None = None):
    """Yield Readings for batches of (images, targets, labels, record numbers[, encoded images]); with
    `reread_below`, the doubtful and the narrow words are read again at other widths (aocr/reread.py:
    the batches then carry the encoded images); with `speller`, the spelling prior chooses among each
    reading's doubtful letters (aocr/spelling.py)."""
    config = trained.config
    speller = speller or spelling.Speller(config.charset_object, 0.0)

    @tf.function(reduce_retracing=True)  # words read again come in batches of other sizes (and canvases)
    def run(images):
        ids, step_probabilities, attention, distributions = inference.step_outputs(trained.model, images)
        text, probability, char_probabilities = inference.text_outputs(ids, step_probabilities, config)
        return text, probability, char_probabilities, attention, ids, distributions

    def read_rows(images, width):
        """[(text, probability, char probabilities, attention)] a row, on a canvas `width` wide."""
        rows = []
        for text, probability, chars, weights, ids, distributions in zip(*(value.numpy() for value in run(images))):
            text, probability = text.decode("utf-8"), float(probability)
            spelt, probability = speller(text, probability, ids, distributions)
            if spelt == text:
                chars = [float(c) for c in chars if c > 0]
            else:  # each letter's probability at its step
                chars = [float(distributions[step, config.charset_object.id_of(ch)]) for step, ch in enumerate(spelt)]
            rows.append((spelt, probability, chars, weights))
        return rows

    def read_pixels(images):
        return [(text, probability) for text, probability, _, _ in canvas.read_on_canvases(images, read_rows, config)]

    preprocess = reread.Preprocessor(config)
    for images, _, labels, numbers, *encoded in batches:
        images = images.numpy()
        readings = []
        for i, (text, probability, char_probabilities, attention) in enumerate(
                canvas.read_on_canvases(images, read_rows, config)):
            truth = data.normalize_label(labels[i].numpy().decode("utf-8", errors="replace"), config)
            reading = Reading(int(numbers[i]), truth, text, probability, char_probabilities)
            if keep_details:
                reading.attention = attention
                reading.image = images[i]
            readings.append(reading)
        if reread_below:
            _read_again(readings, images, list(encoded[0].numpy()), read_pixels, preprocess, reread_below,
                        speller.choose)
        yield from readings


def read_batches_with(reader, trained, batches, reread_below: float = 0.0):
    """read_batches on another engine: `reader.read_pixels(images)` → [(text, probability)] (the
    OpenVINO IR, with its own speller); attention and per-character probabilities are TensorFlow's only."""
    preprocess = reread.Preprocessor(trained.config)
    for images, _, labels, numbers, *encoded in batches:
        images = images.numpy()
        readings = []
        for i, (text, probability) in enumerate(reader.read_pixels(images)):
            truth = data.normalize_label(labels[i].numpy().decode("utf-8", errors="replace"), trained.config)
            readings.append(Reading(int(numbers[i]), truth, text, probability, []))
        if reread_below:
            _read_again(readings, images, list(encoded[0].numpy()), reader.read_pixels, preprocess, reread_below,
                        reader.speller.choose)
        yield from readings


def _read_again(readings: list[Reading], images, encoded_images: list[bytes], read_pixels, preprocess,
                below: float, choose) -> None:
    """Replace, in place, the readings of a batch that a reading at another width beats (aocr/reread.py;
    `images`: the batch as first read); a replaced reading keeps no per-character probabilities or
    attention (they belong to the first)."""
    first = [(r.text, r.probability) for r in readings]
    for reading, (text, probability) in zip(readings, reread.read_again(first, encoded_images,
                                                                        reread.content_widths(images),
                                                                        read_pixels, preprocess, below, choose)):
        if (text, probability) != (reading.text, reading.probability):
            reading.text, reading.probability = text, probability
            reading.char_probabilities, reading.attention = [], None


def test(trained, paths: list[str], batch_size: int = 65, keep_details: bool = False, limit: int | None = None,
         log_every: int = 0, reader=None, reread_below: float = 0.0, spelling_weight: float = 0.0) -> Score:
    """Read every usable record and score it; `reader` reads with another engine (OpenVINO, which
    brings its own spelling weight); `reread_below` reads doubtful and narrow words again (aocr/reread.py;
    0: read once, as aocr does); `spelling_weight` lets English spelling choose among doubtful letters
    (aocr/spelling.py; 0: as the model reads)."""
    report = records.scan(paths, trained.config)
    report.log(", ".join(paths))
    batches = data.dataset(paths, trained.config, report.usable, batch_size, with_records=True,
                           with_encoded=reread_below > 0)
    score = Score()
    readings = read_batches(trained, batches, keep_details, reread_below,
                            spelling.Speller(trained.config.charset_object, spelling_weight)) if reader is None else \
        read_batches_with(reader, trained, batches, reread_below)
    for reading in readings:
        score.readings.append(reading)
        if log_every and score.count % log_every == 0:
            log.info("%d images: word accuracy %.4f, char accuracy %.4f", score.count, score.word_accuracy,
                     score.char_accuracy)
        if limit and score.count >= limit:
            break
    return score


class Predictor:
    """(text, probability) for batches of encoded images on TensorFlow: the preprocessing and the model
    each traced once (a tf.function over a batch of any size) rather than run eagerly image by image;
    doubtful and narrow words are read again at other widths, and English spelling chooses among doubtful
    letters, as on OpenVINO (aocr/reread.py, aocr/spelling.py)."""

    def __init__(self, trained, reread_below: float = REREAD_BELOW, spelling_weight: float = SPELLING_WEIGHT):
        model, config = trained.model, trained.config
        self.config = config
        self.preprocess = reread.Preprocessor(config)
        self.reread_below = reread_below
        self.speller = spelling.Speller(config.charset_object, spelling_weight)

        @tf.function(reduce_retracing=True)
        def run(pixels):
            ids, step_probabilities, _, distributions = inference.step_outputs(model, pixels)
            text, probability, _ = inference.text_outputs(ids, step_probabilities, config)
            return text, probability, ids, distributions

        self._run = run

    def read_pixels(self, pixels) -> list[tuple[str, float]]:
        """Fitted images [N, 32, W, C] → [(text, probability)], each read on its canvas."""
        return canvas.read_on_canvases(pixels, self._read_on_canvas, self.config)

    def _read_on_canvas(self, pixels, width: int) -> list[tuple[str, float]]:
        return [self.speller(text.decode("utf-8"), float(probability), ids, distributions)
                for text, probability, ids, distributions in zip(*(value.numpy() for value in self._run(pixels)))]

    def __call__(self, encoded_images: list[bytes]) -> list[tuple[str, float]]:
        return reread.read_encoded(encoded_images, self.read_pixels, self.preprocess, self.reread_below,
                                   self.speller.choose)


def predict(trained, encoded_images: list[bytes]):
    """(text, probability) for each encoded image (one call; a Predictor for many)."""
    return Predictor(trained)(encoded_images)
