"""Reading a doubtful word again, narrower and wider, and keeping the most probable reading.

The model reads a word at the width its aspect ratio gives. A face narrower or wider than the fonts it
was trained on, or a crop that squeezes the letters, can read better squeezed or stretched: read again
at 0.8× and 1.25× its width, the most probable of the three readings is right more often than the
first. Only readings less probable than a threshold (`--reread-below`, default 0.5) are read again —
11% of held-out words, 29% of trdg's — so a stream costs about 1.2–1.7× what reading once does, and
the bundled model reads 0.7–2.5 points more words on every held-out set (docs/aocr.md, "Reading a
doubtful word again"). `--reread-below 0` reads once, as aocr does.

Both engines run this code on their own readings of the same pixels, so they still give the same strings.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ovconvert.aocr import data
from ovconvert.aocr.config import IMAGE_HEIGHT, REREAD_BELOW, ModelConfig

WIDTH_SCALES = (0.8, 1.25)


class Preprocessor:
    """Encoded images → the model's input [N, 32, W, C]; at several widths, [len(scales) · N, …], the
    images of the first scale first, each image decoded once. One traced function per set of scales."""

    def __init__(self, config: ModelConfig):
        self.config = config
        self._by_scales = {}

    def __call__(self, encoded_images: list[bytes], scales: tuple[float, ...] = (1.0,)) -> np.ndarray:
        if scales not in self._by_scales:
            config = self.config
            spec = tf.TensorSpec([len(scales), IMAGE_HEIGHT, config.image_width, config.channels], tf.float32)

            def at_scales(encoded):
                image = data.decode(encoded, config)
                return tf.stack([data.fit(image, config, scale) for scale in scales])

            def batch(encoded_batch):
                pixels = tf.map_fn(at_scales, encoded_batch, fn_output_signature=spec)  # [N, S, …]
                pixels = tf.transpose(pixels, [1, 0, 2, 3, 4])  # [S, N, …]
                return tf.reshape(pixels, tf.concat([[-1], tf.shape(pixels)[2:]], 0))

            self._by_scales[scales] = tf.function(batch, input_signature=[tf.TensorSpec([None], tf.string)])
        return self._by_scales[scales](tf.constant(encoded_images)).numpy()


def reread_doubtful(readings: list[tuple[str, float]], encoded_images: list[bytes], read_pixels,
                    preprocess: Preprocessor, below: float) -> list[tuple[str, float]]:
    """`readings` (text, probability) of `encoded_images` at their own width; each one less probable than
    `below` is read again at every width of WIDTH_SCALES, and the most probable reading kept (the
    first one on a tie). `read_pixels`: [N, 32, W, C] → [(text, probability)], on either engine."""
    doubtful = [index for index, (_, probability) in enumerate(readings) if probability < below]
    if not doubtful:
        return readings
    readings = list(readings)
    again = [encoded_images[index] for index in doubtful]
    # both widths in one batch: each image decoded once, half the calls, fewer batch sizes to compile
    rereadings = read_pixels(preprocess(again, WIDTH_SCALES))
    for part in range(len(WIDTH_SCALES)):
        for index, reading in zip(doubtful, rereadings[part * len(doubtful):(part + 1) * len(doubtful)]):
            if reading[1] > readings[index][1]:
                readings[index] = reading
    return readings


def read_encoded(encoded_images: list[bytes], read_pixels, preprocess: Preprocessor,
                 below: float = REREAD_BELOW) -> list[tuple[str, float]]:
    """Encoded images → [(text, probability)]: read at their own width, the doubtful ones again."""
    if not encoded_images:
        return []
    readings = read_pixels(preprocess(encoded_images))
    return reread_doubtful(readings, encoded_images, read_pixels, preprocess, below)
