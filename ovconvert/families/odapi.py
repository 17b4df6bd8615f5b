"""TensorFlow Object Detection API models (TF1 frozen graphs), validated on photos.

Two ways in: cut inside the graph, as Google's AIY Vision Kit compiles its detector (the IR takes the
normalized image at `Preprocessor/sub`, returns raw box encodings and class scores, compared as tensors);
or the whole graph through OpenVINO's TensorFlow frontend, which keeps TensorFlow's own post-processing
(the IR returns detection_boxes/scores/classes/num_detections, compared by the detection metric). The photo is resized to the model's fixed input size; TensorFlow runs the *whole*
graph from its uint8 `image_tensor` (its own preprocessing), the IR gets the raw pixels and applies the
recipe's mean/scale, so validation also proves that the mean/scale stand in for the graph's own
preprocessing.
"""

from __future__ import annotations

import re
import shutil
from typing import Optional

import numpy as np
from PIL import Image

from ovconvert.families.images import load_images
from ovconvert.graph import proto

IMAGE_INPUT = "image_tensor:0"


def adapt_for_mo(cut_path, convert) -> int:
    """Before mo's Object Detection API replacements: fold each `Squeeze(Reshape(x, const shape))` into one
    Reshape to the squeezed shape (the same tensor). Older Object Detection API graphs (the AIY detector)
    shape each box predictor's encodings [1, N, 1, 4] and squeeze axis 2; mo 2024.6 moves that Squeeze's
    axis when it changes the layout to NCHW and fails ("Trying to squeeze dimension not equal to 1").
    Rewrites the cut graph in place; returns how many it folded."""
    if not convert.transformations_config:
        return 0
    graph = proto.read_graph_def(cut_path)
    nodes = {node.name: node for node in graph.node}
    folded = 0
    for node in graph.node:
        source = nodes.get(node.input[0].split(":")[0]) if node.op == "Squeeze" and node.input else None
        shape = nodes.get(source.input[1].split(":")[0]) if source is not None and source.op == "Reshape" else None
        if shape is None or shape.op != "Const":
            continue
        dims = proto.int_values(shape.attr["value"].tensor)
        axes = [a % len(dims) for a in node.attr["squeeze_dims"].list.i]
        if not axes or any(dims[a] != 1 for a in axes):
            continue
        squeezed = [d for i, d in enumerate(dims) if i not in axes]
        constant = graph.node.add(name=f"{node.name}/folded_shape", op="Const")
        constant.attr["dtype"].type = shape.attr["dtype"].type
        constant.attr["value"].tensor.CopyFrom(proto.int_tensor(squeezed, shape.attr["dtype"].type))
        data_type = node.attr["T"].type
        node.op = "Reshape"
        node.ClearField("attr")
        node.attr["T"].type = data_type
        node.attr["Tshape"].type = shape.attr["dtype"].type
        node.input[:] = [source.input[0], constant.name] + [name for name in node.input[1:] if name.startswith("^")]
        folded += 1
    if folded:
        proto.write_graph_def(graph, cut_path)
    return folded


def mo_outputs(convert, outputs: tuple) -> tuple:
    """The outputs mo is given. With a transformations config, not detection_classes: its replacements
    end at detection_boxes, detection_scores and num_detections (Open Model Zoo's `--output` for every
    such model), and DetectionOutput carries the classes. Naming detection_classes keeps the +1 that
    follows TensorFlow's post-processor, whose input the replacement removed: mo then fails on Faster
    R-CNN graphs ('Cannot infer shapes or values for node "add"')."""
    if not convert.transformations_config:
        return outputs
    return tuple(name for name in outputs if name.split(":")[0] != "detection_classes")


def validation_samples(recipe, frozen, cut) -> list:
    from ovconvert.stages.validate import Sample

    spec = recipe.validate
    shape = cut.inputs[0].shape
    height, width = tuple(spec.image_size) if spec.image_size else (shape[1], shape[2])
    samples = []
    for name, rgb in load_images(spec.images, spec.count):
        resized = np.asarray(Image.fromarray(rgb).resize((width, height), Image.BILINEAR), dtype=np.uint8)
        raw = resized[..., ::-1] if spec.ir_channel_order == "BGR" else resized
        # A cut at image_tensor keeps its uint8 type in the IR; a cut inside the graph takes floats.
        ir_type = np.uint8 if cut.inputs[0].dtype in ("u8", "uint8") else np.float32
        samples.append(Sample(name, {IMAGE_INPUT: resized[None]}, [np.ascontiguousarray(raw[None], dtype=ir_type)]))
    return samples


# ---------------------------------------------------------------------------------- a user's own export


