"""The label alphabet: ids 0, 1, 2 are PAD, GO and EOS (as in aocr), characters follow from id 3.

aocr's default is 0-9A-Z with labels upper-cased; `--full-ascii` is printable ASCII; `--charset FILE`
takes any UTF-8 characters (one file, the characters in order; whitespace other than the space is ignored).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from ovconvert.errors import UserError

PAD, GO, EOS = 0, 1, 2
SPECIAL_TOKENS = 3
DEFAULT = string.digits + string.ascii_uppercase
# aocr's --full-ascii: the printable ASCII range, space included.
FULL_ASCII = "".join(chr(code) for code in range(32, 127))


@dataclass(frozen=True)
class Charset:
    characters: str

    def __post_init__(self):
        if not self.characters:
            raise UserError("the charset is empty; give at least one character")
        duplicates = sorted({ch for ch in self.characters if self.characters.count(ch) > 1})
        if duplicates:
            raise UserError(f"the charset repeats {''.join(duplicates)!r}; list each character once")

    @property
    def num_classes(self) -> int:
        return len(self.characters) + SPECIAL_TOKENS

    def id_of(self, character: str) -> int | None:
        index = self.characters.find(character)
        return None if index < 0 else index + SPECIAL_TOKENS

    def unknown_characters(self, label: str) -> str:
        return "".join(sorted({ch for ch in label if ch not in self.characters}))

    def encode(self, label: str) -> list[int]:
        """Label → ids (no GO/EOS); raises for characters outside the charset."""
        unknown = self.unknown_characters(label)
        if unknown:
            raise UserError(f"label {label!r} has characters outside the charset: {unknown!r}")
        return [self.characters.index(ch) + SPECIAL_TOKENS for ch in label]

    def decode(self, ids) -> str:
        """Ids → text, stopping at the first EOS; PAD and GO are skipped."""
        text = []
        for index in ids:
            index = int(index)
            if index == EOS:
                break
            if index >= SPECIAL_TOKENS:
                text.append(self.characters[index - SPECIAL_TOKENS])
        return "".join(text)


def from_options(full_ascii: bool = False, charset_file: str | None = None) -> Charset:
    if charset_file:
        import tensorflow as tf

        if not tf.io.gfile.exists(charset_file):
            raise UserError(f"--charset {charset_file}: no such file; give a UTF-8 text file of the characters")
        try:
            with tf.io.gfile.GFile(charset_file, "rb") as handle:
                text = handle.read().decode("utf-8")
        except UnicodeDecodeError as error:
            raise UserError(f"--charset {charset_file}: not UTF-8 ({error.reason} at byte {error.start})") from None
        characters = "".join(ch for ch in dict.fromkeys(text) if ch == " " or not ch.isspace())
        return Charset(characters)
    return Charset(FULL_ASCII if full_ascii else DEFAULT)
