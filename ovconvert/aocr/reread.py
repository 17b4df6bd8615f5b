"""Reading a word again at other widths, and keeping the most probable reading.

The model reads a word at the width its aspect ratio gives. Two kinds of word read better at another
width, and both are read again; the most probable reading of all is kept (the first on a tie; with the
spelling prior, the best by the model and English spelling together, aocr/spelling.py):

- A doubtful word, whose reading is less probable than a threshold (`--reread-below`, default 0.5), is
  read again squeezed to 0.8× and stretched to 1.25× its width: a face narrower or wider than the fonts
  the model was trained on, or a crop that squeezes the letters, often reads right at one of them.
- A narrow word, whose reading gives it fewer than NARROW_BELOW pixels a character at the model's input
  (a condensed face, a small word drawn by another renderer, a wide line box around small letters), is
  read again stretched towards the width of a character in training (16 pixels), by the nearest of
  STRETCH_SCALES (and not squeezed, were it doubtful too), unless its reading is all but sure
  (NARROW_SURE). The model reads such words wrongly with probabilities of 0.6–0.95, so the doubtful
  threshold alone misses them; reading the surer ones too gained nothing on the held-out and trdg sets
  and read up to a quarter more rows.

A stream then reads 1.1–1.8 rows a word (held-out words 1.3, trdg's 1.7) and costs about that many
times what reading once does (docs/aocr.md, "Reading a word again"). `--reread-below 0` reads once, as
aocr does.

Both engines run this code on their own readings of the same pixels, so they still give the same strings.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ovconvert.aocr import data
from ovconvert.aocr.config import IMAGE_HEIGHT, REREAD_BELOW, ModelConfig
from ovconvert.aocr.spelling import most_probable

WIDTH_SCALES = (0.8, 1.25)  # a doubtful word's
NARROW_BELOW = 12.0  # pixels a character at the model's input
TRAINED_CHARACTER_WIDTH = 16.0  # about the median of the bundled model's training words, 16.8 (docs/aocr.md)
STRETCH_SCALES = (1.25, 1.5, 1.75)  # a narrow word's, the one nearest TRAINED_CHARACTER_WIDTH
# A narrow word read at least this probably is not read again. 0.95 until the step-159815 model, which
# reads a squeezed "hilltop" as HILTOP with 0.952; at 0.97 it is stretched and read right, and no held-out
# or trdg set changes by a word (docs/aocr.md), for 0.01–0.04 more rows a word.
NARROW_SURE = 0.97


class Preprocessor:
    """Encoded images → the model's input [N, 32, W, C], each image fitted at its own width scale (1.0:
    the width its aspect ratio gives), by data.preprocess as in training: one traced function
    for batches of any size and any mix of scales, so the words a batch reads again are one call."""

    def __init__(self, config: ModelConfig):
        spec = tf.TensorSpec([IMAGE_HEIGHT, config.image_width, config.channels], tf.float32)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.float32)])
        def batch(encoded_images, scales):
            return tf.map_fn(lambda row: data.preprocess(row[0], config, row[1]), (encoded_images, scales),
                             fn_output_signature=spec)

        self._batch = batch

    def __call__(self, encoded_images: list[bytes], scales: list[float] | None = None) -> np.ndarray:
        scales = [1.0] * len(encoded_images) if scales is None else scales
        return self._batch(tf.constant(encoded_images, tf.string), tf.constant(scales, tf.float32)).numpy()


def content_widths(pixels: np.ndarray) -> np.ndarray:
    """The width each image of the model's input [N, 32, W, C] was fitted to. data.fit pads with zeros
    after standardizing, and a column of a word's image is all zeros only where every pixel of it equals
    the image's mean (a one-colour image: read as width 0, which at worst reads it again)."""
    used = np.any(np.asarray(pixels) != 0, axis=(1, 3))  # [N, W]
    return np.where(used.any(axis=1), used.shape[1] - np.argmax(used[:, ::-1], axis=1), 0)


def scales_to_read_again(text: str, probability: float, width: float, below: float) -> tuple[float, ...]:
    """The widths (as scales of its own) a word read as `text` at `width` pixels is read again at."""
    scales = WIDTH_SCALES if probability < below else ()
    if text and probability < NARROW_SURE and width / len(text) < NARROW_BELOW:
        wanted = TRAINED_CHARACTER_WIDTH * len(text) / max(width, 1)
        stretch = min(STRETCH_SCALES, key=lambda scale: abs(scale - wanted))
        # never squeezed: squeezing narrow words changed no set by more than 0.2 points, either way, and
        # read 7–9% more rows
        scales = tuple(scale for scale in scales if 1 < scale != stretch) + (stretch,)
    return scales


def read_again(readings: list[tuple[str, float]], encoded_images: list[bytes], widths, read_pixels,
               preprocess: Preprocessor, below: float, choose=most_probable) -> list[tuple[str, float]]:
    """`readings` (text, probability) of `encoded_images`, fitted to `widths` pixels; the doubtful and
    the narrow ones are read again (scales_to_read_again) and `choose` keeps one of each word's readings,
    the first one given (by default the most probable, the first on a tie; a Speller's `choose` weighs
    English spelling too). `read_pixels`: [N, 32, W, C] → [(text, probability)], on either engine.
    `below` 0 reads nothing again."""
    if not below:
        return readings
    rows = [(index, scale) for index, ((text, probability), width) in enumerate(zip(readings, widths))
            for scale in scales_to_read_again(text, probability, float(width), below)]
    if not rows:
        return readings
    # every row read again in one batch: fewer calls, and fewer batch sizes for the IR to be compiled at
    pixels = preprocess([encoded_images[index] for index, _ in rows], [scale for _, scale in rows])
    candidates = [[reading] for reading in readings]
    for (index, _), reading in zip(rows, read_pixels(pixels)):
        candidates[index].append(reading)
    return [choose(word) if len(word) > 1 else word[0] for word in candidates]


def read_encoded(encoded_images: list[bytes], read_pixels, preprocess: Preprocessor,
                 below: float = REREAD_BELOW, choose=most_probable) -> list[tuple[str, float]]:
    """Encoded images → [(text, probability)]: read at their own width, the doubtful and narrow ones again."""
    if not encoded_images:
        return []
    pixels = preprocess(encoded_images)
    return read_again(read_pixels(pixels), encoded_images, content_widths(pixels), read_pixels, preprocess, below,
                      choose)
