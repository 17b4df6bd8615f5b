"""aocr's data formats: annotation files, TFRecords as aocr writes them, bad records, synthetic words."""

from __future__ import annotations

import json
import logging

import pytest

from conftest import aocr_cli

DEJAVU = "/usr/share/fonts/truetype/dejavu"


def _png(path, text="AB"):
    from ovconvert.families import words

    words.render(text).save(path)
    return path


def _records(path):
    from ovconvert.aocr.records import parse_record
    import tensorflow as tf

    return [parse_record(r) for r in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]


def test_annotation_lines_split_at_the_first_whitespace(tmp_path, capsys):
    _png(tmp_path / "a.png", "NEW YORK")
    _png(tmp_path / "b.png", "2024")
    (tmp_path / "ann.txt").write_text("a.png  NEW YORK\n\nb.png\t2024\n")
    assert aocr_cli("aocr", "dataset", tmp_path / "ann.txt", tmp_path / "out.tfrecords", "--save-filename",
                    "--log-path", "") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 2
    records = _records(tmp_path / "out.tfrecords")
    assert [label for _, label, _ in records] == ["NEW YORK", "2024"]
    assert records[0][2].endswith("a.png") and records[0][0] == (tmp_path / "a.png").read_bytes()


@pytest.mark.parametrize("content, expected", [
    ("", "the annotation file is empty"),
    ("a.png AB\nnolabel\n", "ann.txt:2: expected 'IMAGE-PATH LABEL', got 'nolabel'"),
    ("a.png AB\nmissing.png CD\n", "ann.txt:2: image"),
])
def test_bad_annotation_files_give_one_line_with_the_line_number(tmp_path, capsys, content, expected):
    _png(tmp_path / "a.png")
    (tmp_path / "ann.txt").write_text(content)
    code = aocr_cli("aocr", "dataset", tmp_path / "ann.txt", tmp_path / "out.tfrecords", "--log-path", "")
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.tfrecords").exists() and not (tmp_path / "out.tfrecords.partial").exists()


