"""Google Fonts for synthetic word images, fetched from the npm registry's Fontsource packages.

Debian packages about 220 Latin font families that are not clones of one another (the Makefile's list);
Google Fonts has about 1,500, and the npm registry, which this project's machines reach, carries every one
as a Fontsource package (`@fontsource/<family>`: each weight and style as WOFF and WOFF2, per script). The
family list and each family's category come from the `google-fonts-complete` package. For each family
this fetches the package, checks it against the registry's SHA-512, and writes up to three Latin faces
(regular, bold, italic) as TrueType files, which fonts.discover and synth read like any installed font:
`ovconvert aocr synth … --fonts-dir DIR`.

The held-out split is fonts.py's, by the family name inside the font, so a fifth of these families never
reach training either. What a name hash cannot see is one design under two names, and those are left out
(Exclusions, asked of Google's name for a family and of the name inside each of its faces):
- a family whose design (fonts.design_of, the first word of its name) is held out among the fonts
  installed here, from training: `Averia Libre` in training would flatter the held-out sets' `Averia GWF`;
  and from the held-out group, a family whose design is in training (a Noto script's Latin letters are
  Noto Sans's);
- SAME_DESIGN_AS_HELD_OUT, clones under unrelated names (Tinos is Liberation Serif's design);
- TRDG_FONTS: the third-party generator whose words stand in for users' images (docs/aocr.md) draws
  with these, so training on them would flatter that measurement;
- NOT_TEXT: barcodes, redaction blocks, icons and other families that map letters to pictures;
- families whose letters render as nothing, or as the same picture (colour-only and symbol fonts).
"""

from __future__ import annotations

import base64
import concurrent.futures
import fnmatch
import hashlib
import io
import json
import logging
import os
import tarfile
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from ovconvert.aocr import fonts
from ovconvert.errors import ToolError, UserError

log = logging.getLogger("ovconvert.aocr")

REGISTRY = "https://registry.npmjs.org"
FAMILY_LIST = ("google-fonts-complete", "2.2.3")  # package and version holding google-fonts.json
FACES = (("400", "normal"), ("700", "normal"), ("400", "italic"))  # regular, bold, italic, where they exist
SAME_DESIGN_AS_HELD_OUT = ("Tinos",  # Liberation Serif's design, and Times's (Nimbus Roman, held out)
                           "Overpass", "Overpass Mono",  # Highway Gothic, as Roadgeek 2014 (held out)
                           "Oxygen", "Oxygen Mono")  # Oxygen-Sans (held out)
TRDG_FONTS = ("Amatic SC", "Pacifico", "Raleway", "Lato", "Open Sans", "Roboto", "Roboto Condensed",
              "Bebas Neue", "Droid Sans")
NOT_TEXT = fonts.NOT_TEXT + ("Libre Barcode*", "Redacted*", "Flow *", "Wavefont", "Linefont", "Material *",
                             "Noto Color Emoji", "Noto Emoji", "Noto Music", "Noto Sans Symbols*", "Bungee Color",
                             "Nabla", "Bungee Spice", "Sixtyfour Convergence")
MANIFEST = "google-fonts.json"
NO_LATIN_FACE = "no Latin face that draws every character"
TIMEOUT_S = 60


