"""`ovconvert init PATH`: what is this model, which recipe converts it, and a ready recipe for it.

A model someone brings — a frozen graph, a SavedModel, an Object Detection API export directory, a
.tflite — is matched to a family and to the registry recipe closest to it, by what the graph itself
says (node names, placeholders, ops), never by its file name. The recipe written for it is that
registry recipe with the source pointing at the user's file and the facts read from the model (input
size and channels, outputs, pipeline.config and its image size) in place of the zoo's values, each
with the reason in a comment. `ovconvert run THAT.yaml` then converts and validates it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from ovconvert.errors import UserError
from ovconvert.graph import proto


@dataclass
class Match:
    family: str
    base: str  # the registry recipe it follows
    model: Path  # the file (or directory) the recipe's source points at
    reasons: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # dotted recipe keys → values


# Slim network scopes → the registry recipe of that network (MobileNet v1 picks its size below).
SLIM_SCOPES = {
    "InceptionV1/": "inception_v1", "InceptionV2/": "inception_v2", "InceptionV3/": "inception_v3",
    "InceptionV4/": "inception_v4", "InceptionResnetV2/": "inception_resnet_v2", "resnet_v1_50/": "resnet_v1_50",
    "resnet_v1_101/": "resnet_v1_101", "resnet_v1_152/": "resnet_v1_152", "resnet_v2_50/": "resnet_v2_50",
    "resnet_v2_101/": "resnet_v2_101", "resnet_v2_152/": "resnet_v2_152", "vgg_16/": "vgg_16", "vgg_19/": "vgg_19",
    "MobilenetV1/": "mobilenet_v1_1.0_224",
}


def inspect(path: Path) -> Match:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or directory; give a frozen .pb, a SavedModel directory, an "
                        "Object Detection API export directory or a .tflite")
    from ovconvert.graph.tflite import is_tflite

    if path.is_file() and is_tflite(path):
        return _tflite(path)
    if path.is_dir() and (path / "frozen_inference_graph.pb").is_file():
        return _frozen(path / "frozen_inference_graph.pb")
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return _saved_model(path)
    if path.is_dir():
        raise UserError(f"{path} has neither frozen_inference_graph.pb nor saved_model.pb; give the model file")
    if path.suffix in (".pb", ".pbtxt"):
        return _frozen(path)
    if path.suffix in (".keras", ".h5", ".hdf5"):
        # no registry family is a Keras model; the graph it freezes to may still be one (a Slim network)
        raise UserError(f"{path}: a Keras model file; freeze it first (`ovconvert freeze {path} -o "
                        f"{path.with_suffix('.pb').name}`), then `ovconvert init` the .pb")
    raise UserError(f"{path}: not a model ovconvert recognizes (frozen .pb/.pbtxt, SavedModel, .tflite)")


def _tflite(path: Path) -> Match:
    from ovconvert.graph.tflite import summarize_tflite

    summary = summarize_tflite(path)
    if summary.quantization_kind() == "float":
        raise UserError(f"{path.name} is a float .tflite; the registry converts quantized TFLite classifiers "
                        "(tflite_quant) — convert the TensorFlow model it was made from instead")
    shape = list(summary.inputs[0].shape)
    return Match("tflite_quant", "tflite_quant/mobilenet_v1_1.0_224_quant", path,
                 [f"a TFLite flatbuffer, {summary.quantization_kind()}, input {shape}: the quantized TFLite family"],
                 {"freeze.graph": "${source}", "variants": {}})


def _saved_model(path: Path) -> Match:
    metas = proto.read_saved_model_meta_graphs(path / "saved_model.pb")
    names = {node.name for meta in metas for node in meta.graph_def.node}
    names |= {node.name for meta in metas for function in meta.graph_def.library.function
              for node in function.node_def}
    if "input_image_as_bytes" in names or any(n.startswith("map/TensorArrayStack") for n in names):
        match = Match("aocr_legacy", "aocr-legacy", path,
                      ["a SavedModel with aocr's input_image_as_bytes: an original aocr export"], {})
        shards = list(path.glob("variables/variables.data-*")) + list(path.glob("variables.data-*"))
        if not shards:
            match.overrides["freeze.weights"] = "initializers"
            match.reasons.append("its weight shard (variables/variables.data-*) is missing: the graph's initialisers "
                                 "give the weights, so the conversion is checked on untrained answers")
        return match
    raise UserError(f"{path}: a SavedModel ovconvert has no family for; freeze it (`ovconvert freeze`) and "
                    "convert the graph with a recipe of your own (docs/recipes.md)")


def _frozen(path: Path) -> Match:
    graph = proto.read_graph_def(path)
    names = [node.name for node in graph.node]
    placeholders = {node.name: node for node in graph.node if node.op in ("Placeholder", "PlaceholderWithDefault")}
    if "image_tensor" in placeholders and any(n.startswith("detection_boxes") for n in names):
        return _odapi(path, names, graph)
    if "input_image_as_bytes" in placeholders:
        return Match("aocr_legacy", "aocr-legacy", path,
                     ["a frozen graph with aocr's input_image_as_bytes: an original aocr export"],
                     {"freeze.format": "frozen"})
    if any(node.op == "Dequantize" for node in graph.node):
        raise UserError(f"{path.name} is weight-quantized (Dequantize ops, as TensorFlow's quantize_graph writes "
                        "them); OpenVINO's TensorFlow frontend has no Dequantize: convert the float graph it was "
                        "made from, then make it INT8 with `ovconvert run … --quantize int8`")
    for scope, base in SLIM_SCOPES.items():
        if any(n.startswith(scope) for n in names):
            return _slim(path, graph, scope, base, placeholders)
    raise UserError(f"{path.name}: no family matches this graph (not an Object Detection API detector, a TF-Slim "
                    "classifier or an aocr export); `ovconvert summarize` shows its inputs and outputs")


def _odapi(path: Path, names: list[str], graph) -> Match:
    from ovconvert.families.odapi import input_size

    has = lambda prefix: any(n.startswith(prefix) for n in names)  # noqa: E731
    if has("SecondStageBoxPredictor") or has("FirstStageFeatureExtractor"):
        kind = "mask_rcnn" if any("mask" in n.lower() for n in names if n.startswith("SecondStageBoxPredictor")) \
            else "rfcn" if any("PSROI" in n or "position_sensitive" in n.lower() for n in names) else "faster_rcnn"
        base = {"mask_rcnn": "mask_rcnn_inception_v2_coco", "rfcn": "rfcn_resnet101_coco"}.get(
            kind, "faster_rcnn_resnet50_coco" if has("FirstStageFeatureExtractor/resnet") else "faster_rcnn_inception_v2_coco")
    else:
        kind = "ssd"
        base = "ssd_mobilenet_v2_coco" if has("FeatureExtractor/MobilenetV2") else "ssd_mobilenet_v1_coco"
    match = Match("odapi", f"odapi/{base}", path, [f"image_tensor and detection_boxes: an Object Detection API "
                                                   f"detector; {kind} by its node names"],
                  {"freeze.graph": "${source}"})
    config = path.parent / "pipeline.config"
    if config.is_file():
        match.reasons.append("pipeline.config beside the graph: given to mo, and its image_resizer read")
        match.overrides["convert.pipeline_config"] = str(config.resolve())
        size = input_size(config.read_text(encoding="utf-8", errors="replace"))
        if size:
            (height, width), resizer = size
            match.overrides["cut.inputs"] = [f"image_tensor:0[1,{height},{width},3]{{u8}}"]
            match.reasons.append(f"input {height}×{width} from {resizer}")
        if classes := re.search(r"\bnum_classes\s*:\s*(\d+)", config.read_text(errors="replace")):
            match.reasons.append(f"{classes.group(1)} classes")
    else:
        # mo's Object Detection API replacements need the pipeline.config; without it the graph converts
        # whole through the new frontend, TensorFlow's post-processing included (the zoo recipes'
        # tf_postprocessing variant).
        match.reasons.append("no pipeline.config beside the graph: converted whole with TensorFlow's own "
                             "post-processing (put the export's pipeline.config beside it for mo's DetectionOutput)")
        match.overrides.update({"convert.transformations_config": None, "convert.pipeline_config": None,
                                "variants": {}})
        image = next(node for node in graph.node if node.name == "image_tensor")
        shape = _static_shape(image)
        if shape and len(shape) == 4 and shape[1] > 0 and shape[2] > 0:
            match.overrides["cut.inputs"] = [f"image_tensor:0[1,{shape[1]},{shape[2]},3]{{u8}}"]
            match.reasons.append(f"input {shape[1]}×{shape[2]} from image_tensor's shape")
        else:
            match.reasons.append("input size unknown (no pipeline.config, image_tensor takes any size): the recipe "
                                 "keeps the zoo model's; set cut.inputs to your model's")
    return match


def _slim(path: Path, graph, scope: str, base: str, placeholders: dict) -> Match:
    from ovconvert.stages.summarize import summarize

    summary = summarize(graph)
    inputs = [name for name in summary.inputs if name in placeholders and placeholders[name].op == "Placeholder"]
    reasons = [f"{scope.rstrip('/')} scope: the TF-Slim {base.split('_')[0]} family"]
    overrides: dict[str, Any] = {"freeze.graph": "${source}"}
    shape = _static_shape(placeholders[inputs[0]]) if inputs else None
    if inputs and shape and len(shape) == 4:
        overrides["cut.inputs"] = [f"{inputs[0]}:0[1,{shape[1]},{shape[2]},{shape[3]}]{{f32}}"]
        reasons.append(f"input {inputs[0]} {shape[1]}×{shape[2]}×{shape[3]}")
        if base == "mobilenet_v1_1.0_224":
            base = {128: "mobilenet_v1_0.25_128", 160: "mobilenet_v1_0.5_160"}.get(shape[1], base)
    outputs = [name for name in summary.outputs if name not in summary.noisy_outputs]
    standard = "MobilenetV1/Predictions/Reshape_1" if scope == "MobilenetV1/" else None
    if outputs and (standard is None or standard not in outputs):
        overrides["freeze.outputs"] = outputs
        reasons.append(f"output{'s' if len(outputs) > 1 else ''} {', '.join(outputs)} (not the zoo network's: "
                       "a retrained or re-exported model)")
    labels = path.parent / "labels.txt"
    if labels.is_file():
        overrides["validate.args"] = {"labels": str(labels.resolve())}
        reasons.append("labels.txt beside the graph: the IR carries the class names")
    return Match("slim", f"slim/{base}", path, reasons, overrides)


def _static_shape(node) -> Optional[list[int]]:
    if "shape" not in node.attr or node.attr["shape"].shape.unknown_rank:
        return None
    return [dim.size for dim in node.attr["shape"].shape.dim]


def recipe_text(match: Match, registry: Path) -> str:
    """The base recipe's YAML with the user's source and the overrides, and a header saying why."""
    base_path = registry / f"{match.base}.yaml"
    data = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    data.pop("name", None)
    data["description"] = f"{match.model.name}, converted as {match.base} (written by ovconvert init)"
    data["source"] = {"path": str(match.model.resolve())}
    data.pop("variants", None) if match.overrides.get("variants") == {} else None
    for key, value in match.overrides.items():
        if key == "variants":
            continue
        section, _, leaf = key.partition(".")
        data.setdefault(section, {})[leaf] = value
    header = [f"# Written by `ovconvert init {match.model}`: {match.family} family, following {match.base}.",
              *(f"# - {reason}" for reason in match.reasons),
              "# Run it with `ovconvert run THIS_FILE`; edit any key (docs/recipes.md) — the run says what it reads",
              "# from the model besides."]
    return "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
