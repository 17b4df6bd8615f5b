"""report.html: the page people look at — one self-contained file (pictures inline, no scripts fetched)
beside report.md: the stage timeline, the mo command, the precision table, the speed table, and for
each validation input its picture with what TensorFlow and the IR said (class names and scores; boxes
drawn on the photo for both sides; the word image with both readings).

The pictures are the IR's own inputs (the pixels validation fed it, after crop and resize), so the page
shows exactly what was compared.
"""

from __future__ import annotations

import base64
import html
import io
import shlex
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

# Framework boxes in green, IR boxes in magenta, drawn one pixel apart so that both stay visible.
FRAMEWORK_COLOUR, IR_COLOUR = (0, 170, 0), (220, 0, 200)


def pictures(samples: list, channel_order: str) -> dict[str, Image.Image]:
    """What each validation input looked like to the IR, as an RGB or grey picture (None where the
    input is not an image)."""
    shown = {}
    for sample in samples:
        array = np.asarray(sample.ir_feed[0]) if sample.ir_feed else None
        if array is None or array.ndim != 4 or array.shape[-1] not in (1, 3):
            continue
        image = array[0].astype(np.float32)
        if image.min() < 0 or image.max() > 255.5:  # standardized (aocr): stretch to 0-255 to show it
            image = (image - image.min()) / max(float(image.max() - image.min()), 1e-6) * 255
        if image.shape[-1] == 3 and channel_order == "BGR":
            image = image[..., ::-1]
        pixels = np.clip(image, 0, 255).astype(np.uint8)
        picture = Image.fromarray(pixels[..., 0], "L") if pixels.shape[-1] == 1 else Image.fromarray(pixels, "RGB")
        if picture.height < 64:  # word images are 32 px high: twice that to be readable
            picture = picture.resize((picture.width * 2, picture.height * 2), Image.NEAREST)
        shown[sample.name] = picture
    return shown


def _draw_boxes(picture: Image.Image, boxes: dict) -> Image.Image:
    picture = picture.convert("RGB")
    draw = ImageDraw.Draw(picture)
    width, height = picture.size
    for side, colour, inset in (("framework", FRAMEWORK_COLOUR, 0), ("ir", IR_COLOUR, 2)):
        for _, _, (ymin, xmin, ymax, xmax) in boxes.get(side, []):
            draw.rectangle([xmin * width + inset, ymin * height + inset, xmax * width - inset, ymax * height - inset],
                           outline=colour, width=2)
    return picture


