"""aocr/canvas.py: a model with canvas widths reads each word on a canvas cut to its width, is trained on
such canvases, and reads the same strings on TensorFlow and on the IRs it is converted to, one a width."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TINY_MODEL_FLAGS, aocr_cli, noise_png, predict_on_both_engines


def test_canvas_widths_are_saved_sorted_checked_and_absent_from_older_models():
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.errors import UserError

    config = ModelConfig(charset="AB", max_width=640, max_height=64, canvas_widths=[256, 128])
    assert config.canvas_widths == (128, 256)
    assert ModelConfig.from_json(config.to_json(), "config.json") == config
    assert json.loads(config.to_json())["canvas_widths"] == [128, 256]
    # a config.json written before canvases: every word at the full width, as that model was trained
    older = json.loads(config.to_json())
    del older["canvas_widths"]
    assert ModelConfig.from_json(json.dumps(older), "config.json").canvas_widths == ()
    for wrong in (130, 320, 400, 0):
        with pytest.raises(UserError, match=f"--canvas-widths: {wrong} is not a multiple of 4"):
            ModelConfig(charset="AB", max_width=640, max_height=64, canvas_widths=[wrong])


def test_each_word_is_read_on_the_narrowest_canvas_that_holds_its_ink_and_a_margin_in_input_order():
    from ovconvert.aocr.canvas import CANVAS_MARGIN, canvas_width, read_on_canvases
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.aocr.reread import Preprocessor

    config = ModelConfig(charset="AB", max_width=640, max_height=64, canvas_widths=(128, 192, 256))
    assert [canvas_width(ink, config) for ink in (0, 112, 113, 176, 177, 240, 241, 320)] == \
        [128, 128, 192, 192, 256, 256, 320, 320]
    assert CANVAS_MARGIN == 128 - 112
    # images fitted to 32 pixels high: 300, 60, 200 and 1000 (shrunk to 320) pixels of ink across
    pixels = Preprocessor(config)([noise_png(300, 32), noise_png(60, 32, 1), noise_png(200, 32, 2),
                                   noise_png(2000, 64, 3)])
    calls = []

    def read_at(rows, width):
        calls.append((width, len(rows)))
        assert rows.shape[1:] == (32, width, 1)
        return [float(np.abs(row).sum()) for row in rows]

    read = read_on_canvases(pixels, read_at, config)
    assert calls == [(128, 1), (256, 1), (320, 2)]  # one call a canvas, narrowest first
    # each row's result in its place, computed from its own first columns (nothing of its ink cut off)
    assert read == pytest.approx([float(np.abs(row).sum()) for row in pixels], rel=1e-5)
    # a model without canvas widths reads everything at its full width, in one call
    calls.clear()
    plain = ModelConfig(charset="AB", max_width=640, max_height=64)
    read_on_canvases(pixels, read_at, plain)
    assert calls == [(320, 4)]


def test_training_batches_come_one_canvas_each_and_cut_no_ink(tiny_aocr):
    """The tiny model's 86-pixel input with canvases 40 and 64: every batch is one of the three widths,
    each width comes, and no image of a batch has ink in the columns its canvas cut off."""
    from collections import Counter

    from ovconvert.aocr import data
    from ovconvert.aocr.canvas import CANVAS_MARGIN
    from ovconvert.aocr.config import ModelConfig

    records, _ = tiny_aocr
    config = ModelConfig(charset="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", max_prediction=4, canvas_widths=(40, 64))
    widths = Counter()
    for _ in range(20):  # 20 epochs of 64 words in batches of 4: the random choices all come up
        for images, targets in data.dataset([str(records)], config, None, 4, shuffle=True, random_canvases=True):
            width = int(images.shape[2])
            widths[width] += 1
            assert width in (40, 64, 86) and images.shape[0] == targets.shape[0]
    assert set(widths) == {40, 64, 86}
    # a canvas is never narrower than a word's ink and the margin (or the full width)
    for images, _ in data.dataset([str(records)], config, None, 64, shuffle=True, random_canvases=True):
        for image in images.numpy():
            columns = np.flatnonzero(np.any(image != 0, axis=(0, 2)))
            assert columns.size == 0 or columns.max() + 1 + CANVAS_MARGIN <= image.shape[1] or image.shape[1] == 86


def test_a_model_trained_on_canvases_reads_the_same_strings_on_tensorflow_and_on_its_irs(tiny_aocr, tmp_path):
    """`train --canvas-widths` from the tiny model; `predict` on both engines reads every word the same,
    and the IR engine converted (and validated) one IR a canvas the words needed."""
    from ovconvert.families import words

    records, source_dir = tiny_aocr
    model_dir = tmp_path / "model"
    assert aocr_cli("aocr", "train", records, "--model-dir", model_dir, *TINY_MODEL_FLAGS, "--init-from", source_dir,
                    "--canvas-widths", "40,64", "--num-steps", "2", "--log-path", "") == 0
    assert json.loads((model_dir / "config.json").read_text())["canvas_widths"] == [40, 64]
    names = []
    for index, text in enumerate(["A", "IR", "CAT", "WXYZ", "7", "MODEL"]):
        words.render(text, height=int(np.random.default_rng(index).integers(24, 64))).save(tmp_path / f"{index}.png")
        names.append(f"{index}.png")
    outputs = predict_on_both_engines(str(model_dir), names, tmp_path)
    assert [row[:2] for row in outputs["openvino"]] == [row[:2] for row in outputs["tensorflow"]]
    for ov_row, tf_row in zip(outputs["openvino"], outputs["tensorflow"]):
        assert abs(float(ov_row[2]) - float(tf_row[2])) < 1e-3
    converted = sorted(path.name.rsplit("-", 1)[-1] for path in (tmp_path / "cache" / "aocr-ir").iterdir())
    assert {"w40", "w64"} & set(converted) and len(converted) >= 2  # the full width's IR and narrow ones