def discover(recipe, frozen_path, record: dict):
    """What a user's own Object Detection API export says about itself, read from the files the ODAPI
    exporter writes beside `frozen_inference_graph.pb` (pipeline.config; checkpoint files are not
    needed). Applies only to a `--source` model, and never to a key the user set with --set:

    - convert.pipeline_config: the pipeline.config beside the graph, where the recipe's (the zoo
      archive's layout) is not there;
    - cut.inputs: the input size of its image_resizer (fixed_shape_resizer; keep_aspect_ratio_resizer
      with pad_to_max_dimension), as mo itself reads it;
    - the number of classes, for the log and the report.

    Each finding is one log line and a "Read from the model" line of the report."""
    import dataclasses
    import logging
    from pathlib import Path

    from ovconvert.graph.tensor_spec import parse_tensor_spec

    if "source" not in recipe.user_set:
        return recipe
    log = logging.getLogger("ovconvert")

    def found(note: str) -> None:
        log.info("      %s", note)
        record.setdefault("discovered", []).append(note)

    convert = recipe.convert
    beside = Path(frozen_path).parent / "pipeline.config"
    config_path = Path(convert.pipeline_config) if convert.pipeline_config else None
    chosen_by_user = "convert.pipeline_config" in recipe.user_set
    if not chosen_by_user and beside.is_file():
        found(f"pipeline.config found beside the graph ({beside})")
        config_path = beside
        if convert.pipeline_config:  # the path that gives it to mo (with the transformations config)
            convert = dataclasses.replace(convert, pipeline_config=str(beside))
    elif not chosen_by_user and config_path is not None and not config_path.is_file():
        raise _no_config(frozen_path)
    if config_path is None or not config_path.is_file():
        return dataclasses.replace(recipe, convert=convert)

    text = config_path.read_text(encoding="utf-8", errors="replace")
    if classes := re.search(r"\bnum_classes\s*:\s*(\d+)", text):
        found(f"{classes.group(1)} classes (num_classes in pipeline.config)")
    size = input_size(text)
    cut = recipe.cut
    if size and cut.inputs and "cut.inputs" not in recipe.user_set:
        spec = parse_tensor_spec(cut.inputs[0])
        if spec.shape and len(spec.shape) == 4 and tuple(spec.shape[1:3]) != size[0]:
            shape = (spec.shape[0], *size[0], spec.shape[3])
            cut = dataclasses.replace(cut, inputs=(str(spec.with_shape(shape)), *cut.inputs[1:]))
            found(f"input {size[0][0]}×{size[0][1]} from {size[1]} (the recipe says "
                  f"{spec.shape[1]}×{spec.shape[2]})")
    return dataclasses.replace(recipe, convert=convert, cut=cut)


def input_size(config_text: str) -> Optional[tuple[tuple[int, int], str]]:
    """((height, width), resizer) from a pipeline.config's image_resizer, or None when the size is not
    fixed (keep_aspect_ratio_resizer without padding: any size up to max_dimension)."""
    fixed = re.search(r"fixed_shape_resizer\s*\{([^}]*)\}", config_text)
    if fixed:
        height, width = (re.search(rf"\b{key}\s*:\s*(\d+)", fixed.group(1)) for key in ("height", "width"))
        if height and width:
            return (int(height.group(1)), int(width.group(1))), "fixed_shape_resizer"
    keep = re.search(r"keep_aspect_ratio_resizer\s*\{([^}]*)\}", config_text)
    if keep and re.search(r"pad_to_max_dimension\s*:\s*true", keep.group(1)):
        largest = re.search(r"\bmax_dimension\s*:\s*(\d+)", keep.group(1))
        if largest:
            side = int(largest.group(1))
            return (side, side), "keep_aspect_ratio_resizer (padded to max_dimension)"
    return None


def _no_config(frozen_path):
    from ovconvert.errors import UserError

    return UserError(f"no pipeline.config beside {frozen_path}, and mo's Object Detection API conversion needs "
                     "the one the model was exported with; put it beside the graph or give "
                     "--set convert.pipeline_config=PATH")


def transformations_candidates(recipe, graph_path=None) -> list:
    """The transformations configs to try, in order, for the graph at `graph_path`. mo's configs for a
    meta-architecture (ssd, faster_rcnn, rfcn, mask_rcnn) differ by the ODAPI release that made the
    graph, in the node names they match (ssd_v2_support.json wants Postprocessor/ToFloat, which became
    Postprocessor/Cast and then Postprocessor/Cast_1 in later releases). So: first the configs whose
    named nodes are all in this graph (the recipe's among them first, then the oldest release), then the
    rest of the same meta-architecture's configs in release order, and last None: mo's new TensorFlow
    frontend on the whole graph, which keeps TensorFlow's own post-processing (the recipes'
    tf_postprocessing variant) where no config's replacements fit. Only the recipe's when the user chose
    it with --set, or when it is not one of mo's own."""
    from pathlib import Path

    from ovconvert.stages.convert import mo_ext_dir

    chosen = recipe.convert.transformations_config
    if not chosen or "convert.transformations_config" in recipe.user_set:
        return [chosen]
    path = Path(chosen)
    configs = mo_ext_dir() / "front" / "tf"
    kind = re.match(r"(ssd|faster_rcnn|rfcn|mask_rcnn)_", path.name)
    if path.parent.resolve() != configs.resolve() or not kind:
        return [chosen]
    pattern = "ssd*_support*.json" if kind.group(1) == "ssd" else f"{kind.group(1)}_support*.json"
    ordered = [path] + sorted((p for p in configs.glob(pattern) if p.name != path.name), key=_release)
    if graph_path is not None:
        names = {node.name for node in proto.read_graph_def(graph_path).node}
        ordered.sort(key=lambda config: not fits(config, names))  # stable: release order within each group
    return [str(p) for p in ordered] + [None]


