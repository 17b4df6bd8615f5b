"""Reading each word on a canvas cut to its width (ModelConfig.canvas_widths), rather than on the
model's full input width.

A word is fitted to the model's input [32, W, C] at the left and padded with zeros (data.fit), so a
short word is mostly padding, and the network's time is nearly proportional to W: the IR at 160 pixels
reads a row in 54% of its time at 320 (capped at AVX2 and on AMX alike). A model with canvas widths
reads each word on the narrowest of them that holds its ink and CANVAS_MARGIN blank columns more (or
on the full width), the first columns of the fitted image: the same pixels, less padding. A model
reads so only if trained so — the backward encoder starts at the canvas's right edge, and a model
that only ever saw 320-pixel canvases misreads 1 word in 100 more on narrow ones — so training gives
each image a random canvas it fits (random_canvas) and batches images of one canvas together.

Both engines group a batch's rows by canvas the same way (canvas_groups; TensorFlow through
read_on_canvases), so they read the same strings; the IR is converted once a canvas width
(aocr/openvino_engine.py).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ovconvert.aocr.config import ModelConfig
from ovconvert.aocr.reread import content_widths

# Blank columns kept right of a word's last inked one: four encoder steps, so the decoder always sees
# where the word ends.
CANVAS_MARGIN = 16


def canvas_choices(config: ModelConfig) -> tuple[int, ...]:
    return tuple(config.canvas_widths) + (config.image_width,)


def canvas_width(ink_width: int, config: ModelConfig) -> int:
    """The canvas a word whose ink ends at column `ink_width` of the fitted image is read on."""
    return next(width for width in canvas_choices(config)
                if width >= ink_width + CANVAS_MARGIN or width == config.image_width)


def canvas_groups(pixels: np.ndarray, config: ModelConfig) -> list[tuple[int, np.ndarray]]:
    """The rows of `pixels` [N, 32, W, C] by the canvas each is read on: [(width, row indices)], the
    narrowest canvas first; without canvas widths, every row at the full width."""
    if not config.canvas_widths:
        return [(config.image_width, np.arange(len(pixels)))]
    widths = np.array([canvas_width(int(ink), config) for ink in content_widths(pixels)])
    return [(width, np.flatnonzero(widths == width)) for width in sorted(set(widths.tolist()))]


def read_on_canvases(pixels: np.ndarray, read_at, config: ModelConfig) -> list:
    """Each row of `pixels` [N, 32, W, C] read on its canvas: the rows of one canvas width cut to it
    and read in one call, `read_at(rows [n, 32, width, C], width)` → one result a row; the results in
    the rows' order."""
    pixels = np.asarray(pixels)
    results = [None] * len(pixels)
    for width, rows in canvas_groups(pixels, config):
        for row, result in zip(rows, read_at(pixels[rows, :, :width], width)):
            results[row] = result
    return results


# ---------------------------------------------------------------------------------------------- training

def random_canvas(image, config: ModelConfig):
    """Training: the index (in canvas_choices) of a canvas for one fitted image [32, W, C]: half the
    images the canvas they are read on, the rest one of the wider ones or the full width, at random, so
    that every width of blank after a word is met."""
    used = tf.reduce_any(tf.not_equal(image, 0.0), axis=[0, 2])  # [W]
    ink = tf.where(tf.reduce_any(used), tf.size(used) - tf.argmax(tf.reverse(used, [0]), output_type=tf.int32), 0)
    choices = tf.constant(canvas_choices(config), tf.int32)
    fits = tf.logical_or(choices >= ink + CANVAS_MARGIN, choices == config.image_width)
    narrowest = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    wider = tf.random.uniform([], narrowest, len(canvas_choices(config)), dtype=tf.int32)
    return tf.where(tf.random.uniform([]) < 0.5, narrowest, wider)


def batches_on_random_canvases(examples: tf.data.Dataset, config: ModelConfig, batch_size: int,
                               drop_remainder: bool) -> tf.data.Dataset:
    """(image, targets) examples → batches of one canvas each, cut to it: (images [N, 32, width, C],
    targets)."""
    choices = tf.constant(canvas_choices(config), tf.int64)
    with_canvas = examples.map(lambda image, targets: (image, targets, random_canvas(image, config)))
    batches = with_canvas.group_by_window(
        key_func=lambda image, targets, index: tf.cast(index, tf.int64),
        reduce_func=lambda key, window: window.batch(batch_size, drop_remainder=drop_remainder),
        window_size=batch_size)
    return batches.map(lambda images, targets, index: (images[:, :, :choices[index[0]]], targets))
