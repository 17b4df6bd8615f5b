"""A second renderer for held-out sets: ImageMagick's `convert label:`.

Training data is drawn with Pillow (synth.py). A set drawn by another program — its own text layout,
kerning, antialiasing, noise, blur and rotation, and JPEG encoder — measures a model on word images made
by a tool it never saw, which is how users' images are made. `ovconvert aocr synth --renderer
imagemagick` uses it (Debian: `apt-get install imagemagick`); the word, font and colours come from the
same seeded draw as Pillow's samples, so only the rendering differs.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from ovconvert.errors import ToolError, UserError

PROGRAMS = ("magick", "convert-im6.q16", "convert")


def program() -> str:
    for name in PROGRAMS:
        found = shutil.which(name)
        if found:
            return found
    raise UserError("--renderer imagemagick needs ImageMagick; install it (apt-get install imagemagick) or use "
                    "--renderer pillow")


def _hex(colour: tuple) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in colour)


def render(drawn: str, font_path: str, rng: np.random.Generator, colours: tuple[tuple, tuple]) -> bytes:
    """The text `drawn` as an encoded image (PNG or JPEG bytes)."""
    text, background = (_hex(c) for c in colours)
    size = int(rng.integers(14, 56))
    command = [program(), "-background", background, "-fill", text, "-font", font_path, "-pointsize", str(size)]
    if rng.random() < 0.3:
        command += ["-kerning", f"{rng.uniform(-0.03, 0.25) * size:.1f}"]
    command += [f"label:{drawn}", "-bordercolor", background,
                "-border", f"{int(rng.uniform(0, 0.5) * size)}x{int(rng.uniform(0, 0.3) * size)}"]
    if rng.random() < 0.5:
        command += ["-seed", str(int(rng.integers(1 << 30))), "-attenuate", f"{rng.uniform(0.2, 1.0):.2f}",
                    "+noise", "Gaussian"]
    if rng.random() < 0.4:
        command += ["-background", background, "-rotate", f"{rng.normal(0, 1.5):.2f}"]
    if rng.random() < 0.4:
        command += ["-blur", f"0x{rng.uniform(0.3, 1.2):.2f}"]
    if rng.random() < 0.25:
        factor = int(rng.uniform(35, 80))
        command += ["-resize", f"{factor}%", "-resize", f"{int(100 * 100 / factor)}%"]
    if rng.random() < 0.3:
        command += ["-colorspace", "Gray"]
    command += ["-alpha", "off", "-depth", "8"]  # 8-bit: 16-bit PNGs are not what people's tools write
    if rng.random() < 0.4:
        command += ["-quality", str(int(rng.integers(35, 96))), "jpg:-"]
    else:
        command += ["png:-"]
    done = subprocess.run(command, capture_output=True, timeout=60)
    if done.returncode != 0 or not done.stdout:
        raise ToolError(f"ImageMagick could not render {drawn!r} with {font_path}: "
                        f"{done.stderr.decode(errors='replace').strip()[:200]}")
    return done.stdout
