"""Real photos for validation: the 26 sample images that ship inside the scikit-image wheel, or files.

scikit-image is found without importing it (its import is slow and nothing of it is needed but data).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from ovconvert.errors import UserError

# Natural photos first, so that `count: N` picks the most ImageNet-like ones.
SKIMAGE_ORDER = (
    "chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png",
    "motorcycle_right.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "color.png", "camera.png",
    "coins.png", "moon.png", "page.png", "text.png", "brick.png", "grass.png", "gravel.png", "cell.png",
    "clock_motion.png", "phantom.png", "logo.png", "chessboard_RGB.png", "chessboard_GRAY.png",
    "microaneurysms.png",
)


def skimage_data_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("scikit-image is not installed; it provides the validation photos (pip install scikit-image)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def load_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise UserError(f"validation image {path} cannot be read ({error}); give a PNG or JPEG file") from None


def load_images(sources: tuple[str, ...], count: int) -> list[tuple[str, np.ndarray]]:
    """`skimage` (all sample photos), `skimage:chelsea,coffee` (some of them), or file paths; first `count`."""
    paths: list[Path] = []
    for source in sources:
        if source == "skimage" or source.startswith("skimage:"):
            data = skimage_data_dir()
            names = SKIMAGE_ORDER if source == "skimage" else [
                next((n for n in SKIMAGE_ORDER if Path(n).stem == stem), stem) for stem in source[8:].split(",")]
            for name in names:
                if not (data / name).is_file():
                    raise UserError(f"validate.images: scikit-image has no sample image {name!r}")
                paths.append(data / name)
        else:
            paths.append(Path(source))
    return [(path.stem, load_rgb(path)) for path in paths[:count]]
