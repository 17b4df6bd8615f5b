"""Photographs to draw words on (synth's `photo` background kind): desktop wallpapers from Debian packages
(`make aocr-fonts` installs mate-backgrounds, gnome-backgrounds, desktop-base, ukui-wallpapers and
lomiri-wallpapers-16.04 and -20.04: 78 files, 64 for training), cropped at random. Most of the first three's
are abstract art; the last three's are photographs (a bridge, a city street, dunes, water, leaves, a wine
glass), which is what words in the wild sit on.

Words in the wild sit on brick, water, foliage, signs and screens; generated noise and gradients never
teach a model what a photo's edges and clutter look like. Measured before this kind existed, the bundled
model read 23% of words a third-party generator (TextRecognitionDataGenerator) drew on its photos and
85% of those it drew on plain and noisy backgrounds.

The photos split into a training group and a held-out group by a hash of the file name, as font
families do (fonts.py), so a held-out set can measure photos training never saw.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from ovconvert.aocr.fonts import held_out_by_name

PHOTO_DIRS = ("/usr/share/backgrounds", "/usr/share/images/desktop-base")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Wallpapers are 1–6k pixels across; a word is at most a few hundred. Loading them at most this size
# keeps a rendering process's cache small (tens of MB) and still leaves crops at many scales.
LONGEST_SIDE = 1280
SMALLEST_SIDE = 200  # icons and thumbnails are not backgrounds


def held_out(path: str) -> bool:
    return held_out_by_name(Path(path).name)  # by file name, as fonts are split by family name


def discover(dirs=None, held_out_group: bool | None = False) -> tuple[str, ...]:
    """Photo files under `dirs` (default PHOTO_DIRS) in name order; `held_out_group` picks the group
    (None: both). Unreadable and tiny images are left out."""
    found = []
    for directory in dirs or PHOTO_DIRS:
        root = Path(directory).expanduser()
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in PHOTO_SUFFIXES or not path.is_file():
                continue
            if held_out_group is not None and held_out(str(path)) != held_out_group:
                continue
            try:
                with Image.open(path) as image:
                    if min(image.size) < SMALLEST_SIDE:
                        continue
            except (OSError, ValueError):
                continue
            found.append(str(path))
    return tuple(found)


@functools.lru_cache(maxsize=64)
def _load(path: str) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = min(1.0, LONGEST_SIDE / max(image.size))
        if scale < 1.0:
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def crop(path: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random piece of the photo, float32 [height, width, 3], at a random scale: from about the photo's
    loaded size (fine texture under the word) to a piece a few times the word's size (whole objects)."""
    width, height = size
    photo = _load(path)
    photo_height, photo_width = photo.shape[:2]
    # The piece to cut, in photo pixels, before resizing to `size`: at least the word's size (or as
    # much as the photo has), at most the whole photo, with the word's aspect ratio.
    largest = min(photo_width / width, photo_height / height)
    zoom = float(np.exp(rng.uniform(np.log(min(0.5, largest)), np.log(max(min(4.0, largest), 0.5)))))
    piece_width = int(np.clip(round(width * zoom), 1, photo_width))
    piece_height = int(np.clip(round(height * zoom), 1, photo_height))
    left = int(rng.integers(0, photo_width - piece_width + 1))
    top = int(rng.integers(0, photo_height - piece_height + 1))
    piece = Image.fromarray(photo[top:top + piece_height, left:left + piece_width])
    if rng.random() < 0.5:
        piece = piece.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(piece.resize((width, height), Image.BILINEAR), dtype=np.float32)