def test_corrupt_images_are_skipped_counted_and_named(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="ovconvert")
    _png(tmp_path / "a.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "ann.txt").write_text("a.png AB\nbroken.png CD\n")
    assert aocr_cli("aocr", "dataset", tmp_path / "ann.txt", tmp_path / "out.tfrecords", "--log-path", "") == 0
    assert json.loads(capsys.readouterr().out)["unreadable"] == 1
    assert "ann.txt:2:" in caplog.text and "broken.png is not a readable image" in caplog.text


def test_labels_the_model_cannot_learn_are_reported_with_line_numbers(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ovconvert")
    for name in "abc":
        _png(tmp_path / f"{name}.png")
    (tmp_path / "ann.txt").write_text("a.png OK\nb.png TOOLONGWORD\nc.png caf\u00e9\n")
    assert aocr_cli("aocr", "dataset", tmp_path / "ann.txt", tmp_path / "out.tfrecords", "--log-path", "") == 0
    assert "1 labels are longer than --max-prediction 8: lines 2" in caplog.text
    assert "character '\u00c9' is outside the charset in 1 labels: lines 3" in caplog.text


def test_training_scan_reports_and_skips_bad_records(tmp_path):
    """Records an aocr user already has (written by aocr itself, no comment) with bad ones among them:
    the scan names them by record number before the first step."""
    import tensorflow as tf

    from ovconvert.aocr import data, records
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.families import words

    good = words.png_bytes(words.render("AB"))
    with tf.io.TFRecordWriter(str(tmp_path / "aocr.tfrecords")) as writer:
        for image, label in [(good, b"AB"), (good, b"ab"), (good, b"TOOLONGLABEL"), (b"junk", b"CD"), (good, b"A+B")]:
            example = tf.train.Example(features=tf.train.Features(feature={  # aocr's own two features
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
                "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label]))}))
            writer.write(example.SerializeToString())
    config = ModelConfig(charset="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    report = records.scan([str(tmp_path / "aocr.tfrecords")], config)
    assert report.usable == [True, True, False, False, False]
    assert report.problems == {"longer than --max-prediction 8": [3], "characters outside the charset": [5]}
    assert report.corrupt == [(4, "")]
    batches = list(data.dataset([str(tmp_path / "aocr.tfrecords")], config, report.usable, 8, with_records=True))
    images, targets, labels, numbers = batches[0]
    assert numbers.numpy().tolist() == [1, 2] and images.shape == (2, 32, 86, 1)
    # 'ab' is upper-cased as aocr does: A=13, B=14, then EOS=2 and PAD=0
    assert targets.numpy()[1].tolist() == [13, 14, 2, 0, 0, 0, 0, 0, 0, 0]


def test_preprocessing_shrinks_wide_images_instead_of_dropping_them():
    import numpy as np

    from ovconvert.aocr import data
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.families import words

    config = ModelConfig(charset="AB")
    wide = words.png_bytes(words.render("ABABABABABABABABABAB"))  # ~20:1, far wider than 160:60
    image = data.preprocess(wide, config).numpy()
    assert image.shape == (32, 86, 1)
    assert np.abs(image[:, -5:]).sum() > 0  # the text reaches the right edge: shrunk, not cropped or padded


def _on_canvas(word, left: int, right: int, top: int = 0, bottom: int = 0, background=None):
    """The word image with blank (or `background`'s) margins around it, as grey pixels [H, W, 1]."""
    import numpy as np

    ink = np.asarray(word.convert("L"), dtype=np.float32)
    height, width = ink.shape[0] + top + bottom, ink.shape[1] + left + right
    canvas = np.full((height, width), 255.0, np.float32) if background is None else background(height, width)
    canvas[top:top + ink.shape[0], left:left + ink.shape[1]] = np.minimum(
        canvas[top:top + ink.shape[0], left:left + ink.shape[1]], ink)
    return canvas[..., None]


def _trimmed(pixels):
    import tensorflow as tf

    from ovconvert.aocr import data

    return data.trim_blank_margins(tf.constant(pixels)).numpy()


def test_blank_margins_are_cut_to_the_ink_height_and_other_images_left_as_they_are():
    """A word in the middle of a wide blank canvas reads with letters invented in the blank (docs/aocr.md,
    "Blank margins"); trim_blank_margins cuts such margins to the ink's height. Margins within
    that, and margins that are not flat (noise, a vertical gradient), leave the image untouched, so
    training's images and every held-out set come out as they did."""
    import numpy as np

    from ovconvert.aocr import data
    from ovconvert.families import words

    word = words.render("Margin")  # 48 pixels high, with a few blank pixels of its own around the ink
    ink_rows = np.nonzero((np.asarray(word.convert("L")) < 255 - data.BLANK_SPAN).any(axis=1))[0]
    ink_height = ink_rows[-1] - ink_rows[0] + 1
    wide = _on_canvas(word, left=600, right=900, top=0, bottom=300)
    trimmed = _trimmed(wide)
    limit = int(np.ceil(data.MARGIN_IN_INK_HEIGHTS * ink_height))
    assert trimmed.shape[0] <= ink_height + 2 * limit and trimmed.shape[1] <= word.width + 2 * limit
    assert trimmed.shape[1] >= word.width - 20 and trimmed.min() == wide.min()  # the word is all there
    # already within the limit: the same pixels
    snug = _on_canvas(word, left=limit // 2, right=limit // 2)
    assert np.array_equal(_trimmed(snug), snug)
    rng = np.random.default_rng(0)
    noisy = _on_canvas(word, 600, 900, background=lambda h, w: rng.uniform(200, 255, (h, w)).astype(np.float32))
    assert np.array_equal(_trimmed(noisy), noisy)
    shaded = _on_canvas(word, 600, 900, background=lambda h, w: np.repeat(
        np.linspace(140, 255, h, dtype=np.float32)[:, None], w, axis=1))
    assert np.array_equal(_trimmed(shaded), shaded)
    blank = np.full((40, 400, 1), 255.0, np.float32)
    assert np.array_equal(_trimmed(blank), blank)


def test_the_numpy_client_trims_margins_as_the_model_graph_does():
    """ovconvert/predict.py repeats trim_blank_margins in NumPy for clients of the IR: the same crop."""
    import numpy as np

    from ovconvert import predict
    from ovconvert.families import words

    rng = np.random.default_rng(1)
    for left, right, top, bottom in ((700, 20, 5, 200), (3, 4, 0, 0), (90, 90, 30, 30), (0, 1200, 0, 0)):
        image = _on_canvas(words.render(rng.choice(["Wide", "crop", "AB12"])), left, right, top, bottom)
        assert np.array_equal(predict.trim_blank_margins([image[..., 0]])[0], _trimmed(image)[..., 0])


def test_models_saved_before_margins_were_trimmed_read_as_they_did():
    from ovconvert.aocr.config import ModelConfig

    assert ModelConfig.from_json('{"charset": "AB"}', "config.json").trim_margins is False
    assert ModelConfig(charset="AB").trim_margins is True  # a new model trims


def _encoded(image, format, **params):
    import io

    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def test_opaque_images_decode_exactly_as_their_rgb_pixels():
    """Grey, RGB and palette files without transparency: decode() gives what TensorFlow's own RGB
    decoding gives, so training, held-out figures and exported graphs see the pixels they always saw."""
    import numpy as np
    import tensorflow as tf

    from ovconvert.aocr import data
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.families import words

    word = words.render("Opaque")
    config = ModelConfig(charset="AB", channels=3)
    for encoded in (_encoded(word, "PNG"), _encoded(word.convert("L"), "PNG"), _encoded(word, "JPEG"),
                    _encoded(word.convert("P"), "GIF"), _encoded(word, "BMP")):
        expected = tf.cast(tf.io.decode_image(encoded, channels=3, expand_animations=False), tf.float32)
        assert np.array_equal(data.decode(encoded, config).numpy(), expected.numpy())


@pytest.mark.parametrize("ink, mode", [((0, 0, 0), "RGBA"), ((255, 255, 255), "RGBA"), ((0, 0, 0), "LA"),
                                       ((0, 0, 0), "GIF")])
def test_a_word_on_a_transparent_background_decodes_as_its_ink_on_a_contrasting_one(ink, mode):
    """Transparent pixels are often black: with the alpha dropped, black ink on them vanished and the
    bundled model read nothing. Now dark ink is flattened onto white and light ink onto black, so the
    image decodes as the same word drawn on an opaque background (within the antialiasing's rounding)."""
    import numpy as np
    from PIL import Image

    from ovconvert.aocr import data
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.families import words

    coverage = 255 - np.asarray(words.render("Clear").convert("L"), dtype=np.int32)  # the ink's alpha
    alpha = Image.fromarray(coverage.astype(np.uint8), "L")
    if mode == "GIF":  # a palette with one transparent entry, black: the text is black, the rest see-through
        transparent = Image.fromarray(np.where(coverage > 127, 1, 0).astype(np.uint8), "P")
        transparent.putpalette([0, 0, 0] * 256)
        encoded = data.readable_image(_encoded(transparent, "GIF", transparency=0))
        opaque = np.where(coverage > 127, 0, 255)
    else:
        layer = Image.new("RGBA", alpha.size, ink + (0,))
        layer.putalpha(alpha)
        encoded = _encoded(layer.convert(mode), "PNG")
        behind = 255 - ink[0]
        opaque = behind + (ink[0] - behind) * coverage / 255.0  # the same ink drawn on an opaque background
    config = ModelConfig(charset="AB", channels=1)
    decoded = data.decode(encoded, config).numpy()[:, :, 0]
    assert np.abs(decoded - opaque).max() <= 2.0


def test_a_fourth_channel_that_is_zero_everywhere_is_no_transparency():
    """Some BMP writers leave the fourth byte of every pixel 0: read as alpha, the image would vanish."""
    import numpy as np
    import tensorflow as tf

    from ovconvert.aocr import data

    rgb = np.random.default_rng(0).integers(0, 256, size=(8, 20, 3)).astype(np.float32)
    unused = tf.concat([rgb, tf.zeros([8, 20, 1])], axis=-1)
    assert np.array_equal(data.flatten_alpha(unused).numpy(), rgb)


def test_the_numpy_client_flattens_transparency_as_the_model_graph_does(tmp_path):
    """ovconvert/predict.py (the IR's client, no TensorFlow) read a word on transparent black pixels as
    nothing: it dropped the alpha. It now flattens it as decode() does, for every kind of transparency."""
    import numpy as np
    from PIL import Image

    from ovconvert import predict
    from ovconvert.aocr import data
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.families import words

    coverage = 255 - np.asarray(words.render("Clear").convert("L"), dtype=np.uint8)
    black_ink = Image.new("RGBA", (coverage.shape[1], coverage.shape[0]), (0, 0, 0, 0))
    black_ink.putalpha(Image.fromarray(coverage, "L"))
    white_ink = Image.new("RGBA", black_ink.size, (255, 255, 255, 0))
    white_ink.putalpha(Image.fromarray(coverage, "L"))
    palette = Image.fromarray(np.where(coverage > 127, 1, 0).astype(np.uint8), "P")
    palette.putpalette([0, 0, 0] * 256)
    unused_alpha = Image.new("RGBA", black_ink.size, (90, 40, 200, 0))  # a fourth byte 0 everywhere
    cases = {"black.png": _encoded(black_ink, "PNG"), "white.png": _encoded(white_ink, "PNG"),
             "grey.png": _encoded(black_ink.convert("LA"), "PNG"),
             "palette.gif": _encoded(palette, "GIF", transparency=0),
             "unused.png": _encoded(unused_alpha, "PNG"), "opaque.png": _encoded(words.render("Clear"), "PNG")}
    config = ModelConfig(charset="AB", channels=3)
    for name, encoded in cases.items():
        (tmp_path / name).write_bytes(encoded)
        client = np.asarray(predict.load_image(tmp_path / name), dtype=np.float32)
        if client.shape[-1] == 4:
            client = predict.flatten_alpha(client)
        graph = data.decode(data.readable_image(encoded), config).numpy()
        assert np.allclose(client, graph, atol=1e-3), name
    assert np.array_equal(np.asarray(predict.load_image(tmp_path / "black.png").getchannel("A")), coverage)


def test_synth_is_deterministic_for_a_seed_and_writes_atomically(tmp_path, capsys):
    for name in ("a", "b"):
        assert aocr_cli("aocr", "synth", "20", tmp_path / f"{name}.tfrecords", "--all-fonts", "--fonts", "DejaVu*",
                        "--seed", "11", "--log-path", "") == 0
    assert (tmp_path / "a.tfrecords").read_bytes() == (tmp_path / "b.tfrecords").read_bytes()
    assert aocr_cli("aocr", "synth", "20", tmp_path / "c.tfrecords", "--all-fonts", "--fonts", "DejaVu*",
                    "--seed", "12", "--log-path", "") == 0
    assert (tmp_path / "c.tfrecords").read_bytes() != (tmp_path / "a.tfrecords").read_bytes()
    labels = [label for _, label, _ in _records(tmp_path / "a.tfrecords")]
    assert all(0 < len(label) <= 8 and label == label.upper() for label in labels)
    assert not list(tmp_path.glob("*.partial"))


def test_held_out_fonts_never_share_a_family_with_training_fonts():
    from ovconvert.aocr import fonts

    every = fonts.discover("AB", held_out=None)
    training = {f.family for f in every if not f.held_out}
    held_out = {f.family for f in every if f.held_out}
    assert not training & held_out
    # The split hashes the family name, so it is the same on every machine: the bundled model's
    # held-out test fonts (docs/aocr.md) stay held out wherever the test set is rebuilt.
    assert fonts.Font("any.ttf", "Liberation Serif", "Bold").held_out
    assert fonts.Font("any.ttf", "P052", "Roman").held_out
    assert not fonts.Font("any.ttf", "DejaVu Sans", "Book").held_out
    assert not fonts.Font("any.ttf", "Liberation Sans", "Regular").held_out


def test_charset_file_takes_any_utf8_characters(tmp_path):
    from ovconvert.aocr import charset

    (tmp_path / "greek.txt").write_text("αβγ 0\n", encoding="utf-8")
    chosen = charset.from_options(charset_file=str(tmp_path / "greek.txt"))
    assert chosen.characters == "αβγ 0"
    assert chosen.decode([3, 4, 6, 7, 2, 5]) == "αβ 0"
    (tmp_path / "latin1.txt").write_bytes(b"\xe9\xe8")
    with pytest.raises(Exception, match="not UTF-8"):
        charset.from_options(charset_file=str(tmp_path / "latin1.txt"))


def test_scan_results_are_remembered_file_by_file(tmp_path, monkeypatch):
    """A resumed run reads no image again, and a shard added to the set is the only one scanned; the
    remembered report numbers the records exactly as a scan of all the files does."""
    import tensorflow as tf

    from ovconvert.aocr import records
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.families import words

    image = words.png_bytes(words.render("AB"))
    paths = [str(tmp_path / f"{name}.tfrecords") for name in ("a", "b", "c")]
    for path, labels in zip(paths, (["AB", "CD"], ["AB", "ABCDE", "AB"], ["AB"])):
        with tf.io.TFRecordWriter(path) as writer:
            for label in labels:  # a label the charset lacks (E), and in a.tfrecords an image that is junk
                writer.write(records.example_bytes(b"junk" if label == "CD" else image, label))
    config, model_dir = ModelConfig(charset="ABCD"), str(tmp_path / "model")
    scanned = []
    real_scan = records.scan
    monkeypatch.setattr(records, "scan", lambda files, cfg: scanned.extend(files) or real_scan(files, cfg))

    first = records.scan_cached(paths[:2], config, model_dir)
    assert first.usable == [True, False, True, False, True] and first.per_file == [2, 3]
    assert first.corrupt == [(2, "")] and list(first.problems.values()) == [[4]]
    again = records.scan_cached(paths[:2], config, model_dir)
    grown = records.scan_cached(paths, config, model_dir)
    assert scanned == paths  # each file once: the third only when it joined
    whole = real_scan(paths, config)
    for report in (again, grown):
        count = report.total
        assert (report.usable, report.problems, report.corrupt, report.per_file) == (
            whole.usable[:count], whole.problems, whole.corrupt, whole.per_file[:len(report.per_file)])
    records.scan_cached(paths[:1], ModelConfig(charset="AB"), model_dir)  # other label rules: scanned again
    assert scanned == paths + paths[:1]
    assert [p.name for p in (tmp_path / "model").iterdir()] == [records.SCAN_CACHE]  # nothing half-written


def test_training_batches_mix_every_file_and_still_leave_out_unusable_records(tmp_path):
    """Shuffled training reads the files a record from each in turn, so a batch mixes them even when the
    shuffle buffer is far smaller than a file; the scan's record numbers stay right (the bad ones stay out)."""
    import tensorflow as tf

    from ovconvert.aocr import data, records
    from ovconvert.aocr.config import ModelConfig
    from ovconvert.families import words

    image = words.png_bytes(words.render("AB"))
    paths = []
    for name, label, count in (("a", "AAA", 40), ("b", "BBB", 30), ("c", "CCC", 20)):
        paths.append(str(tmp_path / f"{name}.tfrecords"))
        with tf.io.TFRecordWriter(paths[-1]) as writer:
            for index in range(count):
                bad = index % 10 == 9  # a label the charset cannot spell: the scan marks it unusable
                writer.write(records.example_bytes(image, label + ("Z" if bad else "")))
    config = ModelConfig(charset="ABC", max_prediction=4)
    report = records.scan(paths, config)
    assert report.per_file == [40, 30, 20] and report.skipped == 9

    def labels(per_file):
        batches = data.dataset(paths, config, report.usable, 9, shuffle=True, with_records=True,
                               per_file=per_file, shuffle_buffer=3)
        return [[label.decode() for label in batch[2].numpy()] for batch in batches]

    mixed = labels(report.per_file)
    assert {len(set(batch)) for batch in mixed[:2]} == {3}  # every file in each of the first batches
    assert sorted(sum(mixed, [])) == ["AAA"] * 36 + ["BBB"] * 27 + ["CCC"] * 18  # each usable record once
    assert set(labels(None)[0]) == {"AAA"}  # without the counts, one file after another


def test_synth_spreads_lengths_up_to_max_prediction_and_keeps_held_out_backgrounds_out(tmp_path):
    """Half the samples take an even length draw, so long words are common; `lines` backgrounds are
    only in held-out sets."""
    from ovconvert.aocr import photos

    assert aocr_cli("aocr", "synth", "200", tmp_path / "train.tfrecords", "--all-fonts", "--fonts", "DejaVu*",
                    "--max-prediction", "24", "--seed", "3", "--log-path", "") == 0
    records = _records(tmp_path / "train.tfrecords")
    lengths = [len(label) for _, label, _ in records]
    assert max(lengths) <= 24 and sum(n >= 17 for n in lengths) >= 20, sorted(lengths)
    assert sum(n <= 4 for n in lengths) >= 20
    kinds = {comment.rsplit("background=", 1)[1] for _, _, comment in records}
    with_photos = {"photo"} if photos.discover() else set()  # Debian's wallpapers, where installed
    assert kinds == {"plain", "gradient", "noise", "texture"} | with_photos  # never "lines" in training data
    assert aocr_cli("aocr", "synth", "30", tmp_path / "lines.tfrecords", "--all-fonts", "--fonts", "DejaVu*",
                    "--backgrounds", "lines", "--log-path", "") == 0
    assert {c.rsplit("background=", 1)[1] for _, _, c in _records(tmp_path / "lines.tfrecords")} == {"lines"}
    assert aocr_cli("aocr", "synth", "5", tmp_path / "x.tfrecords", "--backgrounds", "stripes", "--log-path", "") == 2


def test_imagemagick_renders_a_held_out_set_readable_as_8_bit_images(tmp_path):
    import shutil

    from ovconvert.aocr.data import image_is_readable

    if not any(shutil.which(name) for name in ("magick", "convert-im6.q16")):
        pytest.skip("ImageMagick is not installed (apt-get install imagemagick)")
    assert aocr_cli("aocr", "synth", "12", tmp_path / "im.tfrecords", "--all-fonts", "--fonts", "DejaVu*",
                    "--renderer", "imagemagick", "--max-prediction", "12", "--seed", "4", "--log-path", "") == 0
    records = _records(tmp_path / "im.tfrecords")
    assert len(records) == 12 and all("renderer=imagemagick" in comment for _, _, comment in records)
    assert all(image_is_readable(image) for image, _, _ in records)
    from io import BytesIO

    from PIL import Image

    assert all(Image.open(BytesIO(image)).mode in ("RGB", "L", "P") for image, _, _ in records)  # 8-bit, not I;16


def test_a_recipe_validates_and_calibrates_on_an_aocr_dataset(tmp_path):
    """validate.images and quantize.calibration take aocr's own .tfrecords (a user's dataset) as well as
    annotation files: each record is one (name, image, label), up to the count."""
    import dataclasses

    from conftest import REPO
    from ovconvert.errors import UserError
    from ovconvert.families import aocr
    from ovconvert.recipes.loader import load_recipe

    dataset = REPO / "tests" / "data" / "aocr-heldout-200.tfrecords"
    recipe = load_recipe("recipes/aocr.yaml")
    mixed = dataclasses.replace(recipe.validate, images=(str(dataset), str(REPO / "recipes/aocr-samples/annotations.txt")),
                                count=205)
    samples = aocr.sample_images(dataclasses.replace(recipe, validate=mixed))
    expected = _records(dataset)
    assert len(samples) == 205
    assert [(image, label) for _, image, label in samples[:200]] == [(image, label) for image, label, _ in expected]
    assert samples[0][0] == "aocr-heldout-200.tfrecords#1" and samples[200][0] == "01-openvino.png"

    missing = dataclasses.replace(recipe.validate, images=(str(tmp_path / "none.tfrecords"),))
    with pytest.raises(UserError, match="none.tfrecords: no such dataset file"):
        aocr.sample_images(dataclasses.replace(recipe, validate=missing))


def test_width_jitter_squeezes_and_stretches_the_word_across(tmp_path, capsys):
    """`train --width-jitter LOW,HIGH`: the word is resized to LOW..HIGH times its width at height 32
    (the rest of the model's width stays padding); a range that is not 0 < LOW <= HIGH is refused."""
    import io

    import numpy as np
    from PIL import Image

    from ovconvert.aocr.config import ModelConfig
    from ovconvert.aocr.data import preprocess

    noise = np.random.default_rng(0).integers(0, 256, size=(32, 100, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    config = ModelConfig(charset="AB", max_width=320, max_height=32)

    def content_width(scale):
        image = preprocess(buffer.getvalue(), config, scale).numpy()
        return int(np.flatnonzero(np.abs(image).sum(axis=(0, 2)) > 0).max()) + 1

    assert [content_width(s) for s in (1.0, 0.5, 1.5)] == [100, 50, 150]
    with pytest.raises(SystemExit) as refused:  # argparse's usage error: exit code 2
        aocr_cli("aocr", "train", tmp_path / "none.tfrecords", "--model-dir", tmp_path / "m",
                 "--width-jitter", "1.2,0.8", "--log-path", "")
    assert refused.value.code == 2 and "--width-jitter: expected 0 < LOW <= HIGH" in capsys.readouterr().err


def test_synth_crops_a_third_of_its_words_at_the_font_line_box_as_text_generators_do():
    """A lower-case word without ascenders or descenders ("saw") cropped at the font's line box is as
    high as ascent plus descent, its letters half the height, as trdg or a browser sizes a word; cropped
    around the ink only, it rarely was (13% of draws: the loose crops), and the model read such words
    worse. Every crop keeps all the ink."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from ovconvert.aocr import synth

    font = ImageFont.truetype(f"{DEJAVU}/DejaVuSans.ttf", 40)
    ascent, descent = font.getmetrics()
    masks = [synth._draw_text("saw", font, 0.0, np.random.default_rng(seed), 40) for seed in range(400)]
    line_high = [mask for mask in masks if mask.height >= ascent + descent]
    assert 0.3 <= len(line_high) / len(masks) <= 0.6
    canvas = Image.new("L", (300, 150), 0)
    ImageDraw.Draw(canvas).text((40, 40), "saw", fill=255, font=font)
    ink = np.asarray(canvas, dtype=np.int64).sum()
    assert all(np.asarray(mask, dtype=np.int64).sum() == ink for mask in line_high)


def test_synth_cuts_half_its_line_box_crops_at_the_pen_box_losing_an_italic_overhang_as_trdg_does():
    """trdg crops a word where the pen starts and ends, so an italic's last letter loses the tip that
    leans past the pen ("reendowed" read as "REENDOWEA"). Half the line-box crops are cut so: of an
    oblique "elf", whose f leans 6 pixels past the pen at 40 pixels, they keep the pen's width and lose
    some of the f's ink; the other line-box crops keep all of it (tight crops may cut a pixel anywhere)."""
    import numpy as np
    from PIL import ImageFont

    from ovconvert.aocr import synth

    font = ImageFont.truetype(f"{DEJAVU}/DejaVuSans-Oblique.ttf", 40)
    ascent, descent = font.getmetrics()
    pen_width = int(font.getlength("elf")) + 1
    masks = [synth._draw_text("elf", font, 0.0, np.random.default_rng(seed), 40) for seed in range(400)]
    ink = max(np.asarray(mask, dtype=np.int64).sum() for mask in masks)
    line_high = [mask for mask in masks if mask.height >= ascent + descent]
    cut = [mask for mask in line_high if np.asarray(mask, dtype=np.int64).sum() < ink]
    assert all(mask.width == pen_width for mask in cut)
    assert 0.1 <= len(cut) / len(masks) <= 0.25  # half of the line-box crops, which are 35% of all


def test_grain_is_as_strong_in_the_model_pixels_however_large_the_word_is_drawn():
    """Grain drawn per pixel of a large rendering averaged away when the model resized it to 32 pixels
    high, so only words drawn small were grainy, unlike a scan or trdg's noise at 32 pixels. _grain draws
    one value per model pixel: after the resize it keeps most of its strength; half the time it is grey."""
    import numpy as np
    import tensorflow as tf

    from ovconvert.aocr import synth

    strengths, grey = [], 0
    for seed in range(20):
        grain = synth._grain(np.random.default_rng(seed), 96, 480, 10.0)
        seen = tf.image.resize(grain, [32, 160], antialias=True).numpy()  # as data.fit resizes it
        strengths.append(seen[2:-2, 2:-2].std())
        grey += bool(np.array_equal(grain[..., 0], grain[..., 2]))
    assert np.mean(strengths) > 5.0  # about 6.3; per-pixel noise of 10 comes out about 2.3
    assert 4 <= grey <= 16


def test_synth_draws_each_design_as_often_however_many_families_it_is_sold_as(tmp_path):
    """Three DejaVu families are one design; a fourth family of another design is drawn about half the
    time, not a quarter, so a design split into many families does not crowd out the others."""
    fonts_dir = tmp_path / "fonts"
    fonts_dir.mkdir()
    for name in ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf"):
        (fonts_dir / name).symlink_to(f"{DEJAVU}/{name}")
    _renamed_font(f"{DEJAVU}/DejaVuSans-Bold.ttf", "Zeta Sans", fonts_dir / "ZetaSans.ttf")
    assert aocr_cli("aocr", "synth", "200", tmp_path / "designs.tfrecords", "--all-fonts",
                    "--fonts-dir", fonts_dir, "--seed", "5", "--log-path", "") == 0
    comments = [comment for _, _, comment in _records(tmp_path / "designs.tfrecords")]
    zeta = sum("ZetaSans.ttf" in comment for comment in comments)
    assert 70 <= zeta <= 130, zeta  # about 100 of 200; by family alone it would be about 50


def _photos(directory, count):
    """`count` green pictures with dark stripes (a crop of one is never a plain colour), one icon too
    small to be a background, and a file that is not an image."""
    import numpy as np
    from PIL import Image

    directory.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = np.zeros((240, 360, 3), dtype=np.uint8)
        pixels[:, :, 1] = 200
        pixels[:, ::int(rng.integers(6, 20)), 1] = 60
        Image.fromarray(pixels).save(directory / f"photo{index}.jpg")
    Image.new("RGB", (64, 64)).save(directory / "icon.png")
    (directory / "README").write_text("not a photo")
    return directory


def _renamed_font(source, family, destination):
    """A copy of the font file `source` whose family is called `family`."""
    from fontTools.ttLib import TTFont

    font = TTFont(source)
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = family
    font.save(destination)


def _one_family_each_side_of_the_split(directory):
    """DejaVu Sans (a training family) and a copy renamed into the held-out group."""
    from ovconvert.aocr import fonts

    directory.mkdir()
    (directory / "DejaVuSans.ttf").symlink_to(f"{DEJAVU}/DejaVuSans.ttf")
    family = next(f"Held Sans {n}" for n in range(100) if fonts.held_out_by_name(f"Held Sans {n}"))
    _renamed_font(f"{DEJAVU}/DejaVuSans.ttf", family, directory / "HeldSans.ttf")
    return directory


def test_synth_draws_words_on_photos_held_out_by_name_like_font_families(tmp_path):
    import io

    from PIL import Image

    from ovconvert.aocr import photos

    photo_dir = _photos(tmp_path / "photos", 12)
    training, held_out = photos.discover([photo_dir], False), photos.discover([photo_dir], True)
    assert training and held_out and not set(training) & set(held_out)
    assert sorted(training + held_out) == sorted(str(p) for p in photo_dir.glob("photo*.jpg"))  # no icon
    assert photos.discover([photo_dir], None) == tuple(sorted(training + held_out))

    fonts_dir = _one_family_each_side_of_the_split(tmp_path / "fonts")
    for name, group, expected in (("train", [], training), ("held", ["--held-out"], held_out)):
        assert aocr_cli("aocr", "synth", "30", tmp_path / f"{name}.tfrecords", *group, "--fonts-dir", fonts_dir,
                        "--backgrounds", "photo", "--photos-dir", photo_dir, "--seed", "4", "--log-path", "") == 0
        records = _records(tmp_path / f"{name}.tfrecords")
        drawn_on = {comment.split(" photo=", 1)[1].split()[0] for _, _, comment in records}
        assert drawn_on <= {p.rsplit("/", 1)[1] for p in expected} and len(drawn_on) >= 2, drawn_on
        assert {comment.rsplit("background=", 1)[1] for _, _, comment in records} == {"photo"}
        # The picture shows through: green in the corner of most images (the rest are washed toward
        # another colour, or grey).
        greens = 0
        for image, _, _ in records:
            red, green, blue = Image.open(io.BytesIO(image)).convert("RGB").getpixel((0, 0))
            greens += green > red + 40 and green > blue + 40
        assert greens >= 8, greens


def test_synth_photo_kind_needs_photos_and_is_left_out_of_defaults_where_there_are_none(tmp_path, monkeypatch,
                                                                                        capsys, caplog):
    from ovconvert.aocr import photos

    empty = tmp_path / "empty"
    empty.mkdir()
    for extra in (["--backgrounds", "photo"], ["--photos-dir", empty]):
        assert aocr_cli("aocr", "synth", "5", tmp_path / "x.tfrecords", "--all-fonts", "--fonts", "DejaVu*",
                        *extra, "--photos-dir", empty, "--log-path", "") == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and "no photos" in error and "--photos-dir" in error, error
        assert not (tmp_path / "x.tfrecords").exists()
    monkeypatch.setattr(photos, "PHOTO_DIRS", (str(empty),))
    with caplog.at_level(logging.WARNING, logger="ovconvert.aocr"):
        assert aocr_cli("aocr", "synth", "20", tmp_path / "y.tfrecords", "--all-fonts", "--fonts", "DejaVu*",
                        "--log-path", "") == 0
    assert "the photo kind is left out" in caplog.text
    assert json.loads(capsys.readouterr().out)["backgrounds"] == ["plain", "gradient", "noise", "texture"]


def test_text_on_photos_may_be_faint_but_never_fainter_than_the_floor():
    """On a photo the text's own colour is kept down to a contrast drawn per image between
    FAINTEST_ON_PHOTO and 70 luminance levels, so the model sees faint signs too; fainter than the
    floor it is swapped for near-white (on a mid-grey wall)."""
    import numpy as np

    from ovconvert.aocr.synth import FAINTEST_ON_PHOTO, _readable_on

    under = np.full((10, 40, 3), 100.0, dtype=np.float32)  # a mid-grey wall under all of the ink
    ink = np.ones((10, 40, 1), dtype=np.float32)
    middle = (FAINTEST_ON_PHOTO + 70) // 2
    kept = {}
    for contrast in (FAINTEST_ON_PHOTO - 2, middle, 80):
        text = (100 - contrast,) * 3
        readings = [_readable_on(under, ink, text, np.random.default_rng(seed)) for seed in range(200)]
        kept[contrast] = sum(colour == text for colour in readings)
        assert all(colour == text or min(colour) >= 200 for colour in readings)
    assert kept[FAINTEST_ON_PHOTO - 2] == 0 and kept[80] == 200
    assert 50 < kept[middle] < 150, kept  # kept when the drawn threshold is below it: about half the time


def test_texture_walls_are_blocks_crossed_by_joints():
    """A wall of blocks (bricks, tiles, windows) is flat within each block, unlike noise, and joints
    cross the rows of a word-sized canvas (all of them but those that lie along a horizontal joint);
    the same generator draws the same wall."""
    import numpy as np

    from ovconvert.aocr.synth import _blocks

    for seed in range(20):
        wall = _blocks(np.random.default_rng(seed), 48, 300)
        assert wall.shape == (48, 300, 3) and wall.dtype == np.float32
        steps = np.diff(wall[:, :, 0], axis=1) != 0
        assert steps.mean() < 0.2, steps.mean()  # mostly flat: blocks and joints, not noise
        assert steps.any(axis=1).mean() >= 0.6  # rows cross a vertical joint or a block's edge
        assert np.array_equal(wall, _blocks(np.random.default_rng(seed), 48, 300))


def test_noise_screens_are_periodic_patterns_not_noise():
    """A halftone screen or mesh has a period: its spectrum has a peak far above the rest, which
    random noise of the same strength does not; it stays in [-1, 1] and is the same for the same seed."""
    import numpy as np

    from ovconvert.aocr.synth import _screen

    def peak_over_median(pattern):
        spectrum = np.abs(np.fft.rfft2(pattern - pattern.mean()))
        return spectrum.max() / np.median(spectrum)

    for seed in range(10):
        screen = _screen(np.random.default_rng(seed), 48, 300)
        assert screen.shape == (48, 300) and np.abs(screen).max() <= 1.0
        assert np.array_equal(screen, _screen(np.random.default_rng(seed), 48, 300))
        noise = np.random.default_rng(seed).uniform(-1, 1, size=(48, 300))
        assert peak_over_median(screen) > 5 * peak_over_median(noise), (seed, peak_over_median(screen))


def test_synth_warps_words_as_trdg_distorts_them_keeping_all_the_ink_at_any_size():
    """trdg's random distortion moves each column of a word by its own few pixels, and the bundled model
    read 44% of such words. _warp moves columns, rows or both, jagged or along a sine wave, by amounts
    measured in the model's pixels: a layer drawn four times as high moves four times as many of its own
    pixels, the same once resized to 32. No ink is lost."""
    import numpy as np
    from PIL import Image, ImageFont

    from ovconvert.aocr import synth

    font = ImageFont.truetype(f"{DEJAVU}/DejaVuSans.ttf", 40)
    word = synth._draw_text("minimum", font, 0.0, np.random.default_rng(0), 40)
    ink = np.asarray(word, dtype=np.int64).sum()
    assert all(np.asarray(synth._warp(word, np.random.default_rng(seed)), dtype=np.int64).sum() == ink
               for seed in range(20))

    def column_moves(height):
        """How far _warp moves the columns of a bar across a layer `height` high, in 32nds of the height."""
        bar = np.zeros((height, 8 * height), np.uint8)
        bar[height // 2 - height // 16:height // 2 + height // 16] = 255
        moves = []
        for seed in range(40):
            warped = np.asarray(synth._warp(Image.fromarray(bar, "L"), np.random.default_rng(seed)), np.float64)
            if warped.shape[0] == height:  # only the rows moved
                continue
            inked = warped.sum(axis=0) > 0
            rows = np.arange(warped.shape[0])[:, np.newaxis]
            centres = (warped * rows).sum(axis=0)[inked] / warped.sum(axis=0)[inked]
            moves.append(np.abs(centres - np.median(centres)).max() * 32 / height)
        return np.array(moves)

    small, large = column_moves(32), column_moves(128)
    assert len(small) >= 15 and len(large) >= 15
    assert 0.5 <= np.median(small) <= 4 and 0.5 <= np.median(large) <= 4, (small, large)
    assert 0.6 < np.median(large) / np.median(small) < 1.6


def test_text_effects_change_only_the_words_they_are_drawn_on(tmp_path, capsys):
    """--text-effects draws from a generator of its own: the same seed without them gives the same words,
    fonts and backgrounds, and the words that got no effect come out byte for byte."""
    paths = {}
    for share in ("0", "0.5"):
        paths[share] = tmp_path / f"{share}.tfrecords"
        assert aocr_cli("aocr", "synth", "40", paths[share], "--all-fonts", "--fonts", "DejaVu*", "--seed", "3",
                        "--text-effects", share, "--log-path", "") == 0
    plain, effects = _records(paths["0"]), _records(paths["0.5"])
    drawn = [comment.split("effect=")[1] for _, _, comment in effects if "effect=" in comment]
    assert 10 <= len(drawn) <= 30 and set(drawn) <= {"outline", "shadow", "underline", "strike"}, drawn
    for (image, label, comment), (image_e, label_e, comment_e) in zip(plain, effects):
        assert label == label_e and comment == comment_e.split(" effect=")[0]
        assert (image == image_e) == ("effect=" not in comment_e)
    for share in ("1.5", "-0.1"):
        assert aocr_cli("aocr", "synth", "5", tmp_path / "x.tfrecords", "--all-fonts", "--fonts", "DejaVu*",
                        "--text-effects", share, "--log-path", "") == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and "--text-effects" in error and "from 0 to 1" in error, error
        assert not (tmp_path / "x.tfrecords").exists()


def test_underline_and_strike_are_rules_across_the_word_below_the_baseline_and_through_the_x_height():
    import numpy as np
    from PIL import ImageFont

    from ovconvert.aocr import synth

    font = ImageFont.truetype(f"{DEJAVU}/DejaVuSans.ttf", 40)

    def layer(line):
        # the same crop draws each time: only the rule differs
        return np.asarray(synth._draw_text("maximum", font, 0.0, np.random.default_rng(0), 40, line,
                                           np.random.default_rng(1)), dtype=np.int64)

    # "maximum" has no descender, so its baseline is its letters' last row; the crop's top is the letters'
    # top with or without a rule, so rows line up
    letters = np.flatnonzero((layer(None) > 127).any(axis=1))
    top, baseline = letters.min(), letters.max()
    for line in ("underline", "strike"):
        full_rows = np.flatnonzero((layer(line) > 127).mean(axis=1) > 0.9)  # a rule across the whole word
        assert len(full_rows) >= 1, line
        if line == "underline":
            assert full_rows.min() > baseline, (full_rows, letters)
        else:  # in the lower half, where x-height letters are
            assert top + 0.45 * (baseline - top) < full_rows.mean() < baseline, (full_rows, letters)


def test_outlines_and_shadows_are_drawn_under_the_whole_word_and_cut_no_ink():
    import numpy as np
    from PIL import ImageFont

    from ovconvert.aocr import synth, text_effects

    font = ImageFont.truetype(f"{DEJAVU}/DejaVuSans.ttf", 40)
    word = synth._draw_text("outline", font, 0.0, np.random.default_rng(0), 40)
    ink = np.asarray(word, dtype=np.int64)
    for effect in ("outline", "shadow"):
        for seed in range(5):
            grown, under = text_effects.edged(word, effect, 40, np.random.default_rng(seed))
            text, edge = np.asarray(grown, dtype=np.int64), np.asarray(under, dtype=np.int64)
            assert text.sum() == ink.sum() and text.shape == edge.shape
            if effect == "outline":  # all around every letter
                assert (edge >= text).all() and (edge > 127).sum() > 1.3 * (text > 127).sum()
            else:  # below: the shadow's ink sits lower than the letters'
                rows = np.arange(text.shape[0])[:, np.newaxis]
                assert (edge * rows).sum() / edge.sum() > (text * rows).sum() / text.sum()
    assert text_effects.edged(word, "underline", 40, np.random.default_rng(0)) == (word, None)


def test_synth_rotates_and_blurs_some_words_as_far_as_trdg_options_do(monkeypatch):
    """Most rotated words tilt a degree or two, and most blurred ones by up to 1.4 of the model's pixels;
    one in seven of each goes as far as trdg's `-k 12 -rk` and `-bl 2`, which the bundled model, trained
    without them, read 66% and 46% of at 32 pixels."""
    import numpy as np
    from PIL import Image, ImageFilter

    from ovconvert.aocr import synth
    from ovconvert.aocr.config import IMAGE_HEIGHT

    angles, radii = [], []
    rotate, apply_filter = Image.Image.rotate, Image.Image.filter

    def recording_rotate(self, angle, *args, **kwargs):
        angles.append(angle)
        return rotate(self, angle, *args, **kwargs)

    def recording_filter(self, kind):
        if isinstance(kind, ImageFilter.GaussianBlur):
            radii.append(kind.radius / max(1.0, self.height / IMAGE_HEIGHT))  # in the model's pixels
        return apply_filter(self, kind)

    monkeypatch.setattr(Image.Image, "rotate", recording_rotate)
    monkeypatch.setattr(Image.Image, "filter", recording_filter)
    for seed in range(600):
        synth.render("word", f"{DEJAVU}/DejaVuSans.ttf", np.random.default_rng(seed))
    angles, radii = np.abs(angles), np.array(radii)
    assert 0.4 <= len(angles) / 600 <= 0.6 and 0.3 <= len(radii) / 600 <= 0.5
    assert angles.max() <= synth.MAX_ROTATION and 0.05 <= np.mean(angles > 4) <= 0.17  # about 0.10
    assert radii.min() >= 0.3 and radii.max() <= synth.MAX_BLUR and 0.08 <= np.mean(radii > 1.4) <= 0.22
