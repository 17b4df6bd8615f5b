"""Training data: the image preprocessing shared by training and export, labels, the tf.data input
pipeline, and aocr's annotation files (records.py reads, checks and writes the TFRecord files).

Every image goes through `preprocess` (decode, flatten transparency, trim blank margins, fit the model's
canvas) in training, in the exported graph's serving function and, by TensorFlow, before the OpenVINO
engine's IR, so all three see the same pixels.
"""

from __future__ import annotations

import io

import numpy as np
import tensorflow as tf

from ovconvert.aocr.charset import EOS, PAD, SPECIAL_TOKENS
from ovconvert.aocr.config import BLANK_SPAN, IMAGE_HEIGHT, MARGIN_IN_INK_HEIGHTS, ModelConfig
from ovconvert.errors import UserError

FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "comment": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


# ---------------------------------------------------------------------------------------------- images

def preprocess(encoded_image, config: ModelConfig, width_scale=1.0):
    """Encoded image bytes → float32 [32, image_width, channels], the model's input.

    Blank margins wider than the word needs are cut (trim_blank_margins, when the model's config asks);
    resized to height 32 keeping the aspect ratio (times `width_scale`: training's width jitter); an
    image wider than the model's width is shrunk to fit rather than dropped (aocr drops it);
    standardized per image, then padded with zeros (the mean) on the right.
    """
    image = decode(encoded_image, config)
    if config.trim_margins:
        image = trim_blank_margins(image)
    return fit(image, config, width_scale)


def decode(encoded_image, config: ModelConfig):
    """Encoded image bytes → float32 [H, W, channels] pixels, transparency flattened (see flatten_alpha)."""
    # channels=0: the file's own channels (grey, grey+alpha, RGB, RGBA), so that the alpha is not dropped
    image = tf.cast(tf.io.decode_image(encoded_image, channels=0, expand_animations=False), tf.float32)
    image = flatten_alpha(image)
    if config.channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    return image


def flatten_alpha(image):
    """float32 [H, W, 1…4] pixels → [H, W, 3]: grey made RGB, and an alpha channel flattened onto white
    behind dark ink or black behind light ink.

    Word images with a transparent background are common (ImageMagick's `-background none`, design
    tools, PNG overlays), and their transparent pixels are often black: with the alpha dropped, black
    text on them is black on black and reads as nothing. The ink's colour is the alpha-weighted mean, so
    an opaque image comes out exactly as it went in. Arithmetic only, no branches: the same ops run in
    training, in both engines and in the exported graph.
    """
    channels = tf.shape(image)[-1]
    has_alpha = tf.equal(channels % 2, 0)  # 2: grey+alpha, 4: RGBA
    alpha = image[..., -1:] / 255.0
    # no alpha, or an alpha that is 0 everywhere (some BMP writers leave the fourth byte 0): opaque
    opaque = tf.logical_or(tf.logical_not(has_alpha), tf.equal(tf.reduce_max(alpha), 0.0))
    alpha = tf.where(opaque, tf.ones_like(alpha), alpha)
    colour_channels = channels - tf.cast(has_alpha, tf.int32)
    colour = tf.gather(image, tf.minimum(tf.range(3), colour_channels - 1), axis=-1)  # grey → [g, g, g]
    ink = tf.reduce_sum(colour * alpha, axis=[0, 1]) / tf.maximum(tf.reduce_sum(alpha), 1e-6)
    ink_is_dark = tf.tensordot(ink, tf.constant([0.299, 0.587, 0.114]), 1) < 128.0
    background = tf.where(ink_is_dark, 255.0, 0.0)
    return tf.ensure_shape(colour * alpha + background * (1.0 - alpha), [None, None, 3])


def trim_blank_margins(image):
    """Decoded pixels [H, W, C] → the same, with blank margins cut to MARGIN_IN_INK_HEIGHTS × the
    height of the ink.

    A word in the middle of a wide blank canvas (a fixed-size crop, a detector's padded box) reads as the
    word behind letters the model invents in the blank space to its left, with a low probability
    (docs/aocr.md, "Blank margins"): training's loose crops leave at most about one text size. Blank
    means flat: a row or column spanning at most BLANK_SPAN levels, so a margin of noise, texture, a
    photo or a vertical gradient is never blank, and such images come out as they went in, as do those
    whose margins are within the limit (all of trdg's, 99% of synth's). Arithmetic and slicing only: the
    same ops run in training, in both engines and in the exported graph; ovconvert/predict.py repeats
    them in NumPy.
    """
    span = tf.reduce_max(image, axis=0) - tf.reduce_min(image, axis=0)  # [W, C]: per column
    ink_columns = tf.reduce_max(span, axis=-1) > BLANK_SPAN
    span = tf.reduce_max(image, axis=1) - tf.reduce_min(image, axis=1)  # [H, C]: per row
    ink_rows = tf.reduce_max(span, axis=-1) > BLANK_SPAN
    top, bottom = _ink_extent(ink_rows)
    left, right = _ink_extent(ink_columns)
    margin = tf.cast(tf.math.ceil(MARGIN_IN_INK_HEIGHTS * tf.cast(bottom - top, tf.float32)), tf.int32)
    shape = tf.shape(image)
    return image[tf.maximum(top - margin, 0):tf.minimum(bottom + margin, shape[0]),
                 tf.maximum(left - margin, 0):tf.minimum(right + margin, shape[1])]


