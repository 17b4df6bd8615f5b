"""Making TFRecord sets: `dataset` (aocr's annotation file → TFRecords) and `synth` (rendered words).

Both write through AtomicRecordWriter: an interrupted run leaves no TFRecords file behind.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

import tensorflow as tf

from ovconvert.aocr import data, records
from ovconvert.aocr.charset import Charset
from ovconvert.errors import UserError

log = logging.getLogger("ovconvert.aocr")


def build(annotations_path: str, output_path: str, characters: str, max_prediction: int, force_uppercase: bool,
          save_filename: bool = False, log_step: int = 500) -> dict:
    """Write every readable image of the annotation file with its label. Unreadable images are skipped
    and named; labels the model could not learn (too long, unknown characters) are written but reported
    with their line numbers, since the charset and --max-prediction are chosen again at training time."""
    entries = data.read_annotations(annotations_path)
    charset = Charset(characters)
    long_labels, unknown = [], defaultdict(list)
    unreadable = []
    written = 0
    with records.AtomicRecordWriter(output_path) as writer:
        for index, (line, image_path, label) in enumerate(entries, start=1):
            if not tf.io.gfile.exists(image_path):
                raise UserError(f"{annotations_path}:{line}: image {image_path} does not exist; fix the path "
                                "(relative paths are relative to the annotation file)")
            if tf.io.gfile.isdir(image_path):
                raise UserError(f"{annotations_path}:{line}: {image_path} is a directory, not an image; fix the "
                                "line (IMAGE-PATH LABEL)")
            with tf.io.gfile.GFile(image_path, "rb") as handle:
                encoded = handle.read()
            encoded = data.readable_image(encoded)  # TIFF, WebP, …: stored as PNG, which training decodes
            if encoded is None:
                unreadable.append(line)
                log.warning("%s:%d: %s is not a readable image; skipped", annotations_path, line, image_path)
                continue
            checked = label.upper() if force_uppercase else label
            if len(checked) > max_prediction:
                long_labels.append(line)
            for ch in charset.unknown_characters(checked):
                unknown[ch].append(line)
            writer.write(records.example_bytes(encoded, label, image_path if save_filename else ""))
            written += 1
            if log_step and index % log_step == 0:
                log.info("%d / %d images", index, len(entries))
    if long_labels:
        log.warning("%d labels are longer than --max-prediction %d: lines %s", len(long_labels), max_prediction,
                    _lines(long_labels))
    for ch, lines in sorted(unknown.items()):
        log.warning("character %r is outside the charset in %d labels: lines %s", ch, len(lines), _lines(lines))
    log.info("%s: %d images written, %d unreadable skipped", output_path, written, len(unreadable))
    return {"output": output_path, "written": written, "unreadable": len(unreadable),
            "long_labels": len(long_labels), "unknown_characters": {ch: len(v) for ch, v in unknown.items()}}


def _lines(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers[:20]) + (f", … ({len(numbers) - 20} more)" if len(numbers) > 20 else "")


def synthesize(count: int, output_path: str, characters: str, max_prediction: int, force_uppercase: bool,
               seed: int = 0, held_out: bool | None = False, font_patterns=None, font_dirs=None,
               words_path: str | None = None, random_share: float = 0.3, jobs: int = 1,
               backgrounds: tuple[str, ...] | None = None, renderer: str = "pillow", photo_dirs=None,
               text_effects: float = 0.0) -> dict:
    """Render `count` word images into TFRecords. `backgrounds` defaults to the training kinds, or to
    every kind for a held-out set (so that it also measures the kinds training never saw); the `photo`
    kind draws on the photos of `photo_dirs` in the same group (training or held-out) as the fonts."""
    from ovconvert.aocr import fonts, photos, synth

    if count < 1:
        raise UserError(f"synth: N must be at least 1, got {count}")
    if not 0.0 <= text_effects <= 1.0:
        raise UserError(f"--text-effects {text_effects}: expected a share from 0 to 1 (e.g. 0.3)")
    if text_effects and renderer != "pillow":
        raise UserError(f"--text-effects: the {renderer} renderer draws no effects; drop --text-effects or "
                        "use --renderer pillow")
    chosen = backgrounds is not None
    if backgrounds is None:
        backgrounds = synth.BACKGROUNDS if held_out else synth.BACKGROUNDS_TRAINING
    unknown = [b for b in backgrounds if b not in synth.BACKGROUNDS]
    if unknown or not backgrounds:
        raise UserError(f"--backgrounds {','.join(backgrounds)}: expected kinds from {', '.join(synth.BACKGROUNDS)}")
    photo_paths = photos.discover(photo_dirs, held_out) if "photo" in backgrounds else ()
    if "photo" in backgrounds and not photo_paths:
        where = ", ".join(photo_dirs or photos.PHOTO_DIRS)
        if chosen or photo_dirs:
            raise UserError(f"--backgrounds photo: no photos (.jpg, .png, .webp) in {where}; install some "
                            "(make aocr-fonts, as root) or give --photos-dir DIR")
        log.warning("no background photos in %s (make aocr-fonts installs some): the photo kind is left out", where)
        backgrounds = tuple(b for b in backgrounds if b != "photo")
    found = fonts.discover(synth.rendering_characters(characters, force_uppercase), font_dirs, font_patterns,
                           held_out)
    words = synth.load_words(words_path, characters, max_prediction, force_uppercase)
    options = synth.SynthOptions(characters, max_prediction, force_uppercase, seed, tuple(f.path for f in found),
                                 words, random_share if words else 1.0,
                                 fonts.by_design(found), tuple(backgrounds), photo_paths,
                                 renderer=renderer, text_effects=text_effects)
    if renderer == "imagemagick":
        from ovconvert.aocr import synth_imagemagick

        synth_imagemagick.program()  # fails now, with the fix, if ImageMagick is missing
    log.info("rendering %d images: %s", count, synth.describe(options))
    started = time.monotonic()
    with records.AtomicRecordWriter(output_path) as writer:
        for image, label, comment in synth.generate(count, options, jobs):
            writer.write(records.example_bytes(image, label, comment))
    seconds = time.monotonic() - started
    return {"output": output_path, "images": count, "seconds": round(seconds, 1),
            "fonts": sorted({f.family for f in found}), "words": len(words), "seed": seed,
            "backgrounds": list(backgrounds), "photos": len(photo_paths), "renderer": renderer,
            "text_effects": text_effects}
