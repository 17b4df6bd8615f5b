"""TensorFlow Object Detection API models (TF1 frozen graphs), validated on photos.

So far: conversions cut inside the graph, as Google's AIY Vision Kit compiles its detector — the IR
takes the normalized image at `Preprocessor/sub` and returns the raw box encodings and class scores,
compared as tensors. The photo is resized to the model's fixed input size; TensorFlow runs the *whole*
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
        samples.append(Sample(name, {IMAGE_INPUT: resized[None]},
                              [np.ascontiguousarray(raw[None], dtype=np.float32)]))
    return samples
