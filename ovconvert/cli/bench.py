"""ovconvert bench RECIPE --run-dir DIR: time a finished run's IRs against the framework again.

The bench stage of `ovconvert run`, on its own: after a quieter moment, on another CPU with a copied run
directory, or with a longer measurement. `--benchmark-app` also runs OpenVINO's benchmark_app on the
recommended configuration, so its figure can be set beside ours (docs/architecture.md, "Speed").
"""

from __future__ import annotations

from pathlib import Path

from ovconvert.cli import add_recipe_overrides


def add_arguments(parser) -> None:
    parser.add_argument("recipe", help="recipe file or name the run was made with")
    parser.add_argument("--run-dir", type=Path, required=True, help="the run's output directory")
    parser.add_argument("--device", default="CPU", help="OpenVINO device (default CPU)")
    parser.add_argument("--seconds", type=float, default=None, help="time spent measuring (default: bench.seconds)")
    parser.add_argument("--batch", type=int, default=None, help="the throughput rows' batch (default: bench.batch)")
    parser.add_argument("--benchmark-app", action="store_true",
                        help="also run OpenVINO's benchmark_app on the recommended latency configuration")
    add_recipe_overrides(parser)


def run(args) -> int:
    import shlex

    import openvino as ov

    from ovconvert.cli.validate import load_finished_run
    from ovconvert.errors import UserError
    from ovconvert.graph.tflite import is_tflite
    from ovconvert.stages import bench
    from ovconvert.stages.report import write_report

    if (args.seconds is not None and args.seconds <= 0) or (args.batch is not None and args.batch < 1):
        raise UserError("--seconds must be above 0 and --batch at least 1")
    finished = load_finished_run(args)
    validation = finished.validate(args.device, None)
    if not validation.reference.passed:
        raise UserError(f"the IR in {args.run_dir}/ir no longer validates ({validation.reference.summary()}); "
                        "run the recipe again")
    model = ov.Core().read_model(str(finished.ir.xml))
    agreeing = [row.precision for row in validation.precisions if row.reference or row.status == "agrees"]
    irs = [(precision, model, True, str(finished.ir.xml)) for precision in dict.fromkeys(agreeing)]
    int8 = finished.report.get("int8") or {}
    if int8.get("status") == "passed" and int8.get("ir") and Path(int8["ir"]).is_file():
        irs.append(("int8", ov.Core().read_model(int8["ir"]), True, int8["ir"]))
    spec = finished.recipe.bench
    result = bench.bench(finished.frozen.path, finished.cut, is_tflite(finished.frozen.path), irs, validation.samples,
                         args.device, args.batch or spec.batch, args.seconds or spec.seconds)
    for line in bench.table_lines(result.rows) + bench.recommendation_lines(result.recommendation):
        print(line)
    report = dict(finished.report, bench=result.to_json())
    write_report(args.run_dir, report)
    if args.benchmark_app and "latency" in result.recommendation:
        best = result.recommendation["latency"]
        seconds = max(1, round(args.seconds or spec.seconds))
        command = ["benchmark_app", *shlex.split(best["benchmark_app"]), "-t", str(seconds)]
        ours, theirs = best["ir_ms"], _benchmark_app_median(command)
        print(f"benchmark_app ({shlex.join(command[:8])} …): median latency {theirs:.2f} ms; "
              f"ours {ours:.2f} ms (ratio {theirs / ours:.2f})")
        report["bench"]["benchmark_app"] = {"command": command, "median_ms": theirs, "ours_ms": ours}
        write_report(args.run_dir, report)
    return 0


def _benchmark_app_median(command: list[str]) -> float:
    """Run benchmark_app (CI=true: its telemetry can hang, as mo's does) and read the median latency
    from its statistics lines ("Latency: … Median: 0.73 ms")."""
    import os
    import re
    import subprocess
    import sys

    from ovconvert.errors import ToolError

    tool = [sys.executable, "-c", "import sys; from openvino.tools.benchmark.main import main; sys.exit(main())",
            *command[1:]]
    try:
        process = subprocess.run(tool, capture_output=True, text=True, timeout=300, env=dict(os.environ, CI="true"))
    except subprocess.TimeoutExpired:
        raise ToolError("benchmark_app did not finish in 300 s") from None
    found = re.search(r"Latency:\s*(?:\[ INFO \])?\s*Median:\s*([0-9.]+) ms", process.stdout)
    if process.returncode != 0 or not found:
        tail = (process.stderr or process.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolError(f"benchmark_app failed (exit {process.returncode}): {tail[0]}")
    return float(found.group(1))
