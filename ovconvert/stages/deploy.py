"""Deploying a validated IR: what it expects and what its outputs mean, stored inside it, and the
OpenVINO Model Server repository layout.

An IR alone is a tensor function: the aocr IR takes a standardized [N,32,W,1] tensor and returns step
ids, a classifier returns 1001 scores. Nothing but the recipe knows how to feed it or read it. So after
validation the run writes that knowledge into the IR's rt_info ("ovconvert" → "metadata", a JSON
object: task, input preprocessing and size, charset or labels, score threshold), where OpenVINO keeps
it through save_model and Model Server hands it to no one but also never drops it; ovconvert/predict.py
is the client that reads it.

`--ovms-repo DIR` then lays the IR out as Model Server loads it — DIR/NAME/1/model.xml|bin, and
DIR/config.json listing every model in DIR with the plugin_config the bench stage recommends (the
precision hint it was validated at) — written beside and renamed, so a server watching DIR never sees
half a model.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from ovconvert.errors import UserError

log = logging.getLogger(__name__)


def metadata(recipe, family, cut, source: Optional[Path]) -> dict:
    """What a client needs to feed the IR and read its answers; the family adds its own (aocr: charset)."""
    spec = cut.inputs[0]
    shape = list(spec.shape or ())
    described = {"task": recipe.task, "recipe": recipe.name, "family": recipe.family}
    if len(shape) != 4:
        described["input"] = {"name": spec.node, "preprocessing": "tensor", "shape": shape}
    else:
        described["input"] = {"name": spec.node, "preprocessing": "pixels", "layout": "NHWC", "height": shape[1],
                              "width": shape[2], "channels": shape[3],
                              "channel_order": recipe.validate.ir_channel_order}
    labels = _labels(recipe, source)
    if labels:
        described["labels"] = labels
    if recipe.validate.metric == "detection":
        described["score_threshold"] = float(recipe.validate.args.get("score_threshold", 0.3))
    if hasattr(family, "serving_metadata"):  # the family's own: its crop, its charset
        described = family.serving_metadata(recipe, cut, described)
    return described


def _labels(recipe, source: Optional[Path]) -> list[str]:
    """Class names: validate.args.labels (a file, one name per line, in class-id order), else a
    labels.txt beside the source model (TF for Poets' retrain.py and the zoo's classifiers write one)."""
    named = recipe.validate.args.get("labels")
    candidates = [Path(named)] if named else []
    if source is not None:
        candidates.append((source if source.is_dir() else source.parent) / "labels.txt")
    for path in candidates:
        if path.is_file():
            return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    if named:
        raise UserError(f"validate.args.labels {named}: no such file; give a file with one class name per line")
    return []


def embed(xml: Path, described: dict) -> None:
    """Store `described` in the IR's rt_info; the IR is written beside and renamed over (its weights are
    memory-mapped while it is read)."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    model.set_rt_info(json.dumps(described), ["ovconvert", "metadata"])
    rewritten = xml.with_name(f".meta-{xml.name}")
    ov.save_model(model, str(rewritten), compress_to_fp16=False)
    del model
    rewritten.with_suffix(".bin").replace(xml.with_suffix(".bin"))
    rewritten.replace(xml)


def ovms_repository(repo: Path, models: list[tuple[str, Path, dict]]) -> list[Path]:
    """Copy each (name, IR, plugin_config) to repo/name/1/model.xml|bin and list it in repo/config.json
    (other models already there are kept). Returns the version directories."""
    repo.mkdir(parents=True, exist_ok=True)
    written = []
    for name, xml, _ in models:
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=repo))
        try:
            (staging / "1").mkdir()
            shutil.copy2(xml.with_suffix(".bin"), staging / "1" / "model.bin")
            shutil.copy2(xml, staging / "1" / "model.xml")
            target = repo / name
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        written.append(repo / name / "1")
    config_path = repo / "config.json"
    try:
        config = json.loads(config_path.read_text()) if config_path.is_file() else {"model_config_list": []}
        entries = [e for e in config.get("model_config_list", []) if e.get("config", {}).get("name") not in
                   {name for name, _, _ in models}]
    except (ValueError, AttributeError):
        raise UserError(f"{config_path} is not a Model Server config (JSON with model_config_list); move it "
                        "away or give another --ovms-repo") from None
    for name, _, plugin_config in models:
        # base_path relative to the config file, as OVMS resolves it: the repository can be mounted anywhere.
        entries.append({"config": {"name": name, "base_path": name, "plugin_config": plugin_config}})
    config["model_config_list"] = entries
    partial = config_path.with_name("config.json.partial")
    partial.write_text(json.dumps(config, indent=2) + "\n")
    partial.replace(config_path)
    return written


def to_model_server(repo: Path, name: str, ir, quantized, bench: Optional[dict]) -> dict:
    """The validated IR as Model Server model NAME (and a passed INT8 IR as NAME-int8), each with the
    plugin_config of its own fastest validated batch-1 configuration in the bench stage (bf16 for the
    FP32 IR where that passed on this CPU), or the f32 hint it was validated at."""
    models = [(name, ir.xml)]
    if quantized is not None and quantized.status == "passed":
        models.append((f"{name}-int8", quantized.xml))
    configs = [(model_name, xml, latency_config(bench, xml)) for model_name, xml in models]
    written = ovms_repository(repo, configs)
    log.info("      Model Server repository %s: %s (config.json lists them)", repo, ", ".join(n for n, _ in models))
    return {"repository": str(repo), "models": [n for n, _ in models],
            "plugin_config": {model_name: config for model_name, _, config in configs},
            "versions": [str(path) for path in written]}


def latency_config(bench: Optional[dict], xml: Path) -> dict:
    """The compile config of this IR's fastest validated batch-1 bench row. Per IR, because a precision
    hint is validated for one IR only: bf16 may have passed for the FP32 IR and never run on the INT8 one."""
    from ovconvert.stages.bench import deploy_config, fastest_validated, rows_of

    best = fastest_validated(rows_of(bench or {}), batch_one=True, ir=str(xml))
    if best is None:
        return {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    return deploy_config(best)
