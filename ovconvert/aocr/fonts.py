"""Fonts for synthetic word images: every TrueType/OpenType font installed on the machine that has a
glyph for every character to render, split by family into a training group and a held-out group.

fontTools reads each font's character map (cmap); guessing coverage from rendered pixels would miss
fonts that draw a box for missing glyphs and keep symbol fonts (Dingbats maps Latin codes to pictures).
The split hashes the family name, so it is the same on every machine whatever else is installed, and a
held-out test set never shares a family with the training set.
"""

from __future__ import annotations

import fnmatch
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

from ovconvert.errors import UserError

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
FONT_SUFFIXES = (".ttf", ".otf")
HELD_OUT_BUCKETS = 5  # one family (or background photo, photos.py) in five is held out
# Families that map letters to pictures or are not meant for running text.
NOT_TEXT = ("*Symbol*", "D050000L", "*Dingbat*", "*Music*", "*Math*", "*Initials*", "*Keyboard*", "*Emoji*")


@dataclass(frozen=True)
class Font:
    path: str
    family: str
    style: str

    @property
    def held_out(self) -> bool:
        return held_out_by_name(self.family)


def held_out_by_name(name: str) -> bool:
    """The split between training and held-out material: a hash of the name, the same on every machine
    whatever else is installed (font families here, background photos in photos.py)."""
    return zlib.crc32(name.encode("utf-8")) % HELD_OUT_BUCKETS == 0


def design_of(family: str) -> str:
    """The design a family belongs to, for sampling weights: the first word of its name, so Tiresias
    Infofont and Tiresias Signfont, or Routed Gothic and Routed Gothic Narrow, count as one design.
    (Only the sampling uses it; the held-out split stays per family name.)"""
    words = family.split()
    return words[0].lower() if words else family


def by_design(found: list[Font]) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """Font paths grouped by design, then by family, both in name order (synth.SynthOptions.font_designs)."""
    designs: dict[str, dict[str, list[str]]] = {}
    for font in found:
        designs.setdefault(design_of(font.family), {}).setdefault(font.family, []).append(font.path)
    return tuple(tuple(tuple(paths) for _, paths in sorted(families.items()))
                 for _, families in sorted(designs.items()))


def _names(font) -> tuple[str, str]:
    table = font["name"]
    family = table.getDebugName(16) or table.getDebugName(1) or ""
    style = table.getDebugName(17) or table.getDebugName(2) or ""
    return family.strip(), style.strip()


def inspect(path: Path, characters: str) -> Font | None:
    """The font in `path` if it maps every one of `characters` and is meant for text, else None."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(str(path), lazy=True, fontNumber=0) as font:
            cmap = font.getBestCmap() or {}
            if any(ord(ch) not in cmap for ch in characters if not ch.isspace()):
                return None
            family, style = _names(font)
    except (TTLibError, OSError, KeyError, AssertionError):
        return None
    if not family or any(fnmatch.fnmatch(family, pattern) for pattern in NOT_TEXT):
        return None
    return Font(str(path), family, style)


def discover(characters: str, directories: list[str] | None = None, patterns: list[str] | None = None,
             held_out: bool | None = False) -> list[Font]:
    """Fonts under `directories` that cover `characters`; `patterns` (globs on the family name or file
    name) narrow the choice; `held_out` picks the group (None: both)."""
    # fontTools warns about harmless quirks of some packaged fonts ("1 extra bytes in post.stringData
    # array") on stderr, where they read like synth's own errors.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    roots = [Path(d).expanduser() for d in (directories or FONT_DIRS)]
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in FONT_SUFFIXES and path.is_file():
                font = inspect(path, characters)
                if font is not None:
                    found.append(font)
    if patterns:
        found = [f for f in found if any(fnmatch.fnmatch(f.family, p) or fnmatch.fnmatch(Path(f.path).name, p)
                                         for p in patterns)]
    if held_out is not None:
        found = [f for f in found if f.held_out == held_out]
    if not found:
        where = ", ".join(str(r) for r in roots)
        group = {True: " in the held-out group", False: " in the training group", None: ""}[held_out]
        raise UserError(f"no installed font{group} covers the characters to render (looked in {where}"
                        f"{'; patterns ' + ', '.join(patterns) if patterns else ''}); install fonts "
                        "(e.g. Debian fonts-dejavu-core) or pass --fonts-dir")
    return found