def _ink_extent(ink):
    """[N] bool → (first, last + 1) of the True entries; (0, N) when there are none."""
    size = tf.shape(ink)[0]
    any_ink = tf.reduce_any(ink)
    first = tf.argmax(tf.cast(ink, tf.int32), output_type=tf.int32)
    end = size - tf.argmax(tf.cast(ink[::-1], tf.int32), output_type=tf.int32)
    return tf.where(any_ink, first, 0), tf.where(any_ink, end, size)


def fit(image, config: ModelConfig, width_scale=1.0):
    """Decoded pixels → the model's input (see preprocess)."""
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    new_width = tf.cast(tf.round(width * IMAGE_HEIGHT / height * width_scale), tf.int32)
    new_width = tf.clip_by_value(new_width, 1, config.image_width)
    image = tf.image.resize(image, [IMAGE_HEIGHT, new_width], antialias=True)
    mean, variance = tf.nn.moments(image, axes=[0, 1, 2])
    image = (image - mean) / tf.maximum(tf.sqrt(variance), 1.0)
    image = tf.pad(image, [[0, 0], [0, config.image_width - new_width], [0, 0]])
    return tf.ensure_shape(image, [IMAGE_HEIGHT, config.image_width, config.channels])


# What tf.io.decode_image reads, and so what the exported graph and training decode. Pillow reads more.
TF_IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP")


