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
