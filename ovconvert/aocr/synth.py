"""`ovconvert aocr synth N OUT.tfrecords`: labelled word images rendered offline, the same for the same
--seed on any machine with the same fonts and word list.

Each sample draws (from its own random generator, seeded by (seed, index), so parallel workers give the
same file): a word (Debian's wamerican list by default, two or three words run together for long ones,
or random letter/digit strings), its length (half the samples spread evenly over 1…max length, so that
long words are not rare), its case (the label is upper-cased when the model is), a font family and one
of its styles, a size, letter spacing, a tight or loose crop, text colour and a background of one kind
(plain, gradient, noise, texture, a photo (photos.py), lines), a slant, a rotation (mostly small), a warp
(jagged or wavy, now and then), blur, a lower resolution and JPEG or PNG encoding; and, for a share of the
words (--text-effects), an outline, a drop shadow, an underline or a line struck through. The aim is
variety: the model is judged on word images made by other people with other tools. Whole background kinds
can be kept out of training (BACKGROUNDS_HELD_OUT), as whole font families are (fonts.py) and one photo in
five (photos.py), so that held-out sets measure what the model never saw.
"""

from __future__ import annotations

import io
import logging
import string
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ovconvert.aocr import text_effects
from ovconvert.aocr.config import IMAGE_HEIGHT

log = logging.getLogger("ovconvert.aocr")

WORD_LISTS = ("/usr/share/dict/words", "/usr/share/dict/american-english")
BACKGROUNDS = ("plain", "gradient", "noise", "texture", "photo", "lines")
# Ruled lines and stripes crossing the text: never in training data, so a held-out set measures them.
BACKGROUNDS_HELD_OUT = ("lines",)
BACKGROUNDS_TRAINING = tuple(b for b in BACKGROUNDS if b not in BACKGROUNDS_HELD_OUT)
# The faintest text kept on a photo, in luminance levels (of 255) between the ink and what lies under it
# (_readable_on). trdg draws dark grey ink on its photos whatever lies under it, and the bundled model,
# trained down to 30 levels, read 29.9% of 535 such words once (docs/aocr.md).
FAINTEST_ON_PHOTO = 12
# Share of line-box crops (_draw_text) cut across at the pen's box, from where the pen starts to where it
# ends: trdg and other layout-driven tools crop so, and an italic's last letter, which leans past the pen's
# end, loses its tip ("reendowed" then ends in what looks like an "a"; docs/aocr.md). The label keeps the
# whole letter, as theirs does.
PEN_BOX_SHARE = 0.5
# Share of words whose text layer is warped (_warp), as trdg's --distorsion does: its random kind, each
# column or row of the word moved by its own few pixels, made jagged words that the step-119661 model
# read 44% of (its sine waves 91%, against 94% undistorted; docs/aocr.md). A tenth of the words (5% of
# the records of the first stage trained so) moved that to 48%; a quarter (the bundled step-159815 model's
# last stage) left it there.
WARP_SHARE = 0.25
# The strongest rotation (degrees) and blur (Gaussian radius in the model's pixels) drawn, each for one in
# seven of the words rotated or blurred at all: trdg's `-k 12 -rk` and `-bl 2` (docs/aocr.md).
MAX_ROTATION = 12.0
MAX_BLUR = 2.2