def fetch(directory: str, characters: str, jobs: int = 8, registry: str = REGISTRY,
          limit: int | None = None) -> dict:
    """Fetch Google Fonts families into `directory` (one subdirectory a family); families already there are
    kept. Returns a summary and writes it to MANIFEST in `directory`."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    families = _family_list(registry)
    exclusions = Exclusions(families, [font.family for font in _fonts(characters, None, held_out=None)])
    left_out = {name: exclusions.why(name) for name in families if exclusions.why(name)}
    wanted = sorted(name for name, info in families.items()
                    if name not in left_out and info.get("category") != "icon")[:limit]
    log.info("%d Google Fonts families to fetch (%d left out) into %s", len(wanted), len(left_out), root)
    fetched, missing = {}, {}
    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        results = pool.map(lambda name: (name, _fetch_family(name, families[name], root, characters, registry,
                                                              exclusions)), wanted)
        for name, (files, why) in results:
            if files:
                fetched[name] = {"category": families[name].get("category"), "files": files}
            else:
                missing[name] = why
    # A face's own name can bring its design into training where its Google name did not (Google's "Arima"
    # is "Arima Thin" inside, which trains "Arima Madurai"'s design): check the families again.
    exclusions.trained |= {fonts.design_of(font.family) for font in _fonts(characters, root, held_out=False)}
    for name in list(fetched):
        files, why = _kept(root / _slug(name), root, characters, exclusions)
        if files:
            fetched[name]["files"] = files
        else:
            missing[name] = why
            del fetched[name]
    faces = _fonts(characters, root, held_out=None)
    summary = {"directory": str(root), "families": len(fetched), "not_fetched": missing,
               "left_out": left_out, "source": f"{registry} @fontsource/*, family list {'@'.join(FAMILY_LIST)}",
               "by_category": dict(sorted(Counter(info["category"] for info in fetched.values()).items())),
               # by the names inside the fonts, as synth splits them
               "training_families": len({font.family for font in faces if not font.held_out}),
               "held_out_families": len({font.family for font in faces if font.held_out})}
    _write_atomically(root / MANIFEST, json.dumps({**summary, "fetched": fetched}, indent=1).encode())
    return summary


def _family_list(registry: str) -> dict:
    name, version = FAMILY_LIST
    members = _package_files(registry, name, version, lambda member: member.endswith("/google-fonts.json"))
    if not members:
        raise ToolError(f"{name}@{version} has no google-fonts.json; the family list cannot be read")
    return json.loads(next(iter(members.values())))


class Exclusions:
    """Why a family is left out (module docstring), or None. Asked of each family's Google name before
    fetching it and again of each face's own name (the name table's, which fonts.discover splits by and
    which may differ: Google's "Arima" is "Arima Thin" inside)."""

    def __init__(self, google_families, installed_families):
        held_out = fonts.held_out_by_name
        self.held_out_installed = {fonts.design_of(f) for f in installed_families if held_out(f)}
        self.trained = {fonts.design_of(f) for f in [*installed_families, *google_families] if not held_out(f)}

    def why(self, family: str) -> str | None:
        design = fonts.design_of(family)
        if family in SAME_DESIGN_AS_HELD_OUT:
            return "the design of a held-out family under another name"
        if family in TRDG_FONTS:
            return "drawn by trdg, whose words stand in for users' images"
        if any(fnmatch.fnmatch(family, pattern) for pattern in NOT_TEXT):
            return "not for running text"
        if not fonts.held_out_by_name(family) and design in self.held_out_installed:
            # the held-out sets drawn with installed fonts would read a design training saw
            return f"its design ({design}) is held out among the installed fonts"
        if fonts.held_out_by_name(family) and design in self.trained:
            # a held-out set drawn with these would read a design training saw
            return f"held out, but its design ({design}) is in training"
        return None


def _slug(family: str) -> str:
    return family.lower().replace(" ", "-")  # Fontsource's package and file names


def _fonts(characters: str, root: Path | None, held_out: bool | None) -> list:
    """fonts.discover in `root` (None: the fonts installed here), or none where there are none."""
    try:
        return fonts.discover(characters, [str(root)] if root else None, held_out=held_out)
    except UserError:
        return []


def _fetch_family(family: str, info: dict, root: Path, characters: str, registry: str,
                  exclusions: Exclusions) -> tuple[list[str], str]:
    """(TrueType files written, relative to root) or ([], why not). A family fetched before is not fetched
    again, but its faces are checked again (_kept)."""
    slug = _slug(family)
    target = root / slug
    if target.is_dir() and any(target.glob("*.ttf")):
        return _kept(target, root, characters, exclusions)
    variants = info.get("variants", {})
    faces = [(weight, style) for weight, style in FACES if weight in variants.get(style, {})]
    if not faces and variants.get("normal"):  # no regular weight: the one nearest it
        faces = [(min(variants["normal"], key=lambda w: abs(int(w) - 400) if w.isdigit() else 999), "normal")]
    wanted = {f"files/{slug}-latin-{weight}-{style}.woff": (weight, style) for weight, style in faces}
    try:
        members = _package_files(registry, f"@fontsource/{slug}", None,
                                 lambda member: member.removeprefix("package/") in wanted)
    except ToolError as error:
        return [], error.one_line()
    written, why_not = [], NO_LATIN_FACE
    staging = root / f".{slug}.partial-{os.getpid()}"
    staging.mkdir(exist_ok=True)
    for member, data in sorted(members.items()):
        weight, style = wanted[member.removeprefix("package/")]
        path = staging / f"{slug}-{weight}-{style}.ttf"
        left_out = _why_face_left_out(path, characters, exclusions) if _write_truetype(data, path) else NO_LATIN_FACE
        if left_out:
            why_not = left_out
            path.unlink(missing_ok=True)
        else:
            written.append(path.name)
    if not written:
        _remove(staging)
        return [], why_not
    staging.rename(target)  # the family appears whole or not at all
    return [f"{slug}/{name}" for name in sorted(written)], ""


