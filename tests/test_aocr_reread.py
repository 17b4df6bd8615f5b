"""aocr/reread.py: which words are read again at which widths, and the widths they were fitted to."""

from __future__ import annotations

import pytest

from conftest import noise_png


def test_content_widths_are_the_widths_data_fit_resized_each_image_to():
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.aocr.reread import Preprocessor, content_widths

    config = ModelConfig(charset="AB", max_width=320, max_height=32)  # 320 pixels wide at height 32
    images = [noise_png(100, 32), noise_png(50, 64, 1), noise_png(1000, 40, 2), noise_png(30, 32, 3)]
    pixels = Preprocessor(config)(images)
    # 100 at height 32; 50·32/64; 1000·32/40 clipped to the model's width; and again at other widths
    assert content_widths(pixels).tolist() == [100, 25, 320, 30]
    assert content_widths(Preprocessor(config)(images, [1.5, 1.5, 1.0, 0.5])).tolist() == [150, 38, 320, 15]


def test_a_one_colour_image_has_width_zero_and_is_not_read_again_for_it():
    import numpy as np

    from ovconvert.aocr.reread import content_widths, scales_to_read_again

    assert content_widths(np.zeros((1, 32, 64, 1), np.float32)).tolist() == [0]
    assert scales_to_read_again("", 0.9, 0.0, 0.5) == ()  # nothing read: no characters to be narrow


@pytest.mark.parametrize("text, probability, width, scales", [
    ("WORD", 0.9, 64, ()),                  # 16 pixels a character, confident: read once
    ("WORD", 0.3, 64, (0.8, 1.25)),         # doubtful: squeezed and stretched
    ("COUNTERIRRITATE", 0.9, 120, (1.75,)),  # 8 a character: stretched towards 16, at most 1.75×
    ("WORD", 0.9, 44, (1.5,)),              # 11 a character: 16/11 is nearest 1.5
    ("WORD", 0.9, 47, (1.25,)),             # 11.75 a character: 16/11.75 is nearest 1.25
    ("WORD", 0.3, 47, (1.25,)),             # doubtful and narrow: stretched, never squeezed
    ("WORD", 0.3, 36, (1.25, 1.75)),        # doubtful and very narrow: stretched both ways
    ("WORD", 0.9, 48, ()),                  # 12 a character is not narrow
    ("COUNTERIRRITATE", 0.97, 120, ()),     # narrow but all but sure: not read again
])
def test_doubtful_words_are_read_narrower_and_wider_and_narrow_ones_stretched(text, probability, width, scales):
    from ovconvert.aocr.reread import scales_to_read_again

    assert scales_to_read_again(text, probability, width, 0.5) == scales


def test_read_again_keeps_the_most_probable_reading_and_reads_nothing_again_at_zero():
    """With a reader that reads a word's fitted width, the rows read again are those of the planned
    scales, in one batch, and a reading is replaced only by a more probable one."""
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.aocr.reread import Preprocessor, content_widths, read_again

    config = ModelConfig(charset="AB", max_width=320, max_height=32)
    images = [noise_png(64, 32), noise_png(64, 32, 1), noise_png(36, 32, 2)]
    batches = []

    def read_pixels(pixels):  # "the wider the more probable": the width as text, width/100 as probability
        batches.append(len(pixels))
        return [(str(w), w / 100) for w in content_widths(pixels)]

    preprocess = Preprocessor(config)
    first = [("WORD", 0.9), ("WORD", 0.3), ("WORD", 0.9)]
    widths = [64, 64, 36]
    readings = read_again(first, images, widths, read_pixels, preprocess, 0.5)
    # the confident wide word is not read again; the doubtful one is read at 0.8× (51 columns) and 1.25×
    # (80), the more probable kept; the narrow one stretched 1.75× (63) reads less probably than at first
    assert readings == [("WORD", 0.9), ("80", 0.8), ("WORD", 0.9)] and batches == [3]
    assert read_again(first, images, widths, read_pixels, preprocess, 0.0) == first and batches == [3]
