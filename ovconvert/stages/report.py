"""The last stage, report: what a run did, as report.json (for tools), report.md and report.html (for
people)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path


def write_report(out_dir: Path, report: dict, pictures: dict | None = None, labels: list | None = None) -> tuple[Path, Path]:
    """report.json, report.md and report.html (stages/report_html.py; `pictures`: what each validation
    input looked like, by sample name; `labels`: class names)."""
    from ovconvert.stages import report_html

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = out_dir / "report.json", out_dir / "report.md"
    _atomic_write(json_path, json.dumps(report, indent=2, default=str) + "\n")
    _atomic_write(markdown_path, markdown(report))
    report_html.write(out_dir, report, pictures, labels)
    return json_path, markdown_path


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def markdown(report: dict) -> str:
    lines = [f"# {report['recipe']}: {report['status']}", ""]
    if report.get("description"):
        lines += [report["description"], ""]
    lines += ["| stage | seconds |", "|---|---|"]
    lines += [f"| {stage} | {seconds:.2f} |" for stage, seconds in report["timings"].items()]
    if report.get("discovered"):  # facts read from the user's own model instead of the recipe
        lines += ["", "Read from the model:", ""] + [f"- {note}" for note in report["discovered"]]
    if report.get("command"):
        lines += ["", "Conversion command:", "", "```", shlex.join(report["command"]), "```"]
    if report.get("ir"):
        lines += ["", "| IR file | bytes |", "|---|---|"]
        lines += [f"| {path} | {size} |" for path, size in report["ir"].items()]
    validation = report.get("validation")
    if validation:
        lines += ["", f"## Validation ({validation['metric']}): {'passed' if validation['passed'] else 'FAILED'}", ""]
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {name} | {value:.6g} |" if isinstance(value, float) else f"| {name} | {value} |"
                  for name, value in validation["metrics"].items()]
        if validation["failures"]:
            lines += ["", "Failed: " + "; ".join(validation["failures"])]
        if validation.get("degenerate"):
            lines += ["", f"**The model's answers look untrained/degenerate:** {validation['degenerate']}; "
                      "agreement with TensorFlow proves less than on a trained model."]
        if validation["samples"]:
            keys = [key for key in validation["samples"][0] if key != "boxes"]  # boxes: drawn in report.html
            lines += ["", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            lines += ["| " + " | ".join(_cell(sample[k]) for k in keys) + " |" for sample in validation["samples"]]
    if report.get("precisions"):
        lines += _precision_table(report["precisions"], validation["metric"] if validation else "")
    for warning in report.get("precision_warnings") or []:
        lines += ["", f"**Warning:** {warning}"]
    if report.get("int8"):
        lines += _int8_section(report["int8"])
    if report.get("bench"):
        lines += _bench_section(report["bench"])
    if report.get("environment"):
        from ovconvert.environment import one_line

        lines += ["", f"Ran on: {one_line(report['environment'])}"]
    if report.get("error"):
        lines += ["", f"Error: {report['error']}"]
    return "\n".join(lines) + "\n"


def _precision_table(rows: list[dict], metric: str) -> list[str]:
    """One row per compile of the IR: the f32 reference, then the precisions the device will use."""
    from ovconvert.precision import table_keys

    key, difference = table_keys(metric)
    lines = ["", "## Precisions", "", "f32 decides whether the conversion is correct; the other rows say how "
             "the IR answers as the device will run it.", "",
             f"| precision | hint | {key} | {difference} | status |", "|---|---|---|---|---|"]
    for row in rows:
        status = row["status"] + (f": {row['change']}" if row.get("change") else "")
        lines.append(f"| {row['name']} | {row['requested']} | {_cell(row['metrics'].get(key, '-'))} | "
                     f"{_cell(row['metrics'].get(difference, '-'))} | {_cell(status)} |")
    return lines


def _int8_section(int8: dict) -> list[str]:
    lines = ["", f"## INT8 (NNCF): {int8['status']}", ""]
    if int8["status"] == "error":
        return lines + [int8["error"]]
    if int8["status"] == "already int8":
        return lines + [f"Not quantized again: the IR has {int8['fake_quantize_layers']} FakeQuantize layers "
                        "already, which run in int8 on CPUs that have it."]
    lines += [f"Calibrated on {int8['calibration']} ({int8['seconds']} s, {int8['fake_quantize_layers']} FakeQuantize "
              f"layers); gated against the framework on the validation inputs. IR: `{int8['ir']}`", ""]
    lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_cell(v)} |" for k, v in int8["metrics"].items()]
    if int8["failures"]:
        lines += ["", "Gate failed: " + "; ".join(int8["failures"]) + " — the FP32 IR is the result."]
    return lines


def _bench_section(bench: dict) -> list[str]:
    """The bench table (one row per configuration, interleaved in one process) and the recommendation."""
    if bench.get("error"):
        return ["", "## Speed", "", f"Not measured: {bench['error']}"]
    lines = ["", "## Speed", "", "Measured in one process, round-robin; speed-up is inputs/s over the framework at "
             "the same batch.", "", "| configuration | mode | median ms | p90 ms | inputs/s | speed-up |",
             "|---|---|---|---|---|---|"]
    for row in bench["rows"]:
        speedup = f"{row['speedup']:.2f}×" if row.get("speedup") else "reference"
        name = row["name"] + ("" if row["validated"] else " (not validated)")
        lines.append(f"| {name} | {row['mode']} | {row['median_ms']:.2f} | {row['p90_ms']:.2f} | "
                     f"{row['items_per_s']:.1f} | {speedup} |")
    from ovconvert.stages.bench import recommendation_lines

    lines += [""] + [f"**{line[0].upper()}{line[1:]}**" for line in recommendation_lines(bench["recommendation"])]
    return lines


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")
