"""Real photos for validation: the 26 sample images that ship inside the scikit-image wheel, or files;
and `upright`, which every reader of a user's image file (validation, `ovconvert predict`, aocr's
readable_image) uses to turn a photo as its EXIF orientation says.

scikit-image is found without importing it (its import is slow and nothing of it is needed but data).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

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


def upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation tag tells viewers to turn it (itself when it has none).

    Phones store a photo taken upright on its side or upside down and tag it (orientation 2–8);
    TensorFlow's decoders ignore the tag, so a word photographed upright reached the model on its side
    (and read "J"), and boxes came back in coordinates the user never sees. A malformed EXIF block
    (PIL raises many types for one) leaves the pixels as stored."""
    try:
        orientation = image.getexif().get(0x0112, 1)  # 0x0112: Orientation
    except Exception:
        return image
    return ImageOps.exif_transpose(image) if orientation in range(2, 9) else image


def load_rgb(path: Path) -> np.ndarray:
    """The photo's pixels, upright as viewers show it."""
    try:
        with Image.open(path) as image:
            return np.asarray(upright(image).convert("RGB"))
    except (OSError, ValueError) as error:
        raise UserError(f"validation image {path} cannot be read ({error}); give a PNG or JPEG file") from None


def load_images(sources: tuple[str, ...], count: int) -> list[tuple[str, np.ndarray]]:
    """`skimage` (all sample photos), `skimage:chelsea,coffee` (some of them), or file paths; first `count`.
    `crops:SOURCE` gives `count` random crops of SOURCE's photos instead (calibration data)."""
    crops = [source for source in sources if source.startswith("crops:")]
    if crops:
        photos = load_images(tuple(source[6:] for source in crops), 10**6)
        plain = load_images(tuple(source for source in sources if source not in crops), count)
        return (plain + random_crops(photos, count))[:count]
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


def random_crops(photos: list[tuple[str, np.ndarray]], count: int, seed: int = 20240) -> list[tuple[str, np.ndarray]]:
    """`count` crops of the photos, each from a random place, 20–60% of the photo's area, aspect 3:4 to
    4:3, mirrored half the time: inputs of the photos' kind that are not the centred views validation
    uses. Seeded, so a calibration is repeatable."""
    rng = np.random.default_rng(seed)
    crops = []
    for index in range(count):
        name, rgb = photos[index % len(photos)]
        height, width = rgb.shape[:2]
        area = rng.uniform(0.2, 0.6) * height * width
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        crop_h = int(min(height, max(8, round(np.sqrt(area / aspect)))))
        crop_w = int(min(width, max(8, round(np.sqrt(area * aspect)))))
        top, left = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
        crop = rgb[top:top + crop_h, left:left + crop_w]
        crops.append((f"{name}-crop{index}", np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)))
    return crops
