"""ovconvert run RECIPE…: convert recipes end to end, continuing past failures, FAILED list at the end."""

from __future__ import annotations

import sys
from pathlib import Path

from ovconvert.cli import add_recipe_overrides


def add_arguments(parser) -> None:
    parser.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe file or name (see `ovconvert list`)")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("runs"),
                        help="where results go; each recipe gets a subdirectory (default: runs/)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="download cache (default: $OVCONVERT_CACHE or ~/.cache/ovconvert)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and stop")
    parser.add_argument("--backend", choices=("mo", "ovc"), help="override the recipes' convert.backend")
    parser.add_argument("--source", help="use this local file or directory as the source model")
    add_recipe_overrides(parser)


def run(args) -> int:
    from ovconvert.errors import OvconvertError
    from ovconvert.pipeline import RunOptions, check_output_dir, run_recipe
    from ovconvert.recipes.loader import load_recipe
    from ovconvert.stages.acquire import default_cache_dir

    check_output_dir(args.output_dir)
    cache_dir = args.cache_dir or default_cache_dir()
    results, worst = [], 0
    for name in args.recipes:
        try:
            recipe = load_recipe(name, tuple(args.overrides), args.source)
        except OvconvertError as error:
            print(f"ovconvert: error: {error.one_line()}", file=sys.stderr)
            results.append((name, "error", error.exit_code))
            worst = max(worst, error.exit_code)
            continue
        out_dir = args.output_dir / recipe.name if len(args.recipes) > 1 or args.output_dir == Path("runs") \
            else args.output_dir
        result = run_recipe(recipe, RunOptions(out_dir, cache_dir, args.dry_run, args.backend))
        if result.exit_code:
            print(f"ovconvert: error: {result.message}", file=sys.stderr)
        elif result.message:
            print(result.message)
            print(f"report: {out_dir / 'report.md'}")
        results.append((recipe.name, result.status, result.exit_code))
        worst = max(worst, result.exit_code)
    failed = [name for name, _, code in results if code]
    if len(results) > 1:
        print(f"{len(results) - len(failed)} of {len(results)} recipes converted" +
              (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return worst
