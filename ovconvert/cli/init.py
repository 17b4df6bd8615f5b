"""ovconvert init MODEL [-o RECIPE.yaml]: say which family and registry recipe a model matches, and why,
and write a ready recipe for it (ovconvert/init.py)."""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("model", type=Path, help="a frozen .pb, a SavedModel or Object Detection API export "
                                                 "directory, or a .tflite")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="where to write the recipe (default: ./MODEL-NAME.yaml)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing recipe file")


def run(args) -> int:
    from ovconvert.errors import UserError
    from ovconvert.init import inspect, recipe_text
    from ovconvert.recipes.loader import RECIPES_DIR, load_recipe

    match = inspect(args.model)
    stem = args.model.resolve().name if args.model.is_dir() else args.model.stem
    output = args.output or Path(f"{re_name(stem)}.yaml")
    if output.exists() and not args.force:
        raise UserError(f"{output} exists; give another -o or --force to overwrite it")
    text = recipe_text(match, RECIPES_DIR)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    try:
        load_recipe(str(partial.rename(output)))  # what run will load: a recipe that does not load is a bug here
    except UserError:
        output.unlink()
        raise
    print(f"{args.model}: {match.family} family, like {match.base}")
    for reason in match.reasons:
        print(f"  - {reason}")
    print(f"wrote {output}; convert it with: ovconvert run {output}")
    return 0


def re_name(stem: str) -> str:
    """A recipe name from a file name: letters, digits, '_', '-' and '.' (the loader's rule)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "model"