def _opened(data: bytes):
    """The decoded Pillow image, or None when the bytes are no image Pillow can read in full."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception:  # PIL raises many types for bad data; all mean "unreadable"
        return None
    return image if image.width > 0 and image.height > 0 else None


def image_is_readable(data: bytes) -> bool:
    """Whether TensorFlow can decode the image: a well-formed JPEG, PNG, GIF or BMP."""
    image = _opened(data)
    return image is not None and image.format in TF_IMAGE_FORMATS


def readable_image(data: bytes) -> bytes | None:
    """The image as the model can decode it: the same bytes for JPEG, PNG, GIF and BMP; for another
    format Pillow reads (TIFF, WebP, …; scanners and browsers write them), for a GIF with a transparent
    colour, and for a photo stored turned (an EXIF orientation), the same pixels as a PNG, upright, so
    that one such file does not fail a whole batch inside TensorFlow, keeps its transparency and is read
    the way up every viewer shows it; None when it is no image."""
    from PIL import Image

    from ovconvert.families.images import upright

    stored = _opened(data)
    if stored is None:
        return None
    image = upright(stored)
    if image is stored and image.format in TF_IMAGE_FORMATS and not (
            image.format == "GIF" and "transparency" in image.info):
        return data  # (TensorFlow decodes a GIF without its transparency: such a one is made a PNG below)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float grey: scaled to 8 bits
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if pixels.max() > 255 else 255.0
        image = Image.fromarray(np.clip(pixels * 255.0 / top, 0, 255).astype(np.uint8), "L")
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # a palette's transparent entry as an alpha channel decode() reads
    elif image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- labels

def normalize_label(label: str, config: ModelConfig) -> str:
    return label.upper() if config.force_uppercase else label


def label_problem(label: str, config: ModelConfig) -> str | None:
    """Why a label cannot be trained on, or None."""
    label = normalize_label(label, config)
    if not label:
        return "empty label"
    if len(label) > config.max_prediction:
        return f"longer than --max-prediction {config.max_prediction}"
    unknown = config.charset_object.unknown_characters(label)
    if unknown:
        return f"characters outside the charset: {unknown!r}"
    return None


class LabelEncoder:
    """UTF-8 label bytes → target ids [decode_steps]: characters, EOS, then PAD; in TensorFlow."""

    def __init__(self, config: ModelConfig):
        self.config = config
        characters = list(config.charset)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(characters, tf.range(SPECIAL_TOKENS, SPECIAL_TOKENS + len(characters),
                                                                     dtype=tf.int32)),
            default_value=-1)

    def __call__(self, label):
        if self.config.force_uppercase:
            label = tf.strings.upper(label, encoding="utf-8")
        ids = self.table.lookup(tf.strings.unicode_split(label, "UTF-8"))
        ids = tf.concat([ids, [EOS]], axis=0)
        padding = tf.maximum(self.config.decode_steps - tf.shape(ids)[0], 0)
        ids = tf.pad(ids, [[0, padding]], constant_values=PAD)[:self.config.decode_steps]
        return tf.ensure_shape(ids, [self.config.decode_steps])


# ---------------------------------------------------------------------------------------------- tf.data

def tfrecord_paths(pattern: str | list[str]) -> list[str]:
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    paths = []
    for item in patterns:
        matched = sorted(tf.io.gfile.glob(item))
        if not matched:
            raise UserError(f"{item}: no such TFRecord file; build one with `ovconvert aocr dataset` or "
                            "`ovconvert aocr synth`")
        paths.extend(matched)
    return paths


def dataset(paths: list[str], config: ModelConfig, usable: list[bool] | None, batch_size: int,
            shuffle: bool = False, repeat: int | None = 1, drop_remainder: bool = False,
            with_records: bool = False, with_encoded: bool = False, width_jitter: tuple[float, float] | None = None,
            per_file: list[int] | None = None, shuffle_buffer: int = 10_000,
            random_canvases: bool = False) -> tf.data.Dataset:
    """(images [N,32,W,C], targets [N,S]) batches; with `with_records`, also labels and record numbers,
    and with `with_encoded` then also the encoded images (to read a doubtful one again: aocr/reread.py).
    Records marked unusable by the scan are left out; all the work is TensorFlow ops (no Python per image).
    `width_jitter` (low, high): half the images are squeezed or stretched across by a factor drawn from
    it, so that the model meets condensed and extended letter shapes its fonts do not have.
    Shuffled, with the scan's record count of each file (`per_file`), the files are read all at once, a
    record from each in turn: read one after another, a shuffle buffer far smaller than a file would
    give batches of one file's kind of data at a time (a new shard's fonts, then the old shards').
    `random_canvases`: batches of one canvas width each (aocr/canvas.py), for a model with
    config.canvas_widths: each image's canvas chosen for it (canvas.random_canvas), and the images
    grouped by it after the shuffle, so each width gets its own batches.
    """
    encode_label = LabelEncoder(config)
    if shuffle and per_file and len(paths) > 1:
        offsets = [sum(per_file[:index]) for index in range(len(paths))]
        files = tf.data.Dataset.from_tensor_slices((paths, tf.constant(offsets, tf.int64)))
        records = files.interleave(
            lambda path, offset: tf.data.TFRecordDataset(path).enumerate(start=1).map(
                lambda number, record: (number + offset, record)),
            cycle_length=len(paths), block_length=1)
    else:
        records = tf.data.TFRecordDataset(paths).enumerate(start=1)
    if usable is not None:
        mask = tf.constant([False] + list(usable))
        records = records.filter(lambda number, record: tf.gather(mask, number))
    if shuffle:
        records = records.shuffle(shuffle_buffer, reshuffle_each_iteration=True)
    if repeat != 1:
        records = records.repeat(repeat)

    def parse(number, record):
        example = tf.io.parse_single_example(record, FEATURES)
        scale = 1.0
        if width_jitter:
            scale = tf.where(tf.random.uniform([]) < 0.5, tf.random.uniform([], *width_jitter), 1.0)
        image = preprocess(example["image"], config, scale)
        targets = encode_label(example["label"])
        if with_records and with_encoded:
            return image, targets, example["label"], number, example["image"]
        if with_records:
            return image, targets, example["label"], number
        return image, targets

    batches = records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    # A guard for what the scan cannot see (a file changed after the scan): skip, never stop training.
    batches = batches.ignore_errors(log_warning=True)
    if random_canvases:
        from ovconvert.aocr import canvas

        return canvas.batches_on_random_canvases(batches, config, batch_size, drop_remainder).prefetch(tf.data.AUTOTUNE)
    return batches.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------------------- annotation files

def read_annotations(path: str) -> list[tuple[int, str, str]]:
    """aocr's annotation file: `image-path label` per line, split at the first whitespace (labels may
    contain spaces). Relative image paths are relative to the annotation file. Returns (line, path, label)."""
    import posixpath

    if not tf.io.gfile.exists(path):
        raise UserError(f"{path}: no such annotation file")
    with tf.io.gfile.GFile(path, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    base = posixpath.dirname(path)
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2 or not parts[1].strip():
            raise UserError(f"{path}:{number}: expected 'IMAGE-PATH LABEL', got {line.strip()!r}")
        image_path, label = parts[0], parts[1].strip()
        if not (image_path.startswith("/") or "://" in image_path):
            image_path = posixpath.join(base, image_path) if base else image_path
        entries.append((number, image_path, label))
    if not entries:
        raise UserError(f"{path}: the annotation file is empty; add lines 'IMAGE-PATH LABEL'")
    return entries
