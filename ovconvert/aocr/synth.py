"""`ovconvert aocr synth N OUT.tfrecords`: labelled word images rendered offline, the same for the same
--seed on any machine with the same fonts and word list.

Each sample draws (from its own random generator, seeded by (seed, index), so parallel workers give the
same file): a word (Debian's wamerican list by default, or random letter/digit strings), its case (the
label is upper-cased when the model is), a font, a size, letter spacing, margins, text and background
colours (sometimes light on dark, sometimes a gradient), a slant and a small rotation, blur, noise, a
lower resolution and JPEG or PNG encoding. The aim is variety: the model is judged on word images made
by other people with other tools.
"""

from __future__ import annotations

import io
import logging
import string
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

log = logging.getLogger("ovconvert.aocr")

WORD_LISTS = ("/usr/share/dict/words", "/usr/share/dict/american-english")


@dataclass(frozen=True)
class SynthOptions:
    charset: str
    max_length: int = 8
    force_uppercase: bool = True
    seed: int = 0
    font_paths: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    random_string_share: float = 0.3


def load_words(path: str | None, charset: str, max_length: int, force_uppercase: bool) -> tuple[str, ...]:
    """Words whose characters (after upper-casing, when the model does) are all in the charset."""
    candidates = [path] if path else [p for p in WORD_LISTS]
    for candidate in candidates:
        try:
            with open(candidate, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().split()
        except OSError:
            if path:
                from ovconvert.errors import UserError
                raise UserError(f"--words {path}: cannot read the word list; give a text file, one word a line")
            continue
        usable = sorted({w for w in lines if 0 < len(w) <= max_length and
                         all(ch in charset for ch in (w.upper() if force_uppercase else w))})
        if usable:
            return tuple(usable)
    return ()  # no word list: random strings only


def _random_string(rng: np.random.Generator, charset: str, max_length: int) -> str:
    length = int(rng.integers(1, max_length + 1))
    digits = [ch for ch in charset if ch.isdigit()]
    if digits and rng.random() < 0.4:  # numbers: years, prices, codes
        return "".join(rng.choice(digits, size=length))
    return "".join(rng.choice(list(charset), size=length))


def _case_variants(word: str, rng: np.random.Generator, force_uppercase: bool) -> tuple[str, str]:
    """(text to draw, label)."""
    if not force_uppercase:
        return word, word
    choice = rng.random()
    drawn = word.lower() if choice < 0.35 else word.capitalize() if choice < 0.55 else word.upper()
    return drawn, word.upper()


def _colours(rng: np.random.Generator) -> tuple[tuple, tuple]:
    """(text colour, background colour) far enough apart in luminance to read."""
    while True:
        background = tuple(int(v) for v in rng.integers(0, 256, size=3))
        if rng.random() < 0.6:  # mostly greyish paper
            grey = int(rng.integers(150, 256))
            background = tuple(int(np.clip(grey + rng.integers(-15, 16), 0, 255)) for _ in range(3))
        text = tuple(int(v) for v in rng.integers(0, 256, size=3))
        if rng.random() < 0.6:
            grey = int(rng.integers(0, 90))
            text = tuple(int(np.clip(grey + rng.integers(-20, 21), 0, 255)) for _ in range(3))
        if rng.random() < 0.15:
            text, background = background, text
        luminance = lambda c: 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]  # noqa: E731
        if abs(luminance(text) - luminance(background)) >= 70:
            return text, background