def _data_uri(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(labels: list, index) -> str:
    return labels[index] if isinstance(index, int) and 0 <= index < len(labels) else str(index)


def page(report: dict, shown: Optional[dict] = None, labels: Optional[list] = None) -> str:
    shown, labels = shown or {}, labels or []
    e = html.escape
    status = report.get("status", "?")
    parts = [f"<h1>{e(report['recipe'])}: <span class='{'ok' if status == 'converted' else 'bad'}'>{e(status)}</span></h1>"]
    if report.get("description"):
        parts.append(f"<p>{e(report['description'])}</p>")
    if report.get("error"):
        parts.append(f"<p class='bad'>{e(report['error'])}</p>")
    parts.append(_timeline(report.get("timings") or {}))
    if report.get("discovered"):
        parts.append("<h2>Read from the model</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report["discovered"]) + "</ul>")
    if report.get("command"):
        parts.append(f"<h2>Conversion command</h2><pre>{e(shlex.join(report['command']))}</pre>")
    validation = report.get("validation")
    if validation:
        parts.append(f"<h2>Validation ({e(validation['metric'])}): "
                     f"{'passed' if validation['passed'] else '<span class=bad>FAILED</span>'}</h2>")
        parts.append(_table(["metric", "value"], [[k, v] for k, v in validation["metrics"].items()]))
        if validation.get("degenerate"):
            parts.append(f"<p class='bad'>The model's answers look untrained/degenerate: {e(validation['degenerate'])}</p>")
        parts.append(_samples(validation, shown, labels))
    if report.get("precisions"):
        from ovconvert.precision import table_keys

        key, difference = table_keys(validation["metric"] if validation else "")
        parts.append("<h2>Precisions</h2>" + _table(
            ["precision", "hint", key, difference, "status"],
            [[row["name"], row["requested"], row["metrics"].get(key, "-"), row["metrics"].get(difference, "-"),
              row["status"] + (f": {row['change']}" if row.get("change") else "")] for row in report["precisions"]]))
    for warning in report.get("precision_warnings") or []:
        parts.append(f"<p class='bad'>Warning: {e(warning)}</p>")
    if report.get("int8"):
        int8 = report["int8"]
        parts.append(f"<h2>INT8 (NNCF): {e(int8['status'])}</h2>" + (
            _table(["metric", "value"], [[k, v] for k, v in int8.get("metrics", {}).items()])
            if int8.get("metrics") else f"<p>{e(int8.get('error') or int8.get('calibration', ''))}</p>"))
    bench = report.get("bench") or {}
    if bench.get("rows"):
        from ovconvert.stages.bench import recommendation_lines

        parts.append("<h2>Speed</h2>" + _table(
            ["configuration", "mode", "median ms", "p90 ms", "inputs/s", "speed-up"],
            [[r["name"] + ("" if r["validated"] else " (not validated)"), r["mode"], r["median_ms"], r["p90_ms"],
              r["items_per_s"], f"{r['speedup']:.2f}×" if r.get("speedup") else "reference"] for r in bench["rows"]]))
        parts += [f"<p><b>{e(line)}</b></p>" for line in recommendation_lines(bench.get("recommendation") or {})]
    if report.get("environment"):
        from ovconvert.environment import one_line

        parts.append(f"<p class='small'>Ran on: {e(one_line(report['environment']))}</p>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(report['recipe'])}: {e(status)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}<script>{SCRIPT}</script></body></html>\n")


def _timeline(timings: dict) -> str:
    total = sum(timings.values()) or 1.0
    bars = "".join(f"<div class='bar' style='width:{max(seconds / total * 100, 0.5):.2f}%' "
                   f"title='{html.escape(stage)} {seconds:.2f} s'>{html.escape(stage) if seconds / total > 0.08 else ''}</div>"
                   for stage, seconds in timings.items())
    rows = _table(["stage", "seconds"], [[stage, round(seconds, 2)] for stage, seconds in timings.items()])
    return f"<h2>Stages ({total:.1f} s)</h2><div class='timeline'>{bars}</div>{rows}"


def _samples(validation: dict, shown: dict, labels: list) -> str:
    e = html.escape
    cards = []
    for sample in validation.get("samples", []):
        picture = shown.get(sample.get("name"))
        caption = []
        if validation["metric"] == "ocr":
            same = sample.get("tf_text") == sample.get("ir_text")
            caption.append(f"TensorFlow <b>{e(repr(sample.get('tf_text')))}</b> · IR "
                           f"<b class='{'ok' if same else 'bad'}'>{e(repr(sample.get('ir_text')))}</b>")
            if sample.get("label"):
                caption.append(f"label {e(repr(sample['label']))}")
        elif validation["metric"] == "classification":
            same = sample.get("tf_top1") == sample.get("ir_top1")
            caption.append(f"TensorFlow <b>{e(_label(labels, sample.get('tf_top1')))}</b> "
                           f"{sample.get('tf_top1_score', 0):.3f}")
            caption.append(f"IR <b class='{'ok' if same else 'bad'}'>{e(_label(labels, sample.get('ir_top1')))}</b> "
                           f"{sample.get('ir_top1_score', 0):.3f}")
        elif validation["metric"] == "detection":
            boxes = sample.get("boxes") or {}
            if picture is not None and boxes:
                picture = _draw_boxes(picture, boxes)
            found = ", ".join(f"{_label(labels, c)} {s:.2f}" for c, s, _ in boxes.get("framework", [])) or "none"
            caption.append(f"<span style='color:rgb{FRAMEWORK_COLOUR}'>TensorFlow</span> {len(boxes.get('framework', []))}"
                           f" box(es): {e(found)}")
            caption.append(f"<span style='color:rgb{IR_COLOUR}'>IR</span> {len(boxes.get('ir', []))} box(es), "
                           f"{sample.get('matched', 0)} matched")
        image = f"<img src='{_data_uri(picture)}' alt='{e(sample.get('name', ''))}'>" if picture is not None else ""
        cards.append(f"<div class='card'>{image}<div class='name'>{e(str(sample.get('name', '')))}</div>"
                     + "".join(f"<div>{c}</div>" for c in caption) + "</div>")
    return f"<h2>Inputs</h2><div class='cards'>{''.join(cards)}</div>" if cards else ""


def _table(header: list, rows: list) -> str:
    def cell(value) -> str:
        return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write(out_dir: Path, report: dict, shown: Optional[dict] = None, labels: Optional[list] = None) -> Path:
    path = out_dir / "report.html"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(page(report, shown, labels), encoding="utf-8")
    partial.replace(path)
    return path


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
.ok{color:#070}.bad{color:#b00}.small{color:#666;font-size:.85em}
pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap;word-break:break-all;font-size:.85em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;font-size:.9em}
.timeline{display:flex;height:1.4em;border:1px solid #999;margin:.4em 0}
.bar{background:#8ab;border-right:1px solid #fff;font-size:.75em;overflow:hidden;white-space:nowrap;padding-left:2px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;padding:6px;font-size:.85em;max-width:340px}
.card img{max-width:320px;display:block;image-rendering:pixelated}.name{color:#666}
"""
# Counts the pictures the browser decoded: a test reads it back from the rendered page.
SCRIPT = ("window.addEventListener('load',function(){var n=0;document.querySelectorAll('img').forEach("
          "function(i){if(i.complete&&i.naturalWidth>0)n++});document.body.setAttribute('data-images-shown',n)});")
