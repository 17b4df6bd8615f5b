"""ovconvert list [--family F]: the recipes, one line each."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--family", help="only this family (slim, aocr_legacy, …)")


def run(args) -> int:
    import yaml

    from ovconvert.recipes.loader import RECIPES_DIR, all_recipe_paths

    paths = all_recipe_paths(args.family)
    for path in paths:
        data = yaml.safe_load(path.read_text()) or {}
        name = path.relative_to(RECIPES_DIR).with_suffix("").as_posix()
        print(f"{name:40s} {data.get('family', '?'):12s} {data.get('task', '?'):15s} "
              f"{(data.get('description') or '').splitlines()[0] if data.get('description') else ''}")
    if not paths:
        print(f"no recipes{' in family ' + args.family if args.family else ''} under {RECIPES_DIR}")
    return 0
