"""ovconvert run RECIPE…: convert recipes end to end, continuing past failures, FAILED list at the end."""

from __future__ import annotations

import sys
from pathlib import Path

from ovconvert.cli import add_precision_options, add_recipe_overrides


def add_arguments(parser) -> None:
    parser.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe file or name (see `ovconvert list`)")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("runs"),
                        help="where results go; each recipe gets a subdirectory (default: runs/)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="download cache (default: $OVCONVERT_CACHE or ~/.cache/ovconvert)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and stop")
    parser.add_argument("--backend", choices=("mo", "ovc"), help="override the recipes' convert.backend")
    parser.add_argument("--source", help="use this local file or directory as the source model (for the "
                        "recipe's main conversion, or the variant named as RECIPE@VARIANT)")
    parser.add_argument("--no-variants", action="store_true",
                        help="run only the recipes' main conversions, not their variants")
    parser.add_argument("--quantize", choices=("int8", "none"),
                        help="int8: also make an INT8 IR with NNCF, kept only if it passes the recipe's accuracy "
                             "gate (quantize.tolerance); default: the recipe's quantize.precision")
    parser.add_argument("--num-attempts", type=int, default=3, metavar="N",
                        help="tries per download; cut transfers, timeouts and HTTP 5xx are tried again, resuming, "
                             "after 1, 2, 4… s (default 3)")
    parser.add_argument("--ovms-repo", type=Path, metavar="DIR",
                        help="also lay the validated IR out as an OpenVINO Model Server repository: DIR/NAME/1/"
                             "model.xml|bin and DIR/config.json (with NAME-int8 for a passed INT8 IR)")
    bench = parser.add_mutually_exclusive_group()
    bench.add_argument("--bench", dest="bench", action="store_true", default=None,
                       help="run the bench stage even where the recipe turns it off (bench.enabled)")
    bench.add_argument("--no-bench", dest="bench", action="store_false",
                       help="skip the bench stage (timing the IR against the framework)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON array of the results (recipe, status, exit code, message, report) "
                             "on stdout instead of text; errors still go to stderr")
    add_precision_options(parser)
    add_recipe_overrides(parser)


def run(args) -> int:
    from ovconvert.errors import OvconvertError
    from ovconvert.pipeline import RunOptions, check_output_dir, run_recipe
    from ovconvert.recipes.loader import load_recipe
    from ovconvert.stages.acquire import default_cache_dir

    if args.num_attempts < 1:
        from ovconvert.errors import UserError

        raise UserError(f"--num-attempts {args.num_attempts}: give at least 1")
    check_output_dir(args.output_dir)
    cache_dir = args.cache_dir or default_cache_dir()
    check_output_dir(cache_dir, "--cache-dir")
    results, worst, as_json = [], 0, []
    for name, out_dir in _runs(args):
        try:
            recipe = load_recipe(name, tuple(args.overrides), args.source)
        except OvconvertError as error:
            print(f"ovconvert: error: {error.one_line()}", file=sys.stderr)
            results.append((name, "error", error.exit_code))
            as_json.append({"recipe": name, "status": "error", "exit_code": error.exit_code,
                            "message": error.one_line(), "output_dir": str(out_dir), "report": None})
            worst = max(worst, error.exit_code)
            continue
        result = run_recipe(recipe, RunOptions(out_dir, cache_dir, args.dry_run, args.backend, args.device,
                                               args.precision, args.strict_precision, args.quantize, args.bench,
                                               args.num_attempts, args.ovms_repo))
        if result.exit_code:
            print(f"ovconvert: error: {result.message}", file=sys.stderr)
        elif result.message and not args.json:
            print(result.message)
            print(f"report: {out_dir / 'report.md'}")
        results.append((recipe.name, result.status, result.exit_code))
        as_json.append({"recipe": recipe.name, "status": result.status, "exit_code": result.exit_code,
                        "message": result.message, "output_dir": str(out_dir),
                        "report": str(out_dir / "report.json") if (out_dir / "report.json").is_file() else None})
        worst = max(worst, result.exit_code)
    failed = [name for name, _, code in results if code]
    if args.json:
        import json

        print(json.dumps(as_json, indent=2))
    elif len(results) > 1:
        print(f"{len(results) - len(failed)} of {len(results)} recipes converted" +
              (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return worst


def _runs(args) -> list[tuple[str, Path]]:
    """(recipe name, output directory) for each conversion: a recipe into its directory, then each of its
    variants as `name@variant` into `<that directory>@variant`. A `--source` file stands in for one
    conversion only, so with --source (or --no-variants, or a name that already names a variant) no
    variants are added."""
    from ovconvert.errors import OvconvertError
    from ovconvert.recipes.loader import load_recipe, split_variant

    one_named_dir = len(args.recipes) == 1 and args.output_dir != Path("runs")
    runs = []
    for name in args.recipes:
        base, variant = split_variant(name)
        stem = Path(base).name.removesuffix(".yaml").removesuffix(".yml")
        out_dir = args.output_dir if one_named_dir else args.output_dir / stem
        if variant is not None:
            runs.append((name, out_dir if one_named_dir else out_dir.with_name(f"{stem}@{variant}")))
            continue
        runs.append((name, out_dir))
        if args.source or args.no_variants:
            continue
        try:
            variants = load_recipe(name).variants
        except OvconvertError:  # reported when the run itself loads the recipe
            variants = {}
        runs += [(f"{name}@{v}", out_dir.with_name(f"{out_dir.name}@{v}")) for v in variants]
    return runs
