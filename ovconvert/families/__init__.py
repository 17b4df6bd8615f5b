"""What differs per model family: network builders, source builders, validation inputs and decoding.

A family module provides (each optional, looked up by name):
  SOURCE_BUILDERS: {name: function(args: dict, out_dir: Path) -> Path}   for `source.builder`
  build_network(network, definition_dir)                                for `freeze.network`
  validation_samples(recipe, frozen, cut) -> list[Sample]                 what validate feeds both sides
  decode(outputs: list[np.ndarray], recipe) -> str                      for the OCR metric
  source_fingerprint(builder, args) -> str                              built sources' cache key
  CODE_PATHS: paths besides the family module that shape its conversions  for check --changed-since
"""

import importlib
from types import ModuleType

from ovconvert.errors import UserError


def get(family: str) -> ModuleType:
    try:
        return importlib.import_module(f"ovconvert.families.{family}")
    except ModuleNotFoundError as error:
        if error.name != f"ovconvert.families.{family}":
            raise
        raise UserError(f"unknown model family {family!r}") from None
