"""Word images for validating OCR models: dark text on a light background, rendered with a real font.

DejaVu Sans (Debian's fonts-dejavu-core) when installed; otherwise Pillow's built-in scalable font, so
validation never depends on the machine's fonts.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SAMPLE_WORDS = ("OPENVINO", "TENSOR", "2024", "MODEL", "CONVERT", "GRAPH", "FROZEN", "AOCR", "VALID", "IR42")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def font(size: int) -> ImageFont.FreeTypeFont:
    if DEJAVU.is_file():
        return ImageFont.truetype(str(DEJAVU), size)
    return ImageFont.load_default(size=size)


def render(text: str, height: int = 48) -> Image.Image:
    face = font(int(height * 0.7))
    left, top, right, bottom = face.getbbox(text)
    image = Image.new("L", (right - left + height // 2, height), color=235)
    ImageDraw.Draw(image).text((height // 4 - left, (height - (bottom - top)) // 2 - top), text, fill=20, font=face)
    return image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image)
