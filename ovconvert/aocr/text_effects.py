"""Text effects synth draws with the letters of a share of its words (synth --text-effects): what people
draw with text that no font and no background gives. The underline and the strike-through are rules drawn
with the letters (synth._draw_text); the outline and the shadow are layers grown from the letters here and
drawn under them (synth.render)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

# What is drawn with the letters, for the words that get an effect (SynthOptions.text_effects): an outline
# in a contrasting colour (captions, memes, signs: white or yellow letters edged in black), a drop shadow,
# an underline (links, documents) and a line struck through. The step-273532 model, trained without them,
# read 74.1% of 1000 held-out words and 57.8% of the same words drawn with them (outlined 55.5%, struck
# through 51.6%; benchmarks/aocr_text_effects.py, docs/aocr.md "Text effects"). Weights, in that order.
TEXT_EFFECTS = ("outline", "shadow", "underline", "strike")
TEXT_EFFECT_WEIGHTS = (0.4, 0.2, 0.25, 0.15)


def edged(mask: Image.Image, effect: str | None, size: int, rng: np.random.Generator) -> tuple:
    """(the text layer, the layer drawn under it or None): for an outline, the letters grown by a few
    pixels (the edge shows around them); for a shadow, the letters moved down and to one side, softened
    now and then. The text layer grows by the edge's reach on each side, so no edge is cut."""
    if effect not in ("outline", "shadow"):
        return mask, None
    reach = max(1, round(size * rng.uniform(0.04, 0.1 if effect == "outline" else 0.12)))
    grown = Image.new("L", (mask.width + 2 * reach, mask.height + 2 * reach), 0)
    grown.paste(mask, (reach, reach))
    if effect == "outline":
        return grown, grown.filter(ImageFilter.MaxFilter(2 * reach + 1))
    under = Image.new("L", grown.size, 0)
    under.paste(mask, (reach + int(rng.choice([-1, 1])) * reach, 2 * reach))
    if rng.random() < 0.4:
        under = under.filter(ImageFilter.GaussianBlur(reach / 2))
    return grown, under


def mean_colour(canvas: np.ndarray, weight: np.ndarray) -> tuple:
    """The colour under `weight` (an [H,W,1] layer), as the eye sees what an edge falls on."""
    total = max(float(weight.sum()), 1.0)
    return tuple(float((canvas[:, :, channel] * weight[:, :, 0]).sum()) / total for channel in range(3))


def colours(effect: str, text: tuple, background: tuple, rng: np.random.Generator) -> tuple:
    """(text colour, the edge's colour) for an outline or a shadow: an outline dark around light letters and
    light around dark ones, half the time as captions have it (white or yellow edged in black); a shadow
    darker than what it falls on, or lighter on a dark ground."""
    luminance = lambda colour: 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]  # noqa: E731
    dark = tuple(int(v) for v in rng.integers(0, 50, size=3))
    light = tuple(int(v) for v in rng.integers(205, 256, size=3))
    if effect == "outline":
        if rng.random() < 0.5:
            return ((255, 255, 255) if rng.random() < 0.5 else (255, int(rng.integers(200, 240)), 0)), dark
        return text, (dark if luminance(text) >= 128 else light)
    return text, (dark if luminance(background) >= 100 else light)
