"""`ovconvert aocr google-fonts`: Google Fonts families from an npm registry (a loopback one here, serving
packages built from real fonts as Fontsource ships them), checked against the registry's SHA-512 and
written as TrueType files that synth reads; clones, pictures and broken packages left out, nothing
half-written."""

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from ovconvert.aocr import fonts, google_fonts

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
pytestmark = pytest.mark.skipif(not (DEJAVU / "DejaVuSans.ttf").is_file(), reason="needs Debian's fonts-dejavu-core")


def woff(path: Path, letters_as_one_picture: bool = False, named: str | None = None) -> bytes:
    """A real font as WOFF, as Fontsource ships it; optionally with every letter mapped to one glyph, as
    a symbol font draws them, or with another family name inside."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(path))
    if named:
        for record in font["name"].names:
            if record.nameID in (1, 16):
                record.string = named
    if letters_as_one_picture:
        for table in font["cmap"].tables:
            for code in list(table.cmap):
                table.cmap[code] = "A"
    font.flavor = "woff"
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def publish(loopback, package: str, version: str, files: dict[str, bytes], integrity_of: bytes | None = None):
    """An npm package in the loopback registry: its metadata document and its tarball."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    tarball = buffer.getvalue()
    digest = hashlib.sha512(tarball if integrity_of is None else integrity_of).digest()
    tarball_name = f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"
    (loopback.root / tarball_name).write_bytes(tarball)
    dist = {"tarball": loopback.url(tarball_name), "integrity": "sha512-" + base64.b64encode(digest).decode()}
    metadata = {"dist-tags": {"latest": version}, "versions": {version: {"dist": dist}}}
    (loopback.root / package.replace("/", "%2F")).write_text(json.dumps(metadata))


def variants(*faces):
    found = {}
    for weight, style in faces:
        found.setdefault(style, {})[weight] = {}
    return found


@pytest.fixture
def registry(loopback):
    families = {
        "DejaVu Sans": {"category": "sans-serif",
                        "variants": variants(("400", "normal"), ("700", "normal"), ("400", "italic"))},
        "DejaVu Serif": {"category": "serif", "variants": variants(("400", "normal"))},
        "Tinos": {"category": "serif", "variants": variants(("400", "normal"))},
        "Libre Barcode 39": {"category": "display", "variants": variants(("400", "normal"))},
        "Same Picture": {"category": "display", "variants": variants(("400", "normal"))},
        "Altered Sans": {"category": "sans-serif", "variants": variants(("400", "normal"))},
        "Sneaky Serif": {"category": "serif", "variants": variants(("400", "normal"))},
    }
    publish(loopback, google_fonts.FAMILY_LIST[0], google_fonts.FAMILY_LIST[1],
            {"google-fonts.json": json.dumps(families).encode()})
    publish(loopback, "@fontsource/dejavu-sans", "5.0.1", {
        "files/dejavu-sans-latin-400-normal.woff": woff(DEJAVU / "DejaVuSans.ttf"),
        "files/dejavu-sans-latin-700-normal.woff": woff(DEJAVU / "DejaVuSans-Bold.ttf"),
        "files/dejavu-sans-latin-400-italic.woff": woff(DEJAVU / "DejaVuSans-Oblique.ttf"),
        "files/dejavu-sans-cyrillic-400-normal.woff": woff(DEJAVU / "DejaVuSans.ttf"),
        "index.css": b"/* not a font */"})
    publish(loopback, "@fontsource/dejavu-serif", "5.0.1",
            {"files/dejavu-serif-latin-400-normal.woff": woff(DEJAVU / "DejaVuSerif.ttf")})
    publish(loopback, "@fontsource/same-picture", "5.0.1",
            {"files/same-picture-latin-400-normal.woff": woff(DEJAVU / "DejaVuSans.ttf", letters_as_one_picture=True)})
    publish(loopback, "@fontsource/altered-sans", "5.0.1",
            {"files/altered-sans-latin-400-normal.woff": woff(DEJAVU / "DejaVuSans.ttf")}, integrity_of=b"other bytes")
    publish(loopback, "@fontsource/sneaky-serif", "5.0.1",
            {"files/sneaky-serif-latin-400-normal.woff": woff(DEJAVU / "DejaVuSerif.ttf", named="Tinos")})
    # no @fontsource/tinos or libre-barcode-39 package: they must not even be asked for
    return loopback


def test_families_arrive_as_truetype_synth_reads_and_the_rest_is_named(registry, tmp_path):
    out = tmp_path / "google-fonts"
    summary = google_fonts.fetch(str(out), CHARACTERS, jobs=2, registry=registry.url("").rstrip("/"))

    assert summary["families"] == 2
    assert (summary["training_families"], summary["held_out_families"]) == (2, 0)
    assert sorted(p.name for p in (out / "dejavu-sans").iterdir()) == [
        "dejavu-sans-400-italic.ttf", "dejavu-sans-400-normal.ttf", "dejavu-sans-700-normal.ttf"]
    found = fonts.discover(CHARACTERS, [str(out)], held_out=None)
    assert {f.family for f in found} == {"DejaVu Sans", "DejaVu Serif"}
    assert {f.style for f in found if f.family == "DejaVu Sans"} == {"Book", "Bold", "Oblique"}

    assert "another name" in summary["left_out"]["Tinos"]
    assert "not for running text" in summary["left_out"]["Libre Barcode 39"]
    asked = {request["path"] for request in registry.requests}
    assert not any("tinos" in path or "barcode" in path for path in asked)
    assert "every character" in summary["not_fetched"]["Same Picture"]
    assert "SHA-512" in summary["not_fetched"]["Altered Sans"]
    # the split and the exclusions go by the name inside the font too, the one synth splits by
    assert "named 'Tinos' inside" in summary["not_fetched"]["Sneaky Serif"]
    # nothing of a family that failed is left behind, and the manifest lists what is there
    assert sorted(p.name for p in out.iterdir()) == ["dejavu-sans", "dejavu-serif", google_fonts.MANIFEST]
    manifest = json.loads((out / google_fonts.MANIFEST).read_text())
    assert manifest["fetched"]["DejaVu Serif"] == {"category": "serif", "files": ["dejavu-serif/dejavu-serif-400-normal.ttf"]}


def test_a_second_run_keeps_what_it_has_and_fetches_only_the_rest(registry, tmp_path):
    out = tmp_path / "google-fonts"
    google_fonts.fetch(str(out), CHARACTERS, jobs=1, registry=registry.url("").rstrip("/"))
    registry.requests.clear()
    summary = google_fonts.fetch(str(out), CHARACTERS, jobs=1, registry=registry.url("").rstrip("/"))
    assert summary["families"] == 2
    asked = {request["path"] for request in registry.requests}
    assert not any("dejavu" in path for path in asked)
    assert any("altered-sans" in path for path in asked)  # what failed is tried again


def test_an_unreachable_registry_is_one_line_and_exit_code_3(cli, tmp_path, loopback):
    code, _, err = cli("aocr", "google-fonts", tmp_path / "fonts", "--registry", loopback.url("nothing-here"),
                       "--log-path", "")
    assert code == 3
    assert "google-fonts-complete" in err and "404" in err
    assert not (tmp_path / "fonts" / google_fonts.MANIFEST).exists()