def _draw_text(text: str, font: ImageFont.FreeTypeFont, tracking: float, rng: np.random.Generator,
               size: int) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The text as a mask (L image, 255 = ink) with margins around it."""
    advances = [font.getlength(ch) for ch in text]
    width = int(sum(advances) + tracking * max(len(text) - 1, 0)) + 1
    ascent, descent = font.getmetrics()
    margin_x = [int(rng.uniform(0.0, 0.6) * size) + 2 for _ in range(2)]
    margin_y = [int(rng.uniform(0.0, 0.35) * size) + 1 for _ in range(2)]
    mask = Image.new("L", (max(width, 1) + sum(margin_x), ascent + descent + sum(margin_y)), 0)
    draw = ImageDraw.Draw(mask)
    if tracking == 0:
        draw.text((margin_x[0], margin_y[0]), text, fill=255, font=font)
    else:
        x = float(margin_x[0])
        for ch, advance in zip(text, advances):
            draw.text((x, margin_y[0]), ch, fill=255, font=font)
            x += advance + tracking
    return mask, (margin_x[0], margin_y[0], margin_x[1], margin_y[1])


def _background(size: tuple[int, int], colour: tuple, rng: np.random.Generator) -> np.ndarray:
    width, height = size
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = colour
    if rng.random() < 0.3:  # a soft gradient, as in photographed or scanned text
        direction = rng.uniform(-40, 40, size=3)
        ramp = np.linspace(-0.5, 0.5, width, dtype=np.float32)[np.newaxis, :, np.newaxis]
        canvas += ramp * direction
    return canvas


def render(word: str, font_path: str, rng: np.random.Generator, force_uppercase: bool = True) -> tuple[bytes, str]:
    """One sample: (encoded image bytes, label)."""
    drawn, label = _case_variants(word, rng, force_uppercase)
    size = int(rng.integers(16, 60))
    font = ImageFont.truetype(font_path, size)
    tracking = 0.0 if rng.random() < 0.7 else float(rng.uniform(-0.04, 0.3)) * size
    mask, _ = _draw_text(drawn, font, tracking, rng, size)

    slant = float(rng.normal(0, 0.12)) if rng.random() < 0.5 else 0.0
    if slant:
        shift = abs(slant) * mask.height
        new_width = int(mask.width + shift)
        offset = -shift if slant > 0 else 0
        mask = mask.transform((new_width, mask.height), Image.AFFINE, (1, slant, offset, 0, 1, 0),
                              resample=Image.BILINEAR)
    if rng.random() < 0.5:
        mask = mask.rotate(float(rng.normal(0, 1.5)), resample=Image.BILINEAR, expand=True)

    text_colour, background_colour = _colours(rng)
    canvas = _background(mask.size, background_colour, rng)
    alpha = np.asarray(mask, dtype=np.float32)[:, :, np.newaxis] / 255.0
    canvas = canvas * (1 - alpha) + np.asarray(text_colour, dtype=np.float32) * alpha
    if rng.random() < 0.5:
        canvas += rng.normal(0, rng.uniform(2, 14), size=canvas.shape).astype(np.float32)
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.3))))
    if rng.random() < 0.25:  # low resolution, scaled back up as a viewer would
        factor = float(rng.uniform(0.4, 0.8))
        small = image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))), Image.BILINEAR)
        image = small.resize(image.size, Image.BILINEAR)
    if rng.random() < 0.3:
        image = image.convert("L")
    buffer = io.BytesIO()
    if rng.random() < 0.4:
        image.convert("RGB").save(buffer, format="JPEG", quality=int(rng.integers(35, 96)))
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), label


def sample(index: int, options: SynthOptions) -> tuple[bytes, str, str]:
    """Sample `index` of the set: (image bytes, label, comment naming font and index)."""
    rng = np.random.default_rng([options.seed, index])
    if options.words and rng.random() >= options.random_string_share:
        word = str(options.words[int(rng.integers(len(options.words)))])
    else:
        word = _random_string(rng, options.charset, options.max_length)
    font_path = options.font_paths[int(rng.integers(len(options.font_paths)))]
    image, label = render(word, font_path, rng, options.force_uppercase)
    return image, label, f"synth seed={options.seed} index={index} font={font_path.rsplit('/', 1)[-1]}"


def _chunk(args):
    start, stop, options = args
    return [sample(i, options) for i in range(start, stop)]


def generate(count: int, options: SynthOptions, jobs: int = 1, chunk: int = 256):
    """Yield (image, label, comment) for indices 0..count-1, in order, rendered by `jobs` processes."""
    chunks = [(start, min(start + chunk, count), options) for start in range(0, count, chunk)]
    if jobs <= 1:
        for item in chunks:
            yield from _chunk(item)
        return
    with get_context("spawn").Pool(jobs) as pool:
        for rendered in pool.imap(_chunk, chunks):
            yield from rendered


def rendering_characters(charset: str, force_uppercase: bool) -> str:
    """What fonts must cover: with upper-cased labels, words are also drawn in lower case."""
    if force_uppercase:
        return "".join(sorted(set(charset) | {ch.lower() for ch in charset if ch in string.ascii_uppercase}))
    return charset


def describe(options: SynthOptions) -> str:
    families = sorted({path.rsplit("/", 1)[-1] for path in options.font_paths})
    return (f"{len(options.font_paths)} fonts ({', '.join(families[:6])}{', …' if len(families) > 6 else ''}), "
            f"{len(options.words)} words, seed {options.seed}")