def fits(config_path, node_names: set) -> bool:
    """Whether every node a transformations config names (its sub-graph matches' start and end points)
    is in the graph: the ODAPI release's fingerprint. Scope and general replacements name no nodes."""
    import json

    try:
        replacements = json.loads(open(config_path, encoding="utf-8").read())
    except (OSError, ValueError):
        return False
    for replacement in replacements:
        instances = replacement.get("instances")
        if replacement.get("match_kind") == "points" and isinstance(instances, dict):
            named = instances.get("start_points", []) + instances.get("end_points", [])
            if any(name.split(":")[0] not in node_names for name in named):
                return False
    return True


def describe_candidate(candidate) -> str:
    from pathlib import Path

    return Path(candidate).name if candidate else "mo's new TensorFlow frontend on the whole graph"


def _release(path) -> tuple:
    """An ODAPI release from a config's name: *_support_api_v1.15.json → (1, 15); the unversioned ones
    (ssd_support.json, ssd_v2_support.json, faster_rcnn_support.json) are the oldest."""
    found = re.search(r"api_v(\d+)\.(\d+)", path.name)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 2 if "v2" in path.name else 0)


# ------------------------------------------------------------------------------------------ source builder


# A hung exporter must not hold a run forever, but the big architectures are slow on small machines:
# setting each batch norm to its input's statistics runs the network up to that layer once per batch
# norm, and on 2 busy cores the R-FCN ResNet-101 twin was still exporting after 1800 s (Mask R-CNN
# Inception v2 took about 1500).
EXPORT_TIMEOUT_S = 5400


def build_export(args: dict, out_dir):
    """An Object Detection API export directory, made the way a user makes theirs: the model that
    `pipeline_config` describes, built by the API's model_builder with seeded random weights (rescaled
    so that photos get different, confident boxes) and written by the API's own exporter.py
    (frozen_inference_graph.pb, pipeline.config, checkpoint, saved_model/), packed as a .tar.gz. The
    API runs in its own process and environment (odapi_environment.py). Lets the zoo's architectures
    convert offline: their twins are graphs of the API's last TF1 release, newer than the zoo's archives."""
    import subprocess
    import sys
    from pathlib import Path

    from ovconvert.errors import ToolError, UserError
    from ovconvert.families import odapi_environment
    from ovconvert.stages.acquire import pack_directory

    config = Path(args.get("pipeline_config", ""))
    if not config.is_file():
        raise UserError(f"source.builder_args.pipeline_config: {str(config)!r} is not a file; give the "
                        "pipeline.config (its model section) of the architecture to build")
    environment = odapi_environment.environment_dir()
    # The export directory inside the archive, as in the zoo's archives (NAME/frozen_inference_graph.pb).
    staging = Path(out_dir) / "export" / args.get("directory", config.stem)
    # The log stays in the built entry (a staging directory that is removed if the build fails: then it
    # is copied out beside the cache entries, and the error names it).
    log_path = Path(out_dir) / "export.log"
    kept_log = Path(out_dir).parent / "odapi-export-failed.log"
    command = [sys.executable, "-m", "ovconvert.families.odapi_exporter", str(config), str(staging),
               "--seed", str(int(args.get("seed", 0)))]
    with open(log_path, "w") as log_file:
        try:
            done = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT, timeout=EXPORT_TIMEOUT_S,
                                  env=odapi_environment.process_environment(environment))
        except subprocess.TimeoutExpired:
            shutil.copyfile(log_path, kept_log)
            raise ToolError(f"the Object Detection API's exporter took over {EXPORT_TIMEOUT_S} s "
                            f"(log: {kept_log})") from None
    if done.returncode != 0:
        shutil.copyfile(log_path, kept_log)
        lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
        raise ToolError(f"the Object Detection API's exporter failed on {config.name}: "
                        f"{lines[-1] if lines else 'no output'} (log: {kept_log})")
    shutil.rmtree(staging / "training", ignore_errors=True)  # the checkpoint before export; the export has its own
    return pack_directory(staging.parent, Path(out_dir) / args.get("archive", f"{config.stem}.tar.gz"))


def source_fingerprint(builder: str, args: dict) -> str:
    """A built export changes with its pipeline.config and with the exporter's code."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    for path in (Path(args.get("pipeline_config", "")), Path(__file__).with_name("odapi_exporter.py")):
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()[:16]


build_export.fetches = "the Object Detection API's packages from PyPI, once"  # not in `check`'s offline set
SOURCE_BUILDERS = {"odapi_export": build_export}
