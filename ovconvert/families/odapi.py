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

IMAGE_INPUT = "image_tensor:0"


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