@dataclass(frozen=True)
class SynthOptions:
    charset: str
    max_length: int = 8
    force_uppercase: bool = True
    seed: int = 0
    font_paths: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    random_string_share: float = 0.3
    # Font files grouped by design, then by family (fonts.design_of): a design is drawn first, then one
    # of its families, then one of its styles. So a family with twenty styles is not twenty times as
    # common as one with a single file, and a design sold as eight families (Tiresias Infofont,
    # Signfont, …) not eight times as common as one sold as one. Empty: font_paths alone.
    font_designs: tuple[tuple[tuple[str, ...], ...], ...] = ()
    backgrounds: tuple[str, ...] = BACKGROUNDS_TRAINING
    photo_paths: tuple[str, ...] = ()  # for the `photo` kind (photos.discover)
    # Share of samples whose length is drawn evenly from 1…max_length (the rest follow the word list).
    even_lengths: float = 0.5
    # "pillow" (training data) or "imagemagick" (a renderer training never saw: synth_imagemagick.py).
    renderer: str = "pillow"
    # Share of words drawn with one of text_effects.TEXT_EFFECTS. Drawn from a generator of its own, so a set drawn with
    # the same seed and no effects has the same words, fonts and backgrounds image for image (and sets
    # drawn before effects existed are drawn as they were).
    text_effects: float = 0.0


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


def _random_string(rng: np.random.Generator, charset: str, length: int) -> str:
    digits = [ch for ch in charset if ch.isdigit()]
    if digits and rng.random() < 0.4:  # numbers: years, prices, codes
        return "".join(rng.choice(digits, size=length))
    if digits and rng.random() < 0.3:  # codes: letters then digits, as on labels and plates
        cut = int(rng.integers(0, length + 1))
        letters = [ch for ch in charset if not ch.isdigit()]
        return "".join(rng.choice(letters, size=cut)) + "".join(rng.choice(digits, size=length - cut))
    return "".join(rng.choice(list(charset), size=length))


def _word_of_length(rng: np.random.Generator, words: tuple[str, ...], by_length: dict, length: int) -> str:
    """A dictionary word of exactly `length` characters, or words run together to make one (compound
    words, hashtags, identifiers); cut to length if the last word overshoots by a little."""
    if length in by_length and rng.random() < 0.8:
        candidates = by_length[length]
        return candidates[int(rng.integers(len(candidates)))]
    text = ""
    while len(text) < length:
        remaining = length - len(text)
        usable = [n for n in by_length if n <= remaining]
        size = int(rng.choice(usable)) if usable else min(by_length)
        part = by_length[size][int(rng.integers(len(by_length[size])))]
        text += part.capitalize() if text and rng.random() < 0.5 else part
    return text[:length]


def choose_text(rng: np.random.Generator, options: SynthOptions) -> str:
    """The word of one sample (before its case is chosen)."""
    if rng.random() < options.even_lengths:
        length = int(rng.integers(1, options.max_length + 1))
    elif options.words:
        word = str(options.words[int(rng.integers(len(options.words)))])
        length = len(word)
        if rng.random() >= options.random_string_share:
            return word
    else:
        length = int(rng.integers(1, min(options.max_length, 10) + 1))
    if options.words and rng.random() >= options.random_string_share:
        return _word_of_length(rng, options.words, _words_by_length(options.words), length)
    return _random_string(rng, options.charset, length)


_BY_LENGTH_CACHE: dict = {}


def _words_by_length(words: tuple[str, ...]) -> dict[int, tuple[str, ...]]:
    key = id(words)
    if key not in _BY_LENGTH_CACHE:
        groups: dict[int, list[str]] = {}
        for word in words:
            groups.setdefault(len(word), []).append(word)
        _BY_LENGTH_CACHE.clear()
        _BY_LENGTH_CACHE[key] = {n: tuple(group) for n, group in groups.items()}
    return _BY_LENGTH_CACHE[key]