def _kept(target: Path, root: Path, characters: str, exclusions: Exclusions) -> tuple[list[str], str]:
    """A family fetched before, its faces checked against today's exclusions (a face left out now is
    removed, and the family's directory with its last face)."""
    kept, why_not = [], ""
    for path in sorted(target.glob("*.ttf")):
        left_out = _why_face_left_out(path, characters, exclusions)
        if left_out:
            why_not = left_out
            path.unlink()
        else:
            kept.append(str(path.relative_to(root)))
    if not kept:
        _remove(target)
    return kept, why_not


def _why_face_left_out(path: Path, characters: str, exclusions: Exclusions) -> str | None:
    """Why a TrueType face is not kept, or None: fetched now or before, the same checks."""
    font = fonts.inspect(path, characters)
    if font is None:
        return NO_LATIN_FACE
    excluded = exclusions.why(font.family)
    if excluded:
        return f"named {font.family!r} inside: {excluded}"
    return None if _draws_letters(path, characters) else NO_LATIN_FACE


def _remove(directory: Path) -> None:
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()


def _package_files(registry: str, package: str, version: str | None, keep) -> dict[str, bytes]:
    """The members of an npm package's tarball that `keep` accepts, the tarball checked against the
    registry's SHA-512 (`dist.integrity`). version None: the package's latest release."""
    metadata = json.loads(_get(f"{registry}/{urllib.parse.quote(package, safe='@')}"))
    version = version or metadata.get("dist-tags", {}).get("latest")
    dist = metadata.get("versions", {}).get(version, {}).get("dist", {})
    if "tarball" not in dist:
        raise ToolError(f"{package}@{version} is not in the registry {registry}")
    tarball = _get(dist["tarball"])
    algorithm, _, expected = dist.get("integrity", "").partition("-")
    if algorithm != "sha512" or base64.b64decode(expected) != hashlib.sha512(tarball).digest():
        raise ToolError(f"{package}@{version}: the tarball does not match the registry's SHA-512; "
                        "not used (a proxy or mirror altered it, or the transfer was cut): run again")
    found = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and keep(member.name):
                found[member.name] = archive.extractfile(member).read()
    return found


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.read()
    except (OSError, ValueError) as error:
        raise ToolError(f"could not fetch {url}: {error}") from None


def _write_truetype(woff: bytes, path: Path) -> bool:
    """A WOFF font as a plain TrueType file (fonts.discover reads .ttf and .otf; WOFF's zlib needs nothing
    that fontTools lacks, where WOFF2 would need brotli)."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        font = TTFont(io.BytesIO(woff))
        font.flavor = None
        buffer = io.BytesIO()
        font.save(buffer)
    except (TTLibError, OSError, ValueError, KeyError, AssertionError, TypeError):
        return False
    _write_atomically(path, buffer.getvalue())
    return True


def _draws_letters(path: Path, characters: str) -> bool:
    """Whether the font draws each character as something, mostly as different pictures:
    colour-only fonts draw nothing with Pillow, and symbol fonts draw one box for every letter."""
    from PIL import ImageFont

    font = ImageFont.truetype(str(path), 32)
    pictures = set()
    for character in characters:
        if character.isspace():
            continue
        mask = font.getmask(character)
        if mask.getbbox() is None:
            return False
        pictures.add((mask.size, bytes(mask)))
    return len(pictures) >= 0.9 * len({c.upper() for c in characters if not c.isspace()})


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
