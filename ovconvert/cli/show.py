"""ovconvert show NAME [--mo-command]: a recipe as loaded, or just the mo command it gives."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ovconvert.cli import add_recipe_overrides


def add_arguments(parser) -> None:
    parser.add_argument("recipe", metavar="NAME", help="recipe file or name")
    parser.add_argument("--mo-command", action="store_true", help="print only the mo command")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("runs"), help="as for `run` (paths shown)")
    add_recipe_overrides(parser)


def run(args) -> int:
    from ovconvert.pipeline import RunOptions, _dry_run
    from ovconvert.recipes.loader import load_recipe
    from ovconvert.stages.acquire import default_cache_dir

    recipe = load_recipe(args.recipe, tuple(args.overrides))
    if not args.mo_command:
        print(json.dumps(_plain(recipe), indent=2))
    _dry_run(recipe, RunOptions(args.output_dir / recipe.name, default_cache_dir(), dry_run=True),
             comments=not args.mo_command)
    return 0


def _plain(value):
    """The recipe as JSON-ready values (dataclasses.asdict cannot copy the loader's read-only mappings)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