def _case_variants(word: str, rng: np.random.Generator, force_uppercase: bool) -> tuple[str, str]:
    """(text to draw, label)."""
    if not force_uppercase:
        return word, word
    choice = rng.random()
    # mostly lower case, as running text and most people's word images are (the line box, _draw_text)
    drawn = word.lower() if choice < 0.45 else word.capitalize() if choice < 0.7 else word.upper()
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
               size: int, line: str | None = None, line_rng: np.random.Generator | None = None) -> Image.Image:
    """The text as a mask (L image, 255 = ink) with margins around it: a loose crop (up to a text height
    around it), a usual one, a tight one (the ink box, sometimes a pixel into it, as a text detector's
    crop would be), or the font's line box (ascender to descender, whatever the letters reach), across
    either the ink or the pen's box (which cuts an italic's overhang, as trdg's crops do).

    The line box is how text generators and layout engines size a word (trdg, a browser's text box, a
    label printer): a lower-case word then fills half the height, and at the model's 32 pixels it is
    about 10 pixels a letter across. Cropped only around the ink, nine in ten training words were wider
    than that, and words drawn by such tools read worse and better stretched (docs/aocr.md).

    `line` ("underline" or "strike") draws a rule across the word with the letters, where a word
    processor or a browser puts it: a little below the baseline, or through the middle of the lower-case
    letters, its thickness and place drawn from `line_rng`; a crop then keeps it, as a crop of the real thing
    would."""
    advances = [font.getlength(ch) for ch in text]
    width = int(sum(advances) + tracking * max(len(text) - 1, 0)) + 1
    ascent, descent = font.getmetrics()
    pad = size  # room to draw in; the crop below decides the margins
    mask = Image.new("L", (max(width, 1) + 2 * pad, ascent + descent + 2 * pad), 0)
    draw = ImageDraw.Draw(mask)
    if tracking == 0:
        draw.text((pad, pad), text, fill=255, font=font)
    else:
        x = float(pad)
        for ch, advance in zip(text, advances):
            draw.text((x, pad), ch, fill=255, font=font)
            x += advance + tracking
    if line is not None:
        thickness = max(1, round(size * line_rng.uniform(0.04, 0.08)))
        ink = mask.getbbox() or (0, 0, mask.width, mask.height)
        if line == "underline":
            y = pad + ascent + max(1, round(descent * line_rng.uniform(0.2, 0.5)))
        else:  # through the x-height's middle (about a quarter of the ascent above the baseline)
            y = pad + ascent - round(ascent * line_rng.uniform(0.25, 0.35))
        draw.rectangle((ink[0], y, ink[2], y + thickness - 1), fill=255)
    box = mask.getbbox() or (0, 0, mask.width, mask.height)
    crop = rng.random()
    if crop < 0.35:  # the line box (drawn with its ascender line at y = pad), never cutting ink that leaves it
        line_top = pad - int(rng.uniform(0.0, 0.35) * size)
        line_bottom = pad + ascent + descent + int(rng.uniform(0.0, 0.35) * size)
        margins = [int(rng.uniform(0.0, 0.3) * size) + 1, max(0, box[1] - line_top),
                   int(rng.uniform(0.0, 0.3) * size) + 1, max(0, line_bottom - box[3])]
        if rng.random() < PEN_BOX_SHARE:  # across, the pen's box: the ink an italic's last letter leans past it is cut
            margins[0], margins[2] = box[0] - pad, pad + width - box[2]
    elif crop < 0.5:  # tight
        margins = [int(rng.integers(-1, 3)) for _ in range(4)]
    elif crop < 0.62:  # loose
        margins = [int(rng.uniform(0.2, 1.0) * size) for _ in range(2)] + \
                  [int(rng.uniform(0.1, 0.8) * size) for _ in range(2)]
        margins = [margins[0], margins[2], margins[1], margins[3]]
    else:
        margins = [int(rng.uniform(0.0, 0.5) * size) + 2, int(rng.uniform(0.0, 0.3) * size) + 1,
                   int(rng.uniform(0.0, 0.5) * size) + 2, int(rng.uniform(0.0, 0.3) * size) + 1]
    left, top = max(0, box[0] - margins[0]), max(0, box[1] - margins[1])
    right, bottom = min(mask.width, box[2] + margins[2]), min(mask.height, box[3] + margins[3])
    return mask.crop((left, top, max(right, left + 1), max(bottom, top + 1)))


