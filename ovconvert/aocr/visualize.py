"""`test --visualize`: what the decoder looked at. For each image, an animated GIF and a PNG strip with
one frame per predicted character (its attention over the image in red, the character and its
probability below), and an index.html listing image, truth, prediction and probability."""

from __future__ import annotations

import html
import os

import numpy as np
from PIL import Image, ImageDraw

SCALE = 3  # the 32-pixel-high model input is small; draw it three times larger


def _base_image(preprocessed: np.ndarray) -> np.ndarray:
    """The standardized model input back to 0-255 grey [H, W]."""
    grey = preprocessed.mean(axis=-1)
    low, high = float(grey.min()), float(grey.max())
    return ((grey - low) / max(high - low, 1e-6) * 255).astype(np.float32)


def frames(reading, config) -> list[Image.Image]:
    grey = _base_image(reading.image)
    height, width = grey.shape
    columns = reading.attention.shape[-1]
    text = reading.text
    steps = len(text) + 1  # the characters and the EOS step
    result = []
    for step in range(min(steps, reading.attention.shape[0])):
        weights = reading.attention[step]
        # Each encoder column covers width / columns pixels of the input.
        per_pixel = np.repeat(weights, int(np.ceil(width / columns)))[:width]
        heat = per_pixel / max(float(per_pixel.max()), 1e-6)
        rgb = np.stack([grey, grey, grey], axis=-1)
        rgb[:, :, 0] = np.clip(rgb[:, :, 0] * (1 - heat) + 255 * heat, 0, 255)
        rgb[:, :, 1] *= 1 - 0.6 * heat
        rgb[:, :, 2] *= 1 - 0.6 * heat
        picture = Image.fromarray(rgb.astype(np.uint8), "RGB").resize((width * SCALE, height * SCALE), Image.NEAREST)
        frame = Image.new("RGB", (picture.width, picture.height + 18), "white")
        frame.paste(picture, (0, 0))
        character = text[step] if step < len(text) else "<EOS>"
        probability = reading.char_probabilities[step] if step < len(reading.char_probabilities) else None
        caption = f"{step + 1}: {character}" + (f"  p={probability:.3f}" if probability is not None else "")
        ImageDraw.Draw(frame).text((4, picture.height + 3), caption, fill="black")
        result.append(frame)
    return result


def write(readings, config, output_dir: str) -> str:
    os.makedirs(output_dir, exist_ok=True)
    rows = []
    for reading in readings:
        stem = f"record-{reading.record:06d}"
        images = frames(reading, config)
        if images:
            images[0].save(os.path.join(output_dir, stem + ".gif"), save_all=True, append_images=images[1:],
                           duration=600, loop=0)
            strip = Image.new("RGB", (images[0].width, sum(i.height for i in images)), "white")
            top = 0
            for image in images:
                strip.paste(image, (0, top))
                top += image.height
            strip.save(os.path.join(output_dir, stem + ".png"))
        status = "ok" if reading.correct else "wrong"
        rows.append(f"<tr class='{status}'><td>{reading.record}</td><td><img src='{stem}.gif'></td>"
                    f"<td>{html.escape(reading.truth)}</td><td>{html.escape(reading.text)}</td>"
                    f"<td>{reading.probability:.4f}</td><td><a href='{stem}.png'>strip</a></td></tr>")
    correct = sum(r.correct for r in readings)
    page = ("<!doctype html><meta charset='utf-8'><title>aocr test</title>"
            "<style>td{padding:4px 10px;font-family:monospace}.wrong{background:#fdd}</style>"
            f"<h1>{correct} / {len(readings)} read correctly</h1><table>"
            "<tr><th>record</th><th>attention</th><th>truth</th><th>prediction</th><th>probability</th><th></th></tr>"
            + "".join(rows) + "</table>\n")
    index = os.path.join(output_dir, "index.html")
    with open(index + ".partial", "w", encoding="utf-8") as handle:
        handle.write(page)
    os.replace(index + ".partial", index)
    return index
