"""ovconvert check [RECIPE|FAMILY|GLOB …]: conversion checks for CI — each recipe to a validated IR,
a summary table, JUnit XML and Markdown reports, and a baseline to catch regressions.

Exit codes: 0 every recipe passed (and none regressed); 1 a recipe failed validation or regressed;
2 bad input (no such recipe, a bad baseline, an unknown git ref); 3 a recipe could not run (a download
or a tool failed, a timeout). See docs/ci.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ovconvert.cli import add_precision_options


def add_arguments(parser) -> None:
    parser.add_argument("recipes", nargs="*", metavar="RECIPE",
                        help="recipe names, families (slim, aocr, …) or globs; default: every recipe that runs "
                             "offline (built or local sources)")
    parser.add_argument("--changed-since", metavar="GIT_REF",
                        help="only recipes whose file, family code or local inputs changed since this ref")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="recipes to run at once (default 1)")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("runs/check"),
                        help="runs and logs go here, one directory per recipe (default runs/check)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="download cache (default ~/.cache/ovconvert)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per recipe (default 1800)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown summary here")
    parser.add_argument("--baseline", type=Path, metavar="FILE", help="compare with this baseline JSON")
    parser.add_argument("--update-baseline", action="store_true",
                        help="write this run's numbers into --baseline (passing recipes only)")
    parser.add_argument("--num-attempts", type=int, default=3, metavar="N", help="tries per download (default 3)")
    parser.add_argument("--bench", action="store_true",
                        help="run each recipe's bench stage too (IR vs framework speed; off by default to save CI "
                             "time), and compare the speed-ups with the baseline")
    parser.add_argument("--shard", metavar="K/N", type=_shard,
                        help="run only shard K of N (1-based): a stable split, balanced by the baseline's times, "
                             "for a CI matrix; the shards together run every conversion once")
    parser.add_argument("--list-json", action="store_true",
                        help="print the conversions that would run (this shard's, with --shard) as JSON and stop")
    parser.add_argument("--json", type=Path, metavar="FILE", dest="json_file",
                        help="write the results as JSON here (what --merge reads)")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="FILE",
                        help="run nothing: merge the --json results of several shards into one table, "
                             "--junit and --markdown report (and --baseline comparison)")
    parser.add_argument("--list", action="store_true", help="print the recipes that would run and stop")
    add_precision_options(parser)
    margins = parser.add_argument_group("regression margins (against --baseline)")
    margins.add_argument("--agreement-margin", type=float, default=0.0, help="allowed drop in agreement (default 0)")
    margins.add_argument("--diff-factor", type=float, default=10.0,
                         help="allowed growth of the max difference, × baseline (default 10; at least 1e-5)")
    margins.add_argument("--size-margin", type=float, default=0.02, help="allowed IR size change (default 0.02 = 2%%)")
    margins.add_argument("--speedup-margin", type=float, default=0.25,
                         help="allowed drop of the IR's speed-up over the framework, with --bench (default 0.25)")
    margins.add_argument("--time-margin", type=float, default=1.0,
                         help="allowed conversion-time growth (default 1.0 = 100%%, and at least 5 s)")


def run(args) -> int:
    from ovconvert import check
    from ovconvert.errors import UserError
    from ovconvert.stages.acquire import default_cache_dir

    if args.update_baseline and not args.baseline:
        raise UserError("--update-baseline needs --baseline FILE (where to write it)")
    if args.jobs < 1:
        raise UserError(f"-j {args.jobs}: give at least 1")
    if args.merge:  # each shard compared its results with the baseline already; here they are only reported
        return _report(args, check.load_results(args.merge), check.load_baseline(args.baseline) if args.baseline else {})
    paths = check.select(args.recipes, args.changed_since)
    baseline = check.load_baseline(args.baseline) if args.baseline else {}
    runs = check.conversions(paths)
    if args.shard:
        runs = check.shard(runs, *args.shard, baseline)
    if args.list:
        for item in runs:
            print(item.path if item.variant is None else f"{item.path}@{item.variant}")
        return 0
    if args.list_json:
        import json

        print(json.dumps([{"name": item.name, "recipe": str(item.path), "variant": item.variant,
                           "argument": item.run_arguments()[-1]} for item in runs], indent=2))
        return 0
    if not paths:
        print("ovconvert check: no recipe to run" + (f" (nothing changed since {args.changed_since})"
                                                     if args.changed_since else ""))
        return 0
    margins = check.Margins(args.agreement_margin, args.diff_factor, 1e-5, args.size_margin, args.time_margin,
                            speedup=args.speedup_margin)
    run_options = ["--device", args.device] + (["--strict-precision"] if args.strict_precision else [])
    run_options += ([] if args.bench else ["--no-bench"]) + ["--num-attempts", str(args.num_attempts)]
    if args.precision is not None:
        run_options += ["--precision", ",".join(args.precision) or "none"]
    shard = f" (shard {args.shard[0]} of {args.shard[1]})" if args.shard else ""
    print(f"checking {len(runs)} conversion(s) of {len(paths)} recipe(s){shard} with {args.jobs} job(s)…",
          file=sys.stderr)
    results = check.run_all(paths, args.output_dir, args.cache_dir or default_cache_dir(), args.jobs, args.timeout,
                            baseline, margins,
                            progress=lambda r: print(f"  {r.recipe}: {r.status} ({r.seconds:.0f} s)", file=sys.stderr),
                            run_options=tuple(run_options), runs=runs)
    if args.json_file:
        _write(args.json_file, check.results_json(results))
    return _report(args, results, baseline)


def _report(args, results, baseline) -> int:
    """The table on stdout, and the JUnit/Markdown files and baseline update asked for."""
    from ovconvert import check

    print(f"ran on: {check.environment_line(results)}", file=sys.stderr)
    print(check.text_table(results))
    if args.junit:
        _write(args.junit, check.junit(results))
    if args.markdown:
        _write(args.markdown, check.markdown(results))
    if args.update_baseline:
        check.save_baseline(args.baseline, results, baseline)
    return max((r.exit_code for r in results), default=0)


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"{text!r}: give K/N with 1 ≤ K ≤ N, e.g. 2/4")
    return index, count


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