def _warp(mask: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The text layer with its columns moved up and down, its rows left and right, or both: by a random
    amount each (jagged, as a bad scan or trdg's random distortion) or along a sine wave (text on a flag
    or a bent label). Amplitudes are in the model's pixels (the image is resized to IMAGE_HEIGHT high),
    so a word drawn large is warped as much as a small one; the layer grows by the amplitude on each
    side, so no ink is lost."""
    pixels = np.asarray(mask)
    height, width = pixels.shape
    scale = max(1.0, height / IMAGE_HEIGHT)
    jagged = rng.random() < 0.6
    amplitude = float(rng.uniform(0.5, 3.0) if jagged else rng.uniform(1.0, 3.0)) * scale
    pad = int(np.ceil(amplitude))
    axes = [(0,), (1,), (0, 1)][int(rng.integers(3))]  # 0: columns move vertically, 1: rows horizontally
    warped = np.pad(pixels, [(pad, pad) if 0 in axes else (0, 0), (pad, pad) if 1 in axes else (0, 0)])
    for axis in axes:
        count = warped.shape[1 - axis]  # one offset for each column (axis 0) or row (axis 1)
        if jagged:
            offsets = rng.integers(-round(amplitude), round(amplitude) + 1, size=count)
        else:
            period = float(rng.uniform(1.5, 5.0)) * height
            offsets = np.round(amplitude * np.sin(2 * np.pi * np.arange(count) / period + rng.uniform(0, 2 * np.pi)))
        positions = np.arange(warped.shape[axis])
        source = positions[:, np.newaxis] - offsets[np.newaxis, :].astype(int)  # [along axis, across]
        inside = (source >= 0) & (source < warped.shape[axis])
        source = np.clip(source, 0, warped.shape[axis] - 1)
        across = np.arange(count)[np.newaxis, :]
        moved = warped[source, across] if axis == 0 else warped.T[source, across].T
        warped = np.where(inside if axis == 0 else inside.T, moved, 0).astype(np.uint8)
    return Image.fromarray(warped, "L")


def _grain(rng: np.random.Generator, height: int, width: int, strength: float) -> np.ndarray:
    """Gaussian grain [height, width, 3] of standard deviation `strength`, drawn in the pixels the model
    sees (the image is resized to IMAGE_HEIGHT high, as blur is in render()): one value for each model
    pixel, so a word drawn large is as grainy as one drawn at 32 pixels, where the resize does not
    average the grain away. Grey (the same in every channel: paper, a sensor's luminance) half the time;
    per-channel noise loses a third of its strength in the model's grey pixels."""
    cell = max(1.0, height / IMAGE_HEIGHT)
    rows, columns = max(1, int(round(height / cell))), max(1, int(round(width / cell)))
    noise = rng.normal(0, strength, size=(rows, columns, 1 if rng.random() < 0.5 else 3)).astype(np.float32)
    ys = np.minimum((np.arange(height) / cell).astype(int), rows - 1)
    xs = np.minimum((np.arange(width) / cell).astype(int), columns - 1)
    return np.broadcast_to(noise[ys][:, xs], (height, width, 3))


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """Noise in [-1, 1] with features about `cell` pixels across (upsampled random values)."""
    small = rng.uniform(-1, 1, size=(max(2, int(height / cell) + 2), max(2, int(width / cell) + 2)))
    image = Image.fromarray(((small + 1) * 127.5).astype(np.uint8), "L").resize((width, height), Image.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 127.5 - 1


def _screen(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A fine periodic pattern in [-1, 1]: a printed halftone screen, a woven fabric, a monitor's
    mesh, moiré. Two to four gratings a few pixels apart at angles of their own, added up. Random
    noise has no period, and a model that only saw noise misread small words on such patterns."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    pitch = rng.uniform(2.5, 8.0)
    count = int(rng.integers(2, 5))
    pattern = np.zeros((height, width), dtype=np.float32)
    for angle in rng.uniform(0, np.pi, size=count):
        period = pitch * rng.uniform(0.8, 1.25)
        pattern += np.cos(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / period + rng.uniform(0, 2 * np.pi))
    return pattern / count


def _blocks(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Bricks, tiles, planks or a facade's windows: a grid of blocks, each its own shade, with joints
    between them (float32 [height, width, 3], to add to a canvas). Words in the wild sit on walls whose
    edges cross the letters at every scale, which noise and smooth photos never show; rows may be
    offset, as bricks are. The blocks are drawn as large as a few text heights and as small as a
    letter."""
    row = rng.uniform(0.25, 1.5) * height
    column = row * rng.uniform(0.6, 4.0)
    joint = rng.uniform(0.5, 0.15 * row + 1.0)
    offset = rng.uniform(0.3, 0.7) if rng.random() < 0.6 else 0.0  # bricks' running bond
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys += rng.uniform(0, row)
    xs += rng.uniform(0, column)
    rows = np.floor(ys / row)
    xs += (rows % 2) * offset * column
    columns = np.floor(xs / column)
    shade = rng.normal(0, rng.uniform(8, 40), size=(int(rows.max()) + 2, int(columns.max()) + 2, 3))
    shade[:] += rng.normal(0, 10, size=(1, 1, 3))  # the wall's own tint
    blocks = shade[rows.astype(int), columns.astype(int)].astype(np.float32)
    in_joint = (np.mod(ys, row) < joint) | (np.mod(xs, column) < joint)
    blocks[in_joint] = rng.uniform(-90, 90)  # mortar or grout: lighter or darker than the blocks
    return blocks


def _background(size: tuple[int, int], colour: tuple, rng: np.random.Generator, kind: str,
                photo_paths: tuple[str, ...] = ()) -> tuple[np.ndarray, str | None]:
    """(the canvas, float32 [height, width, 3]; the photo drawn on, for the `photo` kind)."""
    width, height = size
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = colour
    if kind == "photo":  # as is half the time (a sign, a wall); else washed toward the colour (a label, a poster)
        from ovconvert.aocr import photos

        photo = photo_paths[int(rng.integers(len(photo_paths)))]
        picture = photos.crop(photo, size, rng)
        wash = 0.0 if rng.random() < 0.5 else float(rng.uniform(0.2, 0.7))
        return picture * (1 - wash) + canvas * wash, photo
    elif kind == "gradient":  # as in photographed or scanned text
        direction = rng.uniform(-60, 60, size=3)
        angle = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = (np.cos(angle) * xs / max(width, 1) + np.sin(angle) * ys / max(height, 1)) - 0.5
        canvas += ramp[:, :, np.newaxis] * direction
    elif kind == "noise":
        canvas += _grain(rng, height, width, rng.uniform(4, 22))
        if rng.random() < 0.4:
            canvas += _screen(rng, height, width)[:, :, np.newaxis] * rng.uniform(10, 50)
    elif kind == "texture":  # paper, fabric, stone: noise at two scales, tinted; or a wall of blocks
        strength = rng.uniform(8, 35)
        texture = _smooth_noise(rng, height, width, rng.uniform(2, 12)) * 0.6 \
            + _smooth_noise(rng, height, width, rng.uniform(15, 60)) * 0.4
        tint = rng.uniform(0.6, 1.0, size=3)
        canvas += texture[:, :, np.newaxis] * strength * tint
        if rng.random() < 0.4:
            canvas += _blocks(rng, height, width)
    elif kind == "lines":  # ruled paper, stripes, table borders
        spacing = rng.uniform(4, 18)
        phase = rng.uniform(0, spacing)
        thickness = rng.uniform(0.6, 2.0)
        coordinate = np.arange(height if rng.random() < 0.7 else width, dtype=np.float32)
        on = (np.mod(coordinate + phase, spacing) < thickness).astype(np.float32)
        shade = rng.uniform(-70, 70)
        if len(coordinate) == height:
            canvas += on[:, np.newaxis, np.newaxis] * shade
        else:
            canvas += on[np.newaxis, :, np.newaxis] * shade
    return canvas, None


def _readable_on(canvas: np.ndarray, alpha: np.ndarray, text: tuple, rng: np.random.Generator) -> tuple:
    """`text`, or a near-black or near-white colour when `text` is too close in luminance to what lies
    under the ink (a photo's colours are not chosen against it, as _colours chooses a plain one). How
    close is too close is drawn per image, down to FAINTEST_ON_PHOTO levels: signs and posters in the
    wild are often dark grey on a dark wall, and a model that only ever saw clear contrast on photos
    reads those worst of all."""
    weights = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    under = float((canvas @ weights * alpha[:, :, 0]).sum() / max(float(alpha.sum()), 1.0))
    if abs(float(np.dot(text, weights)) - under) >= rng.uniform(FAINTEST_ON_PHOTO, 70):
        return text
    grey = int(rng.integers(0, 60)) if under >= 128 else int(rng.integers(200, 256))
    return (grey, grey, grey)


def render(word: str, font_path: str, rng: np.random.Generator, force_uppercase: bool = True,
           background: str = "plain", photo_paths: tuple[str, ...] = (),
           effect: str | None = None, effect_rng: np.random.Generator | None = None) -> tuple[bytes, str, str | None]:
    """One sample: (encoded image bytes, label, the photo drawn on or None). `effect` (text_effects.TEXT_EFFECTS)
    is drawn with `effect_rng`, so the rest of the image is what it would be without it."""
    drawn, label = _case_variants(word, rng, force_uppercase)
    size = int(rng.integers(12, 60))
    font = ImageFont.truetype(font_path, size)
    tracking = 0.0 if rng.random() < 0.7 else float(rng.uniform(-0.04, 0.3)) * size
    line = effect if effect in ("underline", "strike") else None
    mask = _draw_text(drawn, font, tracking, rng, size, line, effect_rng)

    slant = float(rng.normal(0, 0.12)) if rng.random() < 0.4 else 0.0
    if slant:
        shift = abs(slant) * mask.height
        new_width = int(mask.width + shift)
        offset = -shift if slant > 0 else 0
        mask = mask.transform((new_width, mask.height), Image.AFFINE, (1, slant, offset, 0, 1, 0),
                              resample=Image.BILINEAR)
    if rng.random() < 0.5:
        # Mostly a slight tilt; one in seven of these as far as trdg's `-k 12 -rk` skews (the step-119661
        # model read 66% of such words 32 pixels high, trained up to about 4 degrees).
        angle = rng.normal(0, 1.5) if rng.random() < 6 / 7 else rng.uniform(-MAX_ROTATION, MAX_ROTATION)
        mask = mask.rotate(float(angle), resample=Image.BILINEAR, expand=True)
    if rng.random() < WARP_SHARE:
        mask = _warp(mask, rng)
    mask, under = text_effects.edged(mask, effect, size, effect_rng)

    text_colour, background_colour = _colours(rng)
    canvas, photo = _background(mask.size, background_colour, rng, background, photo_paths)
    alpha = np.asarray(mask, dtype=np.float32)[:, :, np.newaxis] / 255.0
    if background == "photo":
        text_colour = _readable_on(canvas, alpha, text_colour, rng)
    if under is not None:
        edge = np.asarray(under, dtype=np.float32)[:, :, np.newaxis] / 255.0
        ground = text_effects.mean_colour(canvas, edge)
        text_colour, edge_colour = text_effects.colours(effect, text_colour, ground, effect_rng)
        if effect == "shadow":
            edge *= effect_rng.uniform(0.5, 1.0)
        canvas = canvas * (1 - edge) + np.asarray(edge_colour, dtype=np.float32) * edge
    canvas = canvas * (1 - alpha) + np.asarray(text_colour, dtype=np.float32) * alpha
    if background != "noise" and rng.random() < 0.3:
        canvas += _grain(rng, canvas.shape[0], canvas.shape[1], rng.uniform(2, 10))
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.4:
        # Blur as the model sees it: the image is resized to IMAGE_HEIGHT pixels high, so a radius
        # drawn in those pixels is scaled up for a large rendering. (Drawn in the rendering's own
        # pixels, a large word's blur shrank to nothing, and small blurred words were read worst.)
        # One in seven blurred as heavily as trdg's `-bl 2` at 32 pixels (46% of those read, trained up
        # to 1.4).
        radius = float(rng.uniform(0.3, 1.4) if rng.random() < 6 / 7 else rng.uniform(1.4, MAX_BLUR))
        radius *= max(1.0, image.height / IMAGE_HEIGHT)
        image = image.filter(ImageFilter.GaussianBlur(radius))
    if rng.random() < 0.25:  # low resolution, scaled back up as a viewer would
        factor = float(rng.uniform(0.35, 0.8))
        small = image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))), Image.BILINEAR)
        image = small.resize(image.size, Image.BILINEAR)
    if rng.random() < 0.3:
        image = image.convert("L")
    buffer = io.BytesIO()
    if rng.random() < 0.4:
        image.convert("RGB").save(buffer, format="JPEG", quality=int(rng.integers(35, 96)))
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), label, photo


def sample(index: int, options: SynthOptions) -> tuple[bytes, str, str]:
    """Sample `index` of the set: (image bytes, label, comment naming font, background and index)."""
    rng = np.random.default_rng([options.seed, index])
    word = choose_text(rng, options)
    if options.font_designs:
        design = options.font_designs[int(rng.integers(len(options.font_designs)))]
        family = design[int(rng.integers(len(design)))]
        font_path = family[int(rng.integers(len(family)))]
    else:
        font_path = options.font_paths[int(rng.integers(len(options.font_paths)))]
    background = options.backgrounds[int(rng.integers(len(options.backgrounds)))]
    if options.renderer == "imagemagick":
        from ovconvert.aocr import synth_imagemagick

        drawn, label = _case_variants(word, rng, options.force_uppercase)
        image = synth_imagemagick.render(drawn, font_path, rng, _colours(rng))
        return image, label, (f"synth seed={options.seed} index={index} font={font_path.rsplit('/', 1)[-1]} "
                              "renderer=imagemagick")
    effect_rng = np.random.default_rng([options.seed, index, 1])
    effect = None
    if effect_rng.random() < options.text_effects:
        effect = str(effect_rng.choice(text_effects.TEXT_EFFECTS, p=text_effects.TEXT_EFFECT_WEIGHTS))
    image, label, photo = render(word, font_path, rng, options.force_uppercase, background, options.photo_paths,
                                 effect, effect_rng)
    on_photo = f"photo={photo.rsplit('/', 1)[-1]} " if photo else ""
    with_effect = f" effect={effect}" if effect else ""
    return image, label, (f"synth seed={options.seed} index={index} font={font_path.rsplit('/', 1)[-1]} "
                          f"{on_photo}background={background}{with_effect}")


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
    files = sorted({path.rsplit("/", 1)[-1] for path in options.font_paths})
    families = (f" in {sum(len(d) for d in options.font_designs)} families of {len(options.font_designs)} designs"
                if options.font_designs else "")
    return (f"{len(options.font_paths)} fonts{families} ({', '.join(files[:6])}{', …' if len(files) > 6 else ''}), "
            f"{len(options.words)} words, backgrounds {', '.join(options.backgrounds)}"
            f"{f' ({len(options.photo_paths)} photos)' if 'photo' in options.backgrounds else ''}, lengths 1–"
            f"{options.max_length}, seed {options.seed}"
            f"{f', text effects on {options.text_effects:.0%} of the words' if options.text_effects else ''}")


